"""LSTM variants: recurrent projection, peepholes, cell and gate clipping, coupled input-forget gates,
layer normalization, a hard-sigmoid gate activation.

The plain cell is rnnlab.layers.lstm; this module is the same cell with the options of
``LSTM(proj_size=, peepholes=, cell_clip=, gate_clip=, input_forget=, layer_norm=, gate_activation=)``, as one pair of step
functions. Shape letters as in rnnlab.layers.recurrent, and P: the width of h (proj_size, or H when
there is no projection). Gate order (i, f, o, g) (rnnlab.layers.gates); U is (P, 4H) because it
reads h_{t-1}.

Forward, one step (a_x = x_t W + b, with forget_bias on the f block), and beside each line the
backward it implies (dh, dc: the whole gradient at h_t and c_t):

    a     = a_x + h_{t-1} U                             dh_{t-1} = da U^T,  dU += h_{t-1}^T da
    a_i  += p_i * c_{t-1}, a_f += p_f * c_{t-1}  [1]    dc_{t-1} += da_i p_i + da_f p_f,
                                                        dp_i += sum da_i c_{t-1}, dp_f likewise
    a     = clip(a, -gate_clip, gate_clip)       [2]    da *= [|a| < gate_clip]   (i, f, g blocks)
    i     = sigma(a_i),  g = tanh(a_g)          [7]    da_i = di sigma'(i),  da_g = dg (1 - g^2)
    f     = sigma(a_f), or f = 1 - i             [3]    da_f = df sigma'(f), or di -= df
    c     = f * c_{t-1} + i * g                         di = dc g, dg = dc i, df = dc c_{t-1},
                                                        dc_{t-1} = dc f
    c_t   = clip(c, -cell_clip, cell_clip)       [4]    dc *= [|c_t| < cell_clip]
    a_o  += p_o * c_t                            [1]    dc += da_o p_o,  dp_o += sum da_o c_t
    a_o   = clip(a_o, -gate_clip, gate_clip)     [2]    da_o *= [|a_o| < gate_clip]
    o     = sigma(a_o)                                  da_o = do sigma'(o)
    m_t   = o * tanh(c_t)                               do = dm tanh(c_t),
                                                        dc += dm o (1 - tanh(c_t)^2)
    h_t   = m_t W_hr                             [5]    dm = dh W_hr^T,  dW_hr += m_t^T dh

Sources:
[1] Peepholes: Gers, Schraudolph & Schmidhuber 2002, "Learning precise timing with LSTM recurrent
    networks", eqs. (1)-(3) (the input and forget gates read c_{t-1}, the output gate reads c_t);
    TF1 ``LSTMCell(use_peepholes=True)``, ONNX LSTM input ``P``. Parameter ``p`` (3H,), blocks
    (p_i, p_f, p_o): diagonal (elementwise) weights.
[2] ``gate_clip``: ONNX LSTM attribute ``clip``, "applied to the input of activations": every gate
    pre-activation, the candidate's included, is clipped to [-gate_clip, gate_clip].
[3] ``input_forget`` (coupled input-forget gate, CIFG): Greff et al. 2017, "LSTM: A search space
    odyssey", variant CIFG; ONNX attribute ``input_forget``. The f block of W, U and b is then not
    read (its gradient is zero); it is kept so that the layout, and every converter, stays the same.
[4] ``cell_clip``: TF1 ``LSTMCell(cell_clip=x)``: the cell state itself is clipped, before the output
    gate's peephole and tanh read it.
[5] Projection: Sak, Senior & Beaufays 2014, "Long short-term memory recurrent neural network
    architectures for large scale acoustic modeling", eq. (7) (r_t = W_rm m_t); PyTorch
    ``nn.LSTM(proj_size=P)`` (``weight_hr`` is W_hr^T), TF1 ``LSTMCell(num_proj=P)``. Parameter
    ``W_hr`` (H, P); the state h, the output and U's rows have width P, c keeps width H.
[6] Ba, Kiros & Hinton 2016, "Layer normalization", eqs. (15)-(16) (LN-LSTM: separate normalizations of
    the input and recurrent products, and of c_t before the output tanh); haste's LayerNormLSTM
    (lmnt-com/haste, docs of ``haste_pytorch.LayerNormLSTM``) computes the same, with gains ``gamma``
    (2, 4H) for the two products and ``gamma_h``, ``beta_h`` (H,) for the cell.

[7] ``gate_activation``: sigma, the activation of the three gates i, f, o (Keras ``recurrent_activation``),
    with its derivative sigma' written from the activated gate (rnnlab.activations.GATE_ACTIVATIONS):
    "sigmoid" (the default; sigma' = s (1 - s)), "hard_sigmoid" = clip(a / 6 + 1/2, 0, 1) (Keras 3,
    PyTorch ``nn.Hardsigmoid``) and "hard_sigmoid_keras2" = clip(0.2 a + 1/2, 0, 1) (Keras 2 and tf-keras
    2.x, ONNX ``HardSigmoid`` with its default alpha and beta); a hard sigmoid's sigma' is its slope
    where 0 < s < 1 and 0 elsewhere, the kinks included.

Layer normalization (``layer_norm=True``) [6]: with LN(z) = (z - mean(z)) / sqrt(var(z) + eps) over
the feature axis of each row (eps = 1e-5), the pre-activation and the cell read by the output become

    a     = LN(x_t W) * g_x + b + LN(h_{t-1} U) * g_h     (replaces the first line above)
    m_t   = o * tanh(LN(c_t) * g_c + b_c)                  (replaces m_t = o * tanh(c_t))

with gains g_x, g_h (4H,), g_c (H,) (initialised to 1) and the bias b_c (H,) (0); b is the bias of
the two pre-activation normalizations. The recurrence c_t and the peephole read the unnormalized c_t.
Backward of y = LN(z) * g + beta, from the cached normalized n = LN(z) and s = sqrt(var(z) + eps):

    dg = sum dy n,  dbeta = sum dy,  dn = dy g,  dz = (dn - mean(dn) - n mean(dn n)) / s

so dU += h_{t-1}^T dz_h with dz_h from da * g_h, and dW, dx from dz_x, from da * g_x.

The derivative of a clip at its bound is taken as 0 (the clipped side), as autograd does for
``clamp`` away from the bound.

Regularizers (``zoneout``, ``recurrent_dropout``, ``weight_drop``; equations, backward and sources in
rnnlab.layers.regularizers) enter here as one direction's RegMasks ``reg``: the step reads
h~_{t-1} = h_{t-1} * s_r in its recurrent product (with layer_norm: LN(h~_{t-1} U')), the loop passes
U' = U * S and zones out h_t and c_t after each step (h^_t = o * tanh(c^_t) reads the new c^_t).

Code: ``lstmv_step_forward`` / ``lstmv_step_backward`` are one step; ``lstmv_forward`` /
``lstmv_backward`` are the sequence loop, with the ragged-batch carry of rnnlab.layers.recurrent.
Weight gradients are summed over all steps after the loop, from the cached per-step arrays.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..activations import GATE_ACTIVATIONS
from .gates import block, split
from .recurrent import carry_masked, time_steps
from .regularizers import RegMasks, dropped_U, zoneout


class LSTMOptions(NamedTuple):
    """The variant options of one LSTM layer (None / False: off)."""
    forget_bias: float = 0.0
    peepholes: bool = False
    cell_clip: float | None = None
    gate_clip: float | None = None
    input_forget: bool = False
    layer_norm: bool = False
    gate_activation: str = "sigmoid"    # a key of rnnlab.activations.GATE_ACTIVATIONS


LN_EPS = 1e-5


def layer_norm_forward(z):
    """n, s = layer_norm_forward(z): n = (z - mean) / s, s = sqrt(var + LN_EPS), over the last axis;
    s has a trailing axis of 1."""
    mu = z.mean(axis=-1, keepdims=True)
    zc = z - mu
    s = np.sqrt((zc * zc).mean(axis=-1, keepdims=True) + LN_EPS)
    return zc / s, s


def layer_norm_backward(dn, n, s):
    """dz for n = LN(z), from the cached n and s: (dn - mean(dn) - n mean(dn n)) / s."""
    return (dn - dn.mean(axis=-1, keepdims=True) - n * (dn * n).mean(axis=-1, keepdims=True)) / s


class LSTMVStepCache(NamedTuple):
    gates: np.ndarray            # (N, 4H) activated i, f, o, g (f = 1 - i with input_forget)
    c_prev: np.ndarray           # (N, H) c_{t-1}
    c: np.ndarray                # (N, H) c_t (clipped with cell_clip)
    tanh_c: np.ndarray           # (N, H) tanh(c_t)
    m: np.ndarray                # (N, H) o * tanh(c_t), the projection's input (h_t itself without one)
    gate_keep: np.ndarray | None   # (N, 4H) bool, [|a| < gate_clip], None without gate_clip
    cell_keep: np.ndarray | None   # (N, H) bool, [|c| < cell_clip], None without cell_clip
    ln_h: tuple | None = None      # layer_norm: (n, s) of h_{t-1} U
    ln_c: tuple | None = None      # layer_norm: (n, s) of c_t


def lstmv_input_part(x, p, forget_bias=0.0, layer_norm=False):
    """a_x, ln_x: a_x = x W + b (with layer_norm LN(x W) * g_x + b), forget_bias added to the f block:
    x (..., D) -> (..., 4H); ln_x = (n, s) of LN(x W) with layer_norm, else None."""
    a = x @ p["W"]
    ln_x = None
    if layer_norm:
        ln_x = layer_norm_forward(a)
        a = ln_x[0] * p["g_x"]                                        # LN(x W) * g_x
    a += p["b"]
    if forget_bias:
        block(a, "LSTM", "f")[...] += forget_bias
    return a, ln_x


def lstmv_step_forward(a_x, h_prev, c_prev, p: dict, opt: LSTMOptions, rh=None):
    """One step: (h_t, c_t), LSTMVStepCache.

    a_x: (N, 4H) the input part x_t W + b (see ``lstmv_input_part``), not modified; h_prev (N, P),
    c_prev (N, H); p: the direction's parameters, W_hr present when projected, p with peepholes.
    rh: recurrent dropout's scaled mask s_r (N, P) or None: the product reads h~_{t-1} = h_{t-1} * s_r.
    """
    U = p["U"]
    ln_h = ln_c = None
    h_rec = h_prev if rh is None else h_prev * rh                # h~_{t-1} = h_{t-1} * s_r
    if opt.layer_norm:
        ln_h = layer_norm_forward(h_rec @ U)
        a = a_x + ln_h[0] * p["g_h"]                              # a = a_x + LN(h_{t-1} U) * g_h
    else:
        a = a_x + h_rec @ U                                       # a = a_x + h~_{t-1} U
    a_i, a_f, a_o, a_g = split(a, "LSTM")
    a_if = block(a, "LSTM", "if")
    if opt.peepholes:
        p_if, p_o = block(p["p"], "peepholes", "if"), block(p["p"], "peepholes", "o")
        a_if += np.tile(c_prev, 2) * p_if                         # a_i, a_f += p_i, p_f * c_{t-1}
    gate_keep = None
    if opt.gate_clip is not None:                                 # a_i, a_f, a_g = clip(...); a_o below
        gate_keep = np.abs(a) < opt.gate_clip
        for a_clip in (a_if, a_g):
            np.clip(a_clip, -opt.gate_clip, opt.gate_clip, out=a_clip)
    sigma = GATE_ACTIVATIONS[opt.gate_activation][0]
    gates = np.empty_like(a)
    i, f, o, g = split(gates, "LSTM")
    sigma(a_i, out=i)                                             # i = sigma(a_i)
    if opt.input_forget:
        np.subtract(1, i, out=f)                                  # f = 1 - i
    else:
        sigma(a_f, out=f)                                         # f = sigma(a_f)
    np.tanh(a_g, out=g)                                           # g = tanh(a_g)
    c = f * c_prev + i * g                                        # c = f * c_{t-1} + i * g
    cell_keep = None
    if opt.cell_clip is not None:
        cell_keep = np.abs(c) < opt.cell_clip
        np.clip(c, -opt.cell_clip, opt.cell_clip, out=c)          # c_t = clip(c)
    if opt.peepholes:
        a_o += p_o * c                                            # a_o += p_o * c_t
    if opt.gate_clip is not None:
        block(gate_keep, "LSTM", "o")[...] = np.abs(a_o) < opt.gate_clip
        np.clip(a_o, -opt.gate_clip, opt.gate_clip, out=a_o)      # a_o = clip(a_o)
    sigma(a_o, out=o)                                             # o = sigma(a_o)
    if opt.layer_norm:
        ln_c = layer_norm_forward(c)
        tanh_c = np.tanh(ln_c[0] * p["g_c"] + p["b_c"])          # tanh(LN(c_t) * g_c + b_c)
    else:
        tanh_c = np.tanh(c)
    m = o * tanh_c                                                # m_t = o * tanh(c_t)
    h = m @ p["W_hr"] if "W_hr" in p else m                       # h_t = m_t W_hr
    return (h, c), LSTMVStepCache(gates, c_prev, c, tanh_c, m, gate_keep, cell_keep, ln_h, ln_c)


def lstmv_step_backward(dh, dc, cache: LSTMVStepCache, p: dict, opt: LSTMOptions):
    """One step back: da (N, 4H), dah (N, 4H), dm (N, H), dn_c (N, H) or None, dh_{t-1} (N, P), dc_{t-1} (N, H).

    dh (N, P), dc (N, H): the whole gradient at h_t and c_t. da is dL/da for a = a_x + h_{t-1} U
    (dx_t = da W^T, dW += x_t^T da, dU += h_{t-1}^T da, db += sum da); dm is dL/dm_t (dW_hr +=
    m_t^T dh); dah is dL/d(h_{t-1} U) (dU += h_{t-1}^T dah; da itself without layer_norm); dn_c is
    dL/d(LN(c_t) * g_c + b_c) with layer_norm (dg_c += sum dn_c n_c, db_c += sum dn_c). The peephole gradients are dp_i = sum da_i c_{t-1}, dp_f = sum da_f c_{t-1},
    dp_o = sum da_o c_t, which the caller sums over steps.
    """
    gates, c_prev, c, tanh_c, m, gate_keep, cell_keep, ln_h, ln_c = cache
    U = p["U"]
    i, f, o, g = split(gates, "LSTM")
    dsigma = GATE_ACTIVATIONS[opt.gate_activation][1]           # sigma' from the activated gate
    da = np.empty_like(gates)
    da_i, da_f, da_o, da_g = split(da, "LSTM")
    # h_t = m_t W_hr
    dm = dh @ p["W_hr"].T if "W_hr" in p else dh
    # m_t = o * tanh(c_t)
    do = dm * tanh_c
    dn_c = None
    if opt.layer_norm:                                            # tanh(LN(c_t) * g_c + b_c)
        dn_c = dm * o * (1 - tanh_c * tanh_c)
        dc = dc + layer_norm_backward(dn_c * p["g_c"], *ln_c)
    else:
        dc = dc + dm * o * (1 - tanh_c * tanh_c)
    # o = sigma(clip(a_o + p_o * c_t))
    np.multiply(do, dsigma(o), out=da_o)
    if gate_keep is not None:
        da_o *= block(gate_keep, "LSTM", "o")
    if opt.peepholes:
        p_i, p_f, p_o = split(p["p"], "peepholes")
        dc += da_o * p_o
    # c_t = clip(c)
    if cell_keep is not None:
        dc *= cell_keep
    # c = f * c_{t-1} + i * g
    di = dc * g
    df = dc * c_prev
    dg = dc * i
    dc_prev = dc * f
    # f = 1 - i, or f = sigma(a_f); i = sigma(a_i); g = tanh(a_g)
    if opt.input_forget:
        di -= df
        da_f[...] = 0
    else:
        np.multiply(df, dsigma(f), out=da_f)
    np.multiply(di, dsigma(i), out=da_i)
    np.multiply(dg, 1 - g * g, out=da_g)
    # a = clip(a)
    if gate_keep is not None:
        block(da, "LSTM", "if")[...] *= block(gate_keep, "LSTM", "if")
        da_g *= block(gate_keep, "LSTM", "g")
    # a_i, a_f += p_i, p_f * c_{t-1}
    if opt.peepholes:
        dc_prev += da_i * p_i + da_f * p_f
    # a = a_x + h_{t-1} U, or a_x + LN(h_{t-1} U) * g_h
    dah = layer_norm_backward(da * p["g_h"], *ln_h) if opt.layer_norm else da
    dh_prev = dah @ U.T
    return da, dah, dm, dn_c, dh_prev, dc_prev


class LSTMVCache(NamedTuple):
    x: np.ndarray                # (T, N, D)
    p: dict                      # the direction's parameters
    U: np.ndarray                # (P, 4H), for the layer's cache check
    steps: list                  # LSTMVStepCache per t (time order)
    ln_x: tuple | None           # layer_norm: (n, s) of x W, (T, N, 4H) and (T, N, 1)
    hs: np.ndarray               # (T+1, N, P) carried h, initial state at the start of processing
    cs: np.ndarray               # (T+1, N, H) carried c, same layout
    mask: np.ndarray | None      # (T, N, 1)
    reverse: bool
    opt: LSTMOptions
    reg: RegMasks | None = None  # the regularizers' masks (rnnlab.layers.regularizers)


def lstmv_forward(x, state0, p, mask=None, reverse=False, opt: LSTMOptions = LSTMOptions(), reg: RegMasks | None = None):
    """One direction over x (T, N, D); returns y (T, N, P), (h_T, c_T), cache. reg: RegMasks or None."""
    h0, c0 = state0
    p = {**p, "U": dropped_U(p["U"], reg)}                        # U' = U * S (weight drop)
    rh, zh, zc = (None, None, None) if reg is None else (reg.rh, reg.zh, reg.zc)
    T, N, D = x.shape
    P, H = p["U"].shape[0], p["U"].shape[1] // 4
    r = int(reverse)                 # step t reads state slot t + r and writes slot t + 1 - r
    a_x, ln_x = lstmv_input_part(x, p, opt.forget_bias, opt.layer_norm)     # (T, N, 4H), all steps at once
    hs = np.empty((T + 1, N, P), x.dtype)
    cs = np.empty((T + 1, N, H), x.dtype)
    y = np.empty((T, N, P), x.dtype)
    hs[T if r else 0] = h0
    cs[T if r else 0] = c0
    steps = [None] * T
    for t in time_steps(T, reverse):
        h_prev, c_prev = hs[t + r], cs[t + r]
        (h_new, c_new), steps[t] = lstmv_step_forward(a_x[t], h_prev, c_prev, p, opt, rh)
        h, c = hs[t + 1 - r], cs[t + 1 - r]
        h[...] = zoneout(h_new, h_prev, zh)                       # s_t = d s_{t-1} + (1 - d) s^_t
        c[...] = zoneout(c_new, c_prev, zc)                       # copies: the step cache keeps its own
        if mask is not None:
            np.multiply(h, mask[t], out=y[t])                     # y_t = m_t * h_t
            carry_masked(h, h_prev, mask[t])                      # s_t = m s_new + (1 - m) s_{t-1}
            carry_masked(c, c_prev, mask[t])
        else:
            y[t] = h
    final = (hs[0], cs[0]) if r else (hs[T], cs[T])
    return y, final, LSTMVCache(x, p, p["U"], steps, ln_x, hs, cs, mask, bool(reverse), opt, reg)


def lstmv_backward(dy, dstateT, cache: LSTMVCache):
    """Gradients of one direction: dx (T, N, D), (dh_0, dc_0), {"W", "U", "b"[, "p"][, "W_hr"]
    [, "g_x", "g_h", "g_c", "b_c"]}."""
    x, p, U, steps, ln_x, hs, cs, mask, reverse, opt, reg = cache
    zh, zc, rh, rU = (None,) * 4 if reg is None else reg
    T, N, D = x.shape
    P, H = U.shape[0], U.shape[1] // 4
    r = int(reverse)
    dh = np.array(dstateT[0], dtype=x.dtype)
    dc = np.array(dstateT[1], dtype=x.dtype)
    da_all = np.empty((T, N, 4 * H), x.dtype)
    dah_all = np.empty((T, N, 4 * H), x.dtype) if opt.layer_norm else da_all
    dnc_all = np.empty((T, N, H), x.dtype) if opt.layer_norm else None
    dh_all = np.empty((T, N, P), x.dtype)                         # dL/dh_t of the new h, for dW_hr
    for t in reversed(time_steps(T, reverse)):
        dh_t = dh + dy[t]
        dc_t = dc
        if mask is not None:
            m = mask[t]
            dh_t *= m                                             # y_t = m h_t and h carried by m
            dc_t = dc * m
            dh_keep, dc_keep = dh * (1 - m), dc * (1 - m)         # s_t = ... + (1 - m) s_{t-1}
        # zoneout s_t = d s_{t-1} + (1 - d) s^_t: ds^_t = ds_t (1 - d), ds_{t-1} += ds_t d
        dh_zone = None if zh is None else dh_t * zh
        dc_zone = None if zc is None else dc_t * zc
        if zh is not None:
            dh_t = dh_t * (1 - zh)
        if zc is not None:
            dc_t = dc_t * (1 - zc)
        dh_all[t] = dh_t
        da_all[t], dah, _, dn_c, dh, dc = lstmv_step_backward(dh_t, dc_t, steps[t], p, opt)
        if rh is not None:
            dh *= rh                                              # h~_{t-1} = h_{t-1} * s_r
        if dh_zone is not None:
            dh += dh_zone
        if dc_zone is not None:
            dc += dc_zone
        if opt.layer_norm:
            dah_all[t], dnc_all[t] = dah, dn_c
        if mask is not None:
            dh += dh_keep
            dc += dc_keep
    da2 = da_all.reshape(T * N, 4 * H)
    h_prev = hs[1:] if r else hs[:T]
    h_prev = (h_prev if rh is None else h_prev * rh).reshape(T * N, P)     # h~_{t-1}
    grads = {"b": da2.sum(axis=0), "U": h_prev.T @ dah_all.reshape(T * N, 4 * H)}
    if rU is not None:
        grads["U"] *= rU                                          # U' = U * S: dU = S * dU'
    dz_x = da_all                                                 # dL/d(x W)
    if opt.layer_norm:
        # a_x = LN(x W) * g_x + b;  a = ... + LN(h_{t-1} U) * g_h;  tanh(LN(c_t) * g_c + b_c)
        grads["g_x"] = (da_all * ln_x[0]).sum(axis=(0, 1))
        dz_x = layer_norm_backward(da_all * p["g_x"], *ln_x)
        grads["g_h"] = sum((da_all[t] * steps[t].ln_h[0]).sum(axis=0) for t in range(T))
        grads["g_c"] = sum((dnc_all[t] * steps[t].ln_c[0]).sum(axis=0) for t in range(T))
        grads["b_c"] = dnc_all.sum(axis=(0, 1))
    dz2 = dz_x.reshape(T * N, 4 * H)
    grads["W"] = x.reshape(T * N, D).T @ dz2
    if opt.peepholes:
        c_prev = np.stack([s.c_prev for s in steps])              # (T, N, H)
        c_new = np.stack([s.c for s in steps])
        da_i, da_f, da_o, _ = split(da_all, "LSTM")               # a_i, a_f += p_i, p_f * c_{t-1}; a_o += p_o * c_t
        grads["p"] = np.concatenate([(da_i * c_prev).sum(axis=(0, 1)), (da_f * c_prev).sum(axis=(0, 1)),
                                     (da_o * c_new).sum(axis=(0, 1))])
    if "W_hr" in p:
        m_all = np.stack([s.m for s in steps]).reshape(T * N, H)
        grads["W_hr"] = m_all.T @ dh_all.reshape(T * N, P)
    dx = (dz2 @ p["W"].T).reshape(T, N, D)
    return dx, (dh, dc), grads
