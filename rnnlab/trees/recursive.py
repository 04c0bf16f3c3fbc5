"""Recursive neural network (Socher et al. 2011, 2013): a binary tree composed bottom-up.

In rows (x W rather than W x), for N nodes at a time:

    leaf       h = x                                  the word vector is the leaf's vector (D = H)
    internal   a = [h_1; h_2] W + b                   W (2H, H), b (H,): Socher's p = f(W [c1; c2] + b)
               h = phi(a)                             phi = tanh (default) or identity

``nonlinearity="identity"`` (the option name of rnnlab.RNN and torch.nn.RNN) makes every node an
affine function of its leaves' word vectors: a linear baseline that shows what the nonlinearity f
adds to the composition.

Backward, from the cached activated output (phi'(a) = 1 - h^2 for tanh, 1 for identity):

    da = dh * phi'(a)
    dW = [h_1; h_2]^T da,   db = sum da,   [dh_1; dh_2] = da W^T

A cell module provides ``state_names``, ``arity`` (children per internal node, None for any),
``init_params`` and four pure functions over N nodes of one kind, with states as tuples of (N, H)
arrays and child states as tuples of (N, K, H) arrays:
    leaf_forward(x, p) -> states, cache        leaf_backward(dstates, cache) -> dx, grads
    node_forward(kids, p) -> states, cache     node_backward(dstates, cache) -> dkids, grads
The recursive cells' node_forward also takes ``nonlinearity`` (one of NONLINEARITIES), which
``model.make_cell`` binds.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..activations import ELEMENTWISE
from ..training.config import TREE_NONLINEARITIES as NONLINEARITIES     # phi of the composition: tanh, identity

state_names = ("h",)
arity = 2


def check_nonlinearity(name, value) -> str:
    """``value`` if it is one of NONLINEARITIES, else a ValueError naming the argument ``name``."""
    if not isinstance(value, str) or value not in NONLINEARITIES:
        raise ValueError(f"{name}: expected one of {list(NONLINEARITIES)}, got {value!r}")
    return value


def phi(a, nonlinearity: str):
    """h = phi(a), in place: tanh or identity."""
    return ELEMENTWISE[nonlinearity][0](a, out=a)


def phi_grad(h, nonlinearity: str):
    """phi'(a) from h = phi(a): 1 - h^2 for tanh, 1 for identity."""
    return ELEMENTWISE[nonlinearity][1](h)


def init_params(D: int, H: int, rng: np.random.Generator, dtype) -> dict:
    if D != H:
        raise ValueError(f"embed_dim: the recursive NN uses word vectors as leaf vectors, so embed_dim "
                         f"must equal hidden ({H}), got {D}")
    bound = 1.0 / np.sqrt(2 * H)
    return {"W": rng.uniform(-bound, bound, (2 * H, H)).astype(dtype),
            "b": np.zeros(H, dtype)}


class NodeCache(NamedTuple):
    hk: np.ndarray       # (N, 2H) children's h side by side
    h: np.ndarray        # (N, H) activated output
    W: np.ndarray        # (2H, H)
    nonlinearity: str


def leaf_forward(x, p):
    return (x,), None


def leaf_backward(dstates, cache):
    return dstates[0], {}


def node_forward(kids, p, nonlinearity: str = "tanh"):
    hk = kids[0]
    N, K, H = hk.shape
    hk = hk.reshape(N, K * H)
    a = hk @ p["W"] + p["b"]                                 # a = [h_1; h_2] W + b
    h = phi(a, nonlinearity)                                 # h = phi(a)
    return (h,), NodeCache(hk, h, p["W"], nonlinearity)


def node_backward(dstates, cache: NodeCache):
    hk, h, W, nonlinearity = cache
    N, H = h.shape
    da = dstates[0] * phi_grad(h, nonlinearity)              # h = phi(a)
    grads = {"W": hk.T @ da, "b": da.sum(axis=0)}
    dhk = (da @ W.T).reshape(N, -1, H)                       # [h_1; h_2] W
    return (dhk,), grads
