"""The adding problem (Hochreiter & Schmidhuber 1997, experiment 4; the variant of Le et al. 2015).

Each step t carries two inputs: a value v_t ~ U(0, 1) and a marker m_t in {0, 1}. Exactly two steps
are marked, one in the first half [0, T/2) and one in the second half [T/2, T); the target, read at
the last step, is the sum of the two marked values:

    x_t = (v_t, m_t),   y = sum_t m_t v_t

Predicting the constant 1 gives MSE Var(v_a + v_b) = 2/12 = 0.167, the trivial baseline; a model must
carry the first value across at least T/2 steps to do better. Solved (the paper's criterion): absolute
error < 0.04 on the test sequences.
"""
from __future__ import annotations

import numpy as np

from .dataset import Batch, GeneratedDataset, Task, fixed

BASELINE_MSE = 1 / 6


def generate(rng: np.random.Generator, n: int, T: int) -> Batch:
    """n sequences of length T: x (n, T, 2), y (n, 1)."""
    if T < 2:
        raise ValueError(f"T: expected a sequence length >= 2, got {T!r}")
    v = rng.random((n, T))
    m = np.zeros((n, T))
    rows = np.arange(n)
    m[rows, rng.integers(0, T // 2, n)] = 1                   # one marker in the first half
    m[rows, rng.integers(T // 2, T, n)] = 1                   # one in the second half
    x = np.stack([v, m], axis=-1).astype(np.float32)          # (n, T, 2)
    y = (v * m).sum(axis=1, keepdims=True).astype(np.float32)  # (n, 1)
    return Batch(x, y, None, None)


def task(T: int = 100, train_size: int = 10_000, valid_size: int = 1_000, test_size: int = 2_000,
         seed: int = 0) -> Task:
    """Training draws ``train_size`` fresh sequences per epoch; validation and test are fixed."""
    gen = lambda rng, n: generate(rng, n, T)                    # noqa: E731
    return Task("adding", "regression", 2, 1, GeneratedDataset(gen, train_size),
                fixed(gen, valid_size, [seed, 1 << 20]), fixed(gen, test_size, [seed, 1 << 21]),
                {"T": T})
