"""Inverted dropout (Srivastava et al. 2014). Between stacked recurrent layers and before the head it
is the non-recurrent dropout of Zaremba et al. (2014): it acts on what one layer hands the next,
never on the h_{t-1} -> h_t connection.

Shapes: x (..., F), any leading axes (batch, or batch and time); every element is kept or dropped on
its own, so no mask is shared across time steps. p = rate.

    m ~ Bernoulli(1 - p)        elementwise, from the layer's seeded generator
    s = m / (1 - p)             the scaled mask: E[s] = 1, so E[y] = x and evaluation needs no rescaling
    y = x * s

Backward:
    dx = dy * s

Training and evaluation: a Dropout starts in evaluation mode, where y = x and dx = dy; ``train()``
switches the masks on and ``eval()`` off again (``Sequential.train()`` / ``.eval()`` do it for every
layer). At p = 0 the layer is the identity in either mode. Each training forward draws a fresh mask
from ``rng``, a ``np.random.Generator`` seeded with ``seed``: its state is where the stream stands,
and a training checkpoint saves it (rnnlab.train).
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ..checks import check_float_array


class DropoutCache(NamedTuple):
    shape: tuple
    s: np.ndarray | None     # (..., F) scaled mask m / (1 - p); None: the identity (evaluation or p = 0)


def check_rate(name: str, rate) -> float:
    """A dropout probability p in [0, 1): p = 1 would drop everything and divide by zero."""
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise ValueError(f"{name}: expected a number in [0, 1) (the probability of dropping a unit), got {rate!r}")
    return float(rate)


def dropout_mask(rng: np.random.Generator, shape: tuple, rate: float, dtype, uniform_dtype=None) -> np.ndarray:
    """s = m / (1 - p) with m ~ Bernoulli(1 - p): each entry 0 or 1 / (1 - p), in ``dtype``.
    ``uniform_dtype``: the dtype of the U[0, 1) draws that m compares (default: float32 for a
    float32 mask, else float64); it fixes which numbers a seeded generator gives."""
    dtype = np.dtype(dtype)
    keep = 1.0 - rate
    if uniform_dtype is None:
        uniform_dtype = np.float32 if dtype == np.float32 else np.float64
    u = rng.random(shape, dtype=uniform_dtype)                                         # U[0, 1)
    m = u < keep                                                                       # P(m = 1) = 1 - p
    return m.astype(dtype) / dtype.type(keep)


def dropout_forward(x, s):
    """y, cache = dropout_forward(x, s): y = x * s, or y = x when s is None."""
    y = x if s is None else x * s
    return y, DropoutCache(x.shape, s)


def dropout_backward(dy, cache: DropoutCache):
    """dx = dy * s (the identity's dx = dy when s is None)."""
    # y = x * s
    return dy if cache.s is None else dy * cache.s


class Dropout:
    """Inverted dropout with rate p: ``Dropout(0.5, seed=0)``. Holds no parameters; off (the identity)
    until ``train()`` is called, and again after ``eval()``."""

    kind = "Dropout"

    def __init__(self, rate: float = 0.5, seed: int | None = None):
        self.rate = check_rate("rate", rate)
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed: expected None or an integer >= 0, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.training = False
        self.params: dict = {}

    def config(self) -> dict:
        return {"rate": self.rate, "seed": self.seed}

    def num_params(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"Dropout(rate={self.rate})"

    def train(self, mode: bool = True) -> "Dropout":
        """Masks on (``mode`` True) or off; returns the layer."""
        self.training = bool(mode)
        return self

    def eval(self) -> "Dropout":
        return self.train(False)

    def forward(self, x):
        """y, cache = forward(x); x: (..., F), any floating dtype (y keeps it)."""
        x = check_float_array("x", x)
        s = dropout_mask(self.rng, x.shape, self.rate, x.dtype) if self.training and self.rate else None
        return dropout_forward(x, s)

    def backward(self, dy, cache: DropoutCache):
        """dx, grads = backward(dy, cache); grads is empty (no parameters)."""
        if not isinstance(cache, DropoutCache):
            raise ValueError(f"cache: expected the cache returned by Dropout.forward, got {type(cache).__name__}")
        dy = check_float_array("dy", dy, shape=cache.shape)
        return dropout_backward(dy, cache), {}
