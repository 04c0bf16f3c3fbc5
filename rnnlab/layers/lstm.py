"""Long short-term memory (Hochreiter & Schmidhuber 1997; forget gate of Gers et al. 2000).

For one direction of one layer, with a = x_t W + h_{t-1} U + b split into four H-wide blocks in the
order (i, f, o, g):

    i_t = sigmoid(a_i)                     input gate
    f_t = sigmoid(a_f + forget_bias)       forget gate (forget_bias as in TF's BasicLSTMCell)
    o_t = sigmoid(a_o)                     output gate
    g_t = tanh(a_g)                        candidate state (c~_t in per-gate notation, with W_c, b_c)
    c_t = f_t * c_{t-1} + i_t * g_t        cell state: long-term memory
    h_t = o_t * tanh(c_t)                  output: working memory

In per-gate notation, the eight parameter groups W_f b_f W_i b_i W_o b_o W_c b_c are the column blocks of the fused
W (D, 4H) | U (H, 4H) and b (4H,): W_f acting on [h_{t-1}, x_t] is [U_f; W_f].
Gate order (i, f, o, g) (rnnlab.layers.gates) puts the three sigmoids side by side; converters to
PyTorch (i, f, g, o), Keras (i, f, c, o), TF1 (i, j, f, o) and ONNX (i, o, f, c) live in ``rnnlab.interop``.

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

from .. import engine
from ..activations import sigmoid
from ..checks import check_int, check_real
from .gates import block, check_gate_activation, split
from .lstm_variants import LSTMOptions, LSTMVCache, lstmv_backward, lstmv_forward, lstmv_input_part, lstmv_step_forward
from .recurrent import Recurrent, ShardedCache, carry_masked, carry_outputs, h_rec_array, time_steps, uniform_init
from .regularizers import dropped_U


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
    tanh_c: np.ndarray | None  # (T, N, H) tanh(c_t) before masking; None from the compiled loop of the
                               # plain cell without a mask (the backwards compute tanh(c_t) from cs)
    mask: np.ndarray | None  # (T, N, 1)
    reverse: bool


class LSTMEngineCache(NamedTuple):
    """A direction that the compiled loop ran with variant options (rnnlab.engine.lstm_forward)."""
    cell: LSTMCache      # the loop's arrays; U is U' = U * S with weight drop
    variant: dict        # lstm_forward's variant arguments (peepholes, cell_clip, input_forget, zoneout, c_hat,
                         # gate_activation, gate_clip, gate_keep, recurrent_dropout, h_rec;
                         # W_hr and m with proj_size; with layer_norm the gains and
                         # the filled ln_cache)
    rU: np.ndarray | None  # weight drop's scaled mask S, or None

    @property
    def U(self):
        return self.cell.U


def lstm_step_forward(a, h_prev, c_prev, U, *, h=None, c=None, tanh_c=None, hU=None):
    """One step: (h_t, c_t), LSTMStepCache.

    a: (N, 4H) the input part x_t W + b (forget_bias added to the f block); it is overwritten with
    the activated gates, which become ``cache.gates``. h_prev, c_prev: (N, H); U: (H, 4H).
    h, c, tanh_c (N, H) and hU (N, 4H): optional arrays to write into (the sequence loop passes
    slices of its (T, N, .) arrays, so that a step allocates nothing).
    """
    a += np.matmul(h_prev, U, out=hU)                    # a = x_t W + b + h_{t-1} U
    i, f, o, g = split(a, "LSTM")                        # views: activated in place
    ifo = block(a, "LSTM", "ifo")
    sigmoid(ifo, out=ifo)                                # i, f, o = sigmoid(a_i, a_f, a_o)
    np.tanh(g, out=g)                                    # g = tanh(a_g)
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
    i, f, o, g = split(gates, "LSTM")
    da = np.empty_like(gates) if da is None else da
    da_i, da_f, da_o, da_g = split(da, "LSTM")
    # h_t = o * tanh(c_t)
    np.multiply(dh, tanh_c, out=da_o)                    # do
    dc = dc + dh * o * (1 - tanh_c * tanh_c)
    # c_t = f * c_{t-1} + i * g
    np.multiply(dc, g, out=da_i)                         # di
    np.multiply(dc, c_prev, out=da_f)                    # df
    np.multiply(dc, i, out=da_g)                         # dg
    # i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_g)
    s = block(gates, "LSTM", "ifo")
    da_ifo = block(da, "LSTM", "ifo")
    da_ifo *= s * (1 - s)                                # sigmoid' = s (1 - s)
    da_g *= 1 - g * g                                    # tanh' = 1 - g^2
    # a = x_t W + b + h_{t-1} U
    dh_prev = da @ U.T
    dc_prev = dc * f
    return da, dh_prev, dc_prev


def lstm_input_part(x, p, forget_bias=0.0):
    """a_x = x W + b, with forget_bias added to the f block: x (..., D) -> (..., 4H)."""
    a = x @ p["W"]
    a += p["b"]
    if forget_bias:
        block(a, "LSTM", "f")[...] += forget_bias
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
        step = LSTMStepCache(gates[t], cs[t + r], np.tanh(cs[t + 1 - r]) if tanh_c is None else tanh_c[t])
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
    U (P, 4H), b (4H,), gate order (i, f, o, g), with P = proj_size or H. ``forget_bias`` is added to
    the forget gate's pre-activation at run time (TF BasicLSTMCell); it is not a parameter.

    Variant options (equations, sources and backward in rnnlab.layers.lstm_variants):
        proj_size:    P > 0: h_t = (o * tanh(c_t)) W_hr, parameter W_hr (H, P); h, the output and
                      U's rows have width P (PyTorch ``proj_size``, TF1 ``num_proj``). 0: none.
        peepholes:    True: diagonal weights p (3H,) = (p_i, p_f, p_o) from c_{t-1} into i, f and
                      from c_t into o (TF1 ``use_peepholes``, ONNX ``P``).
        cell_clip:    x > 0: c_t clipped to [-x, x] (TF1 ``cell_clip``). None: off.
        gate_clip:    x > 0: every gate pre-activation clipped to [-x, x] (ONNX ``clip``). None: off.
        input_forget: True: coupled gates f = 1 - i (CIFG, ONNX ``input_forget``); the f block of W,
                      U and b is then not read.
        layer_norm:   True: layer normalization of x W, h U and c_t (Ba et al. 2016), gains g_x, g_h
                      (4H,), g_c (H,), bias b_c (H,).
        gate_activation: the activation of the gates i, f, o (Keras ``recurrent_activation``): "sigmoid"
                      (default), "hard_sigmoid" = clip(a / 6 + 1/2, 0, 1) (Keras 3's), or
                      "hard_sigmoid_keras2" = clip(0.2 a + 1/2, 0, 1) (Keras 2's and tf-keras 2.x's).
    Regularizers, training mode only (rnnlab.layers.regularizers; masks per sequence from ``rng``):
        zoneout:           z or (z_h, z_c) in [0, 1): h and c keep their previous value with
                           probability z (Krueger et al. 2016); evaluation: z s_{t-1} + (1 - z) s^_t.
        recurrent_dropout: p in [0, 1): h_{t-1} * r / (1 - p) in the recurrent product (Gal &
                           Ghahramani 2016, Keras ``recurrent_dropout``).
        weight_drop:       p in [0, 1): U * M / (1 - p), one mask per forward (Merity et al. 2017).
    For float32 the compiled engine (rnnlab.engine) runs proj_size, peepholes, cell_clip, gate_clip,
    input_forget, layer_norm, a hard-sigmoid gate_activation, weight_drop, recurrent_dropout and
    zoneout, alone or together, except proj_size with layer_norm, gate_clip or recurrent_dropout, and
    layer_norm with gate_clip or recurrent_dropout; those layers, and float64, run the NumPy step
    functions of rnnlab.layers.lstm_variants.
    """

    kind = "LSTM"
    gates = 4
    state_names = ("h", "c")

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, forget_bias=0.0,
                 dtype="float32", seed=None, proj_size=0, peepholes=False, cell_clip=None, gate_clip=None,
                 input_forget=False, layer_norm=False, direction="forward", zoneout=0.0, recurrent_dropout=0.0,
                 weight_drop=0.0, zero_output_for_mask=None, gate_activation="sigmoid"):
        self.forget_bias = check_real("forget_bias", forget_bias)
        self.proj_size = check_int("proj_size", proj_size, low=0)
        if self.proj_size and isinstance(hidden_size, (int, np.integer)) and not isinstance(hidden_size, bool) \
                and self.proj_size >= hidden_size:
            raise ValueError(f"proj_size: expected 0 (no projection) or below hidden_size {hidden_size} (as in "
                             f"PyTorch), got {self.proj_size}")
        for name, value in (("peepholes", peepholes), ("input_forget", input_forget), ("layer_norm", layer_norm)):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name}: expected True or False, got {value!r}")
        self.peepholes, self.input_forget, self.layer_norm = bool(peepholes), bool(input_forget), bool(layer_norm)
        self.cell_clip = None if cell_clip is None else check_real("cell_clip", cell_clip, low=0, low_open=True)
        self.gate_clip = None if gate_clip is None else check_real("gate_clip", gate_clip, low=0, low_open=True)
        self.gate_activation = check_gate_activation(gate_activation)
        super().__init__(input_size, hidden_size, num_layers, bidirectional, dtype, seed, direction,
                         zoneout, recurrent_dropout, weight_drop, zero_output_for_mask)

    @property
    def h_size(self):
        return self.proj_size or self.hidden_size

    @property
    def options(self) -> LSTMOptions:
        return LSTMOptions(self.forget_bias, self.peepholes, self.cell_clip, self.gate_clip, self.input_forget,
                           self.layer_norm, self.gate_activation)

    @property
    def _plain(self):
        return (LSTMOptions(self.forget_bias) == self.options and not self.proj_size
                and not self.__dict__.get("_keep_cells") and super()._plain)

    @property
    def compiled(self) -> bool:
        """proj_size, peepholes, cell_clip, gate_clip, input_forget, layer_norm, a hard-sigmoid
        gate_activation, zoneout, recurrent_dropout and weight_drop run compiled, alone or together,
        except proj_size with layer_norm, gate_clip or recurrent_dropout and layer_norm with gate_clip or
        recurrent_dropout; those pairs run the NumPy step functions."""
        return self._compiled_options(self.reg.recurrent_dropout > 0)

    def _compiled_in_mode(self) -> bool:
        return self._compiled_options(self.training and self.reg.recurrent_dropout > 0)   # no dropout in eval

    def _compiled_options(self, recurrent_dropout: bool) -> bool:
        """Whether the options, with or without recurrent dropout, have a compiled loop."""
        opt = self.options
        special = (self.proj_size > 0) + bool(opt.layer_norm)           # loops of their own
        return special == 0 or (special == 1 and opt.gate_clip is None and not recurrent_dropout)

    def _engine_variant(self, x, p, reg) -> dict | None:
        """The arguments of rnnlab.engine.lstm_forward for a call that the compiled loop runs with its
        variant options (proj_size, peepholes, cell_clip, gate_clip, input_forget, layer_norm,
        gate_activation, zoneout, recurrent dropout, weight drop), or None: the call runs the NumPy step
        functions."""
        opt = self.options
        if (not self._compiled_options(reg is not None and reg.rh is not None)
                or self.__dict__.get("_keep_cells") or not engine.applies(x)):
            return None
        zh, zc, rh = (None, None, None) if reg is None else reg[:3]
        zone = zh is not None or zc is not None
        T, N, H = x.shape[0], x.shape[1], self.hidden_size
        c_hat = None                                     # c^_t before zoneout, for the backward's peepholes and clip
        if (zone and (opt.peepholes or opt.cell_clip is not None) and not opt.layer_norm
                and not engine.inference_mode()):
            c_hat = np.empty((T, N, H), np.float32)
        gate_keep = None                                 # gate_clip's record of the clipped pre-activations
        if opt.gate_clip is not None and not engine.inference_mode():
            gate_keep = engine.gate_keep_array(T, N, H)
        variant = dict(peepholes=p["p"] if opt.peepholes else None, cell_clip=opt.cell_clip,
                       input_forget=opt.input_forget, zoneout=(zh, zc) if zone else None, c_hat=c_hat,
                       gate_activation=opt.gate_activation, gate_clip=opt.gate_clip, gate_keep=gate_keep,
                       recurrent_dropout=rh, h_rec=h_rec_array(x, H, reg))
        if self.proj_size:                               # m_t = o * tanh(c_t), for the backward's dW_hr
            m = None if engine.inference_mode() else np.empty((T, N, H), np.float32)
            variant.update(W_hr=p["W_hr"], m=m)
        if opt.layer_norm:                               # the gains, and the dict the forward fills for the backward
            variant.update(layer_norm={k: p[k] for k in ("g_x", "g_h", "g_c", "b_c")}, ln_cache={})
        return variant

    def forward(self, x, state0=None, lengths=None, mask=None, return_cell_states=False):
        """y, state, cache = forward(x, state0=None, lengths=None, mask=None), as Recurrent.forward.

        With ``return_cell_states=True``: y, state, cache, cells, where cells (N, T, directions * H)
        is the top layer's cell state c_t at every step (each direction's, side by side like y; at
        padded or masked steps what y has there: zero, or with a mask the carried value). That call
        runs the NumPy step functions, whose cache keeps every c_t.
        """
        if not isinstance(return_cell_states, (bool, np.bool_)):
            raise ValueError(f"return_cell_states: expected True or False, got {return_cell_states!r}")
        if not return_cell_states:
            return super().forward(x, state0, lengths, mask)
        self._keep_cells = True
        try:
            y, state, cache = super().forward(x, state0, lengths, mask)
        finally:
            del self._keep_cells
        return y, state, cache, self._cell_states(cache)

    def _cell_states(self, cache) -> np.ndarray:
        """(N, T, directions * H): c_t of the top layer at every step, from a NumPy forward's cache."""
        if isinstance(cache, ShardedCache):
            return np.concatenate([self._cell_states(part) for part in cache.parts])
        per = []
        for d in range(self.directions):
            cell = cache.directions[(self.num_layers - 1) * self.directions + d].cell
            c = cell.cs[:-1] if cell.reverse else cell.cs[1:]            # (T, N, H): c_t in time order
            per.append(c if cell.mask is None else c * cell.mask)
        cells = np.ascontiguousarray(np.concatenate(per, axis=2).transpose(1, 0, 2))
        if cache.carry is not None:                      # like y: masked steps repeat the step before
            for d in range(self.directions):
                carry_outputs(cells[:, :, d * self.hidden_size:(d + 1) * self.hidden_size], cache.carry,
                              bool(d) or self.reverse)
        return cells

    def config(self):
        variants = {"proj_size": self.proj_size, "peepholes": self.peepholes, "cell_clip": self.cell_clip,
                    "gate_clip": self.gate_clip, "input_forget": self.input_forget, "layer_norm": self.layer_norm,
                    "gate_activation": self.gate_activation if self.gate_activation != "sigmoid" else None}
        return {**super().config(), "forget_bias": self.forget_bias,
                **{k: v for k, v in variants.items() if v}}

    def _cell_step(self, x_t, state, p, out):
        if not self._plain:
            a_x, _ = lstmv_input_part(x_t, p, self.forget_bias, self.layer_norm)
            (out[0][...], out[1][...]), _ = lstmv_step_forward(a_x, *state, p, self.options)
            return
        a = lstm_input_part(x_t, p, self.forget_bias)                   # (N, 4H)
        lstm_step_forward(a, *state, p["U"], h=out[0], c=out[1])

    def _init_direction(self, in_size, H, rng):
        bound = 1.0 / np.sqrt(H)
        p = {"W": uniform_init(rng, (in_size, 4 * H), bound, self.dtype),
             "U": uniform_init(rng, (self.h_size, 4 * H), bound, self.dtype),
             "b": uniform_init(rng, (4 * H,), bound, self.dtype)}
        if self.peepholes:
            p["p"] = uniform_init(rng, (3 * H,), bound, self.dtype)
        if self.proj_size:
            p["W_hr"] = uniform_init(rng, (H, self.proj_size), bound, self.dtype)
        if self.layer_norm:                              # gains 1, bias 0: LN starts as a plain normalization
            p.update(g_x=np.ones(4 * H, self.dtype), g_h=np.ones(4 * H, self.dtype),
                     g_c=np.ones(H, self.dtype), b_c=np.zeros(H, self.dtype))
        return p

    def _cell_forward(self, x, state0, p, mask, reverse, reg=None, out=None):
        if not self._plain:                              # variants: compiled where it has them, else NumPy
            variant = self._engine_variant(x, p, reg)
            if variant is None:
                return lstmv_forward(x, state0, p, mask, reverse, self.options, reg)
            U = dropped_U(p["U"], reg)                   # U' = U * S with weight drop
            b = p["b"].copy()
            block(b, "LSTM", "f")[...] += np.float32(self.forget_bias)
            if self._infer_in_place(mask, variant):
                opts = {k: variant[k] for k in ("peepholes", "cell_clip", "input_forget", "zoneout",
                                                "gate_activation", "gate_clip")}
                y, h, c = engine.lstm_infer(x, *state0, p["W"], U, b, reverse, out=out, **opts)
                return y, (h, c), None
            y, gates, hs, cs, tanh_c = engine.lstm_forward(x, *state0, p["W"], U, b, mask, reverse, out=out,
                                                           **variant)
            final = (hs[0], cs[0]) if reverse else (hs[-1], cs[-1])
            cell = LSTMCache(x, p["W"], U, gates, hs, cs, tanh_c, mask, bool(reverse))
            return y, final, LSTMEngineCache(cell, variant, None if reg is None else reg.rU)
        if engine.applies(x):                            # same loop, compiled (rnnlab.engine)
            b = p["b"].copy()
            block(b, "LSTM", "f")[...] += np.float32(self.forget_bias)
            if self._infer_in_place(mask):
                y, h, c = engine.lstm_infer(x, *state0, p["W"], p["U"], b, reverse, out=out)
                return y, (h, c), None
            y, gates, hs, cs, tanh_c = engine.lstm_forward(x, *state0, p["W"], p["U"], b, mask, reverse, out=out)
            final = (hs[0], cs[0]) if reverse else (hs[-1], cs[-1])
            return y, final, LSTMCache(x, p["W"], p["U"], gates, hs, cs, tanh_c, mask, bool(reverse))
        return lstm_forward(x, state0, p, mask, reverse, self.forget_bias)

    def _infer_in_place(self, mask, variant=None) -> bool:
        """Whether a compiled call runs ``engine.lstm_infer``: within ``infer`` (no cache wanted), with no
        mask and none of the options with loops of their own (proj_size, layer_norm, recurrent dropout);
        it writes y straight into the layer's output and keeps no state array."""
        if not engine.inference_mode() or mask is not None or self.__dict__.get("_keep_cells"):
            return False
        return variant is None or not any(variant.get(k) is not None for k in ("W_hr", "layer_norm",
                                                                                "recurrent_dropout"))

    def _cell_backward(self, dy, dstateT, cache, dx_out=None, dx_add=False):
        if isinstance(cache, LSTMVCache):
            return lstmv_backward(dy, dstateT, cache)
        if isinstance(cache, LSTMEngineCache):
            c = cache.cell
            dx, dh, dc, grads = engine.lstm_backward(dy, *dstateT, c.x, c.W, c.U, c.gates, c.hs, c.cs, c.tanh_c,
                                                     c.mask, c.reverse, dx_out=dx_out, dx_add=dx_add, **cache.variant)
            if cache.rU is not None:
                grads["U"] = grads["U"] * cache.rU                         # dU = S * dU'
            return dx, (dh, dc), grads
        if engine.applies(cache.x):
            c = cache
            dx, dh, dc, grads = engine.lstm_backward(dy, *dstateT, c.x, c.W, c.U, c.gates, c.hs, c.cs,
                                                     c.tanh_c, c.mask, c.reverse, dx_out=dx_out, dx_add=dx_add)
            return dx, (dh, dc), grads
        return lstm_backward(dy, dstateT, cache)
