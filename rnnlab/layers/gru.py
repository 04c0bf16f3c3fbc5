"""Gated recurrent unit (Cho et al. 2014): two gates, update z and reset r, and one state h.

For one direction of one layer, gate order (r, z, n), W (D, 3H), U (H, 3H), b (3H,).

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
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import engine
from ..activations import sigmoid
from .recurrent import Recurrent, carry_masked, time_steps, uniform_init


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


def gru_forward(x, state0, p, mask=None, reverse=False, reset_after=True):
    """One GRU direction over x (T, N, D); returns y (T, N, H), (h_T,), cache."""
    (h0,) = state0
    W, U, b = p["W"], p["U"], p["b"]
    T, N, D = x.shape
    H = U.shape[0]
    r_ = int(reverse)
    gates = (x.reshape(T * N, D) @ W).reshape(T, N, 3 * H)   # x_t W + b, all steps at once
    gates += b
    q = np.empty((T, N, H), x.dtype)
    hs = np.empty((T + 1, N, H), x.dtype)
    y = None if mask is None else np.empty((T, N, H), x.dtype)
    hs[T if r_ else 0] = h0
    hU = np.empty((N, 3 * H if reset_after else 2 * H), x.dtype)
    for t in time_steps(T, reverse):
        h_prev, h = hs[t + r_], hs[t + 1 - r_]
        a = gates[t]
        if reset_after:
            np.matmul(h_prev, U, out=hU)
            a[:, :2 * H] += hU[:, :2 * H]
            sigmoid(a[:, :2 * H], out=a[:, :2 * H])           # r, z
            r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
            np.add(hU[:, 2 * H:], p["b_hn"], out=q[t])        # q = h_{t-1} U_n + b_hn
            n += r * q[t]
        else:
            a[:, :2 * H] += np.matmul(h_prev, U[:, :2 * H], out=hU)
            sigmoid(a[:, :2 * H], out=a[:, :2 * H])
            r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
            np.multiply(r, h_prev, out=q[t])                  # q = r * h_{t-1}
            n += q[t] @ U[:, 2 * H:]
        np.tanh(n, out=n)
        np.subtract(n, h_prev, out=h)                         # h_t = (1 - z) n + z h_{t-1}
        h *= z                                                #     = n - z (n - h_{t-1})
        np.subtract(n, h, out=h)
        if mask is not None:
            m = mask[t]
            np.multiply(h, m, out=y[t])
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
        r, z, n = gates[t, :, :H], gates[t, :, H:2 * H], gates[t, :, 2 * H:]
        h_prev = hs[t + r_]
        dh_new = dh + dy[t]
        if mask is not None:
            m = mask[t]
            dh_new *= m
            dh_keep = dh * (1 - m)
        da = dax[t]
        # h_t = (1 - z) n + z h_{t-1}
        dn = dh_new * (1 - z)
        np.multiply(dh_new, h_prev - n, out=da[:, H:2 * H])   # dz
        dh = dh_new * z
        np.multiply(dn, 1 - n * n, out=da[:, 2 * H:])         # da_n: n = tanh(a_n)
        da_n = da[:, 2 * H:]
        if reset_after:
            # a_n = x W_n + b_n + r * q
            np.multiply(da_n, q[t], out=da[:, :H])            # dr
            da[:, :2 * H] *= gates[t, :, :2 * H] * (1 - gates[t, :, :2 * H])
            dah[t, :, :2 * H] = da[:, :2 * H]
            np.multiply(da_n, r, out=dah[t, :, 2 * H:])       # dq
            dh += dah[t] @ U.T                                # q and a_rz read h_{t-1} U
        else:
            # a_n = x W_n + b_n + (r * h_{t-1}) U_n
            drh = da_n @ U[:, 2 * H:].T
            np.multiply(drh, h_prev, out=da[:, :H])           # dr
            dh += drh * r
            da[:, :2 * H] *= gates[t, :, :2 * H] * (1 - gates[t, :, :2 * H])
            dh += da[:, :2 * H] @ U[:, :2 * H].T
        if mask is not None:
            dh += dh_keep
    dax2 = dax.reshape(T * N, 3 * H)
    h_prev = (hs[1:] if r_ else hs[:T]).reshape(T * N, H)
    grads = {"W": x.reshape(T * N, D).T @ dax2, "b": dax2.sum(axis=0)}
    if reset_after:
        dah2 = dah.reshape(T * N, 3 * H)
        grads["U"] = h_prev.T @ dah2
        grads["b_hn"] = dah2[:, 2 * H:].sum(axis=0)
    else:
        grads["U"] = np.concatenate([h_prev.T @ dax2[:, :2 * H],
                                     q.reshape(T * N, H).T @ dax2[:, 2 * H:]], axis=1)
    dx = (dax2 @ W.T).reshape(T, N, D)
    return dx, (dh,), grads


class GRU(Recurrent):
    """Stacked, optionally bidirectional GRU. Parameters per layer and direction: W (D, 3H),
    U (H, 3H), b (3H,), and with ``reset_after`` (default) b_hn (H,); gate order (r, z, n)."""

    kind = "GRU"
    gates = 3
    state_names = ("h",)

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, reset_after=True,
                 dtype="float32", seed=None):
        if not isinstance(reset_after, (bool, np.bool_)):
            raise ValueError(f"reset_after: expected True or False, got {reset_after!r}")
        self.reset_after = bool(reset_after)
        super().__init__(input_size, hidden_size, num_layers, bidirectional, dtype, seed)

    def config(self):
        return {**super().config(), "reset_after": self.reset_after}

    def _init_direction(self, in_size, H, rng):
        bound = 1.0 / np.sqrt(H)
        p = {"W": uniform_init(rng, (in_size, 3 * H), bound, self.dtype),
             "U": uniform_init(rng, (H, 3 * H), bound, self.dtype),
             "b": uniform_init(rng, (3 * H,), bound, self.dtype)}
        if self.reset_after:
            p["b_hn"] = uniform_init(rng, (H,), bound, self.dtype)
        return p

    def _cell_forward(self, x, state0, p, mask, reverse):
        if self.reset_after and engine.applies(x):       # same loop, compiled (rnnlab.engine)
            y, gates, q, hs = engine.gru_forward(x, *state0, p["W"], p["U"], p["b"], p["b_hn"], mask, reverse)
            final = (hs[0],) if reverse else (hs[-1],)
            return y, final, GRUCache(x, p["W"], p["U"], gates, q, hs, mask, bool(reverse), True)
        return gru_forward(x, state0, p, mask, reverse, self.reset_after)

    def _cell_backward(self, dy, dstateT, cache):
        if cache.reset_after and engine.applies(cache.x):
            c = cache
            dx, dh, grads = engine.gru_backward(dy, *dstateT, c.x, c.W, c.U, c.gates, c.q, c.hs, c.mask,
                                                c.reverse)
            return dx, (dh,), grads
        return gru_backward(dy, dstateT, cache)
