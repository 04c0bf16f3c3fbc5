"""rnnlab.engine.lstm_infer: the LSTM's inference loop that writes h_t straight into a (possibly
strided) output and keeps two slots of c_t: the same bits as lstm_forward's y and final states, on
every instruction set, both directions, batch 1 to 64 (the x_t W-ahead path at batch 1 and 2, across
its 128-step chunks), every option it takes; Recurrent.infer uses it; bad arguments are refused by
name."""
import numpy as np
import pytest

import rnnlab
from rnnlab import engine

BUILT = engine._library()[0] is not None
needs_engine = pytest.mark.skipif(not BUILT, reason="the compiled engine is not built (pip install . builds it)")


def _engines():
    best = engine._library()[0].rn_isa()
    return [name for name in engine.ENGINES if engine._ISA[name] <= best]


def _arrays(T, N, D, H, seed):
    rng = np.random.default_rng(seed)
    f = lambda *shape, s=1.0: (rng.standard_normal(shape) * s).astype(np.float32)  # noqa: E731
    return f(T, N, D), f(N, H, s=0.5), f(N, H, s=0.5), f(D, 4 * H, s=0.3), f(H, 4 * H, s=0.3), f(4 * H, s=0.1)


OPTIONS = [{}, {"peepholes": "p", "cell_clip": 0.8}, {"input_forget": True, "gate_activation": "hard_sigmoid"},
           {"zoneout": (0.3, 0.2), "gate_clip": 1.5}, {"zoneout": ("zh", "zc"), "peepholes": "p"}]


def _options(opt, N, H, seed):
    rng = np.random.default_rng(seed + 7)
    arrays = {"p": rng.standard_normal(3 * H).astype(np.float32) * 0.3,
              "zh": rng.uniform(0, 1, (N, H)).astype(np.float32), "zc": rng.uniform(0, 1, (N, H)).astype(np.float32)}
    out = dict(opt)
    if out.get("peepholes") == "p":
        out["peepholes"] = arrays["p"]
    if isinstance(out.get("zoneout"), tuple) and isinstance(out["zoneout"][0], str):
        out["zoneout"] = (arrays["zh"], arrays["zc"])
    return out


@needs_engine
@pytest.mark.parametrize("opt", OPTIONS)
@pytest.mark.parametrize("N,T", [(1, 3), (2, 300), (3, 1), (7, 12), (64, 5)])
def test_same_bits_as_lstm_forward(opt, N, T, monkeypatch):
    D, H = 5, 37
    x, h0, c0, W, U, b = _arrays(T, N, D, H, N * 31 + T)
    options = _options(opt, N, H, N + T)
    for flag in _engines():
        monkeypatch.setenv("RNNLAB_ENGINE", flag)
        for reverse in (False, True):
            with engine.inference():
                y, _, hs, cs, _ = engine.lstm_forward(x, h0, c0, W, U, b, None, reverse, **options)
            last = 0 if reverse else T
            for out in (None, np.zeros((N, T, 3 * H), np.float32)[:, :, H:2 * H].transpose(1, 0, 2)):
                y_i, h_i, c_i = engine.lstm_infer(x, h0, c0, W, U, b, reverse, out=out, **options)
                assert out is None or y_i is out
                np.testing.assert_array_equal(y_i, y, err_msg=f"{flag} reverse={reverse}")
                np.testing.assert_array_equal(h_i, hs[last])
                np.testing.assert_array_equal(c_i, cs[last])


@needs_engine
def test_out_receives_only_its_view():
    """Written through a view of a larger array, the loop touches the view's elements and no other."""
    T, N, D, H = 6, 4, 3, 20
    x, h0, c0, W, U, b = _arrays(T, N, D, H, 3)
    whole = np.full((N, T, 3 * H), 7.0, np.float32)
    y, _, _ = engine.lstm_infer(x, h0, c0, W, U, b, out=whole[:, :, H:2 * H].transpose(1, 0, 2))
    assert (whole[:, :, :H] == 7.0).all() and (whole[:, :, 2 * H:] == 7.0).all()
    ref, _, _ = engine.lstm_infer(x, h0, c0, W, U, b)
    np.testing.assert_array_equal(whole[:, :, H:2 * H].transpose(1, 0, 2), ref)


@needs_engine
def test_bad_out_is_refused_by_name():
    T, N, D, H = 4, 3, 2, 8
    x, h0, c0, W, U, b = _arrays(T, N, D, H, 0)
    base = np.zeros((T, N, H), np.float32)
    read_only = base.copy()
    read_only.flags.writeable = False
    bad = [np.zeros((T, N, H + 1), np.float32), np.zeros((T, N, H), np.float64), base[::-1], read_only,
           np.broadcast_to(np.zeros((1, N, H), np.float32), (T, N, H)), np.zeros((T, N, 2 * H), np.float32)[:, :, ::2],
           [[0.0] * H] * N, "y"]
    for out in bad:
        with pytest.raises(ValueError, match="^out: expected a writeable float32 array of shape"):
            engine.lstm_infer(x, h0, c0, W, U, b, out=out)
    with pytest.raises(ValueError, match="^h0: "):
        engine.lstm_infer(x, h0[:, :-1], c0, W, U, b)
    with pytest.raises(ValueError, match="^cell_clip: "):
        engine.lstm_infer(x, h0, c0, W, U, b, cell_clip=-1.0)


@needs_engine
@pytest.mark.parametrize("options", [{}, {"peepholes": True, "zoneout": 0.2, "gate_clip": 2.0},
                                     {"proj_size": 5}, {"layer_norm": True}])
def test_layer_infer_equals_forward(options, monkeypatch):
    """Recurrent.infer (lstm_infer for the plain cell and the options it takes, lstm_forward within
    inference() for the loops of their own) gives forward's bits, stacked and bidirectional, with and
    without lengths; the layer's output is filled in place."""
    calls = []
    real = engine.lstm_infer
    monkeypatch.setattr(engine, "lstm_infer", lambda *a, **k: calls.append(k.get("out")) or real(*a, **k))
    layer = rnnlab.LSTM(6, 24, num_layers=2, bidirectional=True, seed=2, **options).eval()
    rng = np.random.default_rng(2)
    for N in (1, 2, 9):
        x = rng.standard_normal((N, 11, 6)).astype(np.float32)
        for lengths in (None, np.arange(N) % 11 + 1):
            calls.clear()
            y, (h, c), _ = layer.forward(x, lengths=lengths)
            y_i, (h_i, c_i) = layer.infer(x, lengths=lengths)
            np.testing.assert_array_equal(y_i, y)
            np.testing.assert_array_equal(h_i, h)
            np.testing.assert_array_equal(c_i, c)
            in_place = lengths is None and not options.get("proj_size") and not options.get("layer_norm")
            assert len(calls) == (4 if in_place else 0)
            if in_place:                          # every direction wrote into a view of the layers' outputs
                assert all(out is not None and not out.flags.c_contiguous for out in calls)


@needs_engine
def test_predict_and_evaluate_keep_no_cache(monkeypatch):
    """rnnlab.predict and rnnlab.evaluate only compute outputs: they run within predicting(), where
    the LSTM goes through lstm_infer; the outputs are forward's, bit for bit."""
    from rnnlab.models import LastStep, Sequential
    calls = []
    real = engine.lstm_infer
    monkeypatch.setattr(engine, "lstm_infer", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = Sequential([rnnlab.LSTM(4, 16, seed=0), LastStep(), rnnlab.Dense(16, 3, seed=1)])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 7, 4)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    want, _ = model.forward(x)
    got = rnnlab.predict(model, x, batch_size=4)
    assert len(calls) == 3                                # three batches, one LSTM call each
    np.testing.assert_array_equal(got, want)
    calls.clear()
    metrics = rnnlab.evaluate(model, x, y, batch_size=5)
    assert len(calls) == 2 and np.isfinite(metrics["loss"])
    assert not engine.inference_mode()                    # and the mode is left as it was


@needs_engine
def test_out_whose_elements_share_addresses_is_refused():
    """An as_strided view whose steps or rows overlap would have the loop read back what it just
    wrote over: refused by name. A view with any stride on a length-1 axis is fine."""
    from numpy.lib.stride_tricks import as_strided
    T, N, D, H = 4, 3, 2, 5
    x, h0, c0, W, U, b = _arrays(T, N, D, H, 1)
    base = np.zeros(400, np.float32)
    for strides in ((4, 20, 4), (20, 20, 4), (60, 4, 4), (60, 8, 4), (4, 4, 4), (60, 16, 4)):
        with pytest.raises(ValueError, match="^out: expected .* no two elements at one address"):
            engine.lstm_infer(x, h0, c0, W, U, b, out=as_strided(base, (T, N, H), strides))
    ref, h_ref, c_ref = engine.lstm_infer(x, h0, c0, W, U, b)
    for strides in ((60, 20, 4), (20, 80, 4), (100, 24, 4)):      # time-major, batch-major, gaps
        out = as_strided(np.zeros(400, np.float32), (T, N, H), strides)
        y, h, c = engine.lstm_infer(x, h0, c0, W, U, b, out=out)
        np.testing.assert_array_equal(y, ref)
    x1, h1, c1, W1, U1, b1 = _arrays(1, 1, D, H, 2)
    a = np.zeros((1, H), np.float32)[:, None, :]                  # strides (4H, 0, 4): one row, one step
    y1, _, _ = engine.lstm_infer(x1, h1, c1, W1, U1, b1, out=a[None, 0])
    np.testing.assert_array_equal(y1, engine.lstm_infer(x1, h1, c1, W1, U1, b1)[0])


def test_empty_x_is_named():
    x, h0, c0, W, U, b = _arrays(3, 2, 4, 5, 0)
    for bad in (x[:0], x[:, :0]):
        with pytest.raises(ValueError, match="^x: expected at least one time step and one row"):
            engine.lstm_infer(bad, h0[:bad.shape[1]], c0[:bad.shape[1]], W, U, b)


@needs_engine
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_backward_of_an_inference_cache_is_refused_by_name(kind):
    """A forward within inference() keeps no backward cache; its backward says so, naming cache."""
    from rnnlab.models import LastStep, Sequential, predicting
    layer = getattr(rnnlab, kind)(4, 5, bidirectional=True, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 6, 4)).astype(np.float32)
    for lengths in (None, np.array([6, 3])):
        with engine.inference():
            y, _, cache = layer.forward(x, lengths=lengths)
        with pytest.raises(ValueError, match="^cache: it was made within engine.inference()"):
            layer.backward(np.ones_like(y), None, cache)
    model = Sequential([getattr(rnnlab, kind)(4, 5, seed=0), LastStep(), rnnlab.Dense(5, 2, seed=0)])
    with predicting(model):
        out, cache = model.forward(x)
    with pytest.raises(ValueError, match="^cache: it was made within engine.inference()"):
        model.backward(np.ones_like(out), cache)


def test_predict_restores_each_layers_own_mode():
    from rnnlab.layers import Dropout
    from rnnlab.models import LastStep, Sequential
    model = Sequential([rnnlab.LSTM(4, 8, zoneout=0.2, seed=0), Dropout(0.5), rnnlab.GRU(8, 6, seed=1), LastStep(),
                        rnnlab.Dense(6, 3, seed=2)])
    model.eval()
    model.layers[0].train()
    modes = [getattr(layer, "training", None) for layer in model.layers]
    rnnlab.predict(model, np.zeros((3, 5, 4), np.float32))
    assert [getattr(layer, "training", None) for layer in model.layers] == modes and not model.training
    with pytest.raises(ValueError):
        rnnlab.predict(model, np.zeros((3, 5, 7), np.float32))   # a wrong width, inside the block
    assert [getattr(layer, "training", None) for layer in model.layers] == modes
