"""Merge the two directions of a bidirectional layer's output, Keras' ``Bidirectional(merge_mode=...)``.

x (..., 2H) holds [a, b] = [forward direction, reverse direction] side by side (a bidirectional
rnnlab layer's y, or LastStep's output after it); y (..., H):

    mode "sum":  y = a + b             da = dy,       db = dy
    mode "ave":  y = (a + b) / 2       da = dy / 2,   db = dy / 2
    mode "mul":  y = a * b             da = dy * b,   db = dy * a

Keras' "concat" is the bidirectional layer itself. The merge acts on each step alone, so it commutes with
LastStep: [bidirectional, LastStep(), MergeDirections(H)] is Keras' Bidirectional(return_sequences=False).
rnnlab.interop.keras reads "mul" as this layer; "sum" and "ave" it reads as a Dense of fixed weights
[I; I] (or [I; I] / 2), the same map, which the PyTorch and ONNX exporters also hold.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..checks import check_float_array, check_positive_int

MODES = ("sum", "ave", "mul")


class MergeDirectionsCache(NamedTuple):
    x: np.ndarray        # (..., 2H) the input [a, b]


class MergeDirections:
    """``MergeDirections(size, mode)``: (..., 2 * size) -> (..., size); mode "sum", "ave" or "mul"."""

    kind = "MergeDirections"

    def __init__(self, size: int, mode: str = "mul"):
        self.size = check_positive_int("size", size)
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        self.mode = mode
        self.params: dict = {}

    @property
    def input_size(self) -> int:
        return 2 * self.size

    @property
    def output_size(self) -> int:
        return self.size

    def config(self) -> dict:
        return {"size": self.size, "mode": self.mode}

    def num_params(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"MergeDirections({self.size}, mode={self.mode!r})"

    def forward(self, x):
        """y, cache = forward(x); x: (..., 2 * size) floats."""
        x = check_float_array("x", x)
        if x.ndim < 1 or x.shape[-1] != 2 * self.size:
            raise ValueError(f"x: expected last dimension {2 * self.size} (both directions of size {self.size}), "
                             f"got shape {x.shape}")
        a, b = x[..., :self.size], x[..., self.size:]
        if self.mode == "sum":
            y = a + b
        elif self.mode == "ave":
            y = (a + b) * x.dtype.type(0.5)
        else:
            y = a * b
        return y, MergeDirectionsCache(x)

    def backward(self, dy, cache: MergeDirectionsCache):
        """dx, grads = backward(dy, cache); grads is empty."""
        if not isinstance(cache, MergeDirectionsCache):
            raise ValueError(f"cache: expected the cache returned by MergeDirections.forward, got "
                             f"{type(cache).__name__}")
        x = cache.x
        dy = check_float_array("dy", dy, shape=x.shape[:-1] + (self.size,))
        a, b = x[..., :self.size], x[..., self.size:]
        if self.mode == "sum":                             # y = a + b
            da, db = dy, dy
        elif self.mode == "ave":                           # y = (a + b) / 2
            da = db = dy * dy.dtype.type(0.5)
        else:                                              # y = a * b
            da, db = dy * b, dy * a
        return np.concatenate([da, db], axis=-1), {}
