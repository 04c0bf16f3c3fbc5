"""Elman recurrent network: the plain RNN whose gradients vanish or explode through time.

For one direction of one layer, W (D, H), U (H, H), b (H,):

    h_t = phi(x_t W + h_{t-1} U + b),    phi = tanh, relu or identity

Backward through time, from the cached activated h_t:

    da_t     = (dy_t + dh_t) * phi'(h_t)        tanh' = 1 - h^2, relu' = [h > 0], identity' = 1
    dh_{t-1} = da_t U^T
The repeated product with U^T * phi' is what shrinks or blows up dh over long spans; the LSTM's
additive cell state avoids it.
After the loop: dW = x^T da, dU = h_{t-1}^T da, db = sum da, dx = da W^T.

``nonlinearity="identity"`` is the linear recurrence h_t = x_t W + h_{t-1} U + b (as in the analyses of
linear RNNs, e.g. Saxe et al. 2014): its gradient through time is exactly the product of U^T.

With the regularizers (rnnlab.layers.regularizers: zoneout, recurrent_dropout, weight_drop; or the
identity nonlinearity) the NumPy path runs ``rnnv_forward`` / ``rnnv_backward`` (a float32 layer runs
the same equations in the compiled loop of rnnlab.engine, every nonlinearity and regularizer):

    h~_{t-1} = h_{t-1} * s_r,  U' = U * S            dh_{t-1} = dh~ * s_r + dh_t d,  dU = S * (h~^T da)
    h^_t = phi(x_t W + h~_{t-1} U' + b)              da = dh^_t phi'(h^_t),  dh~ = da U'^T
    h_t  = d * h_{t-1} + (1 - d) * h^_t              dh^_t = dh_t (1 - d)

Code: ``rnn_step_forward`` / ``rnn_step_backward`` are one time step, one line per equation above;
``rnn_forward`` / ``rnn_backward`` are the sequence loop that calls them. The input product x_t W
is taken for all steps at once before the loop, and the weight gradients after it, so a step
receives a_x = x_t W + b and returns da.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import engine
from ..activations import relu_grad, tanh_grad
from .recurrent import RegCache, Recurrent, carry_masked, engine_regularizers, h_rec_array, time_steps, uniform_init
from .regularizers import RegMasks, dropped_U, dropped_h, zoneout

NONLINEARITIES = ("tanh", "relu", "identity")


class RNNCache(NamedTuple):
    x: np.ndarray        # (T, N, D)
    W: np.ndarray        # (D, H)
    U: np.ndarray        # (H, H)
    h_new: np.ndarray    # (T, N, H) phi(a_t) before masking
    hs: np.ndarray       # (T+1, N, H) carried h
    mask: np.ndarray | None
    reverse: bool
    nonlinearity: str


def rnn_step_forward(a, h_prev, U, nonlinearity="tanh", *, hU=None):
    """One step: h_t (N, H), which is also the step's cache (phi' is taken from it).

    a: (N, H) the input part x_t W + b; it is overwritten with h_t = phi(a_t) and returned.
    h_prev: (N, H); U: (H, H); hU: an optional (N, H) array for h_{t-1} U.
    """
    a += np.matmul(h_prev, U, out=hU)                    # a_t = x_t W + b + h_{t-1} U
    if nonlinearity == "tanh":
        np.tanh(a, out=a)                                # h_t = tanh(a_t)
    elif nonlinearity == "relu":
        np.maximum(a, 0, out=a)                          # h_t = relu(a_t)
    return a                                             # identity: h_t = a_t


def rnn_step_backward(dh, h, U, nonlinearity="tanh", *, dphi=None, da=None):
    """One step back: da (N, H), dh_{t-1} (N, H).

    dh: (N, H) the whole gradient at h_t (from step t+1 and from the output y_t); h: the step's
    cache h_t. dphi: phi'(a_t) where the caller already has it (the sequence loop takes it for all
    steps at once). da is dL/da_t, from which the caller takes dx_t = da W^T, dW += x_t^T da,
    dU += h_{t-1}^T da, db += sum da. da: optional (N, H) array to write into.
    """
    if dphi is None:
        dphi = phi_grad(h, nonlinearity)
    # h_t = phi(a_t)
    da = np.multiply(dh, dphi, out=da)
    # a_t = x_t W + b + h_{t-1} U
    dh_prev = da @ U.T
    return da, dh_prev


def phi_grad(h, nonlinearity):
    """phi'(a) from h = phi(a): tanh' = 1 - h^2, relu' = [h > 0], identity' = 1."""
    if nonlinearity == "identity":
        return np.ones_like(h)
    return tanh_grad(h) if nonlinearity == "tanh" else relu_grad(h)


def rnn_input_part(x, p):
    """a_x = x W + b: x (..., D) -> (..., H)."""
    a = x @ p["W"]
    a += p["b"]
    return a


def rnn_forward(x, state0, p, mask=None, reverse=False, nonlinearity="tanh"):
    """One Elman direction over x (T, N, D); returns y (T, N, H), (h_T,), cache."""
    (h0,) = state0
    W, U = p["W"], p["U"]
    T, N, D = x.shape
    H = U.shape[0]
    r = int(reverse)
    h_new = rnn_input_part(x.reshape(T * N, D), p).reshape(T, N, H)   # x_t W + b for all steps at once
    hs = np.empty((T + 1, N, H), x.dtype)
    hs[T if r else 0] = h0
    hU = np.empty((N, H), x.dtype)
    for t in time_steps(T, reverse):
        h_prev, h = hs[t + r], hs[t + 1 - r]
        h[...] = rnn_step_forward(h_new[t], h_prev, U, nonlinearity, hU=hU)
        if mask is not None:
            carry_masked(h, h_prev, mask[t])
    y = h_new * mask if mask is not None else (hs[:T] if r else hs[1:])
    final = (hs[0],) if r else (hs[T],)
    return y, final, RNNCache(x, W, U, h_new, hs, mask, bool(reverse), nonlinearity)


def rnn_backward(dy, dstateT, cache: RNNCache):
    """Gradients of one Elman direction: dx (T, N, D), (dh_0,), {"W", "U", "b"}."""
    x, W, U, h_new, hs, mask, reverse, nonlinearity = cache
    T, N, D = x.shape
    H = U.shape[0]
    r = int(reverse)
    dphi = phi_grad(h_new, nonlinearity)                                       # (T, N, H), all steps at once
    if mask is not None:
        dphi *= mask                     # y_t = m h_new and h carried by m: padded steps get nothing
    da_all = np.empty((T, N, H), x.dtype)
    dh = np.array(dstateT[0], dtype=x.dtype)
    U_f = np.asfortranarray(U)           # so that U.T in the step is C-contiguous: BLAS runs faster on it
    for t in reversed(time_steps(T, reverse)):
        dh_t = np.add(dh, dy[t], out=da_all[t])
        _, dh_prev = rnn_step_backward(dh_t, h_new[t], U_f, nonlinearity, dphi=dphi[t], da=da_all[t])
        dh = dh_prev if mask is None else dh_prev + dh * (1 - mask[t])   # h_t = ... + (1 - m) h_{t-1}
    da2 = da_all.reshape(T * N, H)
    h_prev = (hs[1:] if r else hs[:T]).reshape(T * N, H)
    grads = {"W": x.reshape(T * N, D).T @ da2, "U": h_prev.T @ da2, "b": da2.sum(axis=0)}
    return (da2 @ W.T).reshape(T, N, D), (dh,), grads


class RNNVCache(NamedTuple):
    x: np.ndarray        # (T, N, D)
    W: np.ndarray        # (D, H)
    U: np.ndarray        # (H, H) U' = U * S as used (the plain U without weight drop)
    h_new: np.ndarray    # (T, N, H) h^_t = phi(a_t), before zoneout and masking
    hs: np.ndarray       # (T+1, N, H) carried h
    mask: np.ndarray | None
    reverse: bool
    nonlinearity: str
    reg: RegMasks | None


def rnnv_forward(x, state0, p, mask=None, reverse=False, nonlinearity="tanh", reg: RegMasks | None = None):
    """One direction with the regularizers' masks ``reg`` (or None) and any nonlinearity; returns
    y (T, N, H), (h_T,), RNNVCache."""
    (h0,) = state0
    W, U = p["W"], dropped_U(p["U"], reg)                                 # U' = U * S
    T, N, D = x.shape
    H = U.shape[0]
    r = int(reverse)
    zh = None if reg is None else reg.zh
    h_new = rnn_input_part(x.reshape(T * N, D), p).reshape(T, N, H)
    hs = np.empty((T + 1, N, H), x.dtype)
    hs[T if r else 0] = h0
    y = np.empty((T, N, H), x.dtype)
    for t in time_steps(T, reverse):
        h_prev, h = hs[t + r], hs[t + 1 - r]
        rnn_step_forward(h_new[t], dropped_h(h_prev, reg), U, nonlinearity)   # h^_t = phi(a_x + h~ U')
        h[...] = zoneout(h_new[t], h_prev, zh)                           # h_t = d h_{t-1} + (1 - d) h^_t
        if mask is not None:
            np.multiply(h, mask[t], out=y[t])                            # y_t = m_t * h_t
            carry_masked(h, h_prev, mask[t])
        else:
            y[t] = h
    final = (hs[0],) if r else (hs[T],)
    return y, final, RNNVCache(x, W, U, h_new, hs, mask, bool(reverse), nonlinearity, reg)


def rnnv_backward(dy, dstateT, cache: RNNVCache):
    """Gradients of ``rnnv_forward``: dx (T, N, D), (dh_0,), {"W", "U", "b"}."""
    x, W, U, h_new, hs, mask, reverse, nonlinearity, reg = cache
    T, N, D = x.shape
    H = U.shape[0]
    r = int(reverse)
    zh, _, rh, rU = (None,) * 4 if reg is None else reg
    dphi = phi_grad(h_new, nonlinearity)
    da_all = np.empty((T, N, H), x.dtype)
    dh = np.array(dstateT[0], dtype=x.dtype)
    for t in reversed(time_steps(T, reverse)):
        dh_t = dh + dy[t]
        keep = 0
        if mask is not None:
            dh_t *= mask[t]                                              # y_t = m h_t and h carried by m
            keep = dh * (1 - mask[t])                                    # h_t = ... + (1 - m) h_{t-1}
        zone = 0 if zh is None else dh_t * zh                            # dh_{t-1} += dh_t d
        if zh is not None:
            dh_t = dh_t * (1 - zh)                                       # dh^_t = dh_t (1 - d)
        _, dh_rec = rnn_step_backward(dh_t, h_new[t], U, nonlinearity, dphi=dphi[t], da=da_all[t])
        dh = dropped_h(dh_rec, reg) + zone + keep                        # dh_{t-1} = dh~ s_r + ...
    da2 = da_all.reshape(T * N, H)
    h_prev = dropped_h(hs[1:] if r else hs[:T], reg).reshape(T * N, H)  # h~_{t-1}
    grads = {"W": x.reshape(T * N, D).T @ da2, "U": h_prev.T @ da2, "b": da2.sum(axis=0)}
    if rU is not None:
        grads["U"] *= rU                                                 # dU = S * dU'
    return (da2 @ W.T).reshape(T, N, D), (dh,), grads


class RNN(Recurrent):
    """Stacked, optionally bidirectional Elman RNN. Parameters per layer and direction:
    W (D, H), U (H, H), b (H,). nonlinearity: "tanh", "relu" or "identity" (the linear recurrence).
    Regularizers (training mode; rnnlab.layers.regularizers): zoneout=z_h, recurrent_dropout=p,
    weight_drop=p. For float32 the compiled loop (rnnlab.engine) runs every nonlinearity with any of
    the regularizers; float64 runs the NumPy step functions."""

    kind = "RNN"
    gates = 1
    state_names = ("h",)

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, nonlinearity="tanh",
                 dtype="float32", seed=None, direction="forward", zoneout=0.0, recurrent_dropout=0.0, weight_drop=0.0,
                 zero_output_for_mask=None):
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity: expected one of {NONLINEARITIES}, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bidirectional, dtype, seed, direction,
                         zoneout, recurrent_dropout, weight_drop, zero_output_for_mask)

    @property
    def _plain(self):
        return self.nonlinearity != "identity" and super()._plain

    @property
    def compiled(self) -> bool:
        """Every nonlinearity, with or without zoneout, recurrent_dropout and weight_drop, runs compiled."""
        return True

    def config(self):
        return {**super().config(), "nonlinearity": self.nonlinearity}

    def _cell_step(self, x_t, state, p, out):
        a = rnn_input_part(x_t, p)                                      # (N, H)
        out[0][...] = rnn_step_forward(a, state[0], p["U"], self.nonlinearity)

    def _init_direction(self, in_size, H, rng):
        bound = 1.0 / np.sqrt(H)
        return {"W": uniform_init(rng, (in_size, H), bound, self.dtype),
                "U": uniform_init(rng, (H, H), bound, self.dtype),
                "b": uniform_init(rng, (H,), bound, self.dtype)}

    def _cell_forward(self, x, state0, p, mask, reverse, reg=None, out=None):
        if engine_regularizers(reg) and engine.applies(x):   # the regularizers in the compiled loop
            U = dropped_U(p["U"], reg)
            h_rec = h_rec_array(x, self.hidden_size, reg)
            y, h_new, hs = engine.rnn_forward(x, *state0, p["W"], U, p["b"], mask, reverse, self.nonlinearity,
                                              zoneout=reg.zh, recurrent_dropout=reg.rh, h_rec=h_rec)
            final = (hs[0],) if reverse else (hs[-1],)
            cell = RNNCache(x, p["W"], U, h_new, hs, mask, bool(reverse), self.nonlinearity)
            return y, final, RegCache(cell, reg.zh, reg.rU, reg.rh, h_rec)
        if reg is None and engine.applies(x):            # same loop, compiled (rnnlab.engine)
            y, h_new, hs = engine.rnn_forward(x, *state0, p["W"], p["U"], p["b"], mask, reverse, self.nonlinearity)
            final = (hs[0],) if reverse else (hs[-1],)
            return y, final, RNNCache(x, p["W"], p["U"], h_new, hs, mask, bool(reverse), self.nonlinearity)
        if not self._plain:                              # variants: NumPy step functions
            return rnnv_forward(x, state0, p, mask, reverse, self.nonlinearity, reg)
        return rnn_forward(x, state0, p, mask, reverse, self.nonlinearity)

    def _cell_backward(self, dy, dstateT, cache, dx_out=None, dx_add=False):
        if isinstance(cache, RegCache):
            c = cache.cell
            dx, dh, grads = engine.rnn_backward(dy, *dstateT, c.x, c.W, c.U, c.h_new, c.hs, c.mask, c.reverse,
                                                c.nonlinearity, dx_out=dx_out, dx_add=dx_add, zoneout=cache.zh,
                                                recurrent_dropout=cache.rh, h_rec=cache.h_rec)
            if cache.rU is not None:
                grads["U"] = grads["U"] * cache.rU                         # dU = S * dU'
            return dx, (dh,), grads
        if isinstance(cache, RNNVCache):
            return rnnv_backward(dy, dstateT, cache)
        if engine.applies(cache.x):
            c = cache
            dx, dh, grads = engine.rnn_backward(dy, *dstateT, c.x, c.W, c.U, c.h_new, c.hs, c.mask,
                                                c.reverse, c.nonlinearity, dx_out=dx_out, dx_add=dx_add)
            return dx, (dh,), grads
        return rnn_backward(dy, dstateT, cache)
