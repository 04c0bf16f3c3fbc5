"""Level batching: forward and backward through a minibatch of trees, one cell call per height.

Level 0 (all leaves of all trees) runs the cell's leaf function on the embedded words in one
product; level h >= 1 gathers its nodes' children from the state table, runs the cell's node
function on all of them at once, and writes the results back as one contiguous block (see
``batch.py`` for the layout). Backward visits the levels from the top, scattering each level's child
gradients into the children's rows with one indexed add: every node has a single parent, so the
indices within a level are distinct (but for the padding row M, whose gradient is discarded).

States are tables (M + 1, H), one per cell state name; row M stays zero and is what padded child
slots read.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..optim import SparseGrad
from .batch import TreeBatch
from .head import HeadCache, head_backward, head_forward


class LevelsCache(NamedTuple):
    batch: TreeBatch
    cell: Any                 # the cell module
    leaf: Any                 # leaf cache
    nodes: list               # node cache of each level >= 1
    head: HeadCache
    emb_mask: np.ndarray | None   # (L, D)
    H: int


def forward(cell, p, batch: TreeBatch, emb_mask=None, hid_mask=None):
    """Logits (M, C) and h (M, H) of every node, and the cache for ``backward``."""
    M, L = batch.num_nodes, batch.num_leaves
    x = p["E"][batch.words]                                  # (L, D)
    if emb_mask is not None:
        x = x * emb_mask
    leaf_states, leaf_cache = cell.leaf_forward(x, p)
    H = leaf_states[0].shape[1]
    states = [np.zeros((M + 1, H), x.dtype) for _ in cell.state_names]
    for S, s in zip(states, leaf_states):
        S[:L] = s
    caches = []
    for start, end in batch.levels[1:]:
        kid_rows = batch.children[start - L:end - L]         # (n, K)
        out, cache = cell.node_forward(tuple(S[kid_rows] for S in states), p)
        for S, s in zip(states, out):
            S[start:end] = s
        caches.append(cache)
    h = states[0][:M]
    z, head_cache = head_forward(h, hid_mask, p)
    return z, h, LevelsCache(batch, cell, leaf_cache, caches, head_cache, emb_mask, H)


def backward(dz, cache: LevelsCache, dh=None) -> dict:
    """Gradients of every parameter from dz (M, C) (and an extra dh (M, H) on the nodes' h); the
    embedding table's as a SparseGrad over the leaves' words."""
    batch, cell, leaf_cache, caches, head_cache, emb_mask, H = cache
    M, L = batch.num_nodes, batch.num_leaves
    dh_head, grads = head_backward(dz, head_cache)
    dstates = [np.zeros((M + 1, H), dz.dtype) for _ in cell.state_names]
    dstates[0][:M] = dh_head
    if dh is not None:
        dstates[0][:M] += dh
    for (start, end), node_cache in zip(reversed(batch.levels[1:]), reversed(caches)):
        dkids, g = cell.node_backward(tuple(d[start:end] for d in dstates), node_cache)
        kid_rows = batch.children[start - L:end - L]
        for d, dk in zip(dstates, dkids):
            d[kid_rows] += dk                                # distinct rows within a level
        _accumulate(grads, g)
    dx, g = cell.leaf_backward(tuple(d[:L] for d in dstates), leaf_cache)
    _accumulate(grads, g)
    if emb_mask is not None:
        dx = dx * emb_mask
    grads["E"] = SparseGrad(batch.words, dx)
    return grads


def _accumulate(total: dict, g: dict) -> None:
    for k, v in g.items():
        if k in total:
            total[k] += v
        else:
            total[k] = v.copy()
