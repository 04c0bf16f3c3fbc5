"""What every task hands the training loop: batches of padded sequences and a task description.

Shape letters: N sequences in a batch, T time steps, D input features, C outputs.

A ``Batch`` holds x (N, T, D) float32 and targets y whose shape depends on the task's kind:

    kind               y                       head                        loss
    regression         (N, C) floats           last step                   mean squared error
    classify           (N,) class ids          last step                   softmax cross-entropy
    classify_steps     (N, T) class ids        every step                  softmax cross-entropy, masked
    multilabel_steps   (N, T, C) 0/1           every step                  binary cross-entropy, masked

``lengths`` (N,) gives each sequence's valid steps (None when all have T); ``mask`` (N, T) marks the
steps the loss counts (None: all valid steps).

A training split yields its batches for one epoch in an order fixed by (seed, epoch), and from any
batch index ``start``: that is all ``--resume`` needs to continue the data stream exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

KINDS = ("regression", "classify", "classify_steps", "multilabel_steps")


class Batch(NamedTuple):
    x: np.ndarray                    # (N, T, D) float32
    y: np.ndarray                    # see the table above
    lengths: np.ndarray | None       # (N,) valid steps
    mask: np.ndarray | None          # (N, T) steps the loss counts


def step_mask(lengths, N: int, T: int) -> np.ndarray | None:
    """(N, T) float mask [t < lengths[n]], or None when every sequence has T steps."""
    if lengths is None or lengths.min() == T:
        return None
    return (np.arange(T)[None, :] < lengths[:, None]).astype(np.float32)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation of an epoch, a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class ArrayDataset:
    """Fixed sequences, all of T steps: x (N, T, ...) and y; ``encode`` turns a slice of x into
    float inputs at batch time (e.g. character ids into one-hot rows), keeping memory small."""

    def __init__(self, x, y, lengths=None, mask=None, encode: Callable | None = None):
        if len(x) != len(y):
            raise ValueError(f"y: expected {len(x)} targets (one per sequence of x), got {len(y)}")
        self.x, self.y, self.lengths, self.mask, self.encode = x, y, lengths, mask, encode

    def __len__(self) -> int:
        return len(self.x)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def take(self, idx) -> Batch:
        x = self.x[idx]
        x = self.encode(x) if self.encode else x
        lengths = None if self.lengths is None else self.lengths[idx]
        mask = step_mask(lengths, len(idx), x.shape[1]) if self.mask is None else self.mask[idx]
        return Batch(x, self.y[idx], lengths, mask)

    def batches(self, batch_size: int, seed: int | None = None, epoch: int = 0, start: int = 0):
        """Batches in file order (seed None) or in epoch ``epoch``'s shuffled order, from batch ``start``."""
        order = np.arange(len(self)) if seed is None else epoch_order(len(self), seed, epoch)
        for b in range(start, self.num_batches(batch_size)):
            yield self.take(np.sort(order[b * batch_size:(b + 1) * batch_size]))


class SequenceListDataset(ArrayDataset):
    """Sequences of different lengths: xs[i] (T_i, D), ys[i] (T_i, ...) per-step targets. A batch is
    padded with zeros to its longest sequence and carries ``lengths``."""

    def __init__(self, xs: list, ys: list):
        if len(xs) != len(ys):
            raise ValueError(f"ys: expected {len(xs)} target sequences, got {len(ys)}")
        self.x, self.y = xs, ys
        self.lengths = np.array([len(s) for s in xs], np.int64)

    def take(self, idx) -> Batch:
        lengths = self.lengths[idx]
        N, T = len(idx), int(lengths.max())
        x = np.zeros((N, T) + self.x[idx[0]].shape[1:], np.float32)
        y = np.zeros((N, T) + self.y[idx[0]].shape[1:], self.y[idx[0]].dtype)
        for row, i in enumerate(idx):
            x[row, :lengths[row]] = self.x[i]
            y[row, :lengths[row]] = self.y[i]
        return Batch(x, y, lengths, step_mask(lengths, N, T))

    def batches(self, batch_size: int, seed: int | None = None, epoch: int = 0, start: int = 0):
        """Like ArrayDataset's, but each pool of 16 batches of the shuffled order is sorted by length
        before it is cut into batches, so that a batch pads little (pieces of music range from 24
        to 1,800 steps); the batches are then visited in an order shuffled again by (seed, epoch)."""
        if seed is None:
            order = np.argsort(self.lengths, kind="stable")
            chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        else:
            order, pool = epoch_order(len(self), seed, epoch), 16 * batch_size
            chunks = []
            for i in range(0, len(order), pool):
                part = order[i:i + pool]
                part = part[np.argsort(self.lengths[part], kind="stable")]
                chunks += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
            shuffle = np.random.default_rng([seed, epoch, 1]).permutation(len(chunks))
            chunks = [chunks[k] for k in shuffle]
        for b in range(start, len(chunks)):
            yield self.take(chunks[b])


class GeneratedDataset:
    """An endless supply of synthetic sequences: epoch e is ``size`` fresh sequences, batch b of it is
    ``generate(rng, n)`` with rng seeded by (seed, e, b), so any batch can be regenerated exactly."""

    def __init__(self, generate: Callable, size: int):
        self.generate, self.size = generate, size

    def __len__(self) -> int:
        return self.size

    def num_batches(self, batch_size: int) -> int:
        return -(-self.size // batch_size)

    def batches(self, batch_size: int, seed: int | None = None, epoch: int = 0, start: int = 0):
        seed = 0 if seed is None else seed
        for b in range(start, self.num_batches(batch_size)):
            n = min(batch_size, self.size - b * batch_size)
            yield self.generate(np.random.default_rng([seed, epoch, b]), n)


@dataclass
class Task:
    """A task: its kind (see the module docstring), sizes and the three splits."""
    name: str
    kind: str                 # one of KINDS
    input_size: int           # D
    output_size: int          # C: outputs of the head
    train: object             # a dataset with .batches(batch_size, seed, epoch, start)
    valid: object
    test: object
    meta: dict = field(default_factory=dict)   # JSON-able facts a model file keeps (e.g. the vocabulary)
    notes: list = field(default_factory=list)  # what the command says on stderr about how it read
                                               # the data (never saved)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")


def fixed(generate: Callable, n: int, seed) -> ArrayDataset:
    """``n`` sequences from ``generate`` drawn once, for validation and test splits."""
    b = generate(np.random.default_rng(seed), n)
    return ArrayDataset(b.x, b.y, b.lengths, b.mask)
