"""The copy (memory) task (Hochreiter & Schmidhuber 1997; the form of Arjovsky et al. 2016).

Symbols 0 (blank), 1..8 (data), 9 (delimiter). The input shows S data symbols, then T - 1 blanks,
the delimiter, and S more blanks; the model must output blanks until the delimiter and then the S
data symbols in order:

    input   s_1 .. s_S  0 ... 0  9  0 ... 0          length T + 2S
    target  0 ... 0                 s_1 .. s_S

Inputs are one-hot (10 features); the loss counts the S recall steps only, where guessing gives
log 8 = 2.08 nats, so the reported accuracy is the fraction of symbols recalled.
"""
from __future__ import annotations

import numpy as np

from .dataset import Batch, GeneratedDataset, Task, fixed

SYMBOLS = 10


def generate(rng: np.random.Generator, n: int, T: int, S: int = 10) -> Batch:
    """n sequences: x (n, T + 2S, 10) one-hot, y (n, T + 2S) symbol ids, mask on the last S steps."""
    if T < 1:
        raise ValueError(f"T: expected a delay >= 1, got {T!r}")
    if S < 1:
        raise ValueError(f"S: expected at least one symbol to copy, got {S!r}")
    L = T + 2 * S
    data = rng.integers(1, 9, (n, S))
    ids = np.zeros((n, L), np.int64)
    ids[:, :S] = data
    ids[:, S + T - 1] = 9                                     # the delimiter: recall starts next step
    y = np.zeros((n, L), np.int64)
    y[:, -S:] = data
    mask = np.zeros((n, L), np.float32)
    mask[:, -S:] = 1
    return Batch(np.eye(SYMBOLS, dtype=np.float32)[ids], y, None, mask)


def task(T: int = 100, train_size: int = 10_000, valid_size: int = 1_000, test_size: int = 2_000,
         seed: int = 0, S: int = 10) -> Task:
    gen = lambda rng, n: generate(rng, n, T, S)                 # noqa: E731
    return Task("copy", "classify_steps", SYMBOLS, 9, GeneratedDataset(gen, train_size),
                fixed(gen, valid_size, [seed, 1 << 20]), fixed(gen, test_size, [seed, 1 << 21]),
                {"T": T, "S": S})
