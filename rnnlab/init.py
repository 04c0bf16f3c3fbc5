"""Initialisations the literature uses, applied in place to a layer's or a model's parameter dict.

    xavier_uniform   W ~ U(-a, a),  a = gain sqrt(6 / (fan_in + fan_out))       (Glorot & Bengio 2010)
    orthogonal       U = Q from the QR decomposition of a Gaussian matrix, sign-corrected so that Q is
                     uniform over the orthogonal group (Saxe et al. 2014): the linear part of the
                     recurrence then neither shrinks nor grows a vector
    forget bias      b_f = 1 for the LSTM, so that at the start the cell keeps its memory
                     (Gers et al. 2000; Jozefowicz et al. 2015)

Fused matrices (STYLE.md, principle 6) are initialised block by block: each gate's H columns of the
input weights W (D, G H) are Xavier with fan_out H, and each (H, H) block of U (H, G H) is orthogonal.
Gate orders: RNN (h), LSTM (i, f, o, g), GRU (r, z, n).
"""
from __future__ import annotations

import numpy as np

from .layers import GRU, LSTM, RNN, Dense, Recurrent
from .layers.gates import block

SCHEMES = ("torch", "xavier")


def xavier_uniform(rng: np.random.Generator, shape: tuple, gain: float = 1.0) -> np.ndarray:
    """U(-a, a) with a = gain sqrt(6 / (fan_in + fan_out)); shape (fan_in, fan_out)."""
    fan_in, fan_out = shape
    a = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape)


def orthogonal(rng: np.random.Generator, n: int, gain: float = 1.0) -> np.ndarray:
    """An (n, n) orthogonal matrix times ``gain``, drawn uniformly (Mezzadri 2007: fix QR's signs)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    q *= np.sign(np.diag(r))                                   # columns times sign(R_jj)
    return gain * q


def init_recurrent(layer: Recurrent, rng: np.random.Generator, forget_bias: float = 1.0) -> None:
    """Xavier input weights, orthogonal recurrent blocks, zero biases (LSTM: b_f = forget_bias)."""
    H, G = layer.hidden_size, layer.gates
    for key, value in layer.params.items():
        name = key.split(".")[-1]
        if name == "W":
            blocks = [xavier_uniform(rng, (value.shape[0], H)) for _ in range(G)]
            value[...] = np.concatenate(blocks, axis=1)
        elif name == "U":                                      # (P, G*H); P = H but for a projected LSTM
            P = value.shape[0]
            value[...] = np.concatenate([orthogonal(rng, max(P, H))[:P, :H] for _ in range(G)], axis=1)
        elif name == "W_hr":                                   # the LSTM's projection (H, P)
            value[...] = xavier_uniform(rng, value.shape)
        elif name in ("g_x", "g_h", "g_c"):                    # layer-norm gains
            value[...] = 1
        else:                                                  # b, b_hn, peepholes p, layer-norm bias b_c                                                  # b, and the GRU's b_hn
            value[...] = 0
            if isinstance(layer, LSTM) and name == "b":
                block(value, "LSTM", "f")[...] = forget_bias


def init_dense(layer: Dense, rng: np.random.Generator) -> None:
    layer.params["W"][...] = xavier_uniform(rng, layer.params["W"].shape)
    layer.params["b"][...] = 0


def initialize(model, scheme: str = "xavier", forget_bias: float = 1.0, seed: int | None = None):
    """Re-initialise every layer of ``model`` (a layer or a Sequential) in place and return it.

    scheme "torch" keeps each layer's own PyTorch-like U(-1/sqrt(H), 1/sqrt(H)) and only sets the
    LSTM forget bias; "xavier" applies the module docstring's scheme to every layer.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {SCHEMES}, got {scheme!r}")
    try:
        forget_bias = float(forget_bias)
    except (TypeError, ValueError) as err:
        raise ValueError(f"forget_bias: expected a number, got {forget_bias!r}") from err
    rng = np.random.default_rng(seed)
    layers = getattr(model, "layers", [model])
    for layer in layers:
        if isinstance(layer, (RNN, LSTM, GRU)):
            if scheme == "xavier":
                init_recurrent(layer, rng, forget_bias)
            elif isinstance(layer, LSTM):
                for key, value in layer.params.items():
                    if key.endswith(".b"):
                        block(value, "LSTM", "f")[...] = forget_bias
        elif isinstance(layer, Dense) and scheme == "xavier":
            init_dense(layer, rng)
    return model
