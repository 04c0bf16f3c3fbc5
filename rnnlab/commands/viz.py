"""``rnnlab viz``: pictures of what a trained model computes.

    rnnlab viz activations MODEL.npz --text FILE --html out.html [--layer L] [--unit K | --gate i|f|o|g --unit K] [--top 5]

``activations``: a character model's (``rnnlab train --task text``) reading of FILE, each character
shaded by unit K's activation h_t[K] (blue -1, white 0, red +1) or, with --gate, by that gate's value
for unit K (0 white .. 1 red; the LSTM's g and the GRU's n are tanh, -1 .. 1). Without --unit, the
unit most correlated with a simple feature of the text is drawn. The units most correlated with each
feature (inside quotes, inside parentheses, position in line, space) are printed and listed on the
page (Karpathy, Johnson & Fei-Fei 2015).
"""
from __future__ import annotations

import os

from ..data.text import read_text
from ..saving import atomic_write, load, read_meta
from ..viz.activations import activation_html, feature_correlations, hidden_activations, text_features
from ._flags import check_flag_int, check_flag_output

MAX_CHARS = 5000


def add_parser(sub):
    p = sub.add_parser("viz", help="pictures: a character model's units shaded over a text")
    views = p.add_subparsers(dest="view", metavar="VIEW")
    a = views.add_parser("activations", help="a text shaded by one unit's activation or gate value")
    a.add_argument("model", help="model.npz written by rnnlab train --task text")
    a.add_argument("--text", required=True, help="UTF-8 text file to read (its first --max-chars characters)")
    a.add_argument("--html", required=True, metavar="FILE", help="the HTML page to write")
    a.add_argument("--layer", type=int, default=None, help="recurrent layer, 1 next to the input (default: the top one)")
    a.add_argument("--unit", type=int, default=None, help="hidden unit K (default: the one most correlated with a feature)")
    a.add_argument("--gate", default=None, help="shade by this gate of unit K: i f o g (LSTM), r z n (GRU)")
    a.add_argument("--top", type=int, default=5, help="units listed per feature (default 5)")
    a.add_argument("--max-chars", type=int, default=2000, help=f"characters read from --text (default 2000, at most {MAX_CHARS})")
    return p


def run(args) -> int:
    if args.view != "activations":
        raise ValueError("VIEW: expected 'activations' (rnnlab viz activations MODEL --text FILE --html OUT)")
    top = check_flag_int("--top", args.top, low=1)
    max_chars = check_flag_int("--max-chars", args.max_chars, low=1, high=MAX_CHARS)
    check_flag_output("--html", args.html, ".html", {"model": args.model, "--text": args.text})
    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"model: no file at {args.model!r}")
    if not os.path.isfile(args.text):
        raise FileNotFoundError(f"--text: no file at {args.text!r}")
    chars = read_meta(args.model).get("task", {}).get("chars")
    if not chars:
        raise ValueError(f"model: {args.model!r} is not a character-level model (no vocabulary in it; "
                         "train one with rnnlab train --task text)")
    text = read_text(args.text)[:max_chars]
    unknown = sorted(set(text) - set(chars))
    if unknown:
        raise ValueError(f"--text: characters {unknown} of {args.text!r} are not in the model's vocabulary")
    model = load(args.model)
    acts = hidden_activations(model, chars, text)
    layers = sorted({int(k.split(".")[0].split()[1]) for k in acts})
    layer = layers[-1] if args.layer is None else args.layer
    if layer not in layers:
        raise ValueError(f"--layer: expected one of {layers}, got {layer}")
    h = acts[f"layer {layer}.h"]                                         # (T, H)
    H = h.shape[1]
    gates = tuple(k.split(".")[1] for k in acts if k.startswith(f"layer {layer}.") and not k.endswith(".h"))
    if args.gate is not None and args.gate not in gates:
        raise ValueError(f"--gate: expected one of {list(gates)} for this model, got {args.gate!r}"
                         if gates else f"--gate: this model's cell has no gates (a plain RNN), got {args.gate!r}")
    if args.gate is not None and args.unit is None:
        raise ValueError("--unit: --gate shades one unit's gate; give the unit with --unit K")
    correlations = feature_correlations(h, text_features(text), top)
    if args.unit is None:
        feature, unit, r = max(correlations, key=lambda c: abs(c[2])) if correlations else ("", 0, 0.0)
        chosen = f"unit {unit} (the most correlated with {feature}, r = {r:+.2f})" if correlations else "unit 0"
    else:
        unit = check_flag_int("--unit", args.unit, low=0, high=H - 1)
        chosen = f"unit {unit}"
    if args.gate is None:
        values, low, high, what = h[:, unit], -1.0, 1.0, f"layer {layer}, h of {chosen}"
    else:
        values = acts[f"layer {layer}.{args.gate}"][:, unit]
        low = -1.0 if args.gate in ("g", "n") else 0.0
        high, what = 1.0, f"layer {layer}, gate {args.gate} of {chosen}"
    notes = [f"{name}: unit {k}, r = {r:+.2f}" for name, k, r in correlations]
    page = activation_html(text, values, f"{os.path.basename(args.model)}: {what}", low, high, notes)
    atomic_write(args.html, lambda f: f.write(page.encode("utf-8")))
    print(f"{what}; units most correlated with each feature (Pearson r over {len(text)} characters):")
    for line in notes:
        print("  " + line)
    print(f"wrote {args.html}")
    return 0
