"""Parameter summary of a layer or model, with PyTorch's count beside rnnlab's and why they differ.

rnnlab, like TensorFlow's BasicLSTMCell, keeps one bias per gate: LSTM(28 -> 128) has
(28 + 128) x 512 weights + 512 biases = 80,384 parameters. PyTorch keeps two bias vectors, b_ih and
b_hh, although only their sum enters the equations: 512 more per layer and direction (80,896).
The GRU keeps the recurrent candidate bias b_hn apart (it sits inside r * (h U_n + b_hn)), so rnnlab
has 4H biases to PyTorch's 6H.
"""
from __future__ import annotations

from .layers import GRU, LSTM, RNN, Dense, Recurrent


def torch_param_count(layer) -> int | None:
    """Parameters of the equivalent torch.nn module, or None when PyTorch has no equivalent."""
    if isinstance(layer, Recurrent):
        if (isinstance(layer, GRU) and not layer.reset_after) or layer.reverse:
            return None
        if isinstance(layer, LSTM) and any(getattr(layer, o) for o in ("peepholes", "cell_clip", "gate_clip",
                                                                       "input_forget", "layer_norm")):
            return None                  # no PyTorch equivalent (proj_size has one: weight_hr)
        if getattr(layer, "gate_activation", "sigmoid") != "sigmoid":
            return None                  # PyTorch's gates are sigmoids
        extra_bias = {RNN: 1, LSTM: 4, GRU: 2}[type(layer)] * layer.hidden_size
        return layer.num_params() + extra_bias * layer.num_layers * layer.directions
    return layer.num_params()


def _describe(layer) -> str:
    if isinstance(layer, Recurrent):
        bi = ", bidirectional" if layer.bidirectional else ", reverse" if layer.reverse else ""
        nl = f", {layer.num_layers} layers" if layer.num_layers > 1 else ""
        proj = f", proj {layer.proj_size}" if getattr(layer, "proj_size", 0) else ""
        return f"{layer.kind}({layer.input_size} -> {layer.hidden_size}{proj}{nl}{bi})"
    if isinstance(layer, Dense):
        act = "" if layer.activation in ("identity", "linear") else f", {layer.activation}"
        return f"Dense({layer.input_size} -> {layer.output_size}{act})"
    return repr(layer)


def _breakdown(layer) -> list[str]:
    """How the count is made, one line per layer (and direction pair) of a recurrent layer."""
    if isinstance(layer, Recurrent):
        H, G, P = layer.hidden_size, layer.gates, layer.h_size
        lines = []
        for l in range(layer.num_layers):
            D = layer.input_size if l == 0 else layer.output_size
            sizes = {k: v.size for k, v in layer.direction_params(l, 0).items()}
            per = sum(sizes.values())
            extra = "".join(f" + {k} {sizes[k]:,}" for k in sizes if k not in ("W", "U", "b"))
            times = f" x {layer.directions} directions" if layer.directions > 1 else ""
            lines.append(f"    layer {l}: ({D} + {P}) x {G * H} weights + {G * H} biases{extra}"
                         f" = {per:,}{times}")
        return lines
    if isinstance(layer, Dense):
        return [f"    {layer.input_size} x {layer.output_size} weights + {layer.output_size} biases"]
    return []


def summary(model, torch: bool = True) -> str:
    """A table of the layers of ``model`` (a Sequential, or one layer) and their parameter counts;
    ``torch`` adds PyTorch's count and the reason they differ."""
    layers = list(model.layers) if hasattr(model, "layers") else [model]
    width = max(len(_describe(l)) for l in layers) + 2
    head = f"{'layer':<{width}}{'params':>12}" + (f"{'PyTorch':>12}" if torch else "")
    lines = [head, "-" * len(head)]
    total, total_torch = 0, 0
    for layer in layers:
        n, nt = layer.num_params(), torch_param_count(layer)
        total += n
        total_torch = None if total_torch is None or nt is None else total_torch + nt
        row = f"{_describe(layer):<{width}}{n:>12,}"
        if torch:
            row += f"{'n/a' if nt is None else f'{nt:,}':>12}"
        lines.append(row)
        lines.extend(_breakdown(layer))
    lines.append("-" * len(head))
    row = f"{'total':<{width}}{total:>12,}"
    if torch:
        row += f"{'n/a' if total_torch is None else f'{total_torch:,}':>12}"
    lines.append(row)
    if torch and any(isinstance(l, Recurrent) for l in layers):
        lines.append("PyTorch keeps two bias vectors (b_ih, b_hh) per gate where only their sum matters; "
                     "rnnlab keeps one, like TensorFlow's BasicLSTMCell (the GRU keeps b_hn apart).")
    return "\n".join(lines)
