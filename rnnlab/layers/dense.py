"""Fully connected layer: y = phi(x W + b) over the last axis of x.

Shapes: x (..., D), W (D, H), b (H,), y (..., H); any leading axes (batch, or batch and time) are
treated as one batch of rows.

Backward, from the cached activated output y:
    da = dy * phi'(y)              (softmax: da = y (dy - sum(dy y)))
    dW = x^T da,  db = sum da,  dx = da W^T
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..activations import ACTIVATIONS, ELEMENTWISE, softmax, softmax_backward
from ..checks import (check_dtype_name, check_float_array, check_param_arrays, check_positive_int, check_seed,
                      owner_of)
from ..memory import check_weights_fit, weights_error


class DenseCache(NamedTuple):
    x: np.ndarray        # (..., D)
    y: np.ndarray        # (..., H) activated output
    owner: object = None       # the Owner (checks.owner_of) of the Dense whose forward made it


def dense_forward(x, p, activation="identity"):
    a = x @ p["W"] + p["b"]
    y = softmax(a) if activation == "softmax" else ELEMENTWISE[activation][0](a, out=a)
    return y, DenseCache(x, y)


def dense_backward(dy, cache: DenseCache, p, activation="identity"):
    x, y = cache.x, cache.y
    if activation == "softmax":
        da = softmax_backward(dy, y)
    else:
        da = dy * ELEMENTWISE[activation][1](y)
    D, H = p["W"].shape
    x2, da2 = x.reshape(-1, D), da.reshape(-1, H)
    grads = {"W": x2.T @ da2, "b": da2.sum(axis=0)}
    return da @ p["W"].T, grads


class Dense:
    """y = activation(x W + b); ``Dense(100, 300, "sigmoid")`` is one layer of a 100-300-10 sigmoid network.

    Initialised like PyTorch's nn.Linear: U(-1/sqrt(D), 1/sqrt(D)).
    """

    kind = "Dense"

    def __init__(self, input_size: int, output_size: int, activation: str = "identity",
                 dtype="float32", seed: int | None = None):
        self.input_size = check_positive_int("input_size", input_size)
        self.output_size = check_positive_int("output_size", output_size)
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        self.dtype = check_dtype_name(dtype)
        self.seed = check_seed("seed", seed)
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(self.input_size)
        sizes, count = f"input_size={self.input_size}, output_size={self.output_size}", \
            (self.input_size + 1) * self.output_size
        check_weights_fit(sizes, count)
        try:
            self.params = {"W": rng.uniform(-bound, bound, (self.input_size, self.output_size)).astype(self.dtype),
                           "b": rng.uniform(-bound, bound, (self.output_size,)).astype(self.dtype)}
        except MemoryError:
            raise weights_error(sizes, count) from None
        self._param_shapes = {k: v.shape for k, v in self.params.items()}

    def check_params(self) -> None:
        """ValueError naming a parameter no longer a float array of its shape (``check_param_arrays``)."""
        check_param_arrays(self.params, getattr(self, "_param_shapes", {}),
                           f"input_size={self.input_size}, output_size={self.output_size}")

    def config(self) -> dict:
        return {"input_size": self.input_size, "output_size": self.output_size,
                "activation": self.activation, "dtype": self.dtype.name}

    def num_params(self) -> int:
        return int(sum(v.size for v in self.params.values()))

    def __repr__(self) -> str:
        return f"Dense({self.input_size}, {self.output_size}, activation={self.activation!r})"

    def forward(self, x):
        """y, cache = forward(x); x: (..., input_size)."""
        x = check_float_array("x", x, last=self.input_size, dtype=self.dtype)
        if x.ndim < 1:
            raise ValueError(f"x: expected at least 1 dimension, got shape {x.shape}")
        self.check_params()
        y, cache = dense_forward(x, self.params, self.activation)
        return y, cache._replace(owner=owner_of(self))

    def backward(self, dy, cache: DenseCache):
        """dx, grads = backward(dy, cache); cache: what this layer's forward returned (ValueError for
        another Dense's: its y came from that layer's weights)."""
        if not isinstance(cache, DenseCache):
            raise ValueError(f"cache: expected the cache returned by Dense.forward, got {type(cache).__name__}")
        if cache.owner is not None and cache.owner is not owner_of(self):
            raise ValueError(f"cache: expected the cache returned by Dense.forward of this layer, {self!r}; it comes "
                             f"from another layer's forward")
        dy = check_float_array("dy", dy, shape=cache.y.shape, dtype=self.dtype)
        return dense_backward(dy, cache, self.params, self.activation)
