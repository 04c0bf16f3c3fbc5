"""N-ary (binary, N = 2) Tree-LSTM of Tai, Socher & Manning (2015), section 3.2, as used on
constituency trees: words enter at the leaves only, and each child k has its own forget gate f_k,
computed from all N children's h with its own weights.

In rows, for a block of nodes, with gate blocks in the order (i, o, u, f_1 .. f_N), each H wide:

    leaf       [a_i, a_o, a_u] = x W + b[:3H]                   W (D, 3H)
               c = i * u                                        (no children: the sums are empty)
    internal   a = [h_1; ...; h_N] U + b                        U (NH, (3+N)H), b ((3+N)H,)
               c = i * u + sum_k f_k * c_k
    both       i = sigmoid(a_i), o = sigmoid(a_o), u = tanh(a_u), f_k = sigmoid(a_fk)
               h = o * tanh(c)

The paper's per-gate U^(i)_l, U^(f)_kl, ... are the blocks of U: rows l of U act on child l, so
U[lH:(l+1)H, (3+k)H:(4+k)H] is U^(f)_kl. The leaf and internal nodes share b.

Backward, from the cached activated gates (dh and dc arrive from the parent and the classifier):

    do = dh * tanh(c);   dc = dc + dh * o * (1 - tanh(c)^2)
    di = dc * u;   du = dc * i;   df_k = dc * c_k;   dc_k = dc * f_k
    da = [di i(1-i), do o(1-o), du (1-u^2), df_k f_k(1-f_k)]
    dU = [h_1; ...; h_N]^T da,  db = sum da,  [dh_1; ...; dh_N] = da U^T     (leaf: dW = x^T da, dx = da W^T)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..activations import sigmoid

state_names = ("h", "c")
arity = 2


def init_params(D: int, H: int, rng: np.random.Generator, dtype, N: int = 2) -> dict:
    return {"W": rng.uniform(-1 / np.sqrt(D), 1 / np.sqrt(D), (D, 3 * H)).astype(dtype),
            "U": rng.uniform(-1 / np.sqrt(N * H), 1 / np.sqrt(N * H), (N * H, (3 + N) * H)).astype(dtype),
            "b": np.zeros((3 + N) * H, dtype)}


class LeafCache(NamedTuple):
    x: np.ndarray        # (N, D)
    gates: np.ndarray    # (N, 3H) activated i, o, u
    tanh_c: np.ndarray   # (N, H)
    W: np.ndarray        # (D, 3H)
    nb: int              # length of b, for its gradient


class NodeCache(NamedTuple):
    hk: np.ndarray       # (N, KH) children's h side by side
    ck: np.ndarray       # (N, K, H) children's c
    gates: np.ndarray    # (N, (3+K)H) activated i, o, u, f_1 .. f_K
    tanh_c: np.ndarray   # (N, H)
    U: np.ndarray        # (KH, (3+K)H)


def _iou(a, H):
    """Activate the (i, o, u) blocks of a in place: sigmoid on i and o, tanh on u."""
    sigmoid(a[:, :2 * H], out=a[:, :2 * H])
    np.tanh(a[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])
    return a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H]


def iou_backward(dh, dc, gates, tanh_c, da):
    """The backward of c = i * u (+ sum_k f_k * c_k) and h = o * tanh(c) that every Tree-LSTM node
    shares (leaves, binary and Child-Sum nodes): writes [di i(1-i), do o(1-o), du (1-u^2)] into
    da[:, :3H] from the activated (i, o, u) in gates[:, :3H]; returns dc, the gradient of c in total."""
    H = tanh_c.shape[1]
    i, o, u = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H]
    # h = o * tanh(c)
    da[:, H:2 * H] = dh * tanh_c * o * (1 - o)               # do o(1-o)
    dc = dc + dh * o * (1 - tanh_c * tanh_c)
    # c = i * u + ...
    da[:, :H] = dc * u * i * (1 - i)                         # di i(1-i)
    da[:, 2 * H:3 * H] = dc * i * (1 - u * u)                # du (1-u^2)
    return dc


def forget_backward(dc, ck, f):
    """The children's share of c = i * u + sum_k f_k * c_k: (df_k f_k (1-f_k), dc_k = dc * f_k), each
    (N, K, H), from dc (N, H), the children's c_k and the activated forget gates f_k (N, K, H)."""
    return dc[:, None, :] * ck * f * (1 - f), dc[:, None, :] * f


def leaf_forward(x, p):
    W = p["W"]
    H = W.shape[1] // 3
    a = x @ W + p["b"][:3 * H]                               # [a_i, a_o, a_u] = x W + b[:3H]
    i, o, u = _iou(a, H)
    c = i * u                                                # c = i * u
    tanh_c = np.tanh(c)
    h = o * tanh_c                                           # h = o * tanh(c)
    return (h, c), LeafCache(x, a, tanh_c, W, len(p["b"]))


def leaf_backward(dstates, cache: LeafCache):
    x, gates, tanh_c, W, nb = cache
    dh, dc = dstates
    H = tanh_c.shape[1]
    da = np.empty_like(gates)
    iou_backward(dh, dc, gates, tanh_c, da)                  # c = i * u, h = o * tanh(c)
    db = np.zeros(nb, da.dtype)
    db[:3 * H] = da.sum(axis=0)
    return da @ W.T, {"W": x.T @ da, "b": db}


def node_forward(kids, p):
    hk, ck = kids
    N, K, H = hk.shape
    hk = hk.reshape(N, K * H)
    a = hk @ p["U"] + p["b"]                                 # a = [h_1; ...; h_N] U + b
    i, o, u = _iou(a, H)
    sigmoid(a[:, 3 * H:], out=a[:, 3 * H:])                  # f_k = sigmoid(a_fk)
    f = a[:, 3 * H:].reshape(N, K, H)
    c = i * u + (f * ck).sum(axis=1)                         # c = i * u + sum_k f_k * c_k
    tanh_c = np.tanh(c)
    h = o * tanh_c                                           # h = o * tanh(c)
    return (h, c), NodeCache(hk, ck, a, tanh_c, p["U"])


def node_backward(dstates, cache: NodeCache):
    hk, ck, gates, tanh_c, U = cache
    dh, dc = dstates
    N, K, H = ck.shape
    f = gates[:, 3 * H:].reshape(N, K, H)
    da = np.empty_like(gates)
    dc = iou_backward(dh, dc, gates, tanh_c, da)             # c = i * u + sum_k f_k * c_k, h = o * tanh(c)
    da_f, dck = forget_backward(dc, ck, f)
    da[:, 3 * H:] = da_f.reshape(N, K * H)                   # df_k f_k(1-f_k)
    dhk = (da @ U.T).reshape(N, K, H)                        # a = [h_1; ...; h_N] U + b
    return (dhk, dck), {"U": hk.T @ da, "b": da.sum(axis=0)}
