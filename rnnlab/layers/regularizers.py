"""Recurrent regularizers of RNN, LSTM and GRU: zoneout, recurrent (variational) dropout, weight drop.

Options of every recurrent layer (``LSTM(..., zoneout=(z_h, z_c), recurrent_dropout=p, weight_drop=p)``,
GRU and RNN with a single ``zoneout=z_h``). Each acts in training mode only (``layer.train()``, or
``Sequential.train()``); evaluation mode (the default, ``layer.eval()``) is deterministic.

Masks. Every mask is drawn once per forward call and per (layer, direction), from the layer's own
generator ``layer.rng`` (seeded from ``seed``; a training checkpoint saves its state, rnnlab.train),
in the order k = layer * directions + direction and, within k: zoneout of h, zoneout of c, recurrent
dropout, weight drop. A mask over units is (N, P) (P: the width of h; H for c): one row per sequence,
the same at every time step of it.

Forward (one step, s_{t-1} the carried state, ^ the cell's own new value), and beside each line the
backward it implies:

Recurrent dropout [1] (rate p; r ~ Bernoulli(1 - p) per sequence and unit, s_r = r / (1 - p)):
    h~_{t-1} = h_{t-1} * s_r             dh_{t-1} += dh~ * s_r
    a = a_x + h~_{t-1} U                 dh~ = da U^T,  dU += h~_{t-1}^T da
  h~ replaces h_{t-1} wherever the cell multiplies it by U (and only there: a GRU's interpolation
  z * h_{t-1} and an LSTM's peepholes read the state itself). One mask serves every gate block.

Weight drop [2] (DropConnect on U, rate p; M ~ Bernoulli(1 - p) of U's shape, S = M / (1 - p), one
per forward call):
    U' = U * S                           dU = S * dU'   (dU': the plain cell's gradient, read with U')

Zoneout [3] (rate z; d ~ Bernoulli(z) per sequence and unit: 1 keeps the previous value):
    s_t = d * s_{t-1} + (1 - d) * s^_t   ds^_t = ds_t (1 - d),  ds_{t-1} += ds_t d
  for s = h (every cell) and s = c (the LSTM, its own rate z_c); s^_t is the cell's output as if there
  were no zoneout (the LSTM's h^_t = o * tanh(c^_t) reads the new, un-zoned c^_t, as in [3]). The
  output y_t is the zoned h_t. Evaluation mode takes the expectation, d = z:
    s_t = z * s_{t-1} + (1 - z) * s^_t
  which streaming (``step``) computes too.

Ragged batches: the carry s_t = m * s_t + (1 - m) * s_{t-1} of rnnlab.layers.recurrent applies after
zoneout, so padded steps keep the state whatever the masks say.

Sources:
[1] Gal & Ghahramani 2016, "A theoretically grounded application of dropout in recurrent neural
    networks", sec. 4 (the same dropout mask at every time step, on the inputs of the recurrent
    product); Keras ``recurrent_dropout`` (one mask per sequence on h_{t-1}; Keras draws one per gate
    block, rnnlab one for all, Gal's tied-weights form).
[2] Merity, Keskar & Socher 2017, "Regularizing and optimizing LSTM language models", sec. 2 (AWD-LSTM,
    DropConnect of Wan et al. 2013 on the hidden-to-hidden weights, one mask per forward pass); the
    mask is scaled by 1 / (1 - p) like inverted dropout.
[3] Krueger et al. 2016, "Zoneout: regularizing RNNs by randomly preserving hidden activations",
    sec. 3 (eqs. for the LSTM's c_t and h_t). The paper draws d at each step; here d is drawn once per
    sequence, like the other two masks.

Freezing masks (gradient checks): the masks are a function of the generator's state, so setting
``layer.rng.bit_generator.state`` back to a saved state before each forward repeats them exactly;
rnnlab.gradcheck does that.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .dropout import check_rate, dropout_mask


class Regularizers(NamedTuple):
    """A layer's rates (0: off)."""
    zoneout_h: float = 0.0
    zoneout_c: float = 0.0
    recurrent_dropout: float = 0.0
    weight_drop: float = 0.0

    @property
    def any(self) -> bool:
        return any(self)


class RegMasks(NamedTuple):
    """The masks of one (layer, direction) for one forward call; None where off.

    zh, zc: zoneout's d for h (N, P) and c (N, H) in training, the rate z (a 0-d array) in evaluation.
    rh: recurrent dropout's scaled mask s_r (N, P). rU: weight drop's scaled mask S, U's shape.
    """
    zh: np.ndarray | None = None
    zc: np.ndarray | None = None
    rh: np.ndarray | None = None
    rU: np.ndarray | None = None


def check_zoneout(zoneout, with_cell: bool) -> tuple[float, float]:
    """(z_h, z_c) from ``zoneout``: a rate in [0, 1) (the LSTM uses it for both h and c), or, for the
    LSTM, a pair (z_h, z_c). Raises ValueError naming ``zoneout``."""
    if isinstance(zoneout, (tuple, list)):
        if not with_cell or len(zoneout) != 2:
            want = "a pair (z_h, z_c) or one rate" if with_cell else "one rate z_h (a GRU or RNN has no cell state)"
            raise ValueError(f"zoneout: expected {want} in [0, 1), got {zoneout!r}")
        return check_rate("zoneout[0] (z_h)", zoneout[0]), check_rate("zoneout[1] (z_c)", zoneout[1])
    if isinstance(zoneout, (bool, np.bool_)) or not isinstance(zoneout, numbers.Real) or not 0 <= zoneout < 1:
        raise ValueError(f"zoneout: expected a number in [0, 1) (the probability that a unit keeps its previous "
                         f"value){' or a pair (z_h, z_c)' if with_cell else ''}, got {zoneout!r}")
    z = float(zoneout)
    return z, (z if with_cell else 0.0)


def check_regularizers(zoneout, recurrent_dropout, weight_drop, with_cell: bool) -> Regularizers:
    z_h, z_c = check_zoneout(zoneout, with_cell)
    return Regularizers(z_h, z_c, check_rate("recurrent_dropout", recurrent_dropout),
                        check_rate("weight_drop", weight_drop))


def keep_mask(rng: np.random.Generator, shape: tuple, z: float, dtype) -> np.ndarray:
    """Zoneout's d ~ Bernoulli(z), 0 or 1 in ``dtype`` (1: the unit keeps its previous value)."""
    uniform = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    return (rng.random(shape, dtype=uniform) < z).astype(dtype)


def draw_masks(rng, reg: Regularizers, training: bool, N: int, P: int, H: int, U_shape: tuple, dtype):
    """The RegMasks of one (layer, direction), drawn in the documented order; None when none is active
    (evaluation mode without zoneout)."""
    dtype = np.dtype(dtype)
    if not training:
        if not (reg.zoneout_h or reg.zoneout_c):
            return None
        return RegMasks(np.asarray(reg.zoneout_h, dtype) if reg.zoneout_h else None,
                        np.asarray(reg.zoneout_c, dtype) if reg.zoneout_c else None)
    return RegMasks(keep_mask(rng, (N, P), reg.zoneout_h, dtype) if reg.zoneout_h else None,
                    keep_mask(rng, (N, H), reg.zoneout_c, dtype) if reg.zoneout_c else None,
                    dropout_mask(rng, (N, P), reg.recurrent_dropout, dtype) if reg.recurrent_dropout else None,
                    dropout_mask(rng, U_shape, reg.weight_drop, dtype) if reg.weight_drop else None)


def zoneout(new, old, d):
    """s_t = d * s_{t-1} + (1 - d) * s^_t (``new`` when d is None)."""
    return new if d is None else new + d * (old - new)


def dropped_U(U, reg: RegMasks | None):
    """U' = U * S with weight drop, else U."""
    return U if reg is None or reg.rU is None else U * reg.rU


def dropped_h(h_prev, reg: RegMasks | None):
    """h~_{t-1} = h_{t-1} * s_r with recurrent dropout, else h_{t-1}."""
    return h_prev if reg is None or reg.rh is None else h_prev * reg.rh
