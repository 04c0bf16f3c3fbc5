"""The embedded Reber grammar (Reber 1967; Hochreiter & Schmidhuber 1997, experiment 1).

A Reber string walks this graph from state 0 and ends with E; each arrow emits its symbol:

    0 -B-> 1;  1 -T-> 2, 1 -P-> 3;  2 -S-> 2, 2 -X-> 4;  3 -T-> 3, 3 -V-> 5;
    4 -X-> 3, 4 -S-> 6;  5 -P-> 4, 5 -V-> 6;  6 -E-> end

An embedded string is B, then c in {T, P}, then a Reber string, then c again, then E. Both branches
share the inner strings, so only a memory of the second symbol predicts the second-to-last one.

Next-symbol prediction: input x_t is symbol t one-hot (7 features, alphabet BTPSXVE), the target is
the 0/1 vector of the symbols that may come next. A string counts as correct when, at every step,
thresholding the outputs at 0.5 gives exactly that set (the paper's criterion).
"""
from __future__ import annotations

import numpy as np

from .dataset import SequenceListDataset, Task

ALPHABET = "BTPSXVE"
GRAPH = {0: [("B", 1)], 1: [("T", 2), ("P", 3)], 2: [("S", 2), ("X", 4)], 3: [("T", 3), ("V", 5)],
         4: [("X", 3), ("S", 6)], 5: [("P", 4), ("V", 6)], 6: [("E", None)]}


def reber_string(rng: np.random.Generator) -> tuple[str, list]:
    """A Reber string and, for each symbol, the set of symbols that may follow it."""
    state, out, nexts = 0, [], []
    while state is not None:
        arrows = GRAPH[state]
        symbol, state = arrows[rng.integers(len(arrows))]
        out.append(symbol)
        nexts.append(set() if state is None else {s for s, _ in GRAPH[state]})
    return "".join(out), nexts


def embedded_reber_string(rng: np.random.Generator) -> tuple[str, list]:
    c = "TP"[rng.integers(2)]
    inner, inner_next = reber_string(rng)
    string = "B" + c + inner + c + "E"
    nexts = [{"T", "P"}, {"B"}] + inner_next[:-1] + [{c}, {"E"}, set()]
    return string, nexts


def encode(strings_and_nexts) -> tuple[list, list]:
    """One-hot inputs (T_i - 1, 7) and 0/1 next-symbol targets (T_i - 1, 7) per string."""
    eye = np.eye(len(ALPHABET), dtype=np.float32)
    xs, ys = [], []
    for string, nexts in strings_and_nexts:
        xs.append(eye[[ALPHABET.index(s) for s in string[:-1]]])
        ys.append(np.array([[s in nxt for s in ALPHABET] for nxt in nexts[:-1]], np.float32))
    return xs, ys


def dataset(rng: np.random.Generator, n: int) -> SequenceListDataset:
    """n strings; a batch pads them to its longest: x (N, T, 7), y (N, T, 7), lengths (N,)."""
    return SequenceListDataset(*encode([embedded_reber_string(rng) for _ in range(n)]))


def task(train_size: int = 8_000, valid_size: int = 1_000, test_size: int = 2_000, seed: int = 0) -> Task:
    return Task("reber", "multilabel_steps", 7, 7, dataset(np.random.default_rng([seed, 0]), train_size),
                dataset(np.random.default_rng([seed, 1 << 20]), valid_size),
                dataset(np.random.default_rng([seed, 1 << 21]), test_size),
                {"string_accuracy": True})
