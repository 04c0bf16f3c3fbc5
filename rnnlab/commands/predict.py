"""``rnnlab predict``: a trained model's predictions for the sequences in an .npz file.

    rnnlab predict runs/mine/model.npz --data new.npz --out predictions.npy
    rnnlab predict runs/mine/model.npz --data new.npz --out probabilities.csv --proba

The .npz holds ``x`` (and ``lengths`` for padded sequences), as for ``rnnlab train --data``; a ``y``
in it is ignored. What is written, by the task the model was trained for (its file's meta):
    classify           (N,) class ids; --proba: (N, C) probabilities (softmax)
    classify_steps     (N, T) class ids, -1 at padded steps; --proba: (N, T, C)
    multilabel_steps   (N, T, K) 0/1 labels (probability > 0.5); --proba: (N, T, K) probabilities
    regression         (N, K) values
    a model without a task in its file: the head's raw outputs
``.npy`` holds any of these; ``.csv`` one row per sequence, for outputs of at most two dimensions.
The file is written atomically (a crash leaves any previous file as it was).
"""
from __future__ import annotations

import io
import os

import numpy as np

from ..data.arrays import as_inputs, padding, read_npz
from ..fitting import predict, predict_proba
from ..saving import atomic_write, load, read_meta


def add_parser(sub):
    p = sub.add_parser("predict", help="predictions of a trained model for the sequences in an .npz file")
    p.add_argument("model", help="model.npz written by rnnlab train (or rnnlab.saving.save)")
    p.add_argument("--data", required=True, help="an .npz with x (and lengths); y, if there, is ignored")
    p.add_argument("--out", required=True, help="where to write the predictions: .npy or .csv")
    p.add_argument("--proba", action="store_true", help="classifiers: probabilities instead of class ids")
    p.add_argument("--batch-size", type=int, default=256)
    return p


def predictions(model, kind: str | None, x, lengths, proba: bool, batch_size: int) -> np.ndarray:
    inputs = as_inputs(x, lengths, "--data x", "--data lengths")
    if proba and kind in ("classify", "classify_steps", "multilabel_steps"):
        out = predict_proba(model, inputs.x, inputs.lengths, batch_size, multilabel=kind == "multilabel_steps")
    elif proba:
        raise ValueError(f"--proba: needs a classifier; the model was trained for {kind or 'an unknown task'}")
    else:
        out = predict(model, inputs.x, inputs.lengths, batch_size)
        if kind in ("classify", "classify_steps"):
            out = out.argmax(-1)
        elif kind == "multilabel_steps":
            out = (out > 0).astype(np.int8)                       # logit > 0: probability > 0.5
    if out.ndim >= 2 and kind in ("classify_steps", "multilabel_steps") and inputs.lengths is not None:
        out = out.astype(np.float64 if out.dtype.kind == "f" else np.int64)
        out[padding(inputs.lengths, out.shape[1])] = np.nan if out.dtype.kind == "f" else -1
    return out


def write(path: str, out: np.ndarray) -> None:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        atomic_write(path, lambda f: np.save(f, out))
    elif ext == ".csv":
        if out.ndim > 2:
            raise ValueError(f"--out: predictions of shape {out.shape} do not fit a CSV table; write .npy")
        text = io.StringIO()
        np.savetxt(text, out.reshape(len(out), -1), delimiter=",",
                   fmt="%d" if out.dtype.kind in "iu" else "%.9g")
        atomic_write(path, lambda f: f.write(text.getvalue().encode()))
    else:
        raise ValueError(f"--out: expected a file ending in .npy or .csv, got {path!r}")


def run(args) -> int:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size: expected a positive integer, got {args.batch_size}")
    if os.path.splitext(args.out)[1].lower() not in (".npy", ".csv"):
        raise ValueError(f"--out: expected a file ending in .npy or .csv, got {args.out!r}")
    model = load(args.model)
    kind = read_meta(args.model).get("task", {}).get("kind")
    x, _, lengths = read_npz(args.data, "--data")
    out = predictions(model, kind, x, lengths, args.proba, args.batch_size)
    write(args.out, out)
    print(f"{args.out}: {out.shape} {'probabilities' if args.proba else kind or 'outputs'}")
    return 0
