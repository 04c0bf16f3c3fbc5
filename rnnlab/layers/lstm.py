"""Long short-term memory (Hochreiter & Schmidhuber 1997; forget gate of Gers et al. 2000).

For one direction of one layer, with a = x_t W + h_{t-1} U + b split into four H-wide blocks in the
order (i, f, o, g):

    i_t = sigmoid(a_i)                     input gate
    f_t = sigmoid(a_f + forget_bias)       forget gate (forget_bias as in TF's BasicLSTMCell)
    o_t = sigmoid(a_o)                     output gate
    g_t = tanh(a_g)                        candidate state (the note's c~_t, with W_c, b_c)
    c_t = f_t * c_{t-1} + i_t * g_t        cell state: long-term memory
    h_t = o_t * tanh(c_t)                  output: working memory

The note's eight parameter groups W_f b_f W_i b_i W_o b_o W_c b_c are the column blocks of the fused
W (D, 4H) | U (H, 4H) and b (4H,): the note's W_f acting on [h_{t-1}, x_t] is [U_f; W_f].
Gate order (i, f, o, g) puts the three sigmoids side by side; converters to PyTorch (i, f, g, o),
Keras (i, f, c, o), TF1 (i, j, f, o) and ONNX (i, o, f, c) live in ``rnnlab.interop``.

Backward, from the cached activated gates (dh and dc arrive from step t+1 and from the output):

    do   = dh * tanh(c_t)
    dc   = dc + dh * o * (1 - tanh(c_t)^2)
    di   = dc * g,   df = dc * c_{t-1},   dg = dc * i,   dc_{t-1} = dc * f
    da   = [di i(1-i), df f(1-f), do o(1-o), dg (1-g^2)]
    dh_{t-1} = da U^T
and after the loop, summed over all steps in one product each: dW = x^T da, dU = h_{t-1}^T da,
db = sum da, dx = da W^T.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import engine
from ..activations import sigmoid
from .recurrent import Recurrent, carry_masked, time_steps, uniform_init


class LSTMCache(NamedTuple):
    x: np.ndarray        # (T, N, D) input
    W: np.ndarray        # (D, 4H)
    U: np.ndarray        # (H, 4H)
    gates: np.ndarray    # (T, N, 4H) activated i, f, o, g
    hs: np.ndarray       # (T+1, N, H) carried h, in time order, initial state at the start of processing
    cs: np.ndarray       # (T+1, N, H) carried c, same layout
    tanh_c: np.ndarray   # (T, N, H) tanh(c_t) before masking
    mask: np.ndarray | None  # (T, N, 1)
    reverse: bool


def lstm_forward(x, state0, p, mask=None, reverse=False, forget_bias=0.0):
    """One LSTM direction over a time-major sequence x (T, N, D); returns y (T, N, H), (h_T, c_T), cache."""
    h0, c0 = state0
    W, U, b = p["W"], p["U"], p["b"]
    T, N, D = x.shape
    H = U.shape[0]
    r = int(reverse)                 # step t reads state slot t + r and writes slot t + 1 - r
    gates = (x.reshape(T * N, D) @ W).reshape(T, N, 4 * H)
    gates += b
    if forget_bias:
        gates[:, :, H:2 * H] += forget_bias
    hs = np.empty((T + 1, N, H), x.dtype)
    cs = np.empty((T + 1, N, H), x.dtype)
    tanh_c = np.empty((T, N, H), x.dtype)
    y = None if mask is None else np.empty((T, N, H), x.dtype)
    hs[T if r else 0] = h0
    cs[T if r else 0] = c0
    hU = np.empty((N, 4 * H), x.dtype)
    for t in time_steps(T, reverse):
        h_prev, c_prev, h, c = hs[t + r], cs[t + r], hs[t + 1 - r], cs[t + 1 - r]
        a = gates[t]
        a += np.matmul(h_prev, U, out=hU)                     # a = x_t W + b + h_{t-1} U
        sigmoid(a[:, :3 * H], out=a[:, :3 * H])               # i, f, o
        np.tanh(a[:, 3 * H:], out=a[:, 3 * H:])               # g
        i, f, o, g = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        np.multiply(f, c_prev, out=c)                         # c_t = f * c_{t-1} + i * g
        c += i * g
        np.tanh(c, out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=h)                      # h_t = o * tanh(c_t)
        if mask is not None:
            m = mask[t]
            np.multiply(h, m, out=y[t])                       # y_t = m_t * h_t
            carry_masked(h, h_prev, m)
            carry_masked(c, c_prev, m)
    if y is None:
        y = hs[:T] if r else hs[1:]
    final = (hs[0], cs[0]) if r else (hs[T], cs[T])
    return y, final, LSTMCache(x, W, U, gates, hs, cs, tanh_c, mask, bool(reverse))


def lstm_backward(dy, dstateT, cache: LSTMCache):
    """Gradients of one LSTM direction: dx (T, N, D), (dh_0, dc_0), {"W", "U", "b"}."""
    x, W, U, gates, hs, cs, tanh_c, mask, reverse = cache
    T, N, D = x.shape
    H = U.shape[0]
    r = int(reverse)
    dh = np.array(dstateT[0], dtype=x.dtype)
    dc = np.array(dstateT[1], dtype=x.dtype)
    da_all = np.empty((T, N, 4 * H), x.dtype)
    for t in reversed(time_steps(T, reverse)):
        i, f, o, g = (gates[t, :, k * H:(k + 1) * H] for k in range(4))
        tc = tanh_c[t]
        c_prev = cs[t + r]
        dh_new = dh + dy[t]
        dc_new = dc
        if mask is not None:
            m = mask[t]
            dh_new *= m                                       # y_t = m h_t and h carried by m
            dc_new = dc * m
            dh_keep, dc_keep = dh * (1 - m), dc * (1 - m)     # s_t = ... + (1 - m) s_{t-1}
        da = da_all[t]
        # h_t = o * tanh(c_t)
        np.multiply(dh_new, tc, out=da[:, 2 * H:3 * H])       # do
        dct = dc_new + dh_new * o * (1 - tc * tc)
        # c_t = f * c_{t-1} + i * g
        np.multiply(dct, g, out=da[:, :H])                    # di
        np.multiply(dct, c_prev, out=da[:, H:2 * H])          # df
        np.multiply(dct, i, out=da[:, 3 * H:])                # dg
        s = gates[t, :, :3 * H]
        da[:, :3 * H] *= s * (1 - s)                          # sigmoid' = s (1 - s)
        da[:, 3 * H:] *= 1 - g * g                            # tanh' = 1 - g^2
        dh = da @ U.T                                         # a = ... + h_{t-1} U
        dc = dct * f
        if mask is not None:
            dh += dh_keep
            dc += dc_keep
    da2 = da_all.reshape(T * N, 4 * H)
    h_prev = (hs[1:] if r else hs[:T]).reshape(T * N, H)
    grads = {"W": x.reshape(T * N, D).T @ da2,
             "U": h_prev.T @ da2,
             "b": da2.sum(axis=0)}
    dx = (da2 @ W.T).reshape(T, N, D)
    return dx, (dh, dc), grads


class LSTM(Recurrent):
    """Stacked, optionally bidirectional LSTM. Parameters per layer and direction: W (D, 4H),
    U (H, 4H), b (4H,), gate order (i, f, o, g). ``forget_bias`` is added to the forget gate's
    pre-activation at run time (TF BasicLSTMCell); it is not a parameter."""

    kind = "LSTM"
    gates = 4
    state_names = ("h", "c")

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, forget_bias=0.0,
                 dtype="float32", seed=None):
        try:
            self.forget_bias = float(forget_bias)
        except (TypeError, ValueError) as err:
            raise ValueError(f"forget_bias: expected a number, got {forget_bias!r}") from err
        if not np.isfinite(self.forget_bias):
            raise ValueError(f"forget_bias: expected a finite number, got {forget_bias!r}")
        super().__init__(input_size, hidden_size, num_layers, bidirectional, dtype, seed)

    def config(self):
        return {**super().config(), "forget_bias": self.forget_bias}

    def _init_direction(self, in_size, H, rng):
        bound = 1.0 / np.sqrt(H)
        return {"W": uniform_init(rng, (in_size, 4 * H), bound, self.dtype),
                "U": uniform_init(rng, (H, 4 * H), bound, self.dtype),
                "b": uniform_init(rng, (4 * H,), bound, self.dtype)}

    def _cell_forward(self, x, state0, p, mask, reverse):
        if engine.applies(x):                            # same loop, compiled (rnnlab.engine)
            b = p["b"].copy()
            b[self.hidden_size:2 * self.hidden_size] += np.float32(self.forget_bias)
            y, gates, hs, cs, tanh_c = engine.lstm_forward(x, *state0, p["W"], p["U"], b, mask, reverse)
            final = (hs[0], cs[0]) if reverse else (hs[-1], cs[-1])
            return y, final, LSTMCache(x, p["W"], p["U"], gates, hs, cs, tanh_c, mask, bool(reverse))
        return lstm_forward(x, state0, p, mask, reverse, self.forget_bias)

    def _cell_backward(self, dy, dstateT, cache):
        if engine.applies(cache.x):
            c = cache
            dx, dh, dc, grads = engine.lstm_backward(dy, *dstateT, c.x, c.W, c.U, c.gates, c.hs, c.cs,
                                                     c.tanh_c, c.mask, c.reverse)
            return dx, (dh, dc), grads
        return lstm_backward(dy, dstateT, cache)
