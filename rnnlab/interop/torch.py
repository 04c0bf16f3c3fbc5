"""PyTorch <-> rnnlab for torch.nn.RNN, LSTM and GRU.

PyTorch stores, per layer k and direction (suffix ``_reverse``):
    weight_ih_l{k} (G*H, D), weight_hh_l{k} (G*H, H), bias_ih_l{k} (G*H,), bias_hh_l{k} (G*H,)
with gate blocks in the order LSTM (i, f, g, o), GRU (r, z, n). rnnlab stores the transposes,
W (D, G*H) and U (H, G*H), LSTM blocks in the order (i, f, o, g), and one bias b, since
x W + b_ih + h U + b_hh only ever uses b_ih + b_hh. The exception is the GRU's candidate, where
PyTorch computes r * (h U_n + b_hn): b_hn stays separate in rnnlab's ``b_hn``.

This module does not import torch until ``from_torch`` is given a module.
"""
from __future__ import annotations

import numpy as np

from ..layers import GRU, LSTM, RNN, Recurrent

# rnnlab LSTM block k holds PyTorch block _LSTM_ORDER[k]: rnnlab (i, f, o, g) <- torch (i, f, g, o).
_LSTM_ORDER = (0, 1, 3, 2)


def _blocks(a: np.ndarray, order, axis: int) -> np.ndarray:
    """Reorder the H-wide gate blocks of ``a`` along ``axis``: block k of the result is block order[k]."""
    parts = np.split(a, len(order), axis=axis)
    return np.concatenate([parts[j] for j in order], axis=axis)


def _kind_of(module) -> str:
    name = type(module).__name__
    if name not in ("RNN", "LSTM", "GRU"):
        raise ValueError(f"module: expected a torch.nn.RNN, LSTM or GRU, got {name}")
    return name


def from_torch(module) -> Recurrent:
    """An rnnlab layer computing exactly what ``module`` computes (input always batch-major)."""
    kind = _kind_of(module)
    if getattr(module, "proj_size", 0):
        raise ValueError(f"module.proj_size: rnnlab's LSTM has no projection, got proj_size={module.proj_size}")
    sd = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    dtype = sd["weight_ih_l0"].dtype
    if dtype.name not in ("float32", "float64"):
        raise ValueError(f"module: expected float32 or float64 weights, got {dtype}")
    common = dict(input_size=module.input_size, hidden_size=module.hidden_size,
                  num_layers=module.num_layers, bidirectional=module.bidirectional, dtype=dtype.name)
    if kind == "LSTM":
        layer = LSTM(**common)
    elif kind == "GRU":
        layer = GRU(**common, reset_after=True)
    else:
        layer = RNN(**common, nonlinearity=module.nonlinearity)
    H, G = layer.hidden_size, layer.gates
    for l in range(layer.num_layers):
        for d in range(layer.directions):
            s = f"_l{l}" + ("_reverse" if d else "")
            w_ih, w_hh = sd["weight_ih" + s], sd["weight_hh" + s]
            b_ih = sd.get("bias_ih" + s, np.zeros(G * H, dtype))
            b_hh = sd.get("bias_hh" + s, np.zeros(G * H, dtype))
            p = {}
            if kind == "LSTM":
                p["W"] = _blocks(w_ih.T, _LSTM_ORDER, 1)
                p["U"] = _blocks(w_hh.T, _LSTM_ORDER, 1)
                p["b"] = _blocks(b_ih + b_hh, _LSTM_ORDER, 0)
            elif kind == "GRU":
                p["W"], p["U"] = w_ih.T, w_hh.T
                p["b"] = b_ih + np.concatenate([b_hh[:2 * H], np.zeros(H, dtype)])
                p["b_hn"] = b_hh[2 * H:]
            else:
                p["W"], p["U"], p["b"] = w_ih.T, w_hh.T, b_ih + b_hh
            for name, value in p.items():
                layer.params[f"{layer.prefix(l, d)}.{name}"] = np.ascontiguousarray(value, dtype)
    return layer


def to_state_dict(layer: Recurrent, arrays: dict | None = None, fold_forget_bias: bool | None = None) -> dict:
    """PyTorch-named NumPy arrays that make a torch module compute what ``layer`` computes.

    A linear re-layout of ``arrays`` (default ``layer.params``), so it also maps ``grads`` to the
    gradients torch would report for ``weight_*`` (the torch bias gradients of b_ih and b_hh are
    then both the rnnlab ``b`` gradient's re-layout; here b goes to ``bias_ih`` and ``bias_hh`` is zero
    except for the GRU's b_hn). An LSTM's ``forget_bias`` has no place in PyTorch, so by default it is
    added to ``bias_ih``'s forget block when ``arrays`` is the layer's own parameters
    (``fold_forget_bias``; never for gradients).
    """
    if not isinstance(layer, Recurrent):
        raise ValueError(f"layer: expected an rnnlab RNN, LSTM or GRU, got {type(layer).__name__}")
    if isinstance(layer, GRU) and not layer.reset_after:
        raise ValueError("layer.reset_after: PyTorch's GRU computes the reset-after form only; "
                         "got reset_after=False")
    if fold_forget_bias is None:
        fold_forget_bias = arrays is None
    arrays = layer.params if arrays is None else arrays
    missing = sorted(set(layer.params) - set(arrays))
    if missing:
        raise ValueError(f"arrays: expected the keys of layer.params, missing {missing}")
    H = layer.hidden_size
    out = {}
    for l in range(layer.num_layers):
        for d in range(layer.directions):
            p = layer.direction_params(l, d, arrays)
            s = f"_l{l}" + ("_reverse" if d else "")
            if isinstance(layer, LSTM):
                b_ih = _blocks(p["b"], _LSTM_ORDER, 0).copy()      # the order is its own inverse
                if fold_forget_bias:
                    b_ih[H:2 * H] += layer.forget_bias
                out["weight_ih" + s] = _blocks(p["W"], _LSTM_ORDER, 1).T
                out["weight_hh" + s] = _blocks(p["U"], _LSTM_ORDER, 1).T
                out["bias_ih" + s], out["bias_hh" + s] = b_ih, np.zeros_like(b_ih)
            elif isinstance(layer, GRU):
                out["weight_ih" + s], out["weight_hh" + s] = p["W"].T, p["U"].T
                out["bias_ih" + s] = p["b"].copy()
                out["bias_hh" + s] = np.concatenate([np.zeros(2 * H, p["b"].dtype), p["b_hn"]])
            else:
                out["weight_ih" + s], out["weight_hh" + s] = p["W"].T, p["U"].T
                out["bias_ih" + s], out["bias_hh" + s] = p["b"].copy(), np.zeros_like(p["b"])
    return {k: np.ascontiguousarray(v) for k, v in out.items()}
