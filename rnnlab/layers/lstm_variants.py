"""LSTM variants: recurrent projection, peepholes, cell and gate clipping, coupled input-forget gates.

The plain cell is rnnlab.layers.lstm; this module is the same cell with the options of
``LSTM(proj_size=, peepholes=, cell_clip=, gate_clip=, input_forget=)``, as one pair of step
functions. Shape letters as in rnnlab.layers.recurrent, and P: the width of h (proj_size, or H when
there is no projection). Gate order (i, f, o, g); U is (P, 4H) because it reads h_{t-1}.

Forward, one step (a_x = x_t W + b, with forget_bias on the f block), and beside each line the
backward it implies (dh, dc: the whole gradient at h_t and c_t):

    a     = a_x + h_{t-1} U                             dh_{t-1} = da U^T,  dU += h_{t-1}^T da
    a_i  += p_i * c_{t-1}, a_f += p_f * c_{t-1}  [1]    dc_{t-1} += da_i p_i + da_f p_f,
                                                        dp_i += sum da_i c_{t-1}, dp_f likewise
    a     = clip(a, -gate_clip, gate_clip)       [2]    da *= [|a| < gate_clip]   (i, f, g blocks)
    i     = sigmoid(a_i),  g = tanh(a_g)                da_i = di i (1 - i),  da_g = dg (1 - g^2)
    f     = sigmoid(a_f), or f = 1 - i           [3]    da_f = df f (1 - f), or di -= df
    c     = f * c_{t-1} + i * g                         di = dc g, dg = dc i, df = dc c_{t-1},
                                                        dc_{t-1} = dc f
    c_t   = clip(c, -cell_clip, cell_clip)       [4]    dc *= [|c_t| < cell_clip]
    a_o  += p_o * c_t                            [1]    dc += da_o p_o,  dp_o += sum da_o c_t
    a_o   = clip(a_o, -gate_clip, gate_clip)     [2]    da_o *= [|a_o| < gate_clip]
    o     = sigmoid(a_o)                                da_o = do o (1 - o)
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

The derivative of a clip at its bound is taken as 0 (the clipped side), as autograd does for
``clamp`` away from the bound.

Code: ``lstmv_step_forward`` / ``lstmv_step_backward`` are one step; ``lstmv_forward`` /
``lstmv_backward`` are the sequence loop, with the ragged-batch carry of rnnlab.layers.recurrent.
Weight gradients are summed over all steps after the loop, from the cached per-step arrays.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..activations import sigmoid
from .recurrent import carry_masked, time_steps


class LSTMOptions(NamedTuple):
    """The variant options of one LSTM layer (None / False: off)."""
    forget_bias: float = 0.0
    peepholes: bool = False
    cell_clip: float | None = None
    gate_clip: float | None = None
    input_forget: bool = False


class LSTMVStepCache(NamedTuple):
    gates: np.ndarray            # (N, 4H) activated i, f, o, g (f = 1 - i with input_forget)
    c_prev: np.ndarray           # (N, H) c_{t-1}
    c: np.ndarray                # (N, H) c_t (clipped with cell_clip)
    tanh_c: np.ndarray           # (N, H) tanh(c_t)
    m: np.ndarray                # (N, H) o * tanh(c_t), the projection's input (h_t itself without one)
    gate_keep: np.ndarray | None   # (N, 4H) bool, [|a| < gate_clip], None without gate_clip
    cell_keep: np.ndarray | None   # (N, H) bool, [|c| < cell_clip], None without cell_clip


def lstmv_input_part(x, p, forget_bias=0.0):
    """a_x = x W + b, with forget_bias added to the f block: x (..., D) -> (..., 4H)."""
    H = p["W"].shape[1] // 4
    a = x @ p["W"]
    a += p["b"]
    if forget_bias:
        a[..., H:2 * H] += forget_bias
    return a


def lstmv_step_forward(a_x, h_prev, c_prev, p: dict, opt: LSTMOptions):
    """One step: (h_t, c_t), LSTMVStepCache.

    a_x: (N, 4H) the input part x_t W + b (see ``lstmv_input_part``), not modified; h_prev (N, P),
    c_prev (N, H); p: the direction's parameters, W_hr present when projected, p with peepholes.
    """
    U = p["U"]
    H = U.shape[1] // 4
    a = a_x + h_prev @ U                                          # a = a_x + h_{t-1} U
    if opt.peepholes:
        a[:, :2 * H] += np.tile(c_prev, 2) * p["p"][:2 * H]       # a_i, a_f += p_i, p_f * c_{t-1}
    gate_keep = None
    if opt.gate_clip is not None:                                 # a_i, a_f, a_g = clip(...); a_o below
        gate_keep = np.abs(a) < opt.gate_clip
        for block in (a[:, :2 * H], a[:, 3 * H:]):
            np.clip(block, -opt.gate_clip, opt.gate_clip, out=block)
    gates = np.empty_like(a)
    i = sigmoid(a[:, :H], out=gates[:, :H])                       # i = sigmoid(a_i)
    if opt.input_forget:
        f = np.subtract(1, i, out=gates[:, H:2 * H])              # f = 1 - i
    else:
        f = sigmoid(a[:, H:2 * H], out=gates[:, H:2 * H])         # f = sigmoid(a_f)
    g = np.tanh(a[:, 3 * H:], out=gates[:, 3 * H:])               # g = tanh(a_g)
    c = f * c_prev + i * g                                        # c = f * c_{t-1} + i * g
    cell_keep = None
    if opt.cell_clip is not None:
        cell_keep = np.abs(c) < opt.cell_clip
        np.clip(c, -opt.cell_clip, opt.cell_clip, out=c)          # c_t = clip(c)
    a_o = a[:, 2 * H:3 * H]
    if opt.peepholes:
        a_o += p["p"][2 * H:] * c                                 # a_o += p_o * c_t
    if opt.gate_clip is not None:
        gate_keep[:, 2 * H:3 * H] = np.abs(a_o) < opt.gate_clip
        np.clip(a_o, -opt.gate_clip, opt.gate_clip, out=a_o)      # a_o = clip(a_o)
    o = sigmoid(a_o, out=gates[:, 2 * H:3 * H])                   # o = sigmoid(a_o)
    tanh_c = np.tanh(c)
    m = o * tanh_c                                                # m_t = o * tanh(c_t)
    h = m @ p["W_hr"] if "W_hr" in p else m                       # h_t = m_t W_hr
    return (h, c), LSTMVStepCache(gates, c_prev, c, tanh_c, m, gate_keep, cell_keep)


def lstmv_step_backward(dh, dc, cache: LSTMVStepCache, p: dict, opt: LSTMOptions):
    """One step back: da (N, 4H), dm (N, H), dh_{t-1} (N, P), dc_{t-1} (N, H).

    dh (N, P), dc (N, H): the whole gradient at h_t and c_t. da is dL/da for a = a_x + h_{t-1} U
    (dx_t = da W^T, dW += x_t^T da, dU += h_{t-1}^T da, db += sum da); dm is dL/dm_t (dW_hr +=
    m_t^T dh). The peephole gradients are dp_i = sum da_i c_{t-1}, dp_f = sum da_f c_{t-1},
    dp_o = sum da_o c_t, which the caller sums over steps.
    """
    gates, c_prev, c, tanh_c, m, gate_keep, cell_keep = cache
    U = p["U"]
    H = U.shape[1] // 4
    i, f, o, g = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    da = np.empty_like(gates)
    # h_t = m_t W_hr
    dm = dh @ p["W_hr"].T if "W_hr" in p else dh
    # m_t = o * tanh(c_t)
    do = dm * tanh_c
    dc = dc + dm * o * (1 - tanh_c * tanh_c)
    # o = sigmoid(clip(a_o + p_o * c_t))
    da_o = np.multiply(do, o * (1 - o), out=da[:, 2 * H:3 * H])
    if gate_keep is not None:
        da_o *= gate_keep[:, 2 * H:3 * H]
    if opt.peepholes:
        dc += da_o * p["p"][2 * H:]
    # c_t = clip(c)
    if cell_keep is not None:
        dc *= cell_keep
    # c = f * c_{t-1} + i * g
    di = dc * g
    df = dc * c_prev
    dg = dc * i
    dc_prev = dc * f
    # f = 1 - i, or f = sigmoid(a_f); i = sigmoid(a_i); g = tanh(a_g)
    if opt.input_forget:
        di -= df
        da[:, H:2 * H] = 0
    else:
        np.multiply(df, f * (1 - f), out=da[:, H:2 * H])
    np.multiply(di, i * (1 - i), out=da[:, :H])
    np.multiply(dg, 1 - g * g, out=da[:, 3 * H:])
    # a = clip(a)
    if gate_keep is not None:
        da[:, :2 * H] *= gate_keep[:, :2 * H]
        da[:, 3 * H:] *= gate_keep[:, 3 * H:]
    # a_i, a_f += p_i, p_f * c_{t-1}
    if opt.peepholes:
        dc_prev += da[:, :H] * p["p"][:H] + da[:, H:2 * H] * p["p"][H:2 * H]
    # a = a_x + h_{t-1} U
    dh_prev = da @ U.T
    return da, dm, dh_prev, dc_prev


class LSTMVCache(NamedTuple):
    x: np.ndarray                # (T, N, D)
    p: dict                      # the direction's parameters
    U: np.ndarray                # (P, 4H), for the layer's cache check
    steps: list                  # LSTMVStepCache per t (time order)
    hs: np.ndarray               # (T+1, N, P) carried h, initial state at the start of processing
    cs: np.ndarray               # (T+1, N, H) carried c, same layout
    mask: np.ndarray | None      # (T, N, 1)
    reverse: bool
    opt: LSTMOptions


def lstmv_forward(x, state0, p, mask=None, reverse=False, opt: LSTMOptions = LSTMOptions()):
    """One direction over x (T, N, D); returns y (T, N, P), (h_T, c_T), cache."""
    h0, c0 = state0
    T, N, D = x.shape
    P, H = p["U"].shape[0], p["U"].shape[1] // 4
    r = int(reverse)                 # step t reads state slot t + r and writes slot t + 1 - r
    a_x = lstmv_input_part(x.reshape(T * N, D), p, opt.forget_bias).reshape(T, N, 4 * H)
    hs = np.empty((T + 1, N, P), x.dtype)
    cs = np.empty((T + 1, N, H), x.dtype)
    y = np.empty((T, N, P), x.dtype)
    hs[T if r else 0] = h0
    cs[T if r else 0] = c0
    steps = [None] * T
    for t in time_steps(T, reverse):
        h_prev, c_prev = hs[t + r], cs[t + r]
        (h_new, c_new), steps[t] = lstmv_step_forward(a_x[t], h_prev, c_prev, p, opt)
        h, c = hs[t + 1 - r], cs[t + 1 - r]
        h[...], c[...] = h_new, c_new                             # copies: the step cache keeps its own
        if mask is not None:
            np.multiply(h, mask[t], out=y[t])                     # y_t = m_t * h_t
            carry_masked(h, h_prev, mask[t])                      # s_t = m s_new + (1 - m) s_{t-1}
            carry_masked(c, c_prev, mask[t])
        else:
            y[t] = h
    final = (hs[0], cs[0]) if r else (hs[T], cs[T])
    return y, final, LSTMVCache(x, p, p["U"], steps, hs, cs, mask, bool(reverse), opt)


def lstmv_backward(dy, dstateT, cache: LSTMVCache):
    """Gradients of one direction: dx (T, N, D), (dh_0, dc_0), {"W", "U", "b"[, "p"][, "W_hr"]}."""
    x, p, U, steps, hs, cs, mask, reverse, opt = cache
    T, N, D = x.shape
    P, H = U.shape[0], U.shape[1] // 4
    r = int(reverse)
    dh = np.array(dstateT[0], dtype=x.dtype)
    dc = np.array(dstateT[1], dtype=x.dtype)
    da_all = np.empty((T, N, 4 * H), x.dtype)
    dh_all = np.empty((T, N, P), x.dtype)                         # dL/dh_t of the new h, for dW_hr
    for t in reversed(time_steps(T, reverse)):
        dh_t = dh + dy[t]
        dc_t = dc
        if mask is not None:
            m = mask[t]
            dh_t *= m                                             # y_t = m h_t and h carried by m
            dc_t = dc * m
            dh_keep, dc_keep = dh * (1 - m), dc * (1 - m)         # s_t = ... + (1 - m) s_{t-1}
        dh_all[t] = dh_t
        da_all[t], _, dh, dc = lstmv_step_backward(dh_t, dc_t, steps[t], p, opt)
        if mask is not None:
            dh += dh_keep
            dc += dc_keep
    da2 = da_all.reshape(T * N, 4 * H)
    h_prev = (hs[1:] if r else hs[:T]).reshape(T * N, P)
    grads = {"W": x.reshape(T * N, D).T @ da2, "U": h_prev.T @ da2, "b": da2.sum(axis=0)}
    if opt.peepholes:
        c_prev = np.stack([s.c_prev for s in steps])              # (T, N, H)
        c_new = np.stack([s.c for s in steps])
        grads["p"] = np.concatenate([(da_all[:, :, :H] * c_prev).sum(axis=(0, 1)),
                                     (da_all[:, :, H:2 * H] * c_prev).sum(axis=(0, 1)),
                                     (da_all[:, :, 2 * H:3 * H] * c_new).sum(axis=(0, 1))])
    if "W_hr" in p:
        m_all = np.stack([s.m for s in steps]).reshape(T * N, H)
        grads["W_hr"] = m_all.T @ dh_all.reshape(T * N, P)
    dx = (da2 @ p["W"].T).reshape(T, N, D)
    return dx, (dh, dc), grads
