"""Child-Sum recursive neural network: the recursive NN (``recursive.py``, Socher et al. 2011, 2013)
with the Child-Sum composition of Tai, Socher & Manning (2015), section 3.1, eq. (2), so that a node
may have any number of unordered children, as the Child-Sum Tree-LSTM (``child_sum.py``) does for
the binary Tree-LSTM. Words enter at the leaves only (constituency trees).

In rows, for N nodes at a time with K child slots each:

    leaf       h = x                                  the word vector is the leaf's vector (D = H)
    internal   h~ = sum_k h_k                         Tai et al. (2015), eq. (2): over the node's children
               a = h~ U + b                           U (H, H), b (H,)
               h = phi(a)                             phi = tanh (default) or identity

With two children this is h = phi((h_1 + h_2) U + b): Socher's p = f(W [c1; c2] + b) with the two
halves of W tied (W = [U; U]), which is what makes the composition order-free and any arity possible.
With phi = identity every node is an affine function of its leaves' vectors (a linear baseline, as
in ``recursive.py``).

The DT-RNN of Socher et al. (2014) also composes any number of children, with one matrix per
child position relative to the head word and a word vector at every node; constituency trees have
neither head words nor words at internal nodes, so the children here share U.

Padded child slots (the all-zero state row of ``levels.py``) add nothing to h~ and get no gradient
that is kept.

Backward, from the cached activated output (phi'(a) = 1 - h^2 for tanh, 1 for identity):

    da = dh * phi'(a)
    dU = h~^T da,   db = sum da
    dh_k = da U^T                                     the same for every child: h~ reaches each of them

Shapes: kids (N, K, H), h (N, H); dtype follows the inputs.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .recursive import NONLINEARITIES, leaf_backward, leaf_forward, phi, phi_grad  # noqa: F401  (the same leaves)

state_names = ("h",)
arity = None


def init_params(D: int, H: int, rng: np.random.Generator, dtype) -> dict:
    if D != H:
        raise ValueError(f"embed_dim: expected hidden ({H}): the Child-Sum recursive NN's leaf vectors are the word "
                         f"vectors; got {D}")
    bound = 1.0 / np.sqrt(H)
    return {"U": rng.uniform(-bound, bound, (H, H)).astype(dtype),
            "b": np.zeros(H, dtype)}


class NodeCache(NamedTuple):
    h_sum: np.ndarray    # (N, H) h~
    h: np.ndarray        # (N, H) activated output
    U: np.ndarray        # (H, H)
    K: int               # child slots, for the children's gradient
    nonlinearity: str


def node_forward(kids, p, nonlinearity: str = "tanh"):
    hk = kids[0]                                             # (N, K, H)
    h_sum = hk.sum(axis=1)                                   # h~ = sum_k h_k
    a = h_sum @ p["U"] + p["b"]                              # a = h~ U + b
    h = phi(a, nonlinearity)                                 # h = phi(a)
    return (h,), NodeCache(h_sum, h, p["U"], hk.shape[1], nonlinearity)


def node_backward(dstates, cache: NodeCache):
    h_sum, h, U, K, nonlinearity = cache
    da = dstates[0] * phi_grad(h, nonlinearity)              # h = phi(a)
    grads = {"U": h_sum.T @ da, "b": da.sum(axis=0)}         # a = h~ U + b
    dh_sum = da @ U.T
    dhk = np.repeat(dh_sum[:, None, :], K, axis=1)           # h~ = sum_k h_k
    return (dhk,), grads
