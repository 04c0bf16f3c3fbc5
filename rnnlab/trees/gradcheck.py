"""Central-difference gradient check of a tree model, in float64 (the tree counterpart of
``rnnlab.gradcheck``, whose report it reuses).

With fixed random probes P_z (M, C) and P_h (M, H) on every node's logits and hidden state, and
fixed dropout masks, the scalar

    L(theta) = sum(z * P_z) + sum(h * P_h)

has the analytic gradient ``backward(P_z, cache, dh=P_h)``, compared entry by entry with
(L(theta + eps e_j) - L(theta - eps e_j)) / (2 eps). Relative errors are measured against each
array's largest numerical gradient, as in ``rnnlab.gradcheck``. Rows of E are checked among the
words the batch uses (every other row has gradient zero).
"""
from __future__ import annotations

import numpy as np

from ..gradcheck import GradcheckReport, check_entries
from ..optim import SparseGrad
from .batch import TreeBatch
from .model import TreeModel, TreeModelConfig


def float64_copy(model: TreeModel) -> TreeModel:
    config = TreeModelConfig(**{**model.to_dict(), "dtype": "float64"})
    copy = TreeModel(config)
    copy.params = {k: v.astype(np.float64) for k, v in model.params.items()}
    return copy


def tree_gradcheck(model: TreeModel, batch: TreeBatch, dropout: float = 0.0, eps: float = 1e-6,
                   max_checks: int = 30, seed: int = 0, floor: float = 1e-8) -> GradcheckReport:
    model = float64_copy(model)
    rng = np.random.default_rng(seed)
    emb_mask, hid_mask = model.dropout_masks(batch, dropout, rng)
    z, h, cache = model.forward(batch, emb_mask, hid_mask)
    P_z, P_h = rng.standard_normal(z.shape), rng.standard_normal(h.shape)
    grads = model.backward(P_z, cache, dh=P_h)

    def loss() -> float:
        z, h, _ = model.forward(batch, emb_mask, hid_mask)
        return float(np.sum(z * P_z) + np.sum(h * P_h))

    report = GradcheckReport(repr(model))
    for name, array in model.params.items():
        analytic = grads[name]
        if isinstance(analytic, SparseGrad):
            analytic = analytic.dense(array.shape, np.float64)
            used = np.unique(batch.words)
            candidates = (used[:, None] * array.shape[1] + np.arange(array.shape[1])).reshape(-1)
        else:
            candidates = np.arange(array.size)
        idx = candidates if candidates.size <= max_checks else rng.choice(candidates, max_checks, replace=False)
        report.rows.append(check_entries(f"param {name}", array, analytic, idx, loss, eps, floor))
    return report
