"""Elementwise activations, each with its derivative written from the *activated* value.

Every activation ``a = f(z)`` comes with ``grad(a) = f'(z)`` expressed through ``a`` itself
(sigmoid' = a (1 - a), tanh' = 1 - a^2, relu' = [a > 0], hard sigmoids' = slope [0 < a < 1]), so backward passes never recompute
what forward already had (STYLE.md, principle 5).

Softmax is not elementwise; it has its own vector-Jacobian product ``softmax_backward``.
"""
from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """sigma(z) = 1 / (1 + exp(-z)), computed as 0.5 + 0.5 tanh(z / 2).

    The tanh form never overflows (exp(-z) does for z < -88 in float32) and costs one
    transcendental per element.
    """
    out = np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def sigmoid_grad(a: np.ndarray) -> np.ndarray:
    """d sigma / dz = a (1 - a), with a = sigma(z)."""
    return a * (1.0 - a)


def hard_sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """clip(z / 6 + 1/2, 0, 1) = relu6(z + 3) / 6: Keras 3's ``hard_sigmoid`` and PyTorch's
    ``nn.Hardsigmoid`` (linear on -3 < z < 3)."""
    out = np.multiply(z, 1.0 / 6.0, out=out)
    out += 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def hard_sigmoid_grad(a: np.ndarray) -> np.ndarray:
    """d hard_sigmoid / dz = 1/6 where 0 < a < 1 (-3 < z < 3), else 0: 0 at the kinks z = +-3 as
    well, as PyTorch's ``hardsigmoid_backward`` takes it."""
    return np.where((a > 0) & (a < 1), a.dtype.type(1.0 / 6.0), a.dtype.type(0.0))


def hard_sigmoid_keras2(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """clip(0.2 z + 1/2, 0, 1): ``hard_sigmoid`` of Keras 2 and tf-keras 2.x (from Theano), and ONNX's
    ``HardSigmoid`` with its default alpha = 0.2, beta = 0.5 (linear on -2.5 < z < 2.5)."""
    out = np.multiply(z, 0.2, out=out)
    out += 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def hard_sigmoid_keras2_grad(a: np.ndarray) -> np.ndarray:
    """d hard_sigmoid_keras2 / dz = 0.2 where 0 < a < 1 (-2.5 < z < 2.5), else 0 (0 at the kinks)."""
    return np.where((a > 0) & (a < 1), a.dtype.type(0.2), a.dtype.type(0.0))


def tanh(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.tanh(z, out=out)


def tanh_grad(a: np.ndarray) -> np.ndarray:
    """d tanh / dz = 1 - a^2, with a = tanh(z)."""
    return 1.0 - a * a


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(z, 0.0, out=out)


def relu_grad(a: np.ndarray) -> np.ndarray:
    """d relu / dz = 1 where z > 0 (equivalently a > 0), else 0."""
    return (a > 0).astype(a.dtype)


def identity(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        return z.copy()
    out[...] = z
    return out


def identity_grad(a: np.ndarray) -> np.ndarray:
    return np.ones_like(a)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax(z)_k = exp(z_k - max z) / sum_j exp(z_j - max z)  (shifted for stability)."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(dy: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vector-Jacobian product of softmax: dz = y * (dy - sum_k dy_k y_k)."""
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


# name -> (forward, grad from activated value); softmax is handled by its callers.
ELEMENTWISE = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "identity": (identity, identity_grad),
    "linear": (identity, identity_grad),
}
ACTIVATIONS = tuple(ELEMENTWISE) + ("softmax",)

# name -> (forward, grad from activated value): the gate activations of rnnlab's LSTM and GRU
# (``gate_activation``, Keras' ``recurrent_activation``). Which Keras file means which hard sigmoid:
# a Keras 3 file (.keras, .weights.h5) "hard_sigmoid", a Keras 2 / tf-keras 2.x .h5 file
# "hard_sigmoid_keras2".
GATE_ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "hard_sigmoid": (hard_sigmoid, hard_sigmoid_grad),
    "hard_sigmoid_keras2": (hard_sigmoid_keras2, hard_sigmoid_keras2_grad),
}
