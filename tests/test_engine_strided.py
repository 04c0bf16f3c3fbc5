"""The compiled loops' strided outputs: lstm_forward's out (the training forward writes each y_t
into a direction's columns of the layer's batch-first output) and the backwards' dx_out / dx_add
(dx written through the strides of a batch-first array, a second direction's part added to the
first's). The same bits as the contiguous outputs (and, with dx_add, as adding them in NumPy), on
every instruction set; bad ones refused by name."""
import numpy as np
import pytest

import rnnlab
from rnnlab import engine

BUILT = engine._library()[0] is not None
needs_engine = pytest.mark.skipif(not BUILT, reason="the compiled engine is not built (pip install . builds it)")


def _engines():
    best = engine._library()[0].rn_isa()
    return [name for name in engine.ENGINES if engine._ISA[name] <= best]


def _f(rng, *shape, s=1.0):
    return (rng.standard_normal(shape) * s).astype(np.float32)


def _batch_first_columns(T, N, K, width, col):
    """A (T, N, K) view of columns col .. col + K of a (N, T, width) array (NaN-filled, so that any
    element the loop leaves unwritten shows)."""
    return np.full((N, T, width), np.nan, np.float32)[:, :, col:col + K].transpose(1, 0, 2)


LSTM_OPTIONS = [{}, {"peepholes": True, "cell_clip": 0.7}, {"zoneout": True, "gate_activation": "hard_sigmoid"},
                {"layer_norm": True}, {"W_hr": True}]


def _lstm_options(opt, T, N, H, P, rng):
    out = {}
    if opt.get("peepholes"):
        out["peepholes"] = _f(rng, 3 * H, s=0.3)
    if "cell_clip" in opt:
        out["cell_clip"] = opt["cell_clip"]
    if opt.get("zoneout"):
        out["zoneout"] = (rng.uniform(0, 1, (N, P)).astype(np.float32), rng.uniform(0, 1, (N, H)).astype(np.float32))
    if "gate_activation" in opt:
        out["gate_activation"] = opt["gate_activation"]
    if opt.get("layer_norm"):
        out["layer_norm"] = {"g_x": 1 + _f(rng, 4 * H, s=0.1), "g_h": 1 + _f(rng, 4 * H, s=0.1),
                             "g_c": 1 + _f(rng, H, s=0.1), "b_c": _f(rng, H, s=0.1)}
    if opt.get("W_hr"):
        out["W_hr"] = _f(rng, H, P, s=0.3)
    return out


def _lstm_call_arrays(opt, T, N, H, P, options):
    """The per-call arrays the options need (fresh for each call)."""
    extra = {}
    if opt.get("zoneout") and ("peepholes" in options or "cell_clip" in options):
        extra["c_hat"] = np.empty((T, N, H), np.float32)
    if opt.get("layer_norm"):
        extra["ln_cache"] = {}
    if opt.get("W_hr"):
        extra["m"] = np.empty((T, N, H), np.float32)
    return extra


@needs_engine
@pytest.mark.parametrize("opt", LSTM_OPTIONS)
@pytest.mark.parametrize("N,T,masked", [(1, 3, False), (2, 200, False), (7, 12, True), (33, 5, False)])
def test_lstm_forward_out_and_backward_dx_out(opt, N, T, masked, monkeypatch):
    D, H = 6, 21
    P = 9 if opt.get("W_hr") else H
    rng = np.random.default_rng(N * 13 + T)
    x, h0, c0 = _f(rng, T, N, D), _f(rng, N, P, s=0.5), _f(rng, N, H, s=0.5)
    W, U, b = _f(rng, D, 4 * H, s=0.3), _f(rng, P, 4 * H, s=0.3), _f(rng, 4 * H, s=0.1)
    dy, dh, dc = _f(rng, T, N, P), _f(rng, N, P), _f(rng, N, H)
    mask = None
    if masked:
        lengths = rng.integers(1, T + 1, N)
        mask = (np.arange(T)[:, None] < lengths[None, :]).astype(np.float32)[:, :, None]
    options = _lstm_options(opt, T, N, H, P, rng)
    for flag in _engines():
        monkeypatch.setenv("RNNLAB_ENGINE", flag)
        for reverse in (False, True):
            ref_arrays = _lstm_call_arrays(opt, T, N, H, P, options)
            y, gates, hs, cs, tc = engine.lstm_forward(x, h0, c0, W, U, b, mask, reverse, **options, **ref_arrays)
            out = _batch_first_columns(T, N, P, 3 * P, P)
            arrays = _lstm_call_arrays(opt, T, N, H, P, options)
            y2, gates2, hs2, cs2, tc2 = engine.lstm_forward(x, h0, c0, W, U, b, mask, reverse, out=out, **options,
                                                            **arrays)
            assert y2 is out
            np.testing.assert_array_equal(y2, y, err_msg=f"{flag} reverse={reverse}")
            np.testing.assert_array_equal(hs2, hs)
            np.testing.assert_array_equal(cs2, cs)
            back = dict(options, **ref_arrays)
            dx, dh0, dc0, grads = engine.lstm_backward(dy, dh, dc, x, W, U, gates, hs, cs, tc, mask, reverse, **back)
            target = _batch_first_columns(T, N, D, D + 3, 2)
            dx2, dh2, dc2, grads2 = engine.lstm_backward(dy, dh, dc, x, W, U, gates, hs, cs, tc, mask, reverse,
                                                         dx_out=target, **back)
            assert dx2 is target
            np.testing.assert_array_equal(dx2, dx, err_msg=f"{flag} reverse={reverse}")
            np.testing.assert_array_equal(dh2, dh0)
            for name in grads:
                np.testing.assert_array_equal(grads2[name], grads[name], err_msg=name)
            before = _f(rng, T, N, D)
            target[...] = before
            engine.lstm_backward(dy, dh, dc, x, W, U, gates, hs, cs, tc, mask, reverse, dx_out=target, dx_add=True,
                                 **back)
            np.testing.assert_array_equal(target, before + dx)


@needs_engine
@pytest.mark.parametrize("cell", ["GRU", "RNN"])
def test_gru_and_rnn_backward_dx_out(cell, monkeypatch):
    T, N, D, H = 9, 5, 7, 19
    G = 3 if cell == "GRU" else 1
    rng = np.random.default_rng(4)
    x, h0 = _f(rng, T, N, D), _f(rng, N, H, s=0.5)
    W, U, b = _f(rng, D, G * H, s=0.3), _f(rng, H, G * H, s=0.3), _f(rng, G * H, s=0.1)
    dy, dh = _f(rng, T, N, H), _f(rng, N, H)
    for flag in _engines():
        monkeypatch.setenv("RNNLAB_ENGINE", flag)
        if cell == "GRU":
            y, gates, q, hs = engine.gru_forward(x, h0, W, U, b, _f(rng, H, s=0.1))
            call = lambda **kw: engine.gru_backward(dy, dh, x, W, U, gates, q, hs, **kw)  # noqa: E731
        else:
            y, h_new, hs = engine.rnn_forward(x, h0, W, U, b)
            call = lambda **kw: engine.rnn_backward(dy, dh, x, W, U, h_new, hs, **kw)  # noqa: E731
        dx, _, grads = call()
        target = _batch_first_columns(T, N, D, D, 0)
        dx2, _, grads2 = call(dx_out=target)
        assert dx2 is target
        np.testing.assert_array_equal(dx2, dx, err_msg=flag)
        for name in grads:
            np.testing.assert_array_equal(grads2[name], grads[name], err_msg=name)
        before = _f(rng, T, N, D)
        target[...] = before
        call(dx_out=target, dx_add=True)
        np.testing.assert_array_equal(target, before + dx)


@needs_engine
def test_bad_out_and_dx_out_are_named():
    from numpy.lib.stride_tricks import as_strided
    T, N, D, H = 4, 3, 2, 5
    rng = np.random.default_rng(0)
    x, h0, c0 = _f(rng, T, N, D), _f(rng, N, H), _f(rng, N, H)
    W, U, b = _f(rng, D, 4 * H), _f(rng, H, 4 * H), _f(rng, 4 * H)
    overlapping = as_strided(np.zeros(400, np.float32), (T, N, H), (4, 20, 4))
    read_only = np.zeros((T, N, H), np.float32)
    read_only.flags.writeable = False
    for bad in (np.zeros((T, N, H)), np.zeros((T, N, H + 1), np.float32), overlapping, read_only, [[0.0]]):
        with pytest.raises(ValueError, match=r"^out: expected a writeable float32 array of shape \(4, 3, 5\)"):
            engine.lstm_forward(x, h0, c0, W, U, b, out=bad)
    y, gates, hs, cs, tc = engine.lstm_forward(x, h0, c0, W, U, b)
    dy = np.ones((T, N, H), np.float32)
    args = (dy, h0, c0, x, W, U, gates, hs, cs, tc)
    with pytest.raises(ValueError, match=r"^dx_out: expected a writeable float32 array of shape \(4, 3, 2\)"):
        engine.lstm_backward(*args, dx_out=np.zeros((T, N, D), np.float64))
    with pytest.raises(ValueError, match="^dx_add: expected True .* without dx_out"):
        engine.lstm_backward(*args, dx_add=True)
    with pytest.raises(ValueError, match="^dx_add: expected True"):
        engine.lstm_backward(*args, dx_out=np.zeros((T, N, D), np.float32), dx_add="yes")


@needs_engine
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("layers,bi", [(1, True), (2, True), (3, False)])
def test_layers_write_their_outputs_in_place(kind, layers, bi, monkeypatch):
    """A layer's forward and backward, where the compiled loops write y (the LSTM) and dx through
    strides and the second direction adds its dx to the first's, agree with the NumPy cells; and
    the layer does take that path (it asks for the strides of its outputs)."""
    monkeypatch.delenv("RNNLAB_ENGINE", raising=False)
    cls = getattr(rnnlab, kind)
    layer = cls(6, 11, num_layers=layers, bidirectional=bi, seed=3)
    rng = np.random.default_rng(5)
    x = _f(rng, 4, 7, 6)
    y, state, cache = layer.forward(x)
    dy = _f(rng, *y.shape)
    dx, _, grads = layer.backward(dy, None, cache)
    monkeypatch.setattr(engine, "_strides", _refuse_strides)
    layer_copy = cls(6, 11, num_layers=layers, bidirectional=bi, seed=3)
    with pytest.raises(_Refused):
        layer_copy.forward(x) if kind == "LSTM" else layer_copy.backward(dy, None, layer_copy.forward(x)[2])
    monkeypatch.undo()
    monkeypatch.setenv("RNNLAB_ENGINE", "numpy")
    y_ref, _, cache_ref = layer.forward(x)
    dx_ref, _, grads_ref = layer.backward(dy, None, cache_ref)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-5)
    for name in grads:
        np.testing.assert_allclose(grads[name], grads_ref[name], rtol=1e-4, atol=1e-5, err_msg=name)


class _Refused(Exception):
    pass


def _refuse_strides(*args):
    raise _Refused


@needs_engine
def test_a_length_one_last_axis_may_have_any_stride():
    """With H = 1 (out) or D = 1 (dx_out), every other element of a (N, T, 2) array is a valid view:
    its last axis has one element, whose stride does not matter."""
    T, N, D, H = 3, 2, 1, 1
    rng = np.random.default_rng(7)
    x, h0, c0 = _f(rng, T, N, D), _f(rng, N, H), _f(rng, N, H)
    W, U, b = _f(rng, D, 4 * H), _f(rng, H, 4 * H), _f(rng, 4 * H)
    every_other = lambda: np.full((N, T, 2), np.nan, np.float32)[:, :, ::2].transpose(1, 0, 2)  # noqa: E731
    y, gates, hs, cs, tc = engine.lstm_forward(x, h0, c0, W, U, b)
    out = every_other()
    np.testing.assert_array_equal(engine.lstm_forward(x, h0, c0, W, U, b, out=out)[0], y)
    np.testing.assert_array_equal(engine.lstm_infer(x, h0, c0, W, U, b, out=every_other())[0], y)
    dy = _f(rng, T, N, H)
    dx = engine.lstm_backward(dy, h0, c0, x, W, U, gates, hs, cs, tc)[0]
    np.testing.assert_array_equal(engine.lstm_backward(dy, h0, c0, x, W, U, gates, hs, cs, tc,
                                                       dx_out=every_other())[0], dx)
    assert np.isnan(out.base[:, :, 1::2]).all()                   # the elements between are untouched


@pytest.mark.parametrize("N,T", [(1, 5), (4, 1), (3, 4)])
def test_the_cache_does_not_share_the_callers_x(N, T):
    """A caller that reuses its input buffer after the forward does not change the backward's
    gradients, at every shape (x (N, T, D) transposed is a view, not a copy, when N or T is 1)."""
    layer = rnnlab.LSTM(3, 4, seed=0)
    rng = np.random.default_rng(0)
    x, dy = _f(rng, N, T, 3), _f(rng, N, T, 4)
    want = layer.backward(dy, None, layer.forward(x)[2])[2]
    _, _, cache = layer.forward(x)
    x[...] = 0
    got = layer.backward(dy, None, cache)[2]
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
