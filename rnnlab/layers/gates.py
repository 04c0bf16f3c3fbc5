"""The gate order of rnnlab's fused matrices, and the one helper that takes a gate's block.

A recurrent cell fuses its gates: W (D, G*H), U (H, G*H), b (G*H,) and every pre-activation or
gradient a (..., G*H) are G equal H-wide blocks side by side along the last axis, in the order

    ORDER["LSTM"] = "ifog"     i input, f forget, o output, g candidate (the three sigmoids adjacent)
    ORDER["GRU"]  = "rzn"      r reset, z update, n candidate (the two sigmoids adjacent)
    ORDER["RNN"]  = "h"        one block
    ORDER["peepholes"] = "ifo" the LSTM's peephole vector p (3H,)

``block(a, "LSTM", "f")`` is the view ``a[..., H:2H]``, ``block(a, "LSTM", "ifo")`` the view
``a[..., :3H]`` (several letters must be adjacent in the order); ``split(a, "LSTM")`` is the four
views (i, f, o, g). They are views: writing into one writes ``a``. rnnlab.interop reads this order as
rnnlab's row of its table of every library's orders.

``check_gate_activation`` checks the gate activation option of the LSTM and GRU (``gate_activation``,
one of rnnlab.activations.GATE_ACTIVATIONS: "sigmoid", "hard_sigmoid", "hard_sigmoid_keras2").
"""
from __future__ import annotations

import numpy as np

from ..activations import GATE_ACTIVATIONS

ORDER = {"LSTM": "ifog", "GRU": "rzn", "RNN": "h", "peepholes": "ifo"}


def spans(order: str) -> dict:
    """{letters: (first, stop)} for every run of adjacent letters of ``order``: the block indices that
    ``block`` takes, e.g. spans("ifog")["ifo"] == (0, 3)."""
    return {order[i:j]: (i, j) for i in range(len(order)) for j in range(i + 1, len(order) + 1)}


SPANS = {cell: spans(order) for cell, order in ORDER.items()}   # looked up, not searched, on every step


def block(a: np.ndarray, cell: str, gates: str, axis: int = -1, order: str | None = None) -> np.ndarray:
    """The view of gate block(s) ``gates`` (letters, adjacent in the order) of ``a`` along ``axis``.

    a: an array whose size along ``axis`` is G*H, G = len(order); cell: a key of ``ORDER``;
    order: the letters of another layout (rnnlab.interop's libraries), else ``ORDER[cell]``.
    Raises ValueError when ``gates`` are not adjacent letters of the order.
    """
    if order is None or order is ORDER.get(cell):
        order, table = ORDER[cell], SPANS[cell]
    else:
        table = spans(order)
    span = table.get(gates)
    if span is None:
        raise ValueError(f"gates: {gates!r} are not adjacent blocks of the {cell} order {order!r}")
    size = a.shape[axis] // len(order)
    first, stop = span[0] * size, span[1] * size
    if axis == -1:
        return a[..., first:stop]
    index = [slice(None)] * a.ndim
    index[axis] = slice(first, stop)
    return a[tuple(index)]


def split(a: np.ndarray, cell: str) -> list:
    """Every gate's block of ``a`` along the last axis, as a list of views in ``ORDER[cell]``:
    [i, f, o, g] for the LSTM, [r, z, n] for the GRU."""
    G = len(ORDER[cell])
    size = a.shape[-1] // G
    return [a[..., k * size:(k + 1) * size] for k in range(G)]


def check_gate_activation(value) -> str:
    """``gate_activation`` checked: a name in rnnlab.activations.GATE_ACTIVATIONS, else ValueError."""
    if not isinstance(value, str) or value not in GATE_ACTIVATIONS:
        raise ValueError(f"gate_activation: expected one of {tuple(GATE_ACTIVATIONS)}, got {value!r}")
    return value
