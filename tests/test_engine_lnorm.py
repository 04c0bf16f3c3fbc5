"""The compiled engine's layer normalization (``layer_norm=True``) against the NumPy variant step
functions, which are the reference: the LSTM (rnnlab.layers.lstm_variants [6]) alone and with its
other compiled options (peepholes, cell_clip, input_forget, forget_bias, hard-sigmoid gates, zoneout,
weight drop), and the reset-after GRU (rnnlab.layers.gru_variants [L]) alone and with hard-sigmoid
gates, zoneout and weight drop. Outputs, final states, dx, dstate0 and every parameter gradient (the
gains g_x, g_h, the LSTM's g_c and b_c and the GRU's b_hn included) within float32 relative error
1e-5, over ragged batches, reverse and bidirectional, stacked layers, batch 1 and H not a multiple of
16, for every instruction set this CPU runs; that such a layer really runs the compiled loop; that the
result does not depend on the thread count; and that inference equals the forward.

LN divides by each row's s, which scales up rounding: on the deeper cases the float32 NumPy reference
is itself off by up to 2e-5 from the float64 one, and two float32 results that round differently can
then differ by more than 1e-5. A result beyond TOL of the float32 reference must be within TOL of the
float64 one (same parameters and masks; at most twice as far from it as the float32 reference), so
that the difference is rounding, not a wrong term."""
import numpy as np
import pytest

import rnnlab
from rnnlab import engine
from rnnlab.layers import gru as gru_mod
from rnnlab.layers import lstm as lstm_mod
from rnnlab.layers.gru_variants import GRUVCache
from rnnlab.layers.lstm_variants import LSTMVCache
from rnnlab.layers import regularizers

from conftest import rel_err
from test_engine import _engines, needs_engine
from test_engine_variants import _results

TOL = 1e-5
GAINS = ("g_x", "g_h", "g_c", "b_c")


def _layer(kind, D, H, L, bi, seed, direction="forward", training=True, dtype="float32", **options):
    """A fresh layer with layer_norm whose gains and b_c are random (seeded), so that a mix-up of g_x,
    g_h and g_c, or a missing b_c, changes the results (the initial gains are all 1, b_c 0). A float64
    layer gets the float32 one's parameters."""
    make = getattr(rnnlab, kind)
    layer = make(D, H, num_layers=L, bidirectional=bi, seed=seed, direction=direction, layer_norm=True,
                 **options).train(training)
    rng = np.random.default_rng(seed + 7)
    for name, value in layer.params.items():
        if name.rsplit(".", 1)[-1] in GAINS:
            shift = 0.0 if name.endswith("b_c") else 1.0
            value[...] = (shift + 0.2 * rng.standard_normal(value.shape)).astype(value.dtype)
    if dtype == "float32":
        return layer
    wide = make(D, H, num_layers=L, bidirectional=bi, seed=seed, direction=direction, layer_norm=True, dtype=dtype,
                **options).train(training)
    for name, value in layer.params.items():
        wide.params[name][...] = value
    return wide


def _run(kind, flag, monkeypatch, *, D, H, L, bi, N, T, lengths, seed, training=True, direction="forward",
         scale=1.0, dtype="float32", **options):
    """forward and backward of a fresh layer (same seed: same weights, gains and masks) on
    x ~ N(0, scale^2); the results by name and the cache of each (layer, direction)."""
    monkeypatch.setenv("RNNLAB_ENGINE", flag)
    if dtype != "float32":                               # the float32 layer's masks, in float64
        for name in ("keep_mask", "dropout_mask"):
            draw = getattr(regularizers, name)
            monkeypatch.setattr(regularizers, name, lambda rng, shape, p, dt, draw=draw:
                                draw(rng, shape, p, np.float32).astype(dt))
    layer = _layer(kind, D, H, L, bi, seed, direction, training, dtype, **options)
    return _results(layer, N, T, D, seed, lengths, scale, dtype)


LSTM_CASES = [  # options, training, D, H, layers, bidirectional, N, T, ragged, direction
    ({}, False, 5, 37, 2, True, 7, 9, True, "forward"),
    ({}, False, 3, 16, 1, False, 1, 12, False, "forward"),
    ({}, False, 6, 70, 1, False, 13, 5, True, "reverse"),
    ({"forget_bias": 1.0}, False, 4, 33, 3, False, 6, 4, True, "forward"),
    ({"peepholes": True}, False, 5, 37, 1, True, 7, 9, True, "forward"),
    ({"cell_clip": 0.8}, False, 6, 70, 1, True, 13, 5, True, "forward"),
    ({"input_forget": True, "forget_bias": 1.0}, False, 3, 16, 1, False, 1, 12, False, "reverse"),
    ({"peepholes": True, "cell_clip": 0.8, "input_forget": True}, False, 6, 70, 2, True, 13, 5, True, "forward"),
    ({"gate_activation": "hard_sigmoid"}, False, 5, 37, 2, True, 7, 9, True, "forward"),
    ({"gate_activation": "hard_sigmoid_keras2", "peepholes": True}, False, 4, 33, 1, False, 6, 4, True, "reverse"),
    ({"weight_drop": 0.3}, True, 5, 37, 2, True, 7, 9, True, "forward"),
    ({"zoneout": 0.3}, True, 5, 37, 2, True, 7, 9, True, "forward"),
    ({"zoneout": (0.2, 0.0)}, True, 6, 70, 1, True, 13, 5, True, "forward"),
    ({"zoneout": (0.0, 0.4), "peepholes": True}, True, 4, 33, 3, False, 6, 4, False, "forward"),
    ({"zoneout": (0.2, 0.4), "cell_clip": 0.8}, False, 5, 37, 2, True, 7, 9, True, "forward"),   # expectation
    ({"zoneout": (0.1, 0.3), "peepholes": True, "cell_clip": 0.8, "weight_drop": 0.2}, True, 3, 16, 1, False, 1,
     12, False, "reverse"),
    # several 64-unit panels and the weight gradients' blocking (T N = 300 rows, H = 200)
    ({"peepholes": True}, False, 70, 200, 1, True, 12, 25, True, "forward"),
    ({"zoneout": 0.2, "weight_drop": 0.3}, True, 9, 131, 1, False, 24, 13, True, "forward"),
]


def _case_id(c):
    opts = "-".join(f"{k}={v}" for k, v in c[0].items()) or "ln"
    return f"{opts}-{'train' if c[1] else 'eval'}-H{c[3]}-L{c[4]}-{'bi' if c[5] else 'uni'}-N{c[6]}" \
           f"{'-ragged' if c[8] else ''}-{c[9]}"


def _assert_close(got, ref, ref64, name):
    """got (the engine's) within TOL of ref (NumPy float32), or else within TOL of ref64 (NumPy float64,
    same parameters and masks) and, where ref itself is off by more than TOL / 2 from ref64, at most
    twice as far from ref64 as ref is."""
    assert set(got) == set(ref)
    for key in ref:
        assert got[key].dtype == np.float32, (name, key)
        err = rel_err(got[key], ref[key])
        if err <= TOL:
            continue
        err64, ref_err = rel_err(got[key], ref64[key]), rel_err(ref[key], ref64[key])
        assert err64 <= max(TOL, 2 * ref_err), (name, key, err, err64, ref_err)


def _lengths(case_seed, N, T, ragged):
    if not ragged:
        return None
    lengths = np.random.default_rng(case_seed).integers(1, T + 1, size=N)
    lengths[0] = T
    return lengths


@needs_engine
@pytest.mark.parametrize("case", LSTM_CASES, ids=[_case_id(c) for c in LSTM_CASES])
def test_lstm_layer_norm_equals_numpy(case, monkeypatch):
    options, training, D, H, L, bi, N, T, ragged, direction = case
    shape = dict(D=D, H=H, L=L, bi=bi, N=N, T=T, lengths=_lengths(H, N, T, ragged), seed=H + L, training=training,
                 direction=direction, scale=4.0 if "gate_activation" in options else 1.0, **options)
    ref, ref_cells = _run("LSTM", "numpy", monkeypatch, **shape)
    assert all(isinstance(c, LSTMVCache) for c in ref_cells)              # the reference: NumPy step functions
    assert {k.rsplit(".", 1)[-1] for k in ref} >= set(GAINS)
    ref64, _ = _run("LSTM", "numpy", monkeypatch, dtype="float64", **shape)
    for name in _engines():
        got, cells = _run("LSTM", name, monkeypatch, **shape)
        assert all(isinstance(c, lstm_mod.LSTMEngineCache) for c in cells), (name, [type(c).__name__ for c in cells])
        _assert_close(got, ref, ref64, name)


@needs_engine
@pytest.mark.parametrize("seed", range(4))
def test_lstm_layer_norm_random_shapes(seed, monkeypatch):
    """Random shapes and option sets with layer_norm, the CPU's best engine (the default)."""
    rng = np.random.default_rng(300 + seed)
    options = {"peepholes": bool(rng.integers(2)), "input_forget": bool(rng.integers(2))}
    if rng.integers(2):
        options["cell_clip"] = float(rng.uniform(0.2, 2.0))
    if seed % 2:
        options["zoneout"] = (float(rng.uniform(0, 0.5)), float(rng.uniform(0, 0.5)))
    shape = dict(D=int(rng.integers(1, 20)), H=int(rng.integers(1, 90)), L=int(rng.integers(1, 3)),
                 bi=bool(rng.integers(2)), N=int(rng.integers(1, 15)), T=int(rng.integers(1, 12)), seed=seed,
                 training=bool(rng.integers(2)), **options)
    shape["lengths"] = rng.integers(1, shape["T"] + 1, size=shape["N"]) if seed % 3 else None
    ref, _ = _run("LSTM", "numpy", monkeypatch, **shape)
    ref64, _ = _run("LSTM", "numpy", monkeypatch, dtype="float64", **shape)
    got, cells = _run("LSTM", "auto", monkeypatch, **shape)
    assert all(isinstance(c, lstm_mod.LSTMEngineCache) for c in cells), shape
    _assert_close(got, ref, ref64, shape)


@needs_engine
def test_lstm_layer_norm_never_calls_the_numpy_steps(monkeypatch):
    """A float32 LSTM with layer_norm (alone and with the other compiled options) trains and infers
    without the NumPy variant loop, and says it runs compiled."""
    def refuse(*args, **kwargs):
        raise AssertionError("the NumPy variant loop ran")
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    monkeypatch.setattr(lstm_mod, "lstmv_forward", refuse)
    monkeypatch.setattr(lstm_mod, "lstmv_backward", refuse)
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    for options in ({}, {"peepholes": True, "cell_clip": 0.8}, {"zoneout": (0.2, 0.1), "weight_drop": 0.3},
                    {"gate_activation": "hard_sigmoid", "input_forget": True, "bidirectional": True}):
        layer = rnnlab.LSTM(4, 20, seed=0, layer_norm=True, **options).train()
        assert layer.compiled, options
        y, state, cache = layer.forward(x)
        grads = layer.backward(np.ones_like(y), None, cache)[2]
        assert {"l0.g_x", "l0.g_h", "l0.g_c", "l0.b_c"} <= set(grads)
        layer.infer(x)


@needs_engine
@pytest.mark.parametrize("options", [{"recurrent_dropout": 0.3}, {"proj_size": 5}, {"gate_clip": 1.0}])
def test_layer_norm_with_an_option_the_engine_lacks_runs_numpy(options, monkeypatch):
    """layer_norm with recurrent dropout, proj_size or gate_clip runs the NumPy step functions, and the
    layer says so."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    layer = rnnlab.LSTM(4, 20, seed=0, layer_norm=True, **options).train()
    assert not layer.compiled
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    _, _, cache = layer.forward(x)
    assert isinstance(cache.directions[0].cell, LSTMVCache)


@needs_engine
@pytest.mark.parametrize("threads", ["2", "3"])
def test_lstm_layer_norm_does_not_depend_on_threads(threads, monkeypatch):
    """The row statistics, the column sums (the gains' gradients, db, dp) and every product come out
    the same bits on 1 thread and on several (H = 200: four 64-unit panels, thirteen 16-unit blocks)."""
    shape = dict(D=6, H=200, L=1, bi=True, N=13, T=7, lengths=_lengths(5, 13, 7, True), seed=3, training=True,
                 peepholes=True, cell_clip=0.5, zoneout=(0.1, 0.2), weight_drop=0.2)
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "1")
    one, _ = _run("LSTM", "auto", monkeypatch, **shape)
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", threads)
    many, _ = _run("LSTM", "auto", monkeypatch, **shape)
    for key in one:
        assert np.array_equal(one[key], many[key]), key


@needs_engine
def test_lstm_layer_norm_infer_equals_forward(monkeypatch):
    """infer (no cache kept) gives forward's outputs and states bit for bit."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    x = np.random.default_rng(0).standard_normal((4, 6, 5)).astype(np.float32)
    for options in ({}, {"peepholes": True, "cell_clip": 0.8}, {"zoneout": (0.3, 0.1)},
                    {"zoneout": 0.2, "peepholes": True, "cell_clip": 0.8, "input_forget": True}):
        layer = _layer("LSTM", 5, 21, 2, True, 1, training=False, **options)
        y, (h, c), _ = layer.forward(x, lengths=[6, 3, 5, 1])
        y2, (h2, c2) = layer.infer(x, lengths=[6, 3, 5, 1])
        assert np.array_equal(y, y2) and np.array_equal(h, h2) and np.array_equal(c, c2), options


@needs_engine
def test_lstm_layer_norm_backward_twice(monkeypatch):
    """The backward leaves the forward's cache as it was: a second backward gives the same bits."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    layer = _layer("LSTM", 4, 20, 1, False, 0, peepholes=True)
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    y, _, cache = layer.forward(x)
    first = layer.backward(np.ones_like(y), None, cache)
    second = layer.backward(np.ones_like(y), None, cache)
    assert all(np.array_equal(first[2][k], second[2][k]) for k in first[2])
    assert np.array_equal(first[0], second[0])


@needs_engine
def test_engine_lstm_layer_norm_arguments():
    """lstm_forward / lstm_backward with layer_norm: a wrong gains dict and a missing ln_cache are
    refused with errors that name them; within inference() no cache is needed."""
    T, N, D, H = 3, 2, 4, 5
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, N, D)).astype(np.float32)
    h0 = np.zeros((N, H), np.float32)
    W, U, b = (rng.standard_normal(s).astype(np.float32) for s in ((D, 4 * H), (H, 4 * H), (4 * H,)))
    ln = {"g_x": np.ones(4 * H), "g_h": np.ones(4 * H), "g_c": np.ones(H), "b_c": np.zeros(H)}
    with pytest.raises(ValueError, match="layer_norm"):
        engine.lstm_forward(x, h0, h0, W, U, b, layer_norm={"g_x": ln["g_x"]}, ln_cache={})
    with pytest.raises(ValueError, match="ln_cache"):
        engine.lstm_forward(x, h0, h0, W, U, b, layer_norm=ln)
    cache = {}
    y, gates, hs, cs, tanh_c = engine.lstm_forward(x, h0, h0, W, U, b, layer_norm=ln, ln_cache=cache)
    assert {"nx", "sx", "nh", "sh", "mc", "sc"} <= set(cache)
    with pytest.raises(ValueError, match="ln_cache"):
        engine.lstm_backward(y, h0, h0, x, W, U, gates, hs, cs, tanh_c, layer_norm=ln, ln_cache={})
    with engine.inference():
        y2 = engine.lstm_forward(x, h0, h0, W, U, b, layer_norm=ln)[0]
    assert np.array_equal(y, y2)
    # the normalized products: zero mean and unit variance over each row's 4H columns
    assert np.allclose(cache["nh"].mean(-1), 0, atol=1e-5) and np.allclose(cache["nx"].var(-1), 1, atol=1e-3)


@needs_engine
def test_lstm_layer_norm_cell_clip_clips(monkeypatch):
    """The cell_clip of the test cases binds: some of the compiled loop's c_t sit at the bound, none
    beyond it (and with LN the output reads LN(c_t) of the clipped c_t)."""
    _, cells = _run("LSTM", "auto", monkeypatch, D=6, H=70, L=1, bi=False, N=13, T=5, lengths=None, seed=71,
                    training=False, cell_clip=0.8)
    cs = cells[0].cell.cs[1:]
    assert np.abs(cs).max() == np.float32(0.8)
    assert 0.005 < np.mean(np.abs(cs) == np.float32(0.8)) < 0.99


GRU_CASES = [  # options, training, D, H, layers, bidirectional, N, T, ragged, direction
    ({}, False, 5, 37, 2, True, 7, 9, True, "forward"),
    ({}, False, 3, 16, 1, False, 1, 12, False, "forward"),
    ({}, False, 6, 70, 1, False, 13, 5, True, "reverse"),
    ({}, False, 4, 33, 3, False, 6, 4, True, "forward"),
    ({"gate_activation": "hard_sigmoid"}, False, 5, 37, 2, True, 7, 9, True, "forward"),
    ({"gate_activation": "hard_sigmoid_keras2", "zoneout": 0.2}, False, 4, 33, 1, False, 6, 4, True, "reverse"),
    ({"zoneout": 0.3}, True, 5, 37, 2, True, 7, 9, True, "forward"),
    ({"weight_drop": 0.3}, True, 6, 70, 1, True, 13, 5, True, "forward"),
    ({"zoneout": 0.2, "weight_drop": 0.3, "gate_activation": "hard_sigmoid"}, True, 3, 16, 1, False, 1, 12, False,
     "reverse"),
    ({}, False, 70, 200, 1, True, 12, 25, True, "forward"),
    ({"zoneout": 0.2, "weight_drop": 0.3}, True, 9, 131, 1, False, 24, 13, True, "forward"),
]


@needs_engine
@pytest.mark.parametrize("case", GRU_CASES, ids=[_case_id(c) for c in GRU_CASES])
def test_gru_layer_norm_equals_numpy(case, monkeypatch):
    options, training, D, H, L, bi, N, T, ragged, direction = case
    shape = dict(D=D, H=H, L=L, bi=bi, N=N, T=T, lengths=_lengths(H, N, T, ragged), seed=H + L, training=training,
                 direction=direction, scale=4.0 if "gate_activation" in options else 1.0, **options)
    ref, ref_cells = _run("GRU", "numpy", monkeypatch, **shape)
    assert all(isinstance(c, GRUVCache) for c in ref_cells)
    assert {k.rsplit(".", 1)[-1] for k in ref} >= {"g_x", "g_h", "b_hn"}
    ref64, _ = _run("GRU", "numpy", monkeypatch, dtype="float64", **shape)
    for name in _engines():
        got, cells = _run("GRU", name, monkeypatch, **shape)
        assert all(isinstance(c, gru_mod.GRUEngineCache) for c in cells), (name, [type(c).__name__ for c in cells])
        _assert_close(got, ref, ref64, name)


@needs_engine
def test_gru_layer_norm_never_calls_the_numpy_steps(monkeypatch):
    """A float32 reset-after GRU with layer_norm (alone, with hard-sigmoid gates, zoneout and weight
    drop) trains and infers without the NumPy variant loop, and says it runs compiled; with recurrent
    dropout it runs NumPy and says so."""
    def refuse(*args, **kwargs):
        raise AssertionError("the NumPy variant loop ran")
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    assert not rnnlab.GRU(4, 20, layer_norm=True, recurrent_dropout=0.2).compiled
    monkeypatch.setattr(gru_mod, "gruv_forward", refuse)
    monkeypatch.setattr(gru_mod, "gruv_backward", refuse)
    for options in ({}, {"gate_activation": "hard_sigmoid", "zoneout": 0.2, "weight_drop": 0.3, "bidirectional": True}):
        layer = rnnlab.GRU(4, 20, seed=0, layer_norm=True, **options).train()
        assert layer.compiled, options
        y, state, cache = layer.forward(x)
        grads = layer.backward(np.ones_like(y), None, cache)[2]
        assert {"l0.g_x", "l0.g_h", "l0.b_hn"} <= set(grads)
        layer.infer(x)


@needs_engine
def test_gru_layer_norm_threads_and_infer(monkeypatch):
    """The same bits on 1 and 3 threads (H = 200: four panels); infer equals forward bit for bit."""
    shape = dict(D=6, H=200, L=1, bi=True, N=13, T=7, lengths=_lengths(5, 13, 7, True), seed=3, training=True,
                 zoneout=0.2, weight_drop=0.2, gate_activation="hard_sigmoid")
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "1")
    one, _ = _run("GRU", "auto", monkeypatch, **shape)
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "3")
    many, _ = _run("GRU", "auto", monkeypatch, **shape)
    for key in one:
        assert np.array_equal(one[key], many[key]), key
    x = np.random.default_rng(0).standard_normal((4, 6, 5)).astype(np.float32)
    layer = _layer("GRU", 5, 21, 2, True, 1, training=False, zoneout=0.3)
    y, h, _ = layer.forward(x, lengths=[6, 3, 5, 1])
    y2, h2 = layer.infer(x, lengths=[6, 3, 5, 1])
    assert np.array_equal(y, y2) and np.array_equal(h, h2)
