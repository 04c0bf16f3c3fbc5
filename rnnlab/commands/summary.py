"""``rnnlab summary``: parameter counts of a model given as layer specs, an MLP, or a saved file.

    rnnlab summary lstm:28:128 dense:128:10
    rnnlab summary --mlp 100,300,10
    rnnlab summary gru:28:128:layers=2:bidirectional=true
    rnnlab summary --file model.npz
"""
from __future__ import annotations

from ..layers import GRU, LSTM, RNN, Dense
from ..models import LastStep, Sequential, mlp
from ..saving import load
from ..summary import summary
from ._flags import reword

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
MAX_PARAMS = 500_000_000   # summary builds the model to count it: 2 GB of float32 at most

KINDS = {"rnn": RNN, "lstm": LSTM, "gru": GRU, "dense": Dense}
OPTIONS = {"layers": ("num_layers", int), "num_layers": ("num_layers", int),
           "bidirectional": ("bidirectional", None), "bi": ("bidirectional", None),
           "forget_bias": ("forget_bias", float), "reset_after": ("reset_after", None),
           "nonlinearity": ("nonlinearity", str), "activation": ("activation", str),
           "proj_size": ("proj_size", int), "peepholes": ("peepholes", None), "cell_clip": ("cell_clip", float),
           "gate_clip": ("gate_clip", float), "input_forget": ("input_forget", None),
           "layer_norm": ("layer_norm", None)}


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_layer(spec: str):
    """``KIND:IN:OUT[:key=value...]`` -> a layer, e.g. ``lstm:28:128:layers=2:bi=true``, ``dense:128:10:softmax``."""
    parts = spec.split(":")
    kind = parts[0].lower()
    if kind not in KINDS or len(parts) < 3:
        raise ValueError(f"layer spec {spec!r}: expected KIND:IN:OUT[:key=value...] with KIND one of "
                         f"{sorted(KINDS)}")
    try:
        sizes = int(parts[1]), int(parts[2])
    except ValueError as err:
        raise ValueError(f"layer spec {spec!r}: IN and OUT must be integers") from err
    if min(sizes) < 1:
        raise ValueError(f"layer spec {spec!r}: IN and OUT must be positive integers, got {sizes[0]} and {sizes[1]}")
    kwargs = {}
    for opt in parts[3:]:
        if "=" not in opt and kind == "dense":
            kwargs["activation"] = opt
            continue
        key, _, value = opt.partition("=")
        if key not in OPTIONS:
            raise ValueError(f"layer spec {spec!r}: unknown option {key!r}; expected one of {sorted(OPTIONS)}")
        name, cast = OPTIONS[key]
        try:
            kwargs[name] = _bool(value) if cast is None else cast(value)
        except ValueError as err:
            raise ValueError(f"layer spec {spec!r}: option {key}: {err}") from err
    (D, H), dirs = sizes, 2 if kwargs.get("bidirectional") is True else 1
    levels = kwargs.get("num_layers", 1) if isinstance(kwargs.get("num_layers", 1), int) else 1
    count = D * H + H if kind == "dense" else GATES[kind] * H * (max(D, dirs * H) + H + 2) * dirs * max(1, levels)
    if count > MAX_PARAMS:
        raise ValueError(f"layer spec {spec!r}: about {count:,} parameters, over the {MAX_PARAMS:,} summary "
                         f"builds to count")
    try:
        return KINDS[kind](*sizes, **kwargs)
    except ValueError as err:
        raise reword(f"layer spec {spec!r}", err) from err


def add_parser(sub):
    p = sub.add_parser("summary", help="parameter counts, with PyTorch's count beside rnnlab's")
    p.add_argument("layers", nargs="*", help="layer specs KIND:IN:OUT[:key=value], e.g. lstm:28:128 dense:128:10")
    p.add_argument("--mlp", help="sizes of a fully connected sigmoid network, e.g. 100,300,10")
    p.add_argument("--file", help="a model saved by rnnlab (.npz)")
    p.add_argument("--no-torch", action="store_true", help="leave out PyTorch's count")
    return p


def run(args) -> int:
    given = [bool(args.layers), bool(args.mlp), bool(args.file)]
    if sum(given) != 1:
        raise ValueError("expected exactly one of: layer specs, --mlp, --file")
    if args.file:
        model = load(args.file)
    elif args.mlp:
        try:
            sizes = [int(s) for s in args.mlp.split(",")]
        except ValueError as err:
            raise ValueError(f"--mlp: expected comma-separated integers, got {args.mlp!r}") from err
        if sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])) > MAX_PARAMS:
            raise ValueError(f"--mlp: {args.mlp!r} holds over the {MAX_PARAMS:,} parameters summary builds to count")
        try:
            model = mlp(sizes)
        except ValueError as err:
            raise reword("--mlp", err) from err
    else:
        layers = [parse_layer(s) for s in args.layers]
        # a recurrent layer followed by a dense head reads the last step
        seq = []
        for layer in layers:
            if isinstance(layer, Dense) and seq and not isinstance(seq[-1], Dense) and not isinstance(seq[-1], LastStep):
                seq.append(LastStep())
            seq.append(layer)
        model = seq[0] if len(seq) == 1 else Sequential(seq)
    print(summary(model, torch=not args.no_torch))
    return 0
