"""GRU variants: layer normalization, a hard-sigmoid gate activation and the regularizers (zoneout,
recurrent dropout, weight drop).

The plain cell is rnnlab.layers.gru; this module is the same cell with ``GRU(layer_norm=True)``,
``GRU(gate_activation=...)`` and
the masks of rnnlab.layers.regularizers, as one pair of step functions. Gate order (r, z, n)
(rnnlab.layers.gates), U (H, 3H).

Forward, one step, reset after (the default), and beside each line the backward it implies (dh: the
whole gradient at h^_t):

    h~    = h_{t-1} * s_r                   [R]     dh_{t-1} += dh~ * s_r
    u     = h~ U'          (U' = U * S)     [R]     dh~ = du U'^T,  dU += S * (h~^T du)
    a_h   = LN(u) * g_h,   or a_h = u       [L]     dg_h += sum da_h n_u,  du = LN'(da_h * g_h)
    r, z  = sigma(a_x_rz + a_h_rz)          [G]     da_rz = [dr sigma'(r), dz sigma'(z)],  da_h_rz = da_rz
    q     = a_h_n + b_hn                            da_h_n = dq,  db_hn += sum dq
    n     = tanh(a_x_n + r * q)                     da_n = dn (1 - n^2),  dr = da_n q,  dq = da_n r
    h^_t  = (1 - z) * n + z * h_{t-1}               dn = dh (1 - z),  dz = dh (h_{t-1} - n),
                                                    dh_{t-1} += dh z
    h_t   = d * h_{t-1} + (1 - d) * h^_t    [R]     dh^_t = dh_t (1 - d),  dh_{t-1} += dh_t d

with a_x = x_t W + b, or with layer_norm a_x = LN(x_t W) * g_x + b (dg_x = sum da_x n_x, d(xW) =
LN'(da_x * g_x)). The interpolation reads h_{t-1} itself, not h~ (as Keras' GRU with
``recurrent_dropout``). Reset before (``reset_after=False``, no layer_norm):

    r, z  = sigma(a_x_rz + h~ U'_rz);  n = tanh(a_x_n + (r * h~) U'_n)
    d(r h~) = da_n U'_n^T,  dr = d(r h~) * h~,  dh~ = d(r h~) * r + da_rz U'_rz^T,
    dU'_rz += h~^T da_rz,  dU'_n += (r * h~)^T da_n

[L] Layer normalization (Ba, Kiros & Hinton 2016, "Layer normalization", sec. 3.1 and the LN-GRU of
    their experiments; haste's LayerNormGRU, lmnt-com/haste): the input and recurrent products are
    normalized separately over all 3H units of a row, LN(z) = (z - mean z) / sqrt(var z + 1e-5), with
    gains g_x, g_h (3H,) (initialised to 1); b and b_hn are the biases. LN' is the backward of
    rnnlab.layers.lstm_variants.layer_norm_backward: dz = (dn - mean dn - n mean(dn n)) / s.
    Only with reset_after=True (the reset-before candidate's product depends on r).
[R] rnnlab.layers.regularizers (equations, sources, masks).
[G] ``gate_activation``: sigma, the activation of the gates r and z (Keras ``recurrent_activation``), and
    sigma' from the activated gate (rnnlab.activations.GATE_ACTIVATIONS): "sigmoid" (the default; s (1 - s)),
    "hard_sigmoid" = clip(a / 6 + 1/2, 0, 1) (Keras 3's) or "hard_sigmoid_keras2" = clip(0.2 a + 1/2, 0, 1)
    (Keras 2's and tf-keras 2.x's); a hard sigmoid's sigma' is its slope where 0 < s < 1, 0 elsewhere
    (the kinks included).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..activations import GATE_ACTIVATIONS
from .gates import block, split
from .lstm_variants import layer_norm_backward, layer_norm_forward
from .recurrent import carry_masked, time_steps
from .regularizers import RegMasks, dropped_U, dropped_h, zoneout


class GRUVStepCache(NamedTuple):
    gates: np.ndarray        # (N, 3H) r, z, n
    q: np.ndarray            # (N, H) reset after: a_h_n + b_hn; reset before: r * h~
    h_prev: np.ndarray       # (N, H) h_{t-1}
    h_rec: np.ndarray        # (N, H) h~_{t-1}
    ln_h: tuple | None       # layer_norm: (n, s) of h~ U'


def gruv_input_part(x, p, layer_norm=False):
    """a_x, ln_x: x W + b, or LN(x W) * g_x + b with ``ln_x`` = (n, s) of LN(x W)."""
    a = x @ p["W"]
    ln_x = None
    if layer_norm:
        ln_x = layer_norm_forward(a)
        a = ln_x[0] * p["g_x"]
    a += p["b"]
    return a, ln_x


def gruv_step_forward(a_x, h_prev, p, reset_after=True, layer_norm=False, rh=None, gate_activation="sigmoid"):
    """One step: h^_t (N, H), GRUVStepCache. a_x (N, 3H) is not modified; p["U"] is U' (weight drop
    applied by the caller); rh: recurrent dropout's s_r (N, H) or None; gate_activation: sigma [G]."""
    U = p["U"]
    sigma = GATE_ACTIVATIONS[gate_activation][0]
    h_rec = h_prev if rh is None else h_prev * rh                # h~ = h_{t-1} * s_r
    gates = np.empty_like(a_x)
    r, z, n = split(gates, "GRU")
    rz = block(gates, "GRU", "rz")
    a_x_rz, a_x_n = block(a_x, "GRU", "rz"), block(a_x, "GRU", "n")
    ln_h = None
    if reset_after:
        u = h_rec @ U                                            # u = h~ U'
        if layer_norm:
            ln_h = layer_norm_forward(u)
            u = ln_h[0] * p["g_h"]                               # a_h = LN(u) * g_h
        sigma(a_x_rz + block(u, "GRU", "rz"), out=rz)           # r, z = sigma(a_x_rz + a_h_rz)
        q = block(u, "GRU", "n") + p["b_hn"]                     # q = a_h_n + b_hn
        np.tanh(a_x_n + r * q, out=n)                            # n = tanh(a_x_n + r * q)
    else:
        sigma(a_x_rz + h_rec @ block(U, "GRU", "rz"), out=rz)    # r, z = sigma(a_x_rz + h~ U'_rz)
        q = r * h_rec                                            # q = r * h~
        np.tanh(a_x_n + q @ block(U, "GRU", "n"), out=n)         # n = tanh(a_x_n + q U'_n)
    h = n + z * (h_prev - n)                                     # h^_t = (1 - z) n + z h_{t-1}
    return h, GRUVStepCache(gates, q, h_prev, h_rec, ln_h)


def gruv_step_backward(dh, cache: GRUVStepCache, p, reset_after=True, layer_norm=False, gate_activation="sigmoid"):
    """One step back: dax (N, 3H) = dL/da_x, du (N, 3H) or None = dL/d(h~ U') (reset after),
    dq (N, H) (db_hn = sum dq, reset after), dh~ (N, H), and the part dh z of dh_{t-1}."""
    gates, q, h_prev, h_rec, ln_h = cache
    U = p["U"]
    dsigma = GATE_ACTIVATIONS[gate_activation][1]               # sigma' from the activated gate
    r, z, n = split(gates, "GRU")
    dax = np.empty_like(gates)
    da_r, da_z, da_n = split(dax, "GRU")
    # h^_t = (1 - z) n + z h_{t-1}
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    dh_direct = dh * z
    # n = tanh(...)
    np.multiply(dn, 1 - n * n, out=da_n)
    du = dq = None
    if reset_after:
        dr = da_n * q                                            # n = tanh(a_x_n + r * q)
        dq = da_n * r
        da_r[...] = dr * dsigma(r)                               # r, z = sigma(...)
        da_z[...] = dz * dsigma(z)
        dah = np.concatenate([block(dax, "GRU", "rz"), dq], axis=1)   # dL/da_h
        du = layer_norm_backward(dah * p["g_h"], *ln_h) if layer_norm else dah
        dh_rec = du @ U.T
    else:
        drh = da_n @ block(U, "GRU", "n").T                      # n = tanh(a_x_n + (r * h~) U'_n)
        da_r[...] = drh * h_rec * dsigma(r)                      # r, z = sigma(...)
        da_z[...] = dz * dsigma(z)
        dh_rec = drh * r + block(dax, "GRU", "rz") @ block(U, "GRU", "rz").T
    return dax, du, dq, dh_rec, dh_direct


class GRUVCache(NamedTuple):
    x: np.ndarray            # (T, N, D)
    p: dict                  # the direction's parameters, U' in "U"
    U: np.ndarray            # (H, 3H) U', for the layer's cache check
    steps: list              # GRUVStepCache per t
    ln_x: tuple | None
    hs: np.ndarray           # (T+1, N, H) carried h
    mask: np.ndarray | None
    reverse: bool
    reset_after: bool
    layer_norm: bool
    reg: RegMasks | None
    gate_activation: str = "sigmoid"


def gruv_forward(x, state0, p, mask=None, reverse=False, reset_after=True, layer_norm=False,
                 reg: RegMasks | None = None, gate_activation="sigmoid"):
    """One GRU direction over x (T, N, D) with layer_norm, the masks ``reg`` and/or a gate activation
    [G]; returns y (T, N, H), (h_T,), GRUVCache."""
    (h0,) = state0
    p = {**p, "U": dropped_U(p["U"], reg)}                       # U' = U * S
    T, N, D = x.shape
    H = p["U"].shape[0]
    r_ = int(reverse)
    rh, zh = (None, None) if reg is None else (reg.rh, reg.zh)
    a_x, ln_x = gruv_input_part(x, p, layer_norm)               # (T, N, 3H)
    hs = np.empty((T + 1, N, H), x.dtype)
    hs[T if r_ else 0] = h0
    y = np.empty((T, N, H), x.dtype)
    steps = [None] * T
    for t in time_steps(T, reverse):
        h_prev, h = hs[t + r_], hs[t + 1 - r_]
        h_new, steps[t] = gruv_step_forward(a_x[t], h_prev, p, reset_after, layer_norm, rh, gate_activation)
        h[...] = zoneout(h_new, h_prev, zh)                      # h_t = d h_{t-1} + (1 - d) h^_t
        if mask is not None:
            np.multiply(h, mask[t], out=y[t])
            carry_masked(h, h_prev, mask[t])
        else:
            y[t] = h
    final = (hs[0],) if r_ else (hs[T],)
    return y, final, GRUVCache(x, p, p["U"], steps, ln_x, hs, mask, bool(reverse), bool(reset_after),
                               bool(layer_norm), reg, gate_activation)


def gruv_backward(dy, dstateT, cache: GRUVCache):
    """Gradients of ``gruv_forward``: dx, (dh_0,), {"W", "U", "b"[, "b_hn"][, "g_x", "g_h"]}."""
    x, p, U, steps, ln_x, hs, mask, reverse, reset_after, layer_norm, reg, gate_activation = cache
    T, N, D = x.shape
    H = U.shape[0]
    zh, _, rh, rU = (None,) * 4 if reg is None else reg
    dax_all = np.empty((T, N, 3 * H), x.dtype)
    du_all = np.empty((T, N, 3 * H), x.dtype) if reset_after else None
    dah_all = np.empty((T, N, 3 * H), x.dtype) if reset_after else None   # dL/da_h = [da_rz, dq]
    if reset_after:
        dax_rz = block(dax_all, "GRU", "rz")
        dah_rz, dah_n = block(dah_all, "GRU", "rz"), block(dah_all, "GRU", "n")
    dh = np.array(dstateT[0], dtype=x.dtype)
    for t in reversed(time_steps(T, reverse)):
        dh_t = dh + dy[t]
        keep = 0
        if mask is not None:
            dh_t *= mask[t]
            keep = dh * (1 - mask[t])                            # h_t = ... + (1 - m) h_{t-1}
        zone = 0 if zh is None else dh_t * zh                    # zoneout: dh_{t-1} += dh_t d
        if zh is not None:
            dh_t = dh_t * (1 - zh)
        dax_all[t], du, dq, dh_rec, dh_direct = gruv_step_backward(dh_t, steps[t], p, reset_after, layer_norm,
                                                                                 gate_activation)
        if reset_after:
            du_all[t] = du
            dah_rz[t], dah_n[t] = dax_rz[t], dq
        dh = dropped_h(dh_rec, reg) + dh_direct + zone + keep    # dh~ * s_r + dh z + ...
    h_rec = np.stack([s.h_rec for s in steps]).reshape(T * N, H)    # h~_{t-1}, time order
    grads = {}
    dax2 = dax_all.reshape(T * N, 3 * H)
    grads["b"] = dax2.sum(axis=0)
    dzx = dax2
    if layer_norm:
        grads["g_x"] = (dax_all * ln_x[0]).sum(axis=(0, 1))
        dzx = layer_norm_backward(dax_all * p["g_x"], *ln_x).reshape(T * N, 3 * H)
        grads["g_h"] = sum((dah_all[t] * steps[t].ln_h[0]).sum(axis=0) for t in range(T))
    grads["W"] = x.reshape(T * N, D).T @ dzx
    if reset_after:
        grads["U"] = h_rec.T @ du_all.reshape(T * N, 3 * H)
        grads["b_hn"] = dah_n.sum(axis=(0, 1))                   # q = a_h_n + b_hn
    else:
        q = np.stack([s.q for s in steps]).reshape(T * N, H)
        grads["U"] = np.concatenate([h_rec.T @ block(dax2, "GRU", "rz"), q.T @ block(dax2, "GRU", "n")], axis=1)
    if rU is not None:
        grads["U"] *= rU                                         # dU = S * dU'
    dx = (dzx @ p["W"].T).reshape(T, N, D)
    return dx, (dh,), grads

