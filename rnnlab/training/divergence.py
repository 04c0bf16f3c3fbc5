"""Divergence: a loss, gradient or parameter that is not finite stops the run.

Each check raises the ``Diverged`` that ``fail(what)`` builds, so that the trainer's message names
where the run stood (epoch, step, minibatch) and what was kept. The checks run before anything of
the step is written, so the last checkpoint holds the last finite state.
"""
from __future__ import annotations

import math

import numpy as np

from ..optim import SparseGrad, clip_grad_norm, global_norm


class Diverged(ValueError):
    """Training met a loss, gradient or parameter that is not finite."""


def first_non_finite(arrays: dict) -> str | None:
    """The first key of ``arrays`` (arrays or SparseGrads) holding a NaN or an infinity, else None."""
    for k, v in arrays.items():
        if not np.isfinite(v.values if isinstance(v, SparseGrad) else v).all():
            return k
    return None


def check_loss(loss: float, fail) -> None:
    if not math.isfinite(loss):
        raise fail(f"the loss is {loss}")


def clip_and_check(grads: dict, clip: float, fail) -> float:
    """Clip ``grads`` in place to global norm ``clip`` (0: no clipping, Pascanu et al. 2013) and return
    their norm before clipping; raises ``fail(...)`` naming the first gradient that is not finite."""
    norm = clip_grad_norm(grads, clip) if clip else global_norm(grads)
    if not math.isfinite(norm):
        raise fail(f"the gradient of {first_non_finite(grads)!r} is not finite")
    return norm


def check_params(params: dict, fail) -> None:
    bad = first_non_finite(params)
    if bad is not None:
        raise fail(f"the update made parameter {bad!r} non-finite")
