"""The compiled engine's cell variants against the NumPy variant step functions, which are the
reference: LSTM peepholes, cell_clip and input_forget, the LSTM's and GRU's hard-sigmoid gates, zoneout of all three cells in the compiled
loops, and weight drop (the loops on U' = U * S). Outputs, final states, dx, dstate0 and every parameter gradient
within float32 relative error 1e-5, over ragged batches, reverse and bidirectional, stacked layers,
batch 1 and H not a multiple of 16, for every instruction set this CPU runs; that such a layer
really runs the compiled loop; and that the options the engine lacks still run the NumPy ones."""
import numpy as np
import pytest

import rnnlab
from rnnlab import engine
from rnnlab.layers import gru as gru_mod
from rnnlab.layers import lstm as lstm_mod
from rnnlab.layers.gru_variants import GRUVCache
from rnnlab.layers.lstm_variants import LSTMVCache
from rnnlab.layers.recurrent import RegCache, ShardedCache

from conftest import rel_err
from test_engine import _engines, needs_engine

TOL = 1e-5


def _run(kind, flag, monkeypatch, *, D, H, L, bi, N, T, lengths, seed, training=True, direction="forward",
         scale=1.0, **options):
    """forward and backward of a fresh layer (same seed: same weights and masks) on x ~ N(0, scale^2);
    the results by name and the cache of each (layer, direction)."""
    monkeypatch.setenv("RNNLAB_ENGINE", flag)
    layer = getattr(rnnlab, kind)(D, H, num_layers=L, bidirectional=bi, seed=seed, direction=direction,
                                  **options).train(training)
    return _results(layer, N, T, D, seed, lengths, scale)


def _results(layer, N, T, D, seed, lengths, scale=1.0, dtype="float32"):
    """forward and backward of ``layer`` on x ~ N(0, scale^2), dy, states and their gradients drawn
    from ``seed`` (in float32, then cast to dtype); the results by name ("y", "dx", "state.h",
    "dstate0.h", ..., and the parameter gradients) and the cache of each (layer, direction)."""
    rng = np.random.default_rng(seed + 1)
    x = (rng.standard_normal((N, T, D)) * scale).astype(np.float32).astype(dtype)
    dy = rng.standard_normal((N, T, layer.output_size)).astype(np.float32).astype(dtype)
    s0 = [(rng.standard_normal(layer.state_shape(N, s)).astype(np.float32) * 0.5).astype(dtype)
          for s in layer.state_names]
    ds = [rng.standard_normal(layer.state_shape(N, s)).astype(np.float32).astype(dtype) for s in layer.state_names]
    pack = tuple if len(layer.state_names) > 1 else (lambda p: p[0])
    flat = list if len(layer.state_names) > 1 else (lambda s: [s])
    y, state, cache = layer.forward(x, pack(s0), lengths=lengths)
    dx, ds0, grads = layer.backward(dy, pack(ds), cache)
    names = ["y", "dx"] + [f"state.{s}" for s in layer.state_names] + [f"dstate0.{s}" for s in layer.state_names]
    got = dict(zip(names + list(grads), [y, dx, *flat(state), *flat(ds0), *grads.values()]))
    parts = cache.parts if isinstance(cache, ShardedCache) else [cache]
    return got, [d.cell for part in parts for d in part.directions]


def assert_same_bits_on_threads(run, kind, shape, monkeypatch):
    """run(kind, "auto", monkeypatch, **shape)[0] (a dict of results) on 1, 2 and 3 engine threads: the
    same bits each time."""
    runs = []
    for threads in ("1", "2", "3"):
        monkeypatch.setenv("RNNLAB_ENGINE_THREADS", threads)
        runs.append(run(kind, "auto", monkeypatch, **shape)[0])
    for other in runs[1:]:
        for key in runs[0]:
            assert np.array_equal(runs[0][key], other[key]), key


CASES = [  # kind, options, training, D, H, layers, bidirectional, N, T, ragged, engine cache type
    ("LSTM", {"peepholes": True}, False, 5, 37, 2, True, 7, 9, True, lstm_mod.LSTMEngineCache),
    ("LSTM", {"peepholes": True}, False, 3, 16, 1, False, 1, 12, False, lstm_mod.LSTMEngineCache),
    ("LSTM", {"cell_clip": 0.3}, False, 6, 70, 1, True, 13, 5, True, lstm_mod.LSTMEngineCache),
    ("LSTM", {"cell_clip": 0.5}, False, 4, 33, 3, False, 6, 4, False, lstm_mod.LSTMEngineCache),
    ("LSTM", {"input_forget": True}, False, 5, 37, 2, True, 7, 9, True, lstm_mod.LSTMEngineCache),
    ("LSTM", {"input_forget": True, "forget_bias": 1.0}, False, 3, 16, 1, False, 1, 12, False,
     lstm_mod.LSTMEngineCache),
    ("LSTM", {"peepholes": True, "cell_clip": 0.4, "input_forget": True, "forget_bias": 1.0}, False, 6, 70, 2,
     True, 13, 5, True, lstm_mod.LSTMEngineCache),
    ("LSTM", {"peepholes": True, "cell_clip": 0.4, "weight_drop": 0.3}, True, 5, 37, 1, True, 7, 9, True,
     lstm_mod.LSTMEngineCache),
    ("LSTM", {"weight_drop": 0.3}, True, 5, 37, 2, True, 7, 9, True, lstm_mod.LSTMEngineCache),
    ("LSTM", {"weight_drop": 0.5}, True, 3, 16, 1, False, 1, 12, False, lstm_mod.LSTMEngineCache),
    ("LSTM", {"zoneout": 0.3}, True, 5, 37, 2, True, 7, 9, True, lstm_mod.LSTMEngineCache),
    ("LSTM", {"zoneout": (0.2, 0.0)}, True, 6, 70, 1, True, 13, 5, True, lstm_mod.LSTMEngineCache),
    ("LSTM", {"zoneout": (0.0, 0.4)}, True, 4, 33, 3, False, 6, 4, False, lstm_mod.LSTMEngineCache),
    ("LSTM", {"zoneout": (0.2, 0.4)}, False, 5, 37, 2, True, 7, 9, True, lstm_mod.LSTMEngineCache),  # expectation
    ("LSTM", {"zoneout": 0.3, "input_forget": True, "weight_drop": 0.2}, True, 3, 16, 1, False, 1, 12, False,
     lstm_mod.LSTMEngineCache),
    ("LSTM", {"zoneout": 0.3, "peepholes": True}, True, 5, 37, 2, True, 7, 9, True, lstm_mod.LSTMEngineCache),
    ("LSTM", {"zoneout": (0.3, 0.2), "cell_clip": 0.4}, False, 6, 70, 1, True, 13, 5, True, lstm_mod.LSTMEngineCache),
    ("LSTM", {"zoneout": (0.1, 0.4), "cell_clip": 0.4, "peepholes": True}, True, 4, 33, 3, False, 6, 4, True,
     lstm_mod.LSTMEngineCache),
    ("GRU", {"weight_drop": 0.3}, True, 5, 37, 2, True, 7, 9, True, RegCache),
    ("GRU", {"weight_drop": 0.5}, True, 6, 70, 1, False, 1, 5, False, RegCache),
    ("RNN", {"weight_drop": 0.3}, True, 5, 37, 2, True, 7, 9, True, RegCache),
    ("RNN", {"weight_drop": 0.3, "nonlinearity": "relu"}, True, 3, 129, 1, True, 1, 6, False, RegCache),
    ("GRU", {"zoneout": 0.3}, True, 5, 37, 2, True, 7, 9, True, RegCache),
    ("GRU", {"zoneout": 0.3}, False, 3, 16, 1, False, 1, 12, False, RegCache),
    ("GRU", {"zoneout": 0.2, "weight_drop": 0.3}, True, 6, 70, 1, True, 13, 5, True, RegCache),
    ("RNN", {"zoneout": 0.3}, True, 5, 37, 2, True, 7, 9, True, RegCache),
    ("RNN", {"zoneout": 0.3, "nonlinearity": "relu"}, False, 6, 70, 2, False, 13, 5, True, RegCache),
    ("RNN", {"zoneout": 0.2, "weight_drop": 0.3, "nonlinearity": "relu"}, True, 3, 129, 1, True, 1, 6, False,
     RegCache),
    # the weight-gradient blocking (T N = 300 rows > one 256-row chunk, H = 200 > one 192-row block)
    ("LSTM", {"peepholes": True, "cell_clip": 0.4}, False, 70, 200, 1, True, 12, 25, True, lstm_mod.LSTMEngineCache),
    ("LSTM", {"zoneout": 0.3, "weight_drop": 0.3}, True, 70, 200, 1, False, 12, 25, True, lstm_mod.LSTMEngineCache),
]


# hard-sigmoid gates, alone and with the other options; x ~ N(0, 12^2) puts part of the gates'
# pre-activations outside the linear range (|a| >= 3 or 2.5), where the clip and the zero slope act
HARD = ("hard_sigmoid", "hard_sigmoid_keras2")
HARD_CASES = [(act, *c) for act in HARD for c in [     # act, kind, options, training, D, H, L, bi, N, T, ragged
    ("LSTM", {}, False, 5, 37, 2, True, 7, 9, True),
    ("LSTM", {}, False, 3, 16, 1, False, 1, 12, False),
    ("LSTM", {"peepholes": True}, False, 6, 70, 1, True, 13, 5, True),
    ("LSTM", {"cell_clip": 0.4}, False, 4, 33, 3, False, 6, 4, True),
    ("LSTM", {"input_forget": True, "forget_bias": 1.0}, False, 5, 37, 1, True, 7, 9, True),
    ("LSTM", {"zoneout": (0.3, 0.2)}, True, 5, 37, 2, True, 7, 9, True),
    ("LSTM", {"zoneout": 0.2}, False, 3, 16, 1, False, 1, 12, False),
    ("LSTM", {"zoneout": (0.1, 0.4), "cell_clip": 0.4, "peepholes": True, "weight_drop": 0.2}, True, 4, 33, 2, True,
     6, 4, True),
    ("GRU", {}, False, 5, 37, 2, True, 7, 9, True),
    ("GRU", {}, False, 3, 16, 1, False, 1, 12, False),
    ("GRU", {}, False, 4, 33, 3, False, 6, 4, True),
    ("GRU", {"zoneout": 0.3}, True, 6, 70, 1, True, 13, 5, True),
    ("GRU", {"zoneout": 0.2}, False, 3, 16, 1, False, 1, 12, False),
    ("GRU", {"zoneout": 0.2, "weight_drop": 0.3}, True, 5, 37, 2, False, 7, 9, True),
]]
HARD_CASES += [(*c[:11], "reverse") for c in HARD_CASES if not c[7]]     # reverse: the unidirectional ones


def _case_id(c):
    opts = "-".join(f"{k}={v}" for k, v in c[1].items())
    return f"{c[0]}-{opts}-{'train' if c[2] else 'eval'}-H{c[4]}-L{c[5]}-{'bi' if c[6] else 'uni'}-N{c[7]}" \
           f"{'-ragged' if c[9] else ''}"


@needs_engine
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_engine_variant_equals_numpy(case, monkeypatch):
    kind, options, training, D, H, L, bi, N, T, ragged, cache_type = case
    lengths = None
    if ragged:
        lengths = np.random.default_rng(H).integers(1, T + 1, size=N)
        lengths[0] = T
    shape = dict(D=D, H=H, L=L, bi=bi, N=N, T=T, lengths=lengths, seed=H + L, training=training, **options)
    ref, ref_cells = _run(kind, "numpy", monkeypatch, **shape)
    assert not any(isinstance(c, cache_type) for c in ref_cells)          # the reference: NumPy step functions
    for name in _engines():
        got, cells = _run(kind, name, monkeypatch, **shape)
        assert all(isinstance(c, cache_type) for c in cells), (name, [type(c).__name__ for c in cells])
        assert set(got) == set(ref)
        for key in ref:
            assert got[key].dtype == np.float32, (name, key)
            assert rel_err(got[key], ref[key]) <= TOL, (name, key, rel_err(got[key], ref[key]))


@needs_engine
@pytest.mark.parametrize("case", HARD_CASES, ids=[f"{c[0]}-" + _case_id(c[1:]) + ("-reverse" if c[11:] else "")
                                                   for c in HARD_CASES])
def test_engine_hard_sigmoid_equals_numpy(case, monkeypatch):
    """gate_activation="hard_sigmoid" / "hard_sigmoid_keras2" in the compiled loops (the LSTM's variant
    loop, the reset-after GRU's) equals the NumPy variant step functions, forward and backward, on
    every instruction set."""
    act, kind, options, training, D, H, L, bi, N, T, ragged = case[:11]
    direction = case[11] if len(case) > 11 else "forward"
    engine_cache, numpy_cache = {"LSTM": (lstm_mod.LSTMEngineCache, LSTMVCache),
                                 "GRU": (gru_mod.GRUEngineCache, GRUVCache)}[kind]
    lengths = None
    if ragged:
        lengths = np.random.default_rng(H).integers(1, T + 1, size=N)
        lengths[0] = T
    shape = dict(D=D, H=H, L=L, bi=bi, N=N, T=T, lengths=lengths, seed=H + L, training=training, scale=12.0,
                 direction=direction, gate_activation=act, **options)
    ref, ref_cells = _run(kind, "numpy", monkeypatch, **shape)
    assert all(isinstance(c, numpy_cache) for c in ref_cells)
    for name in _engines():
        got, cells = _run(kind, name, monkeypatch, **shape)
        assert all(isinstance(c, engine_cache) for c in cells), (name, [type(c).__name__ for c in cells])
        assert set(got) == set(ref)
        for key in ref:
            assert got[key].dtype == np.float32, (name, key)
            assert rel_err(got[key], ref[key]) <= TOL, (name, key, rel_err(got[key], ref[key]))


@needs_engine
@pytest.mark.parametrize("act, slope", [("hard_sigmoid", 1 / 6), ("hard_sigmoid_keras2", 0.2)])
def test_hard_sigmoid_gates_saturate(act, slope, monkeypatch):
    """The hard-sigmoid test inputs drive part of the compiled loop's gates i, f, o to exactly 0 or 1
    (the clip) and leave part inside; there da is 0, inside it is slope times the upstream gradient."""
    H = 37
    _, cells = _run("LSTM", "auto", monkeypatch, D=5, H=H, L=1, bi=False, N=7, T=9, lengths=None, seed=3,
                    training=False, scale=12.0, gate_activation=act)
    c = cells[0].cell
    g = c.gates[..., :3 * H]
    saturated = (g == 0.0) | (g == 1.0)
    assert 0.05 < saturated.mean() < 0.95, saturated.mean()
    assert np.all((g >= 0.0) & (g <= 1.0))
    # one step back from the last one (dh_T = dc_T = 0): db's o block is sum over rows of da_o, with
    # da_o = sigma'(o) dy tanh(c_t) and sigma'(o) = slope where 0 < o < 1, else 0
    N = g.shape[1]
    dy = np.random.default_rng(0).standard_normal((1, N, H)).astype(np.float32)
    zero = np.zeros((N, H), np.float32)
    grads = engine.lstm_backward(dy, zero, zero, c.x[-1:], c.W, c.U, c.gates[-1:], c.hs[-2:], c.cs[-2:],
                                 c.tanh_c[-1:], gate_activation=act)[3]
    o = c.gates[-1, :, 2 * H:3 * H]
    want = np.where((o > 0) & (o < 1), dy[0] * c.tanh_c[-1] * np.float32(slope), 0.0).sum(0)
    assert np.any((o == 0) | (o == 1)) and np.any((o > 0) & (o < 1))
    assert np.allclose(grads["b"][2 * H:3 * H], want, rtol=1e-5, atol=1e-6)


@needs_engine
def test_hard_sigmoid_gru_never_calls_the_numpy_steps(monkeypatch):
    """A float32 reset-after GRU with hard-sigmoid gates (with zoneout, weight drop) trains and infers
    without the NumPy variant loop."""
    def refuse(*args, **kwargs):
        raise AssertionError("the NumPy variant loop ran")
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    monkeypatch.setattr(gru_mod, "gruv_forward", refuse)
    monkeypatch.setattr(gru_mod, "gruv_backward", refuse)
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    for options in ({"gate_activation": "hard_sigmoid"}, {"gate_activation": "hard_sigmoid_keras2", "zoneout": 0.2,
                                                          "weight_drop": 0.3, "bidirectional": True}):
        layer = rnnlab.GRU(4, 20, seed=0, **options).train()
        assert layer.compiled, options
        y, state, cache = layer.forward(x)
        layer.backward(np.ones_like(y), None, cache)
        layer.infer(x)


@needs_engine
def test_engine_rejects_an_unknown_gate_activation():
    T, N, D, H = 2, 1, 3, 4
    z = np.zeros((T, N, D), np.float32)
    with pytest.raises(ValueError, match="gate_activation"):
        engine.lstm_forward(z, np.zeros((N, H), np.float32), np.zeros((N, H), np.float32),
                            np.zeros((D, 4 * H), np.float32), np.zeros((H, 4 * H), np.float32),
                            np.zeros(4 * H, np.float32), gate_activation="relu")


@needs_engine
@pytest.mark.parametrize("seed", range(6))
def test_engine_variant_random_shapes(seed, monkeypatch):
    """Random shapes and LSTM option sets, the CPU's best engine (the default)."""
    rng = np.random.default_rng(200 + seed)
    options = {}
    if rng.integers(2):
        options["input_forget"] = True
    if rng.integers(2):
        options["weight_drop"] = float(rng.uniform(0.1, 0.6))
    if seed % 2:
        options["zoneout"] = (float(rng.uniform(0, 0.5)), float(rng.uniform(0, 0.5)))
    options["peepholes"] = bool(rng.integers(2))
    if rng.integers(2):
        options["cell_clip"] = float(rng.uniform(0.2, 2.0))
    shape = dict(D=int(rng.integers(1, 20)), H=int(rng.integers(1, 90)), L=int(rng.integers(1, 3)),
                 bi=bool(rng.integers(2)), N=int(rng.integers(1, 15)), T=int(rng.integers(1, 12)), seed=seed,
                 direction="reverse" if seed % 3 == 2 else "forward", training=bool(rng.integers(2)), **options)
    if shape["bi"]:
        shape["direction"] = "forward"
    shape["lengths"] = rng.integers(1, shape["T"] + 1, size=shape["N"]) if seed % 3 else None
    ref, _ = _run("LSTM", "numpy", monkeypatch, **shape)
    got, cells = _run("LSTM", "auto", monkeypatch, **shape)
    assert not any(isinstance(c, LSTMVCache) for c in cells), shape          # compiled, variant or plain
    for key in ref:
        assert rel_err(got[key], ref[key]) <= TOL, (shape, key, rel_err(got[key], ref[key]))


@needs_engine
def test_sharded_batch(monkeypatch):
    """With RNNLAB_THREADS=2, N >= 64 rows and H >= 256 units the NumPy cells run the batch as two
    halves at once (rnnlab.engine.threads); the engine runs it whole, as a compiled variant loop on its own
    threads, and agrees with the halves."""
    from rnnlab.engine import threads
    monkeypatch.setenv("RNNLAB_THREADS", "2")
    if not threads.enabled():
        pytest.skip("two concurrent tasks are not available on this machine")
    shape = dict(D=4, H=256, L=1, bi=False, N=64, T=3, lengths=np.arange(64) % 3 + 1, seed=5, training=False,
                 peepholes=True, cell_clip=0.5)
    ref, halves = _run("LSTM", "numpy", monkeypatch, **shape)
    assert len(halves) == 2
    got, cells = _run("LSTM", "auto", monkeypatch, **shape)
    assert len(cells) == 1 and isinstance(cells[0], lstm_mod.LSTMEngineCache)
    for key in ref:
        assert rel_err(got[key], ref[key]) <= TOL, (key, rel_err(got[key], ref[key]))


@needs_engine
def test_variant_layer_never_calls_the_numpy_steps(monkeypatch):
    """A float32 LSTM with a variant the engine has trains and infers without the NumPy variant loop."""
    def refuse(*args, **kwargs):
        raise AssertionError("the NumPy variant loop ran")
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    monkeypatch.setattr(lstm_mod, "lstmv_forward", refuse)
    monkeypatch.setattr(lstm_mod, "lstmv_backward", refuse)
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    for options in ({"peepholes": True}, {"cell_clip": 1.0}, {"input_forget": True}, {"zoneout": 0.2},
                    {"weight_drop": 0.3}, {"gate_activation": "hard_sigmoid"},
                    {"gate_activation": "hard_sigmoid_keras2", "peepholes": True, "zoneout": 0.1}):
        layer = rnnlab.LSTM(4, 20, seed=0, **options).train()
        assert layer.compiled, options
        y, state, cache = layer.forward(x)
        layer.backward(np.ones_like(y), None, cache)
        layer.infer(x)


@needs_engine
@pytest.mark.parametrize("kind, options, training", [
    ("LSTM", {"proj_size": 5, "layer_norm": True}, False), ("LSTM", {"layer_norm": True, "recurrent_dropout": 0.3}, True),
    ("LSTM", {"proj_size": 5, "gate_clip": 1.0}, False), ("LSTM", {"proj_size": 5, "recurrent_dropout": 0.3}, True),
    ("LSTM", {"layer_norm": True, "gate_clip": 1.0}, False),
    ("GRU", {"layer_norm": True, "recurrent_dropout": 0.2}, True),
    ("GRU", {"reset_after": False, "gate_activation": "hard_sigmoid"}, False),
    ("GRU", {"reset_after": False, "recurrent_dropout": 0.2}, True)])
def test_options_without_a_compiled_loop_run_numpy(kind, options, training, monkeypatch):
    """What the compiled loops lack runs the NumPy variant step functions (their own cache types)."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    layer = getattr(rnnlab, kind)(4, 20, seed=0, **options).train(training)
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    _, _, cache = layer.forward(x)
    cell = cache.directions[0].cell
    assert type(cell).__name__ in ("LSTMVCache", "GRUVCache", "RNNVCache"), type(cell).__name__


@needs_engine
def test_weight_drop_in_evaluation_is_the_plain_cell(monkeypatch):
    """Weight drop acts in training only: in evaluation the layer is the plain cell, bit for bit."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    for kind in ("LSTM", "GRU", "RNN"):
        dropped = getattr(rnnlab, kind)(4, 20, seed=0, weight_drop=0.4)
        plain = getattr(rnnlab, kind)(4, 20, seed=0)
        assert np.array_equal(dropped.forward(x)[0], plain.forward(x)[0])
        y_train = dropped.train().forward(x)[0]
        assert not np.allclose(y_train, plain.forward(x)[0])


@needs_engine
def test_cell_clip_clips(monkeypatch):
    """The test cases clip: some c_t of the compiled loop sit at the bound, none beyond it."""
    _, cells = _run("LSTM", "auto", monkeypatch, D=6, H=70, L=1, bi=False, N=13, T=5, lengths=None, seed=71,
                    training=False, cell_clip=0.3)
    cs = cells[0].cell.cs[1:]
    assert np.abs(cs).max() == np.float32(0.3)
    assert 0.01 < np.mean(np.abs(cs) == np.float32(0.3)) < 0.99


@needs_engine
def test_peephole_gradients_do_not_depend_on_threads(monkeypatch):
    """dp is summed in the loop's order whatever thread computes a block: the same bits on 1 and 3 threads."""
    shape = dict(D=6, H=70, L=1, bi=True, N=13, T=7, lengths=None, seed=3, training=True, peepholes=True,
                 cell_clip=0.5, weight_drop=0.2)
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "1")
    one, _ = _run("LSTM", "auto", monkeypatch, **shape)
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "3")
    three, _ = _run("LSTM", "auto", monkeypatch, **shape)
    for key in one:
        assert np.array_equal(one[key], three[key]), key


@needs_engine
def test_peephole_gradients_over_many_rows(monkeypatch):
    """dp sums T N = 25600 terms per unit: the step's rows first, then the steps, which keeps it within
    2e-6 of a float64 reference (NumPy's float32 sum is within 1e-5)."""
    T, N, D, H = 400, 64, 8, 32
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((N, T, D)), rng.standard_normal((N, T, H))
    grads = {}
    for flag, dtype in (("numpy", "float64"), ("auto", "float32")):
        monkeypatch.setenv("RNNLAB_ENGINE", flag)
        layer = rnnlab.LSTM(D, H, seed=0, peepholes=True, dtype=dtype)
        if dtype == "float32":
            layer.params.update({k: grads["ref_params"][k].astype(np.float32) for k in layer.params})
        else:
            grads["ref_params"] = {k: v.copy() for k, v in layer.params.items()}
        y, _, cache = layer.forward(x.astype(dtype))
        grads[dtype] = layer.backward(dy.astype(dtype), None, cache)[2]
    assert rel_err(grads["float32"]["l0.p"], grads["float64"]["l0.p"]) <= 2e-6


@needs_engine
def test_infer_equals_forward(monkeypatch):
    """infer (no cache kept) gives forward's outputs and states bit for bit, variants included."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    x = np.random.default_rng(0).standard_normal((4, 6, 5)).astype(np.float32)
    for options in ({"peepholes": True, "cell_clip": 0.5}, {"input_forget": True}, {"zoneout": (0.3, 0.1)},
                    {"zoneout": 0.2, "peepholes": True, "cell_clip": 0.5}):
        layer = rnnlab.LSTM(5, 21, num_layers=2, bidirectional=True, seed=1, **options)
        y, (h, c), _ = layer.forward(x)
        y2, (h2, c2) = layer.infer(x)
        assert np.array_equal(y, y2) and np.array_equal(h, h2) and np.array_equal(c, c2)


@needs_engine
def test_backward_after_the_switch_to_numpy(monkeypatch):
    """A compiled variant forward's cache goes back through the compiled loop even when RNNLAB_ENGINE
    has since been set to numpy (the NumPy backward cannot read it)."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    layer = rnnlab.LSTM(4, 20, seed=0, peepholes=True)
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    y, _, cache = layer.forward(x)
    want = layer.backward(np.ones_like(y), None, cache)
    monkeypatch.setenv("RNNLAB_ENGINE", "numpy")
    got = layer.backward(np.ones_like(y), None, cache)
    assert all(np.array_equal(got[2][k], want[2][k]) for k in want[2])


@needs_engine
def test_engine_needs_c_hat_for_zoneout_with_peepholes():
    """The backward of zoneout with peepholes or cell_clip reads the un-zoned c^_t, which the loop
    writes to c_hat: without one, lstm_forward (keeping a cache) and lstm_backward say so."""
    T, N, D, H = 3, 2, 4, 5
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, N, D)).astype(np.float32)
    h0 = np.zeros((N, H), np.float32)
    W, U, b = (rng.standard_normal(s).astype(np.float32) for s in ((D, 4 * H), (H, 4 * H), (4 * H,)))
    zone = (None, np.full((N, H), 0.5, np.float32))
    peep = rng.standard_normal(3 * H).astype(np.float32)
    with pytest.raises(ValueError, match="c_hat"):
        engine.lstm_forward(x, h0, h0, W, U, b, peepholes=peep, zoneout=zone)
    with pytest.raises(ValueError, match="c_hat"):
        engine.lstm_forward(x, h0, h0, W, U, b, cell_clip=1.0, zoneout=zone, c_hat=np.empty((T, N, H + 1), np.float32))
    c_hat = np.empty((T, N, H), np.float32)
    y, gates, hs, cs, tanh_c = engine.lstm_forward(x, h0, h0, W, U, b, peepholes=peep, zoneout=zone, c_hat=c_hat)
    assert np.allclose(np.tanh(c_hat), tanh_c, atol=1e-6) and not np.allclose(c_hat, cs[1:])   # un-zoned
    with pytest.raises(ValueError, match="c_hat"):
        engine.lstm_backward(y, h0, h0, x, W, U, gates, hs, cs, tanh_c, peepholes=peep, zoneout=zone)
    with engine.inference():                         # no backward to come: no c_hat needed
        y2 = engine.lstm_forward(x, h0, h0, W, U, b, peepholes=peep, zoneout=zone)[0]
    assert np.array_equal(y, y2)
