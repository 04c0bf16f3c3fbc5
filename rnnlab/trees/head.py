"""The softmax classifier on every node, and the treebank loss.

For the M nodes' hidden states h (M, H), with an optional inverted-dropout mask m (M, H):

    z = (h * m) Ws + bs                                   Ws (H, C), bs (C,)
    loss = (1 / B) sum_{counted nodes n} -log softmax(z_n)[y_n]

the sum over every labelled node of each tree and the mean over the B trees of the minibatch, as in
Tai et al. (2015) and Socher et al. (2013). Nodes with target -1 (neutral ones in the binary task)
are not counted.

Backward:  dWs = (h * m)^T dz,  dbs = sum dz,  dh = (dz Ws^T) * m.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..losses import softmax_cross_entropy


class HeadCache(NamedTuple):
    hd: np.ndarray             # (M, H) h after dropout
    mask: np.ndarray | None    # (M, H)
    Ws: np.ndarray             # (H, C)


def head_forward(h, mask, p):
    hd = h if mask is None else h * mask
    return hd @ p["Ws"] + p["bs"], HeadCache(hd, mask, p["Ws"])   # z = (h * m) Ws + bs


def head_backward(dz, cache: HeadCache):
    hd, mask, Ws = cache
    dh = dz @ Ws.T
    if mask is not None:
        dh *= mask
    return dh, {"Ws": hd.T @ dz, "bs": dz.sum(axis=0)}


def node_loss(z, targets, num_trees: int):
    """Sum over counted nodes of the cross-entropy, divided by the number of trees; returns (loss, dz)."""
    counted = targets >= 0
    n = int(counted.sum())
    if n == 0:
        return 0.0, np.zeros_like(z)
    mean, dz = softmax_cross_entropy(z, np.maximum(targets, 0), counted.astype(z.dtype))
    return mean * n / num_trees, dz * (n / num_trees)
