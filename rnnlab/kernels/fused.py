"""Fused LSTM and GRU steps (numba), and the time loops that call them.

Each ``*_step_*`` kernel is the elementwise part of one time step of ``rnnlab/layers/lstm.py`` or
``gru.py``, written as one loop per batch row so that each value is read once and the loop
vectorizes (AVX2/AVX-512). The loops ``lstm_forward`` ... ``gru_backward`` mirror the reference
functions line for line and return the same caches, so a cache from either path feeds either
backward. Shapes and equations: see the reference modules; the gate orders are the same,
LSTM (i, f, o, g), GRU (r, z, n).

tanh is a rational approximation (``tanh32``), accurate to about 3e-7 absolute in float32, because
numba's math.tanh is a scalar libm call per element (about 10x slower than NumPy's vectorized
tanh) and it would keep the loops from vectorizing. sigmoid(z) = 0.5 + 0.5 tanh(z / 2), as in
``rnnlab.activations``.

Compile options: ``fastmath`` lets LLVM reorder and contract float operations (fused multiply-add),
``error_model="numpy"`` drops the division-by-zero check that otherwise stops vectorization,
``cache=True`` keeps the compiled code on disk between processes, ``nogil`` lets the two directions
of a bidirectional layer run their kernels at the same time (``threads.py``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..layers.gru import GRUCache
from ..layers.lstm import LSTMCache
from ..layers.recurrent import time_steps

_jit = dict(fastmath=True, error_model="numpy", cache=True, nogil=True)
_CLAMP = np.float32(7.90531110763549805)     # tanh32(+-_CLAMP) rounds to +-1 in float32
# Odd numerator and even denominator of a [13/6] rational minimax fit of tanh on [-_CLAMP, _CLAMP]
# (the coefficients of Eigen's float ptanh).
_A1, _A3, _A5 = np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04), np.float32(1.48572235717979e-05)
_A7, _A9 = np.float32(5.12229709037114e-08), np.float32(-8.60467152213735e-11)
_A11, _A13 = np.float32(2.00018790482477e-13), np.float32(-2.76076847742355e-16)
_B0, _B2 = np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03)
_B4, _B6 = np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06)
_HALF, _ONE = np.float32(0.5), np.float32(1.0)


@njit(inline="always", **_jit)
def tanh32(z):
    """tanh(z) = p(z) / q(z) on the clamped z, with p odd of degree 13 and q even of degree 6."""
    z = min(max(z, -_CLAMP), _CLAMP)
    z2 = z * z
    p = ((((((_A13 * z2 + _A11) * z2 + _A9) * z2 + _A7) * z2 + _A5) * z2 + _A3) * z2 + _A1) * z
    q = ((_B6 * z2 + _B4) * z2 + _B2) * z2 + _B0
    return p / q


@njit(inline="always", **_jit)
def sigmoid32(z):
    return _HALF + _HALF * tanh32(_HALF * z)


@njit(**_jit)
def tanh_array(z, out):
    """out = tanh32(z) elementwise on 1-d arrays (for the accuracy test)."""
    for k in range(z.shape[0]):
        out[k] = tanh32(z[k])


# ----- LSTM ------------------------------------------------------------------------------------
@njit(**_jit)
def lstm_step_forward(a, hU, b, c_prev, c, tanh_c, h):
    """One step, in place on a = x_t W (N, 4H), with b the bias (forget_bias included):
    a <- activated (i, f, o, g); writes c, tanh_c, h."""
    N, H = c_prev.shape
    for n in range(N):
        for j in range(3 * H):                                  # i, f, o = sigmoid(x W + h U + b)
            a[n, j] = sigmoid32(a[n, j] + hU[n, j] + b[j])
        for j in range(3 * H, 4 * H):                           # g = tanh(x W + h U + b)
            a[n, j] = tanh32(a[n, j] + hU[n, j] + b[j])
        for j in range(H):
            cj = a[n, H + j] * c_prev[n, j] + a[n, j] * a[n, 3 * H + j]   # c = f c_{t-1} + i g
            c[n, j] = cj
            tc = tanh32(cj)
            tanh_c[n, j] = tc
            h[n, j] = a[n, 2 * H + j] * tc                     # h = o tanh(c)


@njit(**_jit)
def lstm_step_backward(dh, dy, dc, gates, tanh_c, c_prev, da):
    """One step back: da (N, 4H) from dh + dy, dc and the cached activations; dc <- dc_{t-1}."""
    N, H = dc.shape
    for n in range(N):
        for j in range(H):
            i, f = gates[n, j], gates[n, H + j]
            o, g = gates[n, 2 * H + j], gates[n, 3 * H + j]
            tc = tanh_c[n, j]
            dhj = dh[n, j] + dy[n, j]
            # h_t = o * tanh(c_t)
            do = dhj * tc
            dct = dc[n, j] + dhj * o * (_ONE - tc * tc)
            # c_t = f * c_{t-1} + i * g, then sigmoid' = s (1 - s), tanh' = 1 - g^2
            da[n, j] = dct * g * i * (_ONE - i)
            da[n, H + j] = dct * c_prev[n, j] * f * (_ONE - f)
            da[n, 2 * H + j] = do * o * (_ONE - o)
            da[n, 3 * H + j] = dct * i * (_ONE - g * g)
            dc[n, j] = dct * f


def lstm_forward(x, state0, p, reverse=False, forget_bias=0.0):
    """``rnnlab.layers.lstm.lstm_forward`` for float32 without a mask, one fused kernel per step."""
    h0, c0 = state0
    W, U, b = p["W"], p["U"], p["b"]
    T, N, D = x.shape
    H = U.shape[0]
    r = int(reverse)
    gates = (x.reshape(T * N, D) @ W).reshape(T, N, 4 * H)     # the bias is added in the step kernel
    b = b.copy()
    b[H:2 * H] += np.float32(forget_bias)
    hs = np.empty((T + 1, N, H), x.dtype)
    cs = np.empty((T + 1, N, H), x.dtype)
    tanh_c = np.empty((T, N, H), x.dtype)
    hs[T if r else 0] = h0
    cs[T if r else 0] = c0
    hU = np.empty((N, 4 * H), x.dtype)
    for t in time_steps(T, reverse):
        np.matmul(hs[t + r], U, out=hU)                          # h_{t-1} U
        lstm_step_forward(gates[t], hU, b, cs[t + r], cs[t + 1 - r], tanh_c[t], hs[t + 1 - r])
    y = hs[:T] if r else hs[1:]
    final = (hs[0], cs[0]) if r else (hs[T], cs[T])
    return y, final, LSTMCache(x, W, U, gates, hs, cs, tanh_c, None, bool(reverse))


def lstm_backward(dy, dstateT, cache: LSTMCache):
    """``rnnlab.layers.lstm.lstm_backward`` for a cache without a mask."""
    x, W, U, gates, hs, cs, tanh_c, mask, reverse = cache
    T, N, D = x.shape
    H = U.shape[0]
    r = int(reverse)
    dy = np.ascontiguousarray(dy)                                # a direction's slice of (T, N, 2H)
    UT = np.ascontiguousarray(U.T)                               # (4H, H): faster in BLAS than a view
    dh = np.array(dstateT[0], dtype=x.dtype)
    dc = np.array(dstateT[1], dtype=x.dtype)
    da_all = np.empty((T, N, 4 * H), x.dtype)
    for t in reversed(time_steps(T, reverse)):
        lstm_step_backward(dh, dy[t], dc, gates[t], tanh_c[t], cs[t + r], da_all[t])
        np.matmul(da_all[t], UT, out=dh)                         # a = ... + h_{t-1} U
    da2 = da_all.reshape(T * N, 4 * H)
    h_prev = (hs[1:] if r else hs[:T]).reshape(T * N, H)
    grads = {"W": x.reshape(T * N, D).T @ da2,
             "U": h_prev.T @ da2,
             "b": da2.sum(axis=0)}
    dx = (da2 @ W.T).reshape(T, N, D)
    return dx, (dh, dc), grads


# ----- GRU (reset after) ------------------------------------------------------------------------
@njit(**_jit)
def gru_step_forward(a, hU, b, b_hn, h_prev, q, h):
    """One step, in place on a = x_t W (N, 3H), with b the input bias: a <- activated (r, z, n);
    writes q, h."""
    N, H = h_prev.shape
    for n in range(N):
        for j in range(2 * H):                                  # r, z = sigmoid(x W_rz + b_rz + h U_rz)
            a[n, j] = sigmoid32(a[n, j] + b[j] + hU[n, j])
        for j in range(H):
            qj = hU[n, 2 * H + j] + b_hn[j]                     # q = h_{t-1} U_n + b_hn
            q[n, j] = qj
            nj = tanh32(a[n, 2 * H + j] + b[2 * H + j] + a[n, j] * qj)   # n = tanh(x W_n + b_n + r q)
            a[n, 2 * H + j] = nj
            h[n, j] = nj - a[n, H + j] * (nj - h_prev[n, j])    # h = (1 - z) n + z h_{t-1}


@njit(**_jit)
def gru_step_backward(dh, dy, gates, q, h_prev, dax, dah):
    """One step back: dax, dah (N, 3H) from dh + dy; dh <- the direct part dh z of dh_{t-1}."""
    N, H = dh.shape
    for n in range(N):
        for j in range(H):
            rj, zj, nj = gates[n, j], gates[n, H + j], gates[n, 2 * H + j]
            dhj = dh[n, j] + dy[n, j]
            # h_t = (1 - z) n + z h_{t-1};  n = tanh(a_n);  a_n = x W_n + b_n + r q
            da_n = dhj * (_ONE - zj) * (_ONE - nj * nj)
            da_r = da_n * q[n, j] * rj * (_ONE - rj)
            da_z = dhj * (h_prev[n, j] - nj) * zj * (_ONE - zj)
            dax[n, j] = da_r
            dax[n, H + j] = da_z
            dax[n, 2 * H + j] = da_n
            dah[n, j] = da_r
            dah[n, H + j] = da_z
            dah[n, 2 * H + j] = da_n * rj                       # dq
            dh[n, j] = dhj * zj


def gru_forward(x, state0, p, reverse=False):
    """``rnnlab.layers.gru.gru_forward`` for float32, reset after, without a mask."""
    (h0,) = state0
    W, U, b, b_hn = p["W"], p["U"], p["b"], p["b_hn"]
    T, N, D = x.shape
    H = U.shape[0]
    r_ = int(reverse)
    gates = (x.reshape(T * N, D) @ W).reshape(T, N, 3 * H)     # the bias is added in the step kernel
    q = np.empty((T, N, H), x.dtype)
    hs = np.empty((T + 1, N, H), x.dtype)
    hs[T if r_ else 0] = h0
    hU = np.empty((N, 3 * H), x.dtype)
    for t in time_steps(T, reverse):
        np.matmul(hs[t + r_], U, out=hU)                         # h_{t-1} U
        gru_step_forward(gates[t], hU, b, b_hn, hs[t + r_], q[t], hs[t + 1 - r_])
    y = hs[:T] if r_ else hs[1:]
    final = (hs[0],) if r_ else (hs[T],)
    return y, final, GRUCache(x, W, U, gates, q, hs, None, bool(reverse), True)


def gru_backward(dy, dstateT, cache: GRUCache):
    """``rnnlab.layers.gru.gru_backward`` for a reset-after cache without a mask."""
    x, W, U, gates, q, hs, mask, reverse, reset_after = cache
    T, N, D = x.shape
    H = U.shape[0]
    r_ = int(reverse)
    dy = np.ascontiguousarray(dy)
    UT = np.ascontiguousarray(U.T)                               # (3H, H)
    dh = np.array(dstateT[0], dtype=x.dtype)
    dhU = np.empty((N, H), x.dtype)
    dax = np.empty((T, N, 3 * H), x.dtype)
    dah = np.empty((T, N, 3 * H), x.dtype)
    for t in reversed(time_steps(T, reverse)):
        gru_step_backward(dh, dy[t], gates[t], q[t], hs[t + r_], dax[t], dah[t])
        dh += np.matmul(dah[t], UT, out=dhU)                     # q and a_rz read h_{t-1} U
    dax2 = dax.reshape(T * N, 3 * H)
    dah2 = dah.reshape(T * N, 3 * H)
    h_prev = (hs[1:] if r_ else hs[:T]).reshape(T * N, H)
    grads = {"W": x.reshape(T * N, D).T @ dax2, "b": dax2.sum(axis=0),
             "U": h_prev.T @ dah2, "b_hn": dah2[:, 2 * H:].sum(axis=0)}
    dx = (dax2 @ W.T).reshape(T, N, D)
    return dx, (dh,), grads
