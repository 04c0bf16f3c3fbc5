"""The plain reference: one node at a time, children before parents, as a recursive network is
usually written. Every node runs the cell, the classifier and the loss on its own row; backward
visits the nodes in the reverse order. Slow, and simple enough to trust: tests assert that level
batching (``levels.py``) gives the same logits, loss and gradients to float64 round-off.
"""
from __future__ import annotations

import numpy as np

from ..optim import SparseGrad
from .batch import TreeBatch
from .head import head_backward, head_forward, node_loss


def post_order(batch: TreeBatch) -> list[int]:
    """Node indices of every tree, children before parents, tree by tree."""
    M, L = batch.num_nodes, batch.num_leaves
    order = []
    for root in batch.roots:
        stack = [(int(root), False)]
        while stack:
            n, expanded = stack.pop()
            if n < L or expanded:
                order.append(n)
                continue
            stack.append((n, True))
            stack.extend((int(k), False) for k in reversed(batch.children[n - L]) if k < M)
    return order


def _kids(batch, n):
    return [int(k) for k in batch.children[n - batch.num_leaves] if k < batch.num_nodes]


def loss_and_grads(cell, p, batch: TreeBatch, emb_mask=None, hid_mask=None):
    """(loss, logits (M, C), grads) computed node by node."""
    M, L, B = batch.num_nodes, batch.num_leaves, len(batch.roots)
    order = post_order(batch)
    states, caches, heads = {}, {}, {}
    z = np.zeros((M, p["Ws"].shape[1]), p["Ws"].dtype)
    loss, dz = 0.0, {}
    for n in order:
        if n < L:
            x = p["E"][batch.words[n]][None]                 # (1, D)
            if emb_mask is not None:
                x = x * emb_mask[n][None]
            states[n], caches[n] = cell.leaf_forward(x, p)
        else:
            kids = _kids(batch, n)
            child = tuple(np.stack([states[k][j][0] for k in kids])[None]   # (1, K, H)
                          for j in range(len(cell.state_names)))
            states[n], caches[n] = cell.node_forward(child, p)
        mask = None if hid_mask is None else hid_mask[n][None]
        zn, heads[n] = head_forward(states[n][0], mask, p)
        z[n] = zn[0]
        ln, dz[n] = node_loss(zn, batch.labels[n:n + 1], B)
        loss += ln

    grads: dict = {}
    dstates = {n: [np.zeros_like(s) for s in states[n]] for n in order}
    rows, dxs = [], []
    for n in reversed(order):                                # parents before children
        dh, g = head_backward(dz[n], heads[n])
        _add(grads, g)
        dstates[n][0] += dh
        if n < L:
            dx, g = cell.leaf_backward(tuple(dstates[n]), caches[n])
            if emb_mask is not None:
                dx = dx * emb_mask[n][None]
            rows.append(batch.words[n])
            dxs.append(dx[0])
        else:
            dkids, g = cell.node_backward(tuple(dstates[n]), caches[n])
            for j, k in enumerate(_kids(batch, n)):
                for d, dk in zip(dstates[k], dkids):
                    d += dk[:, j]
        _add(grads, g)
    grads["E"] = SparseGrad(np.array(rows, np.int64), np.array(dxs))
    return loss, z, grads


def _add(total: dict, g: dict) -> None:
    for k, v in g.items():
        total[k] = total[k] + v if k in total else v.copy()
