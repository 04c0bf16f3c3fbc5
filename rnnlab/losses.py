"""Losses, each returning the mean loss and its gradient with respect to the model's output.

Shapes: logits / predictions (..., C) with any leading axes (N for one prediction per sequence,
(N, T) for one per step); ``mask`` has the leading shape and weights each prediction (0 for padded
steps); the loss is the mean over predictions with mask 1.

    softmax cross-entropy  L = -mean log softmax(z)_y,            dz = (softmax(z) - onehot(y)) / M
    mean squared error     L = mean_{preds} sum_c (p - y)^2 / C,  dp = 2 (p - y) / (C M)
    binary cross-entropy   L = mean_{preds} sum_c [softplus(z) - y z],  dz = (sigmoid(z) - y) / M
                           (on logits z, summed over the C labels: the negative log-likelihood per
                           time step of a piano roll, as in Boulanger-Lewandowski et al. 2012)
with M the number of counted predictions.

Errors: every argument is checked on entry and a bad one raises ValueError naming it: logits and
predictions must be finite floating-point arrays holding at least one prediction; class targets
integers in [0, C); binary targets numbers in [0, 1] (bool allowed); regression targets finite
numbers; a mask finite, >= 0, of the predictions' leading shape and not all zero.
"""
from __future__ import annotations

import numpy as np

from .activations import sigmoid
from .checks import check_float_array


def _outputs(name: str, value) -> np.ndarray:
    """The model's outputs (..., C): a finite floating array with at least one prediction."""
    arr = check_float_array(name, value)
    if arr.ndim < 1 or arr.shape[-1] < 1 or arr.size == 0:
        raise ValueError(f"{name}: expected an array (..., C) holding at least one prediction, got shape {arr.shape}")
    return arr


def _numbers(name: str, value, shape: tuple, dtype, low=None, high=None) -> np.ndarray:
    """``value`` as a finite array of ``shape`` cast to ``dtype``, each entry in [low, high]."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected numbers, got dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {arr.shape}")
    arr = arr.astype(dtype, copy=False)
    bad = ~np.isfinite(arr)
    if low is not None:
        bad |= arr < low
    if high is not None:
        bad |= arr > high
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        want = "finite values" + (f" in [{low:g}, {high:g}]" if high is not None else
                                  f" >= {low:g}" if low is not None else "")
        raise ValueError(f"{name}: expected {want}, got {arr[at]} at index {at}")
    return arr


def _weights(mask, lead_shape, dtype):
    if mask is None:
        return None, float(np.prod(lead_shape)) if lead_shape else 1.0
    if np.shape(mask) != tuple(lead_shape):
        raise ValueError(f"mask: expected shape {tuple(lead_shape)} (the predictions' leading axes), "
                         f"got {np.shape(mask)}")
    mask = _numbers("mask", mask, lead_shape, dtype, low=0)
    count = float(mask.sum())
    if count <= 0:
        raise ValueError("mask: expected at least one counted prediction, got an all-zero mask")
    return mask, count


def softmax_cross_entropy(logits, targets, mask=None):
    """Mean of -log softmax(logits)[target]; returns (loss, dlogits).

    logits (..., C) float; targets (...) integer class indices in [0, C); mask (...) or None."""
    logits = _outputs("logits", logits)
    targets = np.asarray(targets)
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets: expected shape {logits.shape[:-1]} (logits without the class axis), "
                         f"got {targets.shape}")
    C = logits.shape[-1]
    if targets.dtype.kind not in "iu":                                    # bool is not a class index
        raise ValueError(f"targets: expected integer class indices, got dtype {targets.dtype}")
    if targets.size and (targets.min() < 0 or targets.max() >= C):
        raise ValueError(f"targets: expected class indices in [0, {C - 1}], got {int(targets.min())}..{int(targets.max())}")
    w, count = _weights(mask, logits.shape[:-1], logits.dtype)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    log_p = shifted - log_z
    picked = np.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0]
    nll = -picked if w is None else -picked * w
    dlogits = np.exp(log_p)
    np.put_along_axis(dlogits, targets[..., None], np.take_along_axis(dlogits, targets[..., None], -1) - 1, -1)
    if w is not None:
        dlogits *= w[..., None]
    dlogits /= count
    return float(nll.sum() / count), dlogits


def mean_squared_error(pred, target, mask=None):
    """Mean over predictions (and outputs) of (pred - target)^2; returns (loss, dpred).

    pred (..., C) float; target (..., C) finite numbers; mask (...) or None."""
    pred = _outputs("pred", pred)
    if np.shape(target) != pred.shape:
        raise ValueError(f"target: expected shape {pred.shape} (as the predictions), got {np.shape(target)}")
    target = _numbers("target", target, pred.shape, pred.dtype)
    C = pred.shape[-1] if pred.ndim else 1
    w, count = _weights(mask, pred.shape[:-1], pred.dtype)
    diff = pred - target
    sq = (diff * diff).sum(axis=-1) / C
    if w is not None:
        sq = sq * w
        diff = diff * w[..., None]
    return float(sq.sum() / count), 2 * diff / (C * count)


def binary_cross_entropy_with_logits(logits, targets, mask=None):
    """Sum over labels of the Bernoulli negative log-likelihood, mean over predictions; returns
    (loss, dlogits). softplus(z) = max(z, 0) + log1p(exp(-|z|)) keeps it finite for any z.

    logits (..., C) float; targets (..., C) numbers in [0, 1] (0/1 labels or probabilities, bool
    allowed); mask (...) or None."""
    logits = _outputs("logits", logits)
    if np.shape(targets) != logits.shape:
        raise ValueError(f"targets: expected shape {logits.shape} (as the logits), got {np.shape(targets)}")
    targets = _numbers("targets", targets, logits.shape, logits.dtype, low=0, high=1)
    w, count = _weights(mask, logits.shape[:-1], logits.dtype)
    nll = (np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits))) - targets * logits).sum(axis=-1)
    dlogits = sigmoid(logits) - targets
    if w is not None:
        nll = nll * w
        dlogits *= w[..., None]
    return float(nll.sum() / count), dlogits / count
