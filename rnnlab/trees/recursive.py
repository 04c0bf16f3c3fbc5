"""Recursive neural network (Socher et al. 2011, 2013): a binary tree composed bottom-up.

In rows (x W rather than W x), for N nodes at a time:

    leaf       h = x                                  the word vector is the leaf's vector (D = H)
    internal   h = tanh([h_1; h_2] W + b)             W (2H, H), b (H,): Socher's p = f(W [c1; c2] + b)

Backward, from the cached activated output:

    da = dh * (1 - h^2)
    dW = [h_1; h_2]^T da,   db = sum da,   [dh_1; dh_2] = da W^T

A cell module provides ``state_names``, ``arity`` (children per internal node, None for any),
``init_params`` and four pure functions over N nodes of one kind, with states as tuples of (N, H)
arrays and child states as tuples of (N, K, H) arrays:
    leaf_forward(x, p) -> states, cache        leaf_backward(dstates, cache) -> dx, grads
    node_forward(kids, p) -> states, cache     node_backward(dstates, cache) -> dkids, grads
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

state_names = ("h",)
arity = 2


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


def leaf_forward(x, p):
    return (x,), None


def leaf_backward(dstates, cache):
    return dstates[0], {}


def node_forward(kids, p):
    hk = kids[0]
    N, K, H = hk.shape
    hk = hk.reshape(N, K * H)
    h = np.tanh(hk @ p["W"] + p["b"])                        # h = tanh([h_1; h_2] W + b)
    return (h,), NodeCache(hk, h, p["W"])


def node_backward(dstates, cache: NodeCache):
    hk, h, W = cache
    N, H = h.shape
    da = dstates[0] * (1 - h * h)                            # tanh' = 1 - h^2
    grads = {"W": hk.T @ da, "b": da.sum(axis=0)}
    dhk = (da @ W.T).reshape(N, -1, H)                       # [h_1; h_2] W
    return (dhk,), grads
