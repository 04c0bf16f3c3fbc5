"""``rnnlab predict``: a trained model's predictions for the sequences in an .npz file, a CSV series
or text files.

    rnnlab predict runs/mine/model.npz --data new.npz --out predictions.npy
    rnnlab predict runs/mine/model.npz --data new.npz --out probabilities.csv --proba
    rnnlab predict runs/forecast/model.npz --csv new.csv --out forecasts.csv
    rnnlab predict runs/reviews/model.npz --text-classes new_reviews/ --out classes.csv

The .npz holds ``x`` (and ``lengths`` for padded sequences), as for ``rnnlab train --data``; a ``y``
in it is ignored. What is written, by the task the model was trained for (its file's meta):
    classify           (N,) class ids; --proba: (N, C) probabilities (softmax)
    classify_steps     (N, T) class ids, -1 at padded steps; --proba: (N, T, C)
    multilabel_steps   (N, T, K) 0/1 labels (probability > 0.5); --proba: (N, T, K) probabilities
    regression         (N, K) values
    a model without a task in its file: the head's raw outputs
``.npy`` holds any of these; ``.csv`` a header line, then one row per sequence, for outputs of at most
two dimensions: ``index`` (the sequence's row in x), then ``class`` (class ids), ``p0``, ``p1``, ...
(--proba), ``t0``, ``t1``, ... (class ids per step) or ``y0``, ``y1``, ... (regression).

--csv (a model trained with --csv): every window of the file's rows, standardized with the training
statistics the model file keeps; the CSV has a header and one row per window: ``line`` (the file line
of the window's last row) and ``forecast`` (the target column --horizon rows later, in its units);
.npy holds the forecasts (M,).
--text-classes (a model trained with --text-classes): a file, or a folder's files (recursively, in
sorted order), encoded with the model's vocabulary; the CSV has a header and one row per file: ``file``
and ``class`` (the class folder's name), or with --proba one probability column per class; .npy holds
class ids (N,) or probabilities (N, C).
The file is written atomically (a crash leaves any previous file as it was).
"""
from __future__ import annotations

import io
import os

import numpy as np

from ..data import csv_series, text_classes
from ..data.arrays import as_inputs, padding
from ..fitting import check_input_width, predict, predict_proba
from ..saving import atomic_write, load, read_meta
from ._flags import check_model_file, check_output, read_data_file, run_inputs


def add_parser(sub):
    p = sub.add_parser("predict", help="predictions of a trained model for the sequences in an .npz file")
    p.add_argument("model", help="model.npz written by rnnlab train (or rnnlab.saving.save)")
    p.add_argument("--data", help="an .npz with x (and lengths); y, if there, is ignored")
    p.add_argument("--csv", help="a model trained with --csv: a CSV file with the columns it was trained on")
    p.add_argument("--text-classes", help="a model trained with --text-classes: a text file or a folder of them")
    p.add_argument("--out", required=True, help="where to write the predictions: .npy or .csv")
    p.add_argument("--proba", action="store_true", help="classifiers: probabilities instead of class ids")
    p.add_argument("--batch-size", type=int, default=256)
    return p


def predictions(model, kind: str | None, x, lengths, proba: bool, batch_size: int) -> np.ndarray:
    inputs = as_inputs(x, lengths, "--data x", "--data lengths")
    check_input_width(model, inputs.x, x)                 # "x:", which run() words as --data's key 'x'
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


def header(out: np.ndarray, kind: str | None, proba: bool) -> list:
    """The CSV columns of ``predictions``' output: ``index`` (the sequence's row in x), then ``class``
    (class ids), ``p0`` .. (probabilities), ``t0`` .. (per-step class ids), ``y0`` .. (regression) or
    ``out0`` .. (a model without a task)."""
    if out.ndim == 1:
        return ["index", "class" if kind in ("classify", "classify_steps") and not proba else "y0"]
    width = out.shape[1]
    prefix = "p" if proba else "t" if kind == "classify_steps" else "y" if kind == "regression" else "out"
    return ["index", *(f"{prefix}{j}" for j in range(width))]


def write(path: str, out: np.ndarray, columns: list | None = None) -> None:
    """``out`` to ``path`` (.npy: the array as it is; .csv: a header line of ``columns`` (see ``header``),
    then one row per sequence, its index first), atomically."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        atomic_write(path, lambda f: np.save(f, out))
    elif ext == ".csv":
        if out.ndim > 2:
            raise ValueError(f"--out: predictions of shape {out.shape} do not fit a CSV table; write .npy")
        table = out.reshape(len(out), -1)
        text = io.StringIO()
        if columns is not None:
            text.write(",".join(columns) + "\n")
            table = np.column_stack([np.arange(len(out)), table])
            fmt = ["%d"] + ["%d" if out.dtype.kind in "iu" else "%.9g"] * (table.shape[1] - 1)
        else:
            fmt = "%d" if out.dtype.kind in "iu" else "%.9g"
        np.savetxt(text, table, delimiter=",", fmt=fmt)
        atomic_write(path, lambda f: f.write(text.getvalue().encode()))
    else:
        raise ValueError(f"--out: expected a file ending in .npy or .csv, got {path!r}")


def run(args) -> int:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size: expected a positive integer, got {args.batch_size}")
    ending = os.path.splitext(args.out)[1].lower()
    if ending not in (".npy", ".csv"):
        raise ValueError(f"--out: expected a file ending in .npy or .csv, got {args.out!r}")
    check_output("--out", args.out, ending, {"model": args.model, "--data": getattr(args, "data", None),
                                             "--csv": getattr(args, "csv", None),
                                             "--text-classes": getattr(args, "text_classes", None)},
                 {"--text-classes": getattr(args, "text_classes", None)})
    for name in ("data", "csv", "text_classes"):
        value = getattr(args, name, None)
        if value is not None and not value.strip():
            raise ValueError(f"--{name.replace('_', '-')}: expected a path, got {value!r}")
    sources = [f for f in ("data", "csv", "text_classes") if getattr(args, f, None)]
    if len(sources) != 1:
        raise ValueError("--data: give one of --data, --csv, --text-classes" + (", not several" if sources else ""))
    check_model_file(args.model, "predict")
    model = load(args.model)
    meta = read_meta(args.model)
    if isinstance(meta.get("config"), dict):           # the data the model's run reads: never written over
        check_output("--out", args.out, ending, *run_inputs(meta["config"]))
    task = meta.get("task", {})
    kind = task.get("kind")
    if args.csv or args.text_classes:
        return predict_own_files(args, model, task)
    if "csv" in task:
        raise ValueError(f"--data: {args.model!r} was trained with --csv: it reads windows of the CSV's columns "
                         f"standardized with the training statistics and forecasts in standardized units; give "
                         f"the new rows with --csv FILE")
    x, _, lengths = read_data_file(args.data, "predict")
    try:
        out = predictions(model, kind, x, lengths, args.proba, args.batch_size)
    except ValueError as err:
        if type(err) is ValueError and str(err).startswith("x:"):    # the model's name for the input
            raise ValueError(f"--data {args.data!r}: key 'x'{str(err)[1:]}") from err
        raise
    write(args.out, out, header(out, kind, args.proba))
    print(f"{args.out}: {out.shape} {'probabilities' if args.proba else kind or 'outputs'}")
    return 0


def write_table(path: str, header: list, rows) -> None:
    """A CSV file with a header line, written atomically."""
    import csv
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write(path, lambda f: f.write(text.getvalue().encode()))


def predict_own_files(args, model, task: dict) -> int:
    """--csv or --text-classes: the preprocessing the model file records, repeated on the new files."""
    flag, key = ("--csv", "csv") if args.csv else ("--text-classes", "text_classes")
    if key not in task:
        raise ValueError(f"{flag}: {args.model!r} was not trained with {flag} (its file records no "
                         f"{'series' if args.csv else 'vocabulary'} to prepare the data with)")
    meta, csv_out = task[key], args.out.lower().endswith(".csv")
    if args.csv:
        if args.proba:
            raise ValueError("--proba: needs a classifier; the model forecasts a series (regression)")
        x, lines = csv_series.forecast_inputs(args.csv, meta, "--csv")
        out = csv_series.unstandardize(predict(model, x, batch_size=args.batch_size)[:, 0], meta)
        if csv_out:
            write_table(args.out, ["line", "forecast"], ([int(n), f"{v:.9g}"] for n, v in zip(lines, out)))
        else:
            write(args.out, out)
    else:
        ids, files = text_classes.prediction_inputs(args.text_classes, meta, "--text-classes")
        out = predict_proba(model, ids, batch_size=args.batch_size) if args.proba else \
            predict(model, ids, batch_size=args.batch_size).argmax(-1)
        if csv_out and args.proba:
            write_table(args.out, ["file", *meta["classes"]], ([f, *(f"{p:.6g}" for p in row)] for f, row in zip(files, out)))
        elif csv_out:
            write_table(args.out, ["file", "class"], ([f, meta["classes"][c]] for f, c in zip(files, out)))
        else:
            write(args.out, out)
    one, many = (("forecast", "forecasts") if args.csv else ("class probability row", "class probability rows")
                 if args.proba else ("predicted class", "predicted classes"))
    print(f"{args.out}: {len(out)} {one if len(out) == 1 else many}")
    return 0
