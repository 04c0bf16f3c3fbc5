"""What every converter shares: gate orders named by letters, and a model seen as a chain of layers.

Exporters write the inference graph: ``Dropout`` is the identity in evaluation mode
(rnnlab.layers.dropout), so ``inference_layers`` leaves it out, and a model trained with
``--dropout`` (recurrent layers with Dropout between them) exports as its chain of recurrent layers.

Gate letters: LSTM i (input), f (forget), o (output), g (candidate: Keras' and ONNX's c, TF1's j);
GRU r (reset), z (update: TF1's u), n (candidate: Keras' and ONNX's h). ``ORDERS[library][cell]`` is
the order of the equal gate blocks each library concatenates along the gate axis (rnnlab's row is
rnnlab.layers.gates.ORDER, the order the cells compute in: LSTM (i, f, o, g), GRU (r, z, n), peephole
vectors (i, f, o)):

    library     LSTM      GRU                                         peepholes
    rnnlab      i f o g   r z n                                       i f o
    torch       i f g o   r z n
    keras       i f g o   z r n
    tf1         i g f o   r z (gates kernel) + n (candidate kernel)
    onnx        i o f g   z r n                                       i o f

``reorder`` moves an array's blocks from one library's order to another's; ``block`` takes the view
of a gate's block (or of adjacent blocks) by its letters, with the cells' own helper
(rnnlab.layers.gates.block).
"""
from __future__ import annotations

import numpy as np

from ..layers import GRU, LSTM, RNN, Dense, Dropout, Recurrent
from ..layers import gates as layer_gates
from ..models import LastStep, Sequential

ORDERS = {
    "rnnlab": layer_gates.ORDER,
    "torch": {"LSTM": "ifgo", "GRU": "rzn", "RNN": "h"},
    "keras": {"LSTM": "ifgo", "GRU": "zrn", "RNN": "h"},
    "tf1": {"LSTM": "igfo", "GRU": "rzn", "RNN": "h"},
    "onnx": {"LSTM": "iofg", "GRU": "zrn", "RNN": "h", "peepholes": "iof"},
}


def reorder(a: np.ndarray, cell: str, frm: str, to: str, axis: int = -1) -> np.ndarray:
    """The equal gate blocks of ``a`` along ``axis`` moved from library ``frm``'s order of ``cell`` to
    library ``to``'s (keys of ``ORDERS``), e.g. ``reorder(w_ih.T, "LSTM", "torch", "rnnlab", 1)``
    turns PyTorch's (i, f, g, o) column blocks into rnnlab's (i, f, o, g). The result is contiguous;
    the size along ``axis`` must be a multiple of the number of gates."""
    src, dst = ORDERS[frm][cell], ORDERS[to][cell]
    parts = np.split(np.asarray(a), len(src), axis=axis)
    return np.ascontiguousarray(np.concatenate([parts[src.index(c)] for c in dst], axis=axis))


def block(a: np.ndarray, library: str, cell: str, gates: str, axis: int = -1) -> np.ndarray:
    """The view of gate block(s) ``gates`` of ``a`` along ``axis``, in ``library``'s order of ``cell``:
    ``block(b, "rnnlab", "LSTM", "f")`` is ``b[H:2H]``, ``block(b, "rnnlab", "GRU", "rz")`` is
    ``b[:2H]``. Several letters must be adjacent in that order. Writing into the view writes ``a``."""
    return layer_gates.block(np.asarray(a), cell, gates, axis, ORDERS[library][cell])


def layers_of(model) -> list:
    """The layers of ``model`` in order: a Sequential's list, or [model] for a single layer."""
    if isinstance(model, Sequential):
        return list(model.layers)
    if isinstance(model, (Recurrent, Dense, LastStep, Dropout)):
        return [model]
    raise ValueError(f"model: expected an rnnlab layer or Sequential, got {type(model).__name__}")


def kinds_of(model) -> list:
    """The class names of ``model``'s layers, e.g. ['LSTM', 'Dropout', 'LSTM', 'LastStep', 'Dense'],
    for messages that name what a format cannot hold."""
    return [type(layer).__name__ for layer in layers_of(model)]


def inference_layers(model, reverse: bool = False) -> list:
    """(index, layer) for each layer of ``model`` that acts in evaluation mode: all but Dropout. The
    index is the layer's place in ``model``, for messages and names. A recurrent layer with
    direction="reverse" is refused unless the caller's format holds one (``reverse=True``)."""
    live = [(i, layer) for i, layer in enumerate(layers_of(model)) if not isinstance(layer, Dropout)]
    for i, layer in live:
        if isinstance(layer, Recurrent) and layer.reverse and not reverse:
            raise ValueError(f"model.layers[{i}].direction: this format has no reverse-only {layer.kind}; got "
                             f"{layer!r}")
    if not live:
        raise ValueError(f"model: layers {kinds_of(model)} are all Dropout, the identity at inference; "
                         f"nothing to export")
    return live


def check_last_step(i: int, last: LastStep, rec: Recurrent) -> None:
    """Exported, a LastStep becomes each direction's final state (PyTorch's h_n, ONNX's Y_h, Keras's
    return_sequences=False): the reverse direction's at t = 0, i.e. LastStep(directions=2) after a
    bidirectional layer. LastStep(directions=1) there reads the reverse direction at the last step,
    which none of them can express."""
    if rec.reverse:
        raise ValueError(f"model.layers[{i}]: exported, LastStep would become the final state of {rec!r}, which a "
                         f"reverse layer reaches at t = 0, not at the last step LastStep reads")
    if last.directions != rec.directions:
        raise ValueError(f"model.layers[{i}]: exported, LastStep reads each direction's final state, which is "
                         f"LastStep(directions={rec.directions}) after {rec!r}; got "
                         f"LastStep(directions={last.directions})")


def refuse_variants(layer, fmt: str, holds: tuple = ()) -> None:
    """ValueError naming the first variant option of ``layer`` (the LSTM's proj_size, peepholes, cell_clip,
    gate_clip, input_forget; layer_norm; a gate_activation other than sigmoid; the regularizers zoneout,
    recurrent_dropout, weight_drop; an RNN's identity nonlinearity) that format ``fmt`` cannot hold;
    ``holds``: the ones it can."""
    config = layer.config() if hasattr(layer, "config") else {}
    for option in ("proj_size", "peepholes", "cell_clip", "gate_clip", "input_forget", "layer_norm", "gate_activation",
                   "zoneout", "recurrent_dropout", "weight_drop"):
        value = config.get(option, getattr(layer, option, None))
        if value and value != "sigmoid" and option not in holds:         # gate_activation="sigmoid": the plain cell
            raise ValueError(f"layer.{option}: {fmt} has no counterpart of the {layer.kind} option {option}, got "
                             f"{option}={value!r}")
    if getattr(layer, "nonlinearity", None) == "identity" and "identity" not in holds:
        raise ValueError(f"layer.nonlinearity: {fmt} has no counterpart of the RNN's identity nonlinearity, got "
                         f"nonlinearity='identity'")


def make_model(layers: list):
    """A single layer stays itself; several become a Sequential."""
    return layers[0] if len(layers) == 1 else Sequential(layers)


def new_layer(kind: str, D: int, H: int, dtype, **options) -> Recurrent:
    """An rnnlab recurrent layer of the given kind whose parameters are then overwritten."""
    cls = {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}[kind]
    return cls(D, H, dtype=np.dtype(dtype).name, **options)


def set_direction(layer: Recurrent, l: int, d: int, p: dict) -> None:
    """Overwrite the arrays of one (layer, direction) of ``layer``, checking each key and shape."""
    own = layer.direction_params(l, d)
    if set(own) != set(p):
        raise ValueError(f"{layer.kind} layer {l} direction {d}: expected arrays {sorted(own)}, got {sorted(p)}")
    for name, value in p.items():
        value = np.asarray(value)
        if value.shape != own[name].shape:
            raise ValueError(f"{layer.kind} layer {l} direction {d}: {name} has shape {value.shape}, "
                             f"expected {own[name].shape}")
        layer.params[f"{layer.prefix(l, d)}.{name}"] = np.ascontiguousarray(value, layer.dtype)


def float_dtype(*arrays) -> np.dtype:
    """float64 if any array is float64, else float32 (the dtype of rnnlab layers built from them)."""
    return np.dtype("float64") if any(np.asarray(a).dtype == np.float64 for a in arrays) else np.dtype("float32")


def stack_levels(levels: list) -> Recurrent:
    """One stacked rnnlab layer from single-level layers of equal kind and options."""
    if len(levels) == 1:
        return levels[0]
    first = levels[0]
    extra = {k: v for k, v in first.config().items()
             if k not in ("input_size", "hidden_size", "num_layers", "bidirectional", "dtype")}
    layer = new_layer(first.kind, first.input_size, first.hidden_size, first.dtype, num_layers=len(levels),
                      bidirectional=first.bidirectional, **extra)
    for l, one in enumerate(levels):
        for d in range(one.directions):
            set_direction(layer, l, d, one.direction_params(0, d))
    return layer
