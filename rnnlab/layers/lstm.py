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

Code: ``lstm_step_forward`` / ``lstm_step_backward`` are one time step, one line per equation above;
``lstm_forward`` / ``lstm_backward`` are the sequence loop that calls them. The input product x_t W
is taken for all steps at once before the loop, and the weight gradients after it, so a step
receives a_x = x_t W + b and returns da.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import kernels
from ..activations import sigmoid
from ..checks import check_real
from .recurrent import Recurrent, carry_masked, time_steps, uniform_init


class LSTMStepCache(NamedTuple):
    gates: np.ndarray    # (N, 4H) activated i, f, o, g
    c_prev: np.ndarray   # (N, H) c_{t-1}
    tanh_c: np.ndarray   # (N, H) tanh(c_t)


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


def lstm_step_forward(a, h_prev, c_prev, U, *, h=None, c=None, tanh_c=None, hU=None):
    """One step: (h_t, c_t), LSTMStepCache.

    a: (N, 4H) the input part x_t W + b (forget_bias added to the f block); it is overwritten with
    the activated gates, which become ``cache.gates``. h_prev, c_prev: (N, H); U: (H, 4H).
    h, c, tanh_c (N, H) and hU (N, 4H): optional arrays to write into (the sequence loop passes
    slices of its (T, N, .) arrays, so that a step allocates nothing).
    """
    H = U.shape[0]
    a += np.matmul(h_prev, U, out=hU)                    # a = x_t W + b + h_{t-1} U
    sigmoid(a[:, :3 * H], out=a[:, :3 * H])              # i, f, o = sigmoid(a_i, a_f, a_o)
    np.tanh(a[:, 3 * H:], out=a[:, 3 * H:])              # g = tanh(a_g)
    i, f, o, g = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    c = np.multiply(f, c_prev, out=c)                    # c_t = f * c_{t-1} + i * g
    c += i * g
    tanh_c = np.tanh(c, out=tanh_c)
    h = np.multiply(o, tanh_c, out=h)                    # h_t = o * tanh(c_t)
    return (h, c), LSTMStepCache(a, c_prev, tanh_c)


def lstm_step_backward(dh, dc, cache: LSTMStepCache, U, *, da=None):
    """One step back: da (N, 4H), dh_{t-1}, dc_{t-1}.

    dh, dc: (N, H) the whole gradient at h_t and c_t (from step t+1 and from the output y_t).
    da is dL/da for a = x_t W + b + h_{t-1} U, from which the caller takes dx_t = da W^T,
    dW += x_t^T da, dU += h_{t-1}^T da, db += sum da. da: optional (N, 4H) array to write into.
    """
    gates, c_prev, tanh_c = cache
    H = U.shape[0]
    i, f, o, g = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    da = np.empty_like(gates) if da is None else da
    # h_t = o * tanh(c_t)
    np.multiply(dh, tanh_c, out=da[:, 2 * H:3 * H])      # do
    dc = dc + dh * o * (1 - tanh_c * tanh_c)
    # c_t = f * c_{t-1} + i * g
    np.multiply(dc, g, out=da[:, :H])                    # di
    np.multiply(dc, c_prev, out=da[:, H:2 * H])          # df
    np.multiply(dc, i, out=da[:, 3 * H:])                # dg
    # i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_g)
    s = gates[:, :3 * H]
    da[:, :3 * H] *= s * (1 - s)                         # sigmoid' = s (1 - s)
    da[:, 3 * H:] *= 1 - g * g                           # tanh' = 1 - g^2
    # a = x_t W + b + h_{t-1} U
    dh_prev = da @ U.T
    dc_prev = dc * f
    return da, dh_prev, dc_prev


def lstm_input_part(x, p, forget_bias=0.0):
    """a_x = x W + b, with forget_bias added to the f block: x (..., D) -> (..., 4H)."""
    H = p["U"].shape[0]
    a = x @ p["W"]
    a += p["b"]
    if forget_bias:
        a[..., H:2 * H] += forget_bias
    return a


def lstm_forward(x, state0, p, mask=None, reverse=False, forget_bias=0.0):
    """One LSTM direction over a time-major sequence x (T, N, D); returns y (T, N, H), (h_T, c_T), cache."""
    h0, c0 = state0
    W, U = p["W"], p["U"]
    T, N, D = x.shape
    H = U.shape[0]
    r = int(reverse)                 # step t reads state slot t + r and writes slot t + 1 - r
    gates = lstm_input_part(x.reshape(T * N, D), p, forget_bias).reshape(T, N, 4 * H)
    hs = np.empty((T + 1, N, H), x.dtype)
    cs = np.empty((T + 1, N, H), x.dtype)
    tanh_c = np.empty((T, N, H), x.dtype)
    y = None if mask is None else np.empty((T, N, H), x.dtype)
    hs[T if r else 0] = h0
    cs[T if r else 0] = c0
    hU = np.empty((N, 4 * H), x.dtype)
    for t in time_steps(T, reverse):
        h_prev, c_prev, h, c = hs[t + r], cs[t + r], hs[t + 1 - r], cs[t + 1 - r]
        lstm_step_forward(gates[t], h_prev, c_prev, U, h=h, c=c, tanh_c=tanh_c[t], hU=hU)
        if mask is not None:
            m = mask[t]
            np.multiply(h, m, out=y[t])                  # y_t = m_t * h_t
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
        step = LSTMStepCache(gates[t], cs[t + r], tanh_c[t])
        dh_t = dh + dy[t]
        dc_t = dc
        if mask is not None:
            m = mask[t]
            dh_t *= m                                    # y_t = m h_t and h carried by m
            dc_t = dc * m
            dh_keep, dc_keep = dh * (1 - m), dc * (1 - m)   # s_t = ... + (1 - m) s_{t-1}
        _, dh, dc = lstm_step_backward(dh_t, dc_t, step, U, da=da_all[t])
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
                 dtype="float32", seed=None, direction="forward"):
        self.forget_bias = check_real("forget_bias", forget_bias)
        super().__init__(input_size, hidden_size, num_layers, bidirectional, dtype, seed, direction)

    def config(self):
        return {**super().config(), "forget_bias": self.forget_bias}

    def _cell_step(self, x_t, state, p, out):
        a = lstm_input_part(x_t, p, self.forget_bias)                   # (N, 4H)
        lstm_step_forward(a, *state, p["U"], h=out[0], c=out[1])

    def _init_direction(self, in_size, H, rng):
        bound = 1.0 / np.sqrt(H)
        return {"W": uniform_init(rng, (in_size, 4 * H), bound, self.dtype),
                "U": uniform_init(rng, (H, 4 * H), bound, self.dtype),
                "b": uniform_init(rng, (4 * H,), bound, self.dtype)}

    def _cell_forward(self, x, state0, p, mask, reverse):
        if kernels.applies(x, mask):                     # same math, fused steps (rnnlab.kernels)
            from ..kernels import fused
            return fused.lstm_forward(x, state0, p, reverse, self.forget_bias)
        return lstm_forward(x, state0, p, mask, reverse, self.forget_bias)

    def _cell_backward(self, dy, dstateT, cache):
        if kernels.applies(cache.x, cache.mask):
            from ..kernels import fused
            return fused.lstm_backward(dy, dstateT, cache)
        return lstm_backward(dy, dstateT, cache)
