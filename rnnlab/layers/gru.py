"""Gated recurrent unit (Cho et al. 2014): two gates, update z and reset r, and one state h.

For one direction of one layer, gate order (r, z, n) (rnnlab.layers.gates), W (D, 3H), U (H, 3H),
b (3H,).

"Reset after" (default; PyTorch, cuDNN, Keras ``reset_after=True``), with its own recurrent
candidate bias b_hn (H,):

    r_t = sigmoid(x_t W_r + h_{t-1} U_r + b_r)
    z_t = sigmoid(x_t W_z + h_{t-1} U_z + b_z)
    q_t = h_{t-1} U_n + b_hn                      recurrent part of the candidate
    n_t = tanh(x_t W_n + b_n + r_t * q_t)
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

"Reset before" (``reset_after=False``; Cho et al. 2014, Keras ``reset_after=False``), no b_hn:

    n_t = tanh(x_t W_n + b_n + (r_t * h_{t-1}) U_n)

Backward, from cached r, z, n (and q, or r * h_{t-1}):

    dn = dh (1 - z),  dz = dh (h_{t-1} - n),  dh_{t-1} = dh z + ...
    da_n = dn (1 - n^2)
    after:  dr = da_n q,      dq = da_n r  -> dh_{t-1} += [da_r, da_z, dq] U^T, db_hn = sum dq
    before: d(rh) = da_n U_n^T, dr = d(rh) h_{t-1}, dh_{t-1} += d(rh) r + [da_r, da_z] U_rz^T
    da_r = dr r (1 - r),  da_z = dz z (1 - z)
and after the loop dW = x^T [da_r, da_z, da_n], db = sum of the same, dx = [da_r, da_z, da_n] W^T.

Code: ``gru_step_forward`` / ``gru_step_backward`` are one time step, one line per equation above;
``gru_forward`` / ``gru_backward`` are the sequence loop that calls them. The input product x_t W
is taken for all steps at once before the loop, and the weight gradients after it, so a step
receives a_x = x_t W + b and returns the pre-activation gradients.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import engine
from ..activations import sigmoid
from .gates import block, check_gate_activation, split
from .gru_variants import GRUVCache, gruv_backward, gruv_forward, gruv_input_part, gruv_step_forward
from .recurrent import RegCache, Recurrent, carry_masked, engine_regularizers, h_rec_array, time_steps, uniform_init
from .regularizers import dropped_U


class GRUEngineCache(NamedTuple):
    """A direction that the compiled loop ran with hard-sigmoid gates and / or layer_norm (and any
    zoneout of h, recurrent dropout and weight drop, as RegCache): the plain cell's cache (U' = U * S
    under weight drop), zoneout's d (or None), the scaled mask S (or None), the gate_activation,
    recurrent dropout's s_r and the loop's h~ = h s_r (or None) and, with layer_norm, the gains and the
    normalizations' cache (rnnlab.engine.gru_forward's layer_norm, ln_cache), which the backward needs."""
    cell: GRUCache
    zh: np.ndarray | None
    rU: np.ndarray | None
    gate_activation: str
    rh: np.ndarray | None = None
    h_rec: np.ndarray | None = None
    layer_norm: dict | None = None
    ln_cache: dict | None = None

    @property
    def U(self):
        return self.cell.U


class GRUStepCache(NamedTuple):
    gates: np.ndarray    # (N, 3H) activated r, z, n
    q: np.ndarray        # (N, H) reset after: h_{t-1} U_n + b_hn; reset before: r * h_{t-1}
    h_prev: np.ndarray   # (N, H)


class GRUCache(NamedTuple):
    x: np.ndarray        # (T, N, D)
    W: np.ndarray        # (D, 3H)
    U: np.ndarray        # (H, 3H)
    gates: np.ndarray    # (T, N, 3H) activated r, z, n
    q: np.ndarray        # (T, N, H) reset after: h_{t-1} U_n + b_hn; reset before: r * h_{t-1}
    hs: np.ndarray       # (T+1, N, H) carried h
    mask: np.ndarray | None
    reverse: bool
    reset_after: bool


def gru_step_forward(a, h_prev, U, b_hn=None, reset_after=True, *, h=None, q=None, hU=None):
    """One step: h_t, GRUStepCache.

    a: (N, 3H) the input part x_t W + b; it is overwritten with the activated r, z, n, which become
    ``cache.gates``. h_prev: (N, H); U: (H, 3H); b_hn: (H,) with ``reset_after``. h, q (N, H) and
    hU ((N, 3H) reset after, (N, 2H) before): optional arrays to write into (the sequence loop
    passes slices of its (T, N, .) arrays, so that a step allocates nothing).
    """
    r, z, n = split(a, "GRU")                            # views: activated in place
    a_rz = block(a, "GRU", "rz")
    if reset_after:
        hU = np.matmul(h_prev, U, out=hU)
        a_rz += block(hU, "GRU", "rz")                   # a_rz = x_t W_rz + b_rz + h_{t-1} U_rz
        sigmoid(a_rz, out=a_rz)                          # r, z = sigmoid(a_r, a_z)
        q = np.add(block(hU, "GRU", "n"), b_hn, out=q)   # q = h_{t-1} U_n + b_hn
        n += r * q                                       # a_n = x_t W_n + b_n + r * q
    else:
        a_rz += np.matmul(h_prev, block(U, "GRU", "rz"), out=hU)   # a_rz = x_t W_rz + b_rz + h_{t-1} U_rz
        sigmoid(a_rz, out=a_rz)                          # r, z = sigmoid(a_r, a_z)
        q = np.multiply(r, h_prev, out=q)                # q = r * h_{t-1}
        n += q @ block(U, "GRU", "n")                    # a_n = x_t W_n + b_n + q U_n
    np.tanh(n, out=n)                                    # n = tanh(a_n)
    h = np.subtract(n, h_prev, out=h)                    # h_t = (1 - z) n + z h_{t-1}
    h *= z                                               #     = n - z (n - h_{t-1})
    np.subtract(n, h, out=h)
    return h, GRUStepCache(a, q, h_prev)


def gru_step_backward(dh, cache: GRUStepCache, U, reset_after=True, *, dax=None, dah=None):
    """One step back: dax (N, 3H), dah (N, 3H) or None, dh_{t-1}.

    dh: (N, H) the whole gradient at h_t (from step t+1 and from the output y_t).
    dax is dL/d(x_t W + b) (the caller takes dx_t = dax W^T, dW += x_t^T dax, db += sum dax);
    reset after, dah is dL/d(h_{t-1} U) (dU += h_{t-1}^T dah, db_hn += sum of its n block);
    reset before, dU += [h_{t-1}^T dax_rz, q^T dax_n]. dax, dah: optional arrays to write into.
    """
    gates, q, h_prev = cache
    r, z, n = split(gates, "GRU")
    rz = block(gates, "GRU", "rz")
    dax = np.empty_like(gates) if dax is None else dax
    da_r, da_z, da_n = split(dax, "GRU")
    da_rz = block(dax, "GRU", "rz")
    # h_t = (1 - z) n + z h_{t-1}
    dn = dh * (1 - z)
    np.multiply(dh, h_prev - n, out=da_z)                # dz
    dh_prev = dh * z
    # n = tanh(a_n)
    np.multiply(dn, 1 - n * n, out=da_n)                 # da_n
    if reset_after:
        dah = np.empty_like(gates) if dah is None else dah
        # a_n = x_t W_n + b_n + r * q
        np.multiply(da_n, q, out=da_r)                   # dr
        # r, z = sigmoid(a_r, a_z)
        da_rz *= rz * (1 - rz)
        block(dah, "GRU", "rz")[...] = da_rz
        np.multiply(da_n, r, out=block(dah, "GRU", "n"))   # dq
        # q = h_{t-1} U_n + b_hn and a_rz = ... + h_{t-1} U_rz
        dh_prev += dah @ U.T
    else:
        dah = None
        # a_n = x_t W_n + b_n + (r * h_{t-1}) U_n
        drh = da_n @ block(U, "GRU", "n").T
        np.multiply(drh, h_prev, out=da_r)               # dr
        dh_prev += drh * r
        # r, z = sigmoid(a_r, a_z); a_rz = ... + h_{t-1} U_rz
        da_rz *= rz * (1 - rz)
        dh_prev += da_rz @ block(U, "GRU", "rz").T
    return dax, dah, dh_prev


def gru_input_part(x, p):
    """a_x = x W + b: x (..., D) -> (..., 3H)."""
    a = x @ p["W"]
    a += p["b"]
    return a


def gru_forward(x, state0, p, mask=None, reverse=False, reset_after=True):
    """One GRU direction over x (T, N, D); returns y (T, N, H), (h_T,), cache."""
    (h0,) = state0
    W, U = p["W"], p["U"]
    T, N, D = x.shape
    H = U.shape[0]
    r_ = int(reverse)
    gates = gru_input_part(x.reshape(T * N, D), p).reshape(T, N, 3 * H)   # x_t W + b, all steps at once
    q = np.empty((T, N, H), x.dtype)
    hs = np.empty((T + 1, N, H), x.dtype)
    y = None if mask is None else np.empty((T, N, H), x.dtype)
    hs[T if r_ else 0] = h0
    hU = np.empty((N, 3 * H if reset_after else 2 * H), x.dtype)
    b_hn = p.get("b_hn")
    for t in time_steps(T, reverse):
        h_prev, h = hs[t + r_], hs[t + 1 - r_]
        gru_step_forward(gates[t], h_prev, U, b_hn, reset_after, h=h, q=q[t], hU=hU)
        if mask is not None:
            m = mask[t]
            np.multiply(h, m, out=y[t])                  # y_t = m_t * h_t
            carry_masked(h, h_prev, m)
    if y is None:
        y = hs[:T] if r_ else hs[1:]
    final = (hs[0],) if r_ else (hs[T],)
    return y, final, GRUCache(x, W, U, gates, q, hs, mask, bool(reverse), bool(reset_after))


def gru_backward(dy, dstateT, cache: GRUCache):
    """Gradients of one GRU direction: dx (T, N, D), (dh_0,), {"W", "U", "b"[, "b_hn"]}."""
    x, W, U, gates, q, hs, mask, reverse, reset_after = cache
    T, N, D = x.shape
    H = U.shape[0]
    r_ = int(reverse)
    dh = np.array(dstateT[0], dtype=x.dtype)
    dax = np.empty((T, N, 3 * H), x.dtype)                   # d(pre-activation) of the x_t W + b part
    dah = np.empty((T, N, 3 * H), x.dtype) if reset_after else None  # of the h_{t-1} U part
    for t in reversed(time_steps(T, reverse)):
        step = GRUStepCache(gates[t], q[t], hs[t + r_])
        dh_t = dh + dy[t]
        if mask is not None:
            m = mask[t]
            dh_t *= m                                    # y_t = m h_t and h carried by m
            dh_keep = dh * (1 - m)                       # h_t = ... + (1 - m) h_{t-1}
        _, _, dh = gru_step_backward(dh_t, step, U, reset_after, dax=dax[t],
                                     dah=None if dah is None else dah[t])
        if mask is not None:
            dh += dh_keep
    dax2 = dax.reshape(T * N, 3 * H)
    h_prev = (hs[1:] if r_ else hs[:T]).reshape(T * N, H)
    grads = {"W": x.reshape(T * N, D).T @ dax2, "b": dax2.sum(axis=0)}
    if reset_after:
        dah2 = dah.reshape(T * N, 3 * H)
        grads["U"] = h_prev.T @ dah2
        grads["b_hn"] = block(dah2, "GRU", "n").sum(axis=0)
    else:
        grads["U"] = np.concatenate([h_prev.T @ block(dax2, "GRU", "rz"),
                                     q.reshape(T * N, H).T @ block(dax2, "GRU", "n")], axis=1)
    dx = (dax2 @ W.T).reshape(T, N, D)
    return dx, (dh,), grads


class GRU(Recurrent):
    """Stacked, optionally bidirectional GRU. Parameters per layer and direction: W (D, 3H),
    U (H, 3H), b (3H,), and with ``reset_after`` (default) b_hn (H,); gate order (r, z, n).

    layer_norm: True: layer normalization of x W and h U (Ba et al. 2016), gains g_x, g_h (3H,); with
    reset_after only. gate_activation: the activation of the gates r, z (Keras ``recurrent_activation``):
    "sigmoid" (default), "hard_sigmoid" = clip(a / 6 + 1/2, 0, 1) (Keras 3's) or "hard_sigmoid_keras2" =
    clip(0.2 a + 1/2, 0, 1) (Keras 2's and tf-keras 2.x's). Regularizers, training mode only: zoneout=z_h, recurrent_dropout=p, weight_drop=p
    (rnnlab.layers.regularizers). The variants run the NumPy step functions of
    rnnlab.layers.gru_variants, where the equations and their backward are, except layer_norm, a
    hard-sigmoid gate_activation, zoneout, recurrent dropout and weight drop of a float32 reset-after
    GRU, alone or together (but layer_norm with recurrent dropout), which the compiled loop
    (rnnlab.engine) runs."""

    kind = "GRU"
    gates = 3
    state_names = ("h",)

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, reset_after=True,
                 dtype="float32", seed=None, direction="forward", layer_norm=False, zoneout=0.0,
                 recurrent_dropout=0.0, weight_drop=0.0, zero_output_for_mask=None, gate_activation="sigmoid"):
        for name, value in (("reset_after", reset_after), ("layer_norm", layer_norm)):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name}: expected True or False, got {value!r}")
        if layer_norm and not reset_after:
            raise ValueError("layer_norm: True needs reset_after=True (the reset-before candidate (r * h) U_n "
                             "has no separate recurrent product to normalize), got reset_after=False")
        self.reset_after, self.layer_norm = bool(reset_after), bool(layer_norm)
        self.gate_activation = check_gate_activation(gate_activation)
        super().__init__(input_size, hidden_size, num_layers, bidirectional, dtype, seed, direction,
                         zoneout, recurrent_dropout, weight_drop, zero_output_for_mask)

    @property
    def _plain_cell(self):
        """The options are the plain cell's (the regularizers aside)."""
        return not self.layer_norm and self.gate_activation == "sigmoid"

    @property
    def _plain(self):
        return self._plain_cell and super()._plain

    @property
    def compiled(self) -> bool:
        """The reset-after cell, with sigmoid or hard-sigmoid gates, layer_norm, zoneout, recurrent_dropout
        and weight_drop, runs compiled, alone or together but layer_norm with recurrent_dropout;
        reset_after=False and that pair run NumPy."""
        return self._compiled_options(self.reg.recurrent_dropout > 0)

    def _compiled_in_mode(self) -> bool:
        return self._compiled_options(self.training and self.reg.recurrent_dropout > 0)   # no dropout in eval

    def _compiled_options(self, recurrent_dropout: bool) -> bool:
        """Whether the cell and its options, with or without recurrent dropout, have a compiled loop."""
        return self.reset_after and not (self.layer_norm and recurrent_dropout)

    def config(self):
        config = {**super().config(), "reset_after": self.reset_after}
        if self.gate_activation != "sigmoid":
            config["gate_activation"] = self.gate_activation
        return {**config, "layer_norm": True} if self.layer_norm else config

    def _cell_step(self, x_t, state, p, out):
        if not self._plain:
            a_x, _ = gruv_input_part(x_t, p, self.layer_norm)
            out[0][...], _ = gruv_step_forward(a_x, state[0], p, self.reset_after, self.layer_norm,
                                               gate_activation=self.gate_activation)
            return
        a = gru_input_part(x_t, p)                                      # (N, 3H)
        gru_step_forward(a, state[0], p["U"], p.get("b_hn"), self.reset_after, h=out[0])

    def _init_direction(self, in_size, H, rng):
        bound = 1.0 / np.sqrt(H)
        p = {"W": uniform_init(rng, (in_size, 3 * H), bound, self.dtype),
             "U": uniform_init(rng, (H, 3 * H), bound, self.dtype),
             "b": uniform_init(rng, (3 * H,), bound, self.dtype)}
        if self.reset_after:
            p["b_hn"] = uniform_init(rng, (H,), bound, self.dtype)
        if self.layer_norm:                              # gains 1: LN starts as a plain normalization
            p.update(g_x=np.ones(3 * H, self.dtype), g_h=np.ones(3 * H, self.dtype))
        return p

    def _cell_forward(self, x, state0, p, mask, reverse, reg=None, out=None):
        if (not self._plain_cell and self.reset_after and engine.applies(x)
                and not (self.layer_norm and reg is not None and reg.rh is not None)):
            U = dropped_U(p["U"], reg)                  # hard-sigmoid gates, layer_norm in the compiled loop
            zh, rU, rh = (None, None, None) if reg is None else (reg.zh, reg.rU, reg.rh)
            h_rec = h_rec_array(x, self.hidden_size, reg)
            ln = {"g_x": p["g_x"], "g_h": p["g_h"]} if self.layer_norm else None
            ln_cache = {} if ln is not None else None
            y, gates, q, hs = engine.gru_forward(x, *state0, p["W"], U, p["b"], p["b_hn"], mask, reverse, zoneout=zh,
                                                 gate_activation=self.gate_activation, recurrent_dropout=rh,
                                                 h_rec=h_rec, layer_norm=ln, ln_cache=ln_cache)
            final = (hs[0],) if reverse else (hs[-1],)
            cell = GRUCache(x, p["W"], U, gates, q, hs, mask, bool(reverse), True)
            return y, final, GRUEngineCache(cell, zh, rU, self.gate_activation, rh, h_rec, ln, ln_cache)
        if self._plain_cell and self.reset_after and engine_regularizers(reg) and engine.applies(x):
            U = dropped_U(p["U"], reg)                   # the regularizers in the compiled loop
            h_rec = h_rec_array(x, self.hidden_size, reg)
            y, gates, q, hs = engine.gru_forward(x, *state0, p["W"], U, p["b"], p["b_hn"], mask, reverse,
                                                 zoneout=reg.zh, recurrent_dropout=reg.rh, h_rec=h_rec)
            final = (hs[0],) if reverse else (hs[-1],)
            cell = GRUCache(x, p["W"], U, gates, q, hs, mask, bool(reverse), True)
            return y, final, RegCache(cell, reg.zh, reg.rU, reg.rh, h_rec)
        if not self._plain:                              # variants: NumPy step functions
            return gruv_forward(x, state0, p, mask, reverse, self.reset_after, self.layer_norm, reg,
                                self.gate_activation)
        if self.reset_after and engine.applies(x):       # same loop, compiled (rnnlab.engine)
            y, gates, q, hs = engine.gru_forward(x, *state0, p["W"], p["U"], p["b"], p["b_hn"], mask, reverse)
            final = (hs[0],) if reverse else (hs[-1],)
            return y, final, GRUCache(x, p["W"], p["U"], gates, q, hs, mask, bool(reverse), True)
        return gru_forward(x, state0, p, mask, reverse, self.reset_after)

    def _cell_backward(self, dy, dstateT, cache, dx_out=None, dx_add=False):
        if isinstance(cache, GRUEngineCache):
            c = cache.cell
            dx, dh, grads = engine.gru_backward(dy, *dstateT, c.x, c.W, c.U, c.gates, c.q, c.hs, c.mask, c.reverse,
                                                dx_out=dx_out, dx_add=dx_add, zoneout=cache.zh,
                                                gate_activation=cache.gate_activation,
                                                recurrent_dropout=cache.rh, h_rec=cache.h_rec,
                                                layer_norm=cache.layer_norm, ln_cache=cache.ln_cache)
            if cache.rU is not None:
                grads["U"] = grads["U"] * cache.rU                         # dU = S * dU'
            return dx, (dh,), grads
        if isinstance(cache, RegCache):
            c = cache.cell
            dx, dh, grads = engine.gru_backward(dy, *dstateT, c.x, c.W, c.U, c.gates, c.q, c.hs, c.mask,
                                                c.reverse, dx_out=dx_out, dx_add=dx_add, zoneout=cache.zh,
                                                recurrent_dropout=cache.rh, h_rec=cache.h_rec)
            if cache.rU is not None:
                grads["U"] = grads["U"] * cache.rU                         # dU = S * dU'
            return dx, (dh,), grads
        if isinstance(cache, GRUVCache):
            return gruv_backward(dy, dstateT, cache)
        if cache.reset_after and engine.applies(cache.x):
            c = cache
            dx, dh, grads = engine.gru_backward(dy, *dstateT, c.x, c.W, c.U, c.gates, c.q, c.hs, c.mask,
                                                c.reverse, dx_out=dx_out, dx_add=dx_add)
            return dx, (dh,), grads
        return gru_backward(dy, dstateT, cache)
