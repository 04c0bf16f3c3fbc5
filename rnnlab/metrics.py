"""Loss and metrics of a model's output on a batch, by task kind (data/dataset.py), and their
accumulation over a whole split.

    regression         loss: MSE;  metric "solved": fraction with |pred - y| < 0.04 (Hochreiter 1997)
    classify           loss: softmax cross-entropy;  "accuracy"
    classify_steps     loss: cross-entropy per counted step (nats per character for text);  "accuracy"
    multilabel_steps   loss: binary cross-entropy summed over labels per counted step (NLL per time
                       step for music);  "strings_correct": fraction of sequences whose every step,
                       thresholded at 0.5, gives exactly the target set (Reber)

``evaluate_stream`` scores a split of consecutive chunks (character-level text) as one text: the split
is cut into ``streams`` contiguous runs of chunks, read side by side, and each chunk starts from the
final state of the one before it in its run (the state is carried; its gradient is not needed), so
a character is predicted from everything before it in its run, not only from its own chunk. That is
how RNN language models are usually scored (char-rnn, Zaremba et al. 2014). Each character is still
counted once.

Split totals weight each batch by its number of counted predictions, so they equal the loss over the
whole split at once (the per-frame average of Boulanger-Lewandowski et al. for music). A split is
evaluated in evaluation mode (Dropout off), whatever mode the model is in.
"""
from __future__ import annotations

import numpy as np

from .losses import binary_cross_entropy_with_logits, mean_squared_error, softmax_cross_entropy
from .models import predicting

SOLVED_ERROR = 0.04


def batch_loss(kind: str, out: np.ndarray, batch):
    """(loss, dout, count, sums): the mean loss, its gradient, the number of counted predictions, and
    the batch's sums of each metric's numerator (with its own count)."""
    y, mask = batch.y, batch.mask
    if kind == "regression":
        loss, dout = mean_squared_error(out, y)
        count = len(y)
        sums = {"solved": (float((np.abs(out - y) < SOLVED_ERROR).all(axis=-1).sum()), count)}
    elif kind == "classify":
        loss, dout = softmax_cross_entropy(out, y)
        count = len(y)
        sums = {"accuracy": (float((out.argmax(-1) == y).sum()), count)}
    elif kind == "classify_steps":
        loss, dout = softmax_cross_entropy(out, y, mask)
        hits = out.argmax(-1) == y                                               # (N, T)
        count = int(hits.size if mask is None else mask.sum())
        sums = {"accuracy": (float(hits.sum() if mask is None else (hits * mask).sum()), count)}
    elif kind == "multilabel_steps":
        loss, dout = binary_cross_entropy_with_logits(out, y, mask)
        count = int(np.prod(y.shape[:2]) if mask is None else mask.sum())
        right = ((out > 0) == (y > 0.5)).all(axis=-1)                           # (N, T) logit > 0: p > 0.5
        if mask is not None:
            right |= mask == 0
        sums = {"strings_correct": (float(right.all(axis=1).sum()), len(y))}
    else:
        raise ValueError(f"kind: expected a task kind, got {kind!r}")
    return loss, dout, count, sums


class Totals:
    """Running sums over batches: the loss weighted by its count, and each metric's numerator and
    denominator; ``result()`` gives {"loss": ..., <metric>: ...}."""

    def __init__(self):
        self.loss, self.count, self.sums = 0.0, 0, {}

    def add(self, loss: float, count: int, sums: dict) -> None:
        self.loss += loss * count
        self.count += count
        for key, (num, den) in sums.items():
            a, b = self.sums.get(key, (0.0, 0))
            self.sums[key] = (a + num, b + den)

    def result(self) -> dict:
        if self.count == 0:
            raise ValueError("dataset: expected at least one sequence to evaluate, got none")
        return {"loss": self.loss / self.count, **{k: a / b for k, (a, b) in self.sums.items()}}


def evaluate(model, dataset, kind: str, batch_size: int = 256) -> dict:
    """{"loss": ..., <metric>: ...} over the whole ``dataset``, in file order, with Dropout off."""
    totals = Totals()
    with predicting(model):
        for batch in dataset.batches(batch_size):
            out, _ = model.forward(batch.x, batch.lengths)
            loss, _, n, sums = batch_loss(kind, out, batch)
            totals.add(loss, n, sums)
    return totals.result()


def rows(states: list, n: int) -> list:
    """The first ``n`` sequences of each layer's state (None, an array (K, N, H), or a tuple of them)."""
    def cut(s):
        if s is None:
            return None
        return tuple(a[:, :n] for a in s) if isinstance(s, tuple) else s[:, :n]
    return [cut(s) for s in states]


def evaluate_stream(model, dataset, kind: str, streams: int = 16) -> dict:
    """Like ``evaluate``, with the state carried from chunk to chunk of each of ``streams`` contiguous
    runs (see the module docstring). ``dataset`` holds chunks in text order (text's valid split)."""
    if kind != "classify_steps":
        raise ValueError(f"kind: carrying the state across chunks needs a per-step task (text), got {kind!r}")
    if isinstance(streams, bool) or not isinstance(streams, int) or streams < 1:
        raise ValueError(f"streams: expected a positive integer, got {streams!r}")
    n = len(dataset)
    if n == 0:
        return Totals().result()                # the empty dataset's error
    per = -(-n // streams)                      # chunks per run; only the last run may be shorter
    starts = np.arange(0, n, per)
    totals = Totals()
    states = None
    with predicting(model):
        for k in range(per):
            idx = starts[starts + k < n] + k    # the runs that still have a chunk: a prefix of them
            if states is not None:
                states = rows(states, len(idx))
            batch = dataset.take(idx)
            out, cache = model.forward(batch.x, batch.lengths, states)
            states = cache.states
            loss, _, c, sums = batch_loss(kind, out, batch)
            totals.add(loss, c, sums)
    return totals.result()


def evaluate_split(model, task, split: str, batch_size: int = 256) -> dict:
    """``evaluate`` on ``task``'s split, keeping only the metrics that mean something for the task
    (strings correct: the Reber grammar, not music)."""
    out = evaluate(model, getattr(task, split), task.kind, batch_size)
    if not task.meta.get("string_accuracy"):
        out.pop("strings_correct", None)
    return out
