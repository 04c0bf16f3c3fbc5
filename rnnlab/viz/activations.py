"""What one unit of a character model reads in a text (Karpathy, Johnson & Fei-Fei 2015, "Visualizing
and Understanding Recurrent Networks"): every character shaded by a hidden unit's activation h_t[k]
or a gate's value (LSTM i, f, o, g; GRU r, z, n) after reading it, and the units whose activation
follows a simple feature of the text most closely.

Shape letters: T characters, H hidden units, V vocabulary size.
"""
from __future__ import annotations

import html

import numpy as np

from ..layers import Dropout, Recurrent
from ..layers.gates import ORDER, split
from ..models import Sequential, evaluation

GATES = {kind: tuple(ORDER[kind]) for kind in ("LSTM", "GRU")}     # the gated cells' gate letters


def encode_text(text: str, chars: str, name: str = "text") -> np.ndarray:
    """One-hot (1, T, V) float64 of ``text`` over the vocabulary ``chars``; ValueError naming ``name``
    and the characters the vocabulary lacks."""
    if not text:
        raise ValueError(f"{name}: expected at least one character")
    index = {c: i for i, c in enumerate(chars)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        raise ValueError(f"{name}: characters {unknown} are not in the model's vocabulary")
    return np.eye(len(chars))[[index[c] for c in text]][None]


def recurrent_layers(model) -> list:
    """The model's recurrent modules, in order (a Sequential's, or the model itself)."""
    layers = model.layers if isinstance(model, Sequential) else [model]
    return [layer for layer in layers if isinstance(layer, Recurrent)]


def hidden_activations(model, chars: str, text: str) -> dict[str, np.ndarray]:
    """Every recurrent layer's h_t and gate values over ``text``, with Dropout off.

    Returns {"layer L.h": (T, H), "layer L.<gate>": (T, H), ...} with L = 1 next to the input (a
    stacked module counts as its num_layers layers) and gates (i, f, o, g) for the LSTM, (r, z, n)
    for the GRU, none for the plain RNN. The model must be unidirectional: a reverse direction has
    read the whole text before the first character.
    """
    x = encode_text(text, chars).astype(model.dtype)
    recs = recurrent_layers(model)
    if not recs:
        raise ValueError(f"model: expected recurrent layers, got {model!r}")
    if any(r.bidirectional for r in recs):
        raise ValueError("model: a bidirectional model's units have read the whole text at every step; "
                         "activations are drawn for unidirectional models")
    layers = model.layers if isinstance(model, Sequential) else [model]
    out, number = {}, 0
    with evaluation(model):
        for layer in layers:
            if isinstance(layer, Recurrent):
                x, _, cache = layer.forward(x)
                for k, d in enumerate(cache.directions):
                    number += 1
                    cell = d.cell
                    out[f"layer {number}.h"] = np.asarray(cell.hs[1:, 0], np.float64)      # (T, H)
                    if layer.kind in GATES:
                        for gate, values in zip(GATES[layer.kind], split(cell.gates[:, 0], layer.kind)):
                            out[f"layer {number}.{gate}"] = np.asarray(values, np.float64)
            elif isinstance(layer, Dropout):
                x, _ = layer.forward(x)
            else:
                break                                  # the head: nothing recurrent above it
    return out


def text_features(text: str) -> dict[str, np.ndarray]:
    """Simple features of each character, (T,) float64: inside double quotes (1 inside, including the
    closing quote), inside parentheses, position in the line (characters since the last newline),
    and the character being a space."""
    quote = paren = pos = 0
    feats = {"inside quotes": [], "inside parentheses": [], "position in line": [], "space": []}
    for c in text:
        if c == '"':
            quote = 1 - quote
        paren = paren + (c == "(") - (c == ")") if c in "()" else paren
        pos = 0 if c == "\n" else pos + 1
        feats["inside quotes"].append(quote or c == '"')
        feats["inside parentheses"].append(paren > 0 or c == ")")
        feats["position in line"].append(pos)
        feats["space"].append(c == " ")
    return {k: np.asarray(v, np.float64) for k, v in feats.items()}


def feature_correlations(acts: np.ndarray, features: dict[str, np.ndarray], top: int = 5) -> list[tuple]:
    """The ``top`` units most correlated with each feature: [(feature, unit, Pearson r), ...], sorted
    by |r| within a feature. acts: (T, H). A feature constant over the text (no quotes in it) is
    left out, as is a constant unit's entry."""
    acts = np.asarray(acts, np.float64)
    out = []
    a = acts - acts.mean(axis=0)
    a_norm = np.linalg.norm(a, axis=0)
    for name, f in features.items():
        f = f - f.mean()
        f_norm = np.linalg.norm(f)
        if f_norm == 0:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (f @ a) / (f_norm * a_norm)                  # (H,)
        r = np.where(np.isfinite(r), r, 0.0)
        for k in np.argsort(-np.abs(r))[:top]:
            out.append((name, int(k), float(r[k])))
    return out


def shade(value: float, low: float, high: float) -> str:
    """CSS colour for value in [low, high]: blue at low, white at the middle, red at high."""
    t = 0.0 if high == low else float(np.clip((value - low) / (high - low), 0, 1)) * 2 - 1   # [-1, 1]
    if t >= 0:
        return f"rgb(255,{round(255 * (1 - 0.75 * t))},{round(255 * (1 - 0.75 * t))})"
    return f"rgb({round(255 * (1 + 0.75 * t))},{round(255 * (1 + 0.75 * t))},255)"


def activation_html(text: str, values: np.ndarray, title: str, low: float = -1.0, high: float = 1.0,
                    notes: list[str] | None = None) -> str:
    """A complete HTML page: ``text`` with character t on a background shaded by values[t] (blue at
    ``low``, white between, red at ``high``; hover for the value), then ``notes`` as a list. No script,
    nothing from the network."""
    values = np.asarray(values, np.float64)
    if values.shape != (len(text),):
        raise ValueError(f"values: expected shape ({len(text)},), one value per character, got {values.shape}")
    spans = []
    for c, v in zip(text, values):
        shown = html.escape(c) if c != "\n" else "\u21b5\n"
        spans.append(f'<span class="c" style="background:{shade(v, low, high)}" title="{v:+.3f}">{shown}</span>')
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes or [])
    legend = (f'<p class="legend"><span class="c" style="background:{shade(low, low, high)}">{low:g}</span> '
              f'<span class="c" style="background:{shade((low + high) / 2, low, high)}">{(low + high) / 2:g}</span> '
              f'<span class="c" style="background:{shade(high, low, high)}">{high:g}</span></p>')
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>body{{font-family:sans-serif;margin:1.5em}}"
            ".text{font-family:monospace;white-space:pre-wrap;line-height:1.5}.c{padding:1px 0}</style>\n"
            f"</head>\n<body>\n<h1 style=\"font-size:1.2em\">{html.escape(title)}</h1>\n{legend}\n"
            f"<div class=\"text\">{''.join(spans)}</div>\n<ul>{items}</ul>\n</body>\n</html>\n")
