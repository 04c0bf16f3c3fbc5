"""Child-Sum Tree-LSTM of Tai, Socher & Manning (2015), section 3.1: any number of unordered
children, summed for the input, output and update gates, with one forget gate per child computed
from that child's own h. Words enter at the leaves only (constituency trees).

In rows, with gate blocks in the order (i, o, u, f), each H wide, and U = [U_iou | U_f] (H, 4H):

    leaf       [a_i, a_o, a_u] = x W + b[:3H]                 W (D, 3H)
               c = i * u
    internal   h~ = sum_k h_k                                  over the K children
               [a_i, a_o, a_u] = h~ U_iou + b[:3H]
               a_fk = h_k U_f + b[3H:]                          one forget gate per child
               c = i * u + sum_k f_k * c_k
    both       i = sigmoid(a_i), o = sigmoid(a_o), u = tanh(a_u), f_k = sigmoid(a_fk)
               h = o * tanh(c)

Padded children (the all-zero state row) contribute nothing: c_k = 0 zeroes f_k * c_k and df_k,
h_k = 0 zeroes their share of h~ and dU_f.

Backward, from the cached activated gates:

    do = dh * tanh(c);   dc = dc + dh * o * (1 - tanh(c)^2)
    di = dc * u;   du = dc * i;   df_k = dc * c_k;   dc_k = dc * f_k
    da_iou = [di i(1-i), do o(1-o), du (1-u^2)],   da_fk = df_k f_k (1-f_k)
    dU_iou = h~^T da_iou,   dU_f = sum_k h_k^T da_fk,   db = [sum da_iou, sum da_f]
    dh_k = da_iou U_iou^T + da_fk U_f^T                 (h~ reaches every child)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..activations import sigmoid
from .tree_lstm import _iou, forget_backward, iou_backward, leaf_backward, leaf_forward  # noqa: F401  (the same leaves)

state_names = ("h", "c")
arity = None


def init_params(D: int, H: int, rng: np.random.Generator, dtype) -> dict:
    return {"W": rng.uniform(-1 / np.sqrt(D), 1 / np.sqrt(D), (D, 3 * H)).astype(dtype),
            "U": rng.uniform(-1 / np.sqrt(H), 1 / np.sqrt(H), (H, 4 * H)).astype(dtype),
            "b": np.zeros(4 * H, dtype)}


class NodeCache(NamedTuple):
    hk: np.ndarray       # (N, K, H) children's h
    ck: np.ndarray       # (N, K, H) children's c
    h_sum: np.ndarray    # (N, H) h~
    gates: np.ndarray    # (N, 3H) activated i, o, u
    f: np.ndarray        # (N, K, H) activated forget gates
    tanh_c: np.ndarray   # (N, H)
    U: np.ndarray        # (H, 4H)


def node_forward(kids, p):
    hk, ck = kids
    N, K, H = hk.shape
    U, b = p["U"], p["b"]
    h_sum = hk.sum(axis=1)                                   # h~ = sum_k h_k
    a = h_sum @ U[:, :3 * H] + b[:3 * H]                     # [a_i, a_o, a_u] = h~ U_iou + b[:3H]
    i, o, u = _iou(a, H)
    a_f = hk.reshape(N * K, H) @ U[:, 3 * H:] + b[3 * H:]    # a_fk = h_k U_f + b[3H:]
    f = sigmoid(a_f, out=a_f).reshape(N, K, H)               # f_k = sigmoid(a_fk)
    c = i * u + (f * ck).sum(axis=1)                         # c = i * u + sum_k f_k * c_k
    tanh_c = np.tanh(c)
    h = o * tanh_c                                           # h = o * tanh(c)
    return (h, c), NodeCache(hk, ck, h_sum, a, f, tanh_c, U)


def node_backward(dstates, cache: NodeCache):
    hk, ck, h_sum, gates, f, tanh_c, U = cache
    dh, dc = dstates
    N, K, H = hk.shape
    da = np.empty_like(gates)
    dc = iou_backward(dh, dc, gates, tanh_c, da)             # c = i * u + sum_k f_k * c_k, h = o * tanh(c)
    da_f, dck = forget_backward(dc, ck, f)                   # df_k f_k(1-f_k), dc_k = dc * f_k
    da_f = da_f.reshape(N * K, H)
    # a_fk = h_k U_f + b_f;  [a_i, a_o, a_u] = h~ U_iou + b_iou;  h~ = sum_k h_k
    dhk = (da_f @ U[:, 3 * H:].T).reshape(N, K, H) + (da @ U[:, :3 * H].T)[:, None, :]
    dU = np.concatenate([h_sum.T @ da, hk.reshape(N * K, H).T @ da_f], axis=1)
    db = np.concatenate([da.sum(axis=0), da_f.sum(axis=0)])
    return (dhk, dck), {"U": dU, "b": db}
