"""The temporal order task (Hochreiter & Schmidhuber 1997, experiment 6a).

A sequence of T symbols starts with B and ends with E; in between, distractors drawn from {a, b, c, d},
except at two random steps t1 in [T/10, 2T/10) and t2 in [5T/10, 6T/10), which hold X or Y. The class
is the order of the two: XX, XY, YX, YY (0..3), read at the last step. Inputs are one-hot over the
eight symbols (a, b, c, d, X, Y, B, E).
"""
from __future__ import annotations

import numpy as np

from .dataset import Batch, GeneratedDataset, Task, fixed

ALPHABET = "abcdXYBE"


def generate(rng: np.random.Generator, n: int, T: int) -> Batch:
    """n sequences: x (n, T, 8) one-hot, y (n,) class in 0..3."""
    if T < 10:
        raise ValueError(f"T: expected a sequence length >= 10, got {T!r}")
    ids = rng.integers(0, 4, (n, T))
    ids[:, 0], ids[:, -1] = 6, 7                              # B ... E
    rows = np.arange(n)
    first, second = rng.integers(0, 2, n), rng.integers(0, 2, n)  # 0: X, 1: Y
    ids[rows, rng.integers(T // 10, max(T // 10 + 1, 2 * T // 10), n)] = 4 + first
    ids[rows, rng.integers(5 * T // 10, max(5 * T // 10 + 1, 6 * T // 10), n)] = 4 + second
    return Batch(np.eye(8, dtype=np.float32)[ids], (2 * first + second).astype(np.int64), None, None)


def task(T: int = 100, train_size: int = 10_000, valid_size: int = 1_000, test_size: int = 2_000,
         seed: int = 0) -> Task:
    gen = lambda rng, n: generate(rng, n, T)                    # noqa: E731
    return Task("order", "classify", 8, 4, GeneratedDataset(gen, train_size),
                fixed(gen, valid_size, [seed, 1 << 20]), fixed(gen, test_size, [seed, 1 << 21]),
                {"T": T})
