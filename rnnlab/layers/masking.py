"""Masking: Keras' ``Masking(mask_value)``, which marks the steps of a padded batch that hold only
the padding value, so that the recurrent layers after it skip them.

Shapes: x (N, T, D), mask m (N, T) bool, y (N, T, D).

    m[n, t] = any_d(x[n, t, d] != mask_value)      the step holds something other than padding
    y[n, t] = m[n, t] * x[n, t]                     masked steps enter the next layer as zeros

as Keras 3 defines it (keras.layers.Masking). In a ``Sequential``, the mask m goes to every
recurrent layer and LastStep after it (``forward(x, mask=m)``: masked steps carry the state), unless
the caller passes ``lengths`` or ``mask`` explicitly. Backward: dx = m * dy.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..checks import check_float_array, check_real


class MaskingCache(NamedTuple):
    mask: np.ndarray     # (N, T) bool


class Masking:
    """``Masking(mask_value=0.0)``: a step whose features all equal mask_value is masked."""

    kind = "Masking"

    def __init__(self, mask_value: float = 0.0):
        self.mask_value = check_real("mask_value", mask_value)
        self.params: dict = {}

    def config(self) -> dict:
        return {"mask_value": self.mask_value}

    def num_params(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"Masking(mask_value={self.mask_value!r})"

    def compute_mask(self, x) -> np.ndarray:
        """m (N, T) bool: True where a step of x (N, T, D) holds a value other than mask_value."""
        x = check_float_array("x", x, ndim=3)
        return np.any(x != x.dtype.type(self.mask_value), axis=-1)

    def forward(self, x):
        """y, cache = forward(x): x (N, T, D) float, y = x with the masked steps set to zero."""
        x = check_float_array("x", x, ndim=3)
        m = self.compute_mask(x)
        return x * m[:, :, None], MaskingCache(m)

    def backward(self, dy, cache: MaskingCache):
        """dx, {} = backward(dy, cache): dx = m * dy."""
        if not isinstance(cache, MaskingCache):
            raise ValueError(f"cache: expected the cache returned by Masking.forward, got {type(cache).__name__}")
        dy = check_float_array("dy", dy, shape=cache.mask.shape + (None,))
        return dy * cache.mask[:, :, None], {}
