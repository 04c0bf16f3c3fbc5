"""fit / predict / evaluate on the user's own arrays, on the one training loop (rnnlab.train.train).

    from rnnlab import LSTM, Dense, fit, predict
    from rnnlab.models import LastStep, Sequential
    model = Sequential([LSTM(3, 32), LastStep(), Dense(32, 2)])
    history = fit(model, x, y, validation_split=0.2, epochs=20)     # x (N, T, 3) floats, y (N,) ids
    classes = predict(model, x_new).argmax(-1)

``fit`` turns the arrays into a Task (rnnlab.data.arrays: the accepted forms of x and y, and how the
task kind is read from them), checks that the model's output fits the targets, and hands model and
task to ``rnnlab.train.train``: the same batches, optimizer, clipping, checkpoints, exact resume,
early stopping and best-model selection as ``rnnlab train --task``. After ``fit`` the model holds the
parameters of the best validation epoch (``select``), as ``rnnlab train`` saves them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .activations import softmax
from .data.arrays import Inputs, as_inputs, split_rows, task_from_arrays
from .metrics import evaluate_split
from .models import evaluation, predicting
from .train import MODELS, Config, train

LOSSES = {"mse": "regression", "cross_entropy": "classify", "binary_cross_entropy": "multilabel_steps"}
PER_SEQUENCE_KINDS = ("regression", "classify")


@dataclass
class History:
    """What ``fit`` returns.

    history      {"train_loss": [...], "valid_loss": [...], "valid_accuracy": [...], ...}: one entry per
                 epoch, as Keras's ``History.history`` (the metrics depend on the task kind)
    log          the metrics log lines, one dict per epoch (also run folder's metrics.jsonl)
    best_epoch   the epoch whose parameters the model holds now (1-based; 0 if none finished)
    complete     False when training stopped early by ``stop_after_steps`` or ``max_minutes``
    kind         the task kind trained (rnnlab.data.dataset.KINDS)
    valid_rows   the rows of x held out by ``validation_split`` (None otherwise)
    valid        the final validation metrics of the kept parameters ({} if interrupted)
    """
    history: dict
    log: list
    best_epoch: int
    complete: bool
    kind: str
    valid_rows: np.ndarray | None = None
    valid: dict = field(default_factory=dict)


def kind_of(loss: str | None) -> str | None:
    if loss is None or loss in LOSSES.values() or loss == "classify_steps":
        return loss
    if loss not in LOSSES:
        raise ValueError(f"loss: expected one of {sorted(LOSSES)} (or a task kind), got {loss!r}")
    return LOSSES[loss]


def check_input_width(model, xs: np.ndarray, given, name: str = "x") -> None:
    """ValueError naming ``name`` when the model's first layer reads another number of features per
    step than the normalised inputs ``xs`` (as_inputs' x of ``given``, or rows of it) carry; the
    message shows ``given``'s own shape, not the (N, T, 1) that a 2-D array becomes or a batch of it."""
    first = model.layers[0] if hasattr(model, "layers") else model
    want = getattr(first, "input_size", None)
    if xs.ndim != 3 or isinstance(want, bool) or not isinstance(want, (int, np.integer)):
        return                                              # token ids, or a first layer of no fixed width
    D = xs.shape[2]
    if D == want:
        return
    if isinstance(given, (list, tuple)):
        got = f"sequences of {D} feature(s) per step"
    else:
        got = f"shape {np.shape(given)}" + (" (a 2-D array is read as (N, T), one feature per step)"
                                             if np.ndim(given) == 2 else "")
    raise ValueError(f"{name}: expected {want} feature{'s' * (want != 1)} per step (the model's input_size), "
                     f"arrays of shape (N, T, {want}), got {got}")


def check_head(model, task, x=None) -> None:
    """Run the model on two training sequences and check that its output fits the targets (x: the
    inputs as given, for the message of a width that does not fit the model)."""
    if not hasattr(model, "forward") or not hasattr(model, "params"):
        raise ValueError(f"model: expected an rnnlab Sequential, got {type(model).__name__}")
    if not hasattr(model, "layers"):
        raise ValueError(f"model: fit needs a model with a head, a Sequential ending in Dense, got a bare "
                         f"{type(model).__name__}; wrap it, e.g. Sequential([{type(model).__name__}(...), "
                         "LastStep(), Dense(hidden, C)])")
    batch = task.train.take(np.arange(min(2, len(task.train))))
    first = model.layers[0] if hasattr(model, "layers") else model
    if batch.x.dtype.kind in "iu" and getattr(first, "kind", None) != "Embedding":
        raise ValueError("x: integer token ids need a model whose first layer is an Embedding, e.g. "
                         "Sequential([Embedding(V, 32), LSTM(32, 64), LastStep(), Dense(64, C)])")
    check_input_width(model, batch.x, batch.x if x is None else x)
    with evaluation(model):
        out, _ = model.forward(batch.x, batch.lengths)
    per_sequence = task.kind in PER_SEQUENCE_KINDS
    if per_sequence and out.ndim != 2:
        raise ValueError(f"model: y has one target per sequence ({task.kind}), but the model's output has "
                         f"shape {out.shape[1:]} per sequence, one per step; put LastStep() before the head")
    if not per_sequence and out.ndim != 3:
        raise ValueError(f"model: y has one target per step ({task.kind}), but the model gives one output "
                         f"per sequence (shape {out.shape}); remove LastStep()")
    C = out.shape[-1]
    if task.kind.startswith("classify") and C < 2:
        raise ValueError(f"y: class ids need a head of at least 2 outputs (one per class), the model gives {C}; "
                         "for regression pass y as floats (or loss='mse')")
    if task.kind.startswith("classify"):
        for name, split in (("y", task.train), ("validation_data[1]", task.valid)):
            y = split.y
            if (y >= C).any():
                where = tuple(int(i) for i in np.argwhere(y >= C)[0])
                raise ValueError(f"{name}: class id {int(y[where])} at index {where} is out of range for the "
                                 f"model's {C} outputs (classes 0 .. {C - 1})")
    elif C != task.output_size:
        n = task.output_size
        hint = (" (y is read as real-valued targets, one each: regression; class ids need integer y, or "
                "loss='cross_entropy')" if task.kind == "regression" and C > 1 and n == 1 else "")
        raise ValueError(f"model: the last layer gives {C} outputs per {'sequence' if per_sequence else 'step'}, "
                         f"but y has {n} target{'s' * (n != 1)} each{hint}")


def out_width(model) -> int:
    """The width of the model's last layer with a fixed output size (a Dense head), or 0."""
    for layer in reversed(getattr(model, "layers", [])):
        if getattr(layer, "kind", None) == "Dense":
            return int(layer.output_size)
    return 0


def describe(model) -> dict:
    """The Config fields that name the model's first recurrent layer (informative only: the model file
    holds the architecture)."""
    for layer in getattr(model, "layers", [model]):
        name = getattr(layer, "kind", "").lower()
        if name in MODELS:
            return {"model": name, "hidden": layer.hidden_size, "layers": layer.num_layers,
                    "dtype": layer.dtype.name}
    return {}


def fit(model, x, y, *, lengths=None, loss: str | None = None, validation_data=None,
        validation_split: float | None = None, epochs: int = 10, batch_size: int = 32,
        optimizer: str = "adam", lr: float = 1e-3, clip: float = 1.0, schedule: str = "constant",
        patience: int | None = None, select: str = "loss", out: str | None = None, resume: bool = False,
        seed: int = 0, progress: bool | None = None, callbacks=(), momentum: float = 0.0,
        weight_decay: float = 0.0, checkpoint_every: int = 0, max_minutes: float = 0.0,
        stop_after_steps: int | None = None, overwrite: bool = False) -> History:
    """Train ``model`` (a Sequential, changed in place) on (x, y); returns a ``History``.

    x, y, lengths: see rnnlab.data.arrays (float (N, T, D), a list of (T_i, D), token ids (N, T);
    targets per sequence or per step). ``loss``: "cross_entropy", "mse" or "binary_cross_entropy"
    (default: read from y's dtype and shape). ``validation_data`` (x, y[, lengths]) or
    ``validation_split`` (a fraction of the rows, drawn from ``seed``; ``History.valid_rows`` says
    which); without either, the training data is evaluated in their place.
    ``epochs``, ``batch_size``, ``optimizer`` (rnnlab.optim.OPTIMIZERS), ``lr``, ``clip`` (global
    gradient-norm bound, 0: off), ``schedule`` ("constant" | "cosine"), ``momentum`` (SGD),
    ``weight_decay``: as for ``rnnlab train``. ``patience``: stop after that many epochs without a
    better validation ``select`` ("loss" | "accuracy"); None: never.
    ``out``: run folder (checkpoint.npz, metrics.jsonl, model.npz, metrics.json); ``resume``: continue
    the run in ``out`` exactly where its checkpoint stands, with the same data, model architecture and
    settings (other arrays or settings: ValueError naming them; only ``epochs`` and ``max_minutes``
    may change);
    ``overwrite``: replace the run that ``out`` holds (its files are removed once every check has
    passed; a folder holding other files is refused); ``checkpoint_every`` steps, ``max_minutes``, ``stop_after_steps``: as ``rnnlab.train.train``.
    ``callbacks``: functions called with each epoch's log line (a dict); returning False stops.
    ``progress``: None prints each epoch's line, with a progress bar when stderr is a terminal (none
    in a log file); True always shows the bar; False prints nothing.
    ``seed`` fixes the batch order and the validation split; the model's parameters are its own.

    Raises ValueError naming the argument: inputs or targets of the wrong form (with the offending
    index), a model whose output does not fit the targets, a bad setting.
    """
    if out is not None and not (isinstance(out, (str, os.PathLike)) and str(out).strip()):
        raise ValueError(f"out: expected a folder path (or None to save nothing), got {out!r}")
    kind = kind_of(loss)
    callbacks = list(callbacks)
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise ValueError(f"callbacks[{i}]: expected a function of the epoch's log line, got {callback!r}")
    task = task_from_arrays(x, y, lengths, kind=kind, validation_data=validation_data,
                            validation_split=validation_split, seed=seed)
    if kind is None and task.kind == "regression" and np.ndim(y) == 1 and out_width(model) > 1:
        values = np.unique(np.asarray(y))
        if values.size <= out_width(model) and (values == np.round(values)).all():
            raise ValueError(f"y: float values are read as regression targets (one per sequence), but the model "
                             f"gives {out_width(model)} outputs; for class ids pass y.astype(int) (or "
                             f"loss='cross_entropy')")
    check_head(model, task, x)
    cfg = Config(task="arrays", epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, clip=clip,
                 schedule=schedule, patience=0 if patience is None else patience, select=select, seed=seed,
                 momentum=momentum, weight_decay=weight_decay, checkpoint_every=checkpoint_every,
                 max_minutes=max_minutes, eval_batch_size=256, **describe(model))
    cfg.arrays = arrays_sha256(task)
    if resume and out is not None and not overwrite:         # (train refuses resume with overwrite)
        check_resumed(cfg, out, progress is not False)
    echo = print if progress is not False else (lambda *a: None)
    result = train(cfg, out=out, resume=resume, progress=progress, stop_after_steps=stop_after_steps,
                   task=task, echo=echo, model=model, callbacks=callbacks, overwrite=overwrite, flag="out")
    log = result["history"]
    keys = [k for k in (log[0] if log else {}) if k not in ("epoch", "step", "sequences")]
    rows = split_rows(len(task.train) + len(task.valid), validation_split, seed)[1] \
        if validation_split is not None else None
    return History({k: [line[k] for line in log] for k in keys}, log, result.get("best_epoch", 0),
                   result["complete"], task.kind, rows, result.get("valid", {}))


def arrays_sha256(task) -> str:
    """SHA-256 of a fit's data: the train and valid splits' x, y and lengths, each with its dtype and
    shape, so that resume=True can tell the same data from other data."""
    import hashlib
    digest = hashlib.sha256()
    for split in (task.train, task.valid):
        lengths = split.lengths                                # full lengths (a list of equal sequences): none
        lengths = None if lengths is not None and (lengths == split.x.shape[1]).all() else lengths
        for a in (split.x, split.y, lengths):                  # the values: float32 or float64, list or array alike
            a = np.zeros(0, np.int8) if a is None else np.ascontiguousarray(
                a, np.float64 if a.dtype.kind == "f" else np.int64 if a.dtype.kind in "iub" else None)
            digest.update(f"{a.dtype.str}{a.shape}".encode())
            digest.update(a.data if a.size else b"")
    return digest.hexdigest()


RESUMED_SETTINGS = ("batch_size", "optimizer", "lr", "clip", "schedule", "patience", "select", "seed", "momentum",
                    "weight_decay", "checkpoint_every")
"""fit's settings that a resumed run keeps from its start (only ``epochs`` and ``max_minutes`` may change)."""


def check_resumed(cfg: Config, out: str, say: bool) -> None:
    """resume=True: a ValueError naming the argument when this call's data (the arrays' SHA-256) or a
    setting differ from those the run in ``out`` started with, which the resumed run would otherwise
    use without a word; ``say``: tell on stderr when the run has already finished ``cfg.epochs`` epochs.
    Nothing is checked where ``out`` holds no checkpoint (``train`` names that)."""
    import sys
    from .train import CHECKPOINT, checkpoint_config, epochs_done, load_checkpoint
    path = os.path.join(out, CHECKPOINT)
    if not os.path.isfile(path):
        return
    header = load_checkpoint(path, "resume=True")[0]
    saved = checkpoint_config(path, header, "resume=True")
    if saved.get("task") != "arrays":
        raise ValueError(f"resume=True: the run in out={out!r} was made by rnnlab train (--task {saved.get('task')}), "
                         f"which reads its own data; resume it with rnnlab train --out {out} --resume")
    for name in RESUMED_SETTINGS:                 # first: seed also draws the validation rows
        if name in saved and saved[name] != getattr(cfg, name):
            given = None if name == "patience" and cfg.patience == 0 else getattr(cfg, name)
            was = None if name == "patience" and saved[name] == 0 else saved[name]
            raise ValueError(f"{name}: the run in out={out!r} started with {name}={was!r}, this call gives {given!r}; "
                             f"resume=True continues a run with the settings it started with (pass {name}={was!r}, "
                             f"or start a new run with overwrite=True)")
    if saved.get("arrays") is not None and saved["arrays"] != cfg.arrays:
        raise ValueError(f"x, y: the run in out={out!r} was trained on other data (the values of x, y or lengths, or "
                         f"the validation data or validation_split, differ); resume=True continues a run on the data "
                         f"it started with (pass those, or start a new run with overwrite=True)")
    done = epochs_done(header)
    if say and done is not None and done >= cfg.epochs:
        print(f"rnnlab.fit: epochs={cfg.epochs}: the run in out={out!r} has finished {done} epoch(s) already; "
              f"nothing more to train (pass a larger epochs to continue it)", file=sys.stderr)


def batches(inputs: Inputs, batch_size: int):
    """(rows, x, lengths) in input order; a list's batches are cut to their longest sequence."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    N = len(inputs.x)
    for start in range(0, N, batch_size):
        rows = np.arange(start, min(start + batch_size, N))
        lengths = None if inputs.lengths is None else inputs.lengths[rows]
        T = int(lengths.max()) if inputs.ragged else inputs.x.shape[1]
        yield rows, inputs.x[rows, :T], lengths


def predict(model, x, lengths=None, batch_size: int = 256):
    """The model's outputs for ``x`` (the forms of rnnlab.data.arrays), in evaluation mode (Dropout
    off), ``batch_size`` sequences at a time, in the input's order.

    Returns (N, C) for a model with one output per sequence, (N, T, C) per step for an array x (the
    outputs at padded steps are what the model computes there), or for a list x a list of (T_i, C)
    arrays. Outputs are the head's raw values: logits for a classifier (see ``predict_proba``)."""
    inputs = as_inputs(x, lengths)
    check_input_width(model, inputs.x, x)
    outs, lens = [], []
    with predicting(model):
        for _, xb, lb in batches(inputs, batch_size):
            outs.append(model.forward(xb, lb)[0])
            lens.append(lb)
    if outs[0].ndim == 3 and inputs.ragged:
        return [o[i, :n] for o, lb in zip(outs, lens) for i, n in enumerate(lb)]
    return np.concatenate(outs)


def predict_proba(model, x, lengths=None, batch_size: int = 256, multilabel: bool = False):
    """Class probabilities: softmax over the outputs of ``predict`` (``multilabel``: an independent
    sigmoid per label). A head that already ends in softmax or sigmoid is returned as it is.
    ValueError for a head of one output without ``multilabel``: a softmax over one output is 1 for
    every input (a regression head; a single logit wants multilabel=True)."""
    out = predict(model, x, lengths, batch_size)
    width = (out[0] if isinstance(out, list) and out else out).shape[-1]
    if width == 1 and not multilabel:
        raise ValueError("predict_proba: the model has one output, and a softmax over one output is 1 for "
                         "every input (a regression head: use predict; one logit of a binary label: "
                         "multilabel=True gives its sigmoid)")
    last = model.layers[-1] if hasattr(model, "layers") else model
    if getattr(last, "activation", None) in ("softmax", "sigmoid"):
        return out
    f = (lambda a: 1.0 / (1.0 + np.exp(-a))) if multilabel else softmax
    return [f(o) for o in out] if isinstance(out, list) else f(out)


def evaluate(model, x, y, lengths=None, loss: str | None = None, batch_size: int = 256) -> dict:
    """{"loss": ..., "accuracy" | "solved" | "strings_correct": ...} of ``model`` on (x, y): the
    metrics the trainer logs for a validation split (rnnlab.metrics), in evaluation mode."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    task = task_from_arrays(x, y, lengths, kind=kind_of(loss))
    check_head(model, task, x)
    return evaluate_split(model, task, "valid", batch_size)


__all__ = ["History", "evaluate", "fit", "predict", "predict_proba"]
