"""The compiled cell engine (rnnlab.engine) against the NumPy cells, which are the reference:
outputs, final states, dx, dstate0 and every parameter gradient within float32 relative error 1e-5,
over random shapes (ragged batches, reverse and bidirectional, stacked layers, batch 1, H not a
multiple of 16), for every instruction set this CPU runs; and the switch and report."""
import os
import sys

import numpy as np
import pytest

import rnnlab
from rnnlab import engine
from rnnlab.layers import lstm

from conftest import rel_err

TOL = 1e-5
BUILT = engine._library()[0] is not None
needs_engine = pytest.mark.skipif(not BUILT, reason="the compiled engine is not built (pip install . builds it)")


def _engines():
    """The compiled engines this CPU can run (RNNLAB_ENGINE values)."""
    if not BUILT:
        return []
    best = engine._library()[0].rn_isa()
    return [name for name in engine.ENGINES if engine._ISA[name] <= best]


def test_extension_is_built_where_required():
    """CI (make test) sets RNNLAB_REQUIRE_ENGINE=1: there a missing extension fails, never falls back."""
    if os.environ.get("RNNLAB_REQUIRE_ENGINE") != "1":
        pytest.skip("RNNLAB_REQUIRE_ENGINE is not set")
    assert BUILT, engine._library()[1]
    assert engine.info()["engine"] != "numpy" or os.environ.get("RNNLAB_ENGINE") == "numpy"


def _flat(s):
    return list(s) if isinstance(s, tuple) else [s]


def _run(kind, flag, monkeypatch, *, D, H, L, bi, N, T, lengths, seed, **options):
    monkeypatch.setenv("RNNLAB_ENGINE", flag)
    layer = getattr(rnnlab, kind)(D, H, num_layers=L, bidirectional=bi, seed=seed, **options)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    dy = rng.standard_normal((N, T, layer.output_size)).astype(np.float32)
    s0 = [rng.standard_normal(layer.state_shape(N)).astype(np.float32) * 0.5 for _ in layer.state_names]
    ds = [rng.standard_normal(layer.state_shape(N)).astype(np.float32) for _ in layer.state_names]
    pack = (lambda p: tuple(p)) if kind == "LSTM" else (lambda p: p[0])
    y, state, cache = layer.forward(x, pack(s0), lengths=lengths)
    dx, ds0, grads = layer.backward(dy, pack(ds), cache)
    names = ["y", "dx"] + [f"state.{s}" for s in layer.state_names] + [f"dstate0.{s}" for s in layer.state_names]
    return dict(zip(names + list(grads), [y, dx, *_flat(state), *_flat(ds0), *grads.values()]))


CASES = [  # kind, options, D, H, layers, bidirectional, N, T, ragged
    ("LSTM", {}, 5, 37, 2, True, 7, 9, True),
    ("LSTM", {"forget_bias": 1.0}, 3, 16, 1, False, 1, 12, False),
    ("LSTM", {}, 6, 70, 1, True, 13, 5, False),
    ("LSTM", {}, 4, 33, 3, False, 6, 4, True),
    ("GRU", {}, 5, 37, 2, True, 7, 9, True),
    ("GRU", {}, 3, 16, 1, False, 1, 12, False),
    ("GRU", {}, 6, 70, 1, True, 13, 5, False),
    ("RNN", {}, 5, 37, 2, True, 7, 9, True),
    ("RNN", {"nonlinearity": "relu"}, 6, 70, 2, False, 13, 5, True),
    ("RNN", {}, 3, 129, 1, True, 1, 6, False),
    # the weight-gradient products' blocking: T N = 300 rows > one 256-row chunk, H = 200 and D = 200
    # rows > one 192-row block, D = 70 inputs > one 64-column panel of dx
    ("LSTM", {}, 70, 200, 1, True, 12, 25, True),
    ("GRU", {}, 70, 200, 1, False, 12, 25, True),
    ("RNN", {}, 200, 70, 1, True, 12, 25, False),
]


@needs_engine
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-H{c[3]}-L{c[4]}-{'bi' if c[5] else 'uni'}-N{c[6]}"
                                              f"{'-ragged' if c[8] else ''}" for c in CASES])
def test_engine_equals_numpy(case, monkeypatch):
    kind, options, D, H, L, bi, N, T, ragged = case
    lengths = None
    if ragged:
        lengths = np.random.default_rng(H).integers(1, T + 1, size=N)
        lengths[0] = T
    shape = dict(D=D, H=H, L=L, bi=bi, N=N, T=T, lengths=lengths, seed=H + L, **options)
    ref = _run(kind, "numpy", monkeypatch, **shape)
    for name in _engines():
        got = _run(kind, name, monkeypatch, **shape)
        assert set(got) == set(ref)
        for key in ref:
            assert got[key].dtype == np.float32, (name, key)
            assert rel_err(got[key], ref[key]) <= TOL, (name, key, rel_err(got[key], ref[key]))


@needs_engine
@pytest.mark.parametrize("seed", range(4))
def test_engine_equals_numpy_random_shapes(seed, monkeypatch):
    """Random shapes and options, the CPU's best engine (the default)."""
    rng = np.random.default_rng(100 + seed)
    kind = ["LSTM", "GRU", "RNN"][seed % 3]
    shape = dict(D=int(rng.integers(1, 20)), H=int(rng.integers(1, 90)), L=int(rng.integers(1, 3)),
                 bi=bool(rng.integers(2)), N=int(rng.integers(1, 15)), T=int(rng.integers(1, 12)), seed=seed)
    shape["lengths"] = rng.integers(1, shape["T"] + 1, size=shape["N"]) if seed % 2 else None
    ref = _run(kind, "numpy", monkeypatch, **shape)
    got = _run(kind, "auto", monkeypatch, **shape)
    for key in ref:
        assert rel_err(got[key], ref[key]) <= TOL, (shape, key)


@needs_engine
def test_caches_are_interchangeable(monkeypatch):
    """The engine fills the NumPy cells' caches, so either backward reads either forward's cache."""
    rng = np.random.default_rng(0)
    T, N, D, H = 6, 4, 3, 21
    x = rng.standard_normal((T, N, D)).astype(np.float32)
    dy = rng.standard_normal((T, N, H)).astype(np.float32)
    layer = rnnlab.LSTM(D, H, seed=0)
    p = layer.direction_params(0, 0)
    s0 = tuple(rng.standard_normal((N, H)).astype(np.float32) for _ in range(2))
    ds = tuple(rng.standard_normal((N, H)).astype(np.float32) for _ in range(2))
    for reverse in (False, True):
        monkeypatch.setenv("RNNLAB_ENGINE", "numpy")
        _, _, c_ref = layer._cell_forward(x, s0, p, None, reverse)
        g_ref = layer._cell_backward(dy, ds, c_ref)
        monkeypatch.setenv("RNNLAB_ENGINE", "auto")
        _, _, c_eng = layer._cell_forward(x, s0, p, None, reverse)
        assert isinstance(c_eng, lstm.LSTMCache)
        for a, b in zip(c_eng, c_ref):
            if isinstance(a, np.ndarray):
                assert rel_err(a, b) <= TOL
        for dx, dx_ref in ((layer._cell_backward(dy, ds, c_ref), g_ref), (lstm.lstm_backward(dy, ds, c_eng), g_ref)):
            assert rel_err(dx[0], dx_ref[0]) <= TOL
            for k in g_ref[2]:
                assert rel_err(dx[2][k], dx_ref[2][k]) <= TOL


def test_numpy_switch_really_runs_numpy(monkeypatch):
    """RNNLAB_ENGINE=numpy: the report says so and the compiled loop is never entered."""
    monkeypatch.setenv("RNNLAB_ENGINE", "numpy")
    assert engine.info() == {"engine": "numpy", "reason": "RNNLAB_ENGINE=numpy", "threads": 0}
    assert not engine.applies(np.zeros(3, np.float32))
    calls = []
    monkeypatch.setattr(engine, "_run", lambda *a, **k: calls.append(a))
    for kind in ("RNN", "LSTM", "GRU"):
        layer = getattr(rnnlab, kind)(3, 5, bidirectional=True, seed=0)
        y, _, cache = layer.forward(np.ones((2, 4, 3), np.float32))
        layer.backward(np.ones_like(y), None, cache)
    assert calls == []


@needs_engine
def test_report_and_dispatch(monkeypatch):
    """The default is the CPU's best compiled engine; float32 runs it, float64 and the reset-before
    GRU run the NumPy cells; a lower instruction set can be asked for; bad values are refused."""
    monkeypatch.delenv("RNNLAB_ENGINE", raising=False)
    report = engine.info()
    assert report["engine"] == _engines()[0] and "built" in report["reason"] and report["threads"] >= 1
    calls = []
    real = engine._run
    monkeypatch.setattr(engine, "_run", lambda *a, **k: (calls.append(a[0]), real(*a, **k)))
    x32 = np.ones((2, 4, 3), np.float32)
    for layer, x, expect in ((rnnlab.LSTM(3, 5, seed=0), x32, 2), (rnnlab.GRU(3, 5, seed=0), x32, 2),
                             (rnnlab.RNN(3, 5, seed=0), x32, 2),
                             (rnnlab.LSTM(3, 5, dtype="float64", seed=0), x32.astype(np.float64), 0),
                             (rnnlab.GRU(3, 5, reset_after=False, seed=0), x32, 0)):
        calls.clear()
        y, _, cache = layer.forward(x)
        layer.backward(np.ones_like(y), None, cache)
        assert len(calls) == expect, layer
    monkeypatch.setenv("RNNLAB_ENGINE", "c-generic")
    assert engine.info()["engine"] == "c-generic"
    monkeypatch.setenv("RNNLAB_ENGINE", "fast")
    with pytest.raises(ValueError, match="RNNLAB_ENGINE"):
        engine.info()
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "0")
    with pytest.raises(ValueError, match="RNNLAB_ENGINE_THREADS"):
        engine.info()
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "3")
    assert engine.info()["threads"] == 3
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "1000")             # what the loops use, not what was asked
    assert engine.info()["threads"] == engine.MAX_THREADS == 64


@needs_engine
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_thread_count_does_not_change_results_blocked(kind, monkeypatch):
    """The same at shapes where the weight gradients take several chunks, row blocks and panels."""
    shape = dict(D=70, H=200, L=1, bi=True, N=12, T=25, lengths=None, seed=5)
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "2")
    ref = _run(kind, "auto", monkeypatch, **shape)
    for threads in ("1", "3"):
        monkeypatch.setenv("RNNLAB_ENGINE_THREADS", threads)
        got = _run(kind, "auto", monkeypatch, **shape)
        for key in ref:
            np.testing.assert_array_equal(got[key], ref[key], err_msg=f"{threads} threads, {key}")


@needs_engine
@pytest.mark.parametrize("threads", ["1", "3"])
def test_thread_count_does_not_change_results(threads, monkeypatch):
    """Each value is computed by one thread whatever the split, so results are bit-identical."""
    shape = dict(D=4, H=50, L=1, bi=True, N=5, T=7, lengths=None, seed=3)
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "2")
    ref = _run("LSTM", "auto", monkeypatch, **shape)
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", threads)
    got = _run("LSTM", "auto", monkeypatch, **shape)
    for key in ref:
        np.testing.assert_array_equal(got[key], ref[key])


@needs_engine
@pytest.mark.parametrize("T", [9, 300])
@pytest.mark.parametrize("options", [{}, {"peepholes": True, "cell_clip": 2.0, "forget_bias": 1.0}])
def test_small_batch_rows_equal_the_same_rows_in_a_large_batch(options, T, monkeypatch):
    """At batch 1 and 2 the LSTM forward computes x_t W before its time loop, 128 steps at a time
    (RN_XW_ROWS, RN_XW_STEPS in _cells.c; T = 300 crosses two chunk boundaries), at larger batches
    inside each step's product: the same sums in the same order, so a sequence's outputs and states
    have the same bits alone, in a pair, and in a batch of 8, on every instruction set, both
    directions and ragged lengths."""
    layer = rnnlab.LSTM(5, 37, bidirectional=True, seed=4, **options)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, T, 5)).astype(np.float32)
    lengths = np.array([T, 3, T, T - 2, 1, T, T // 2 + 1, T - 1])
    for flag in _engines():
        monkeypatch.setenv("RNNLAB_ENGINE", flag)
        y, (h, c), _ = layer.forward(x, lengths=lengths)
        for rows in (slice(0, 1), slice(4, 5), slice(2, 4), slice(6, 8)):
            y_r, (h_r, c_r), _ = layer.forward(x[rows], lengths=lengths[rows])
            np.testing.assert_array_equal(y_r, y[rows], err_msg=f"{flag} y rows {rows}")
            np.testing.assert_array_equal(h_r, h[:, rows], err_msg=f"{flag} h rows {rows}")
            np.testing.assert_array_equal(c_r, c[:, rows], err_msg=f"{flag} c rows {rows}")
            y_i, _ = layer.infer(x[rows], lengths=lengths[rows])
            np.testing.assert_array_equal(y_i, y[rows], err_msg=f"{flag} infer rows {rows}")


def test_engine_imports_no_layer():
    """The engine is a leaf: its modules import NumPy, the standard library and each other only."""
    import ast
    import pathlib
    allowed = {"numpy", "concurrent", "threadpoolctl", *sys.stdlib_module_names}
    for path in pathlib.Path(engine.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, (path.name, node.module)      # nothing above rnnlab.engine
                if node.level == 0:
                    assert node.module.split(".")[0] in allowed, (path.name, node.module)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in allowed, (path.name, alias.name)


@needs_engine
def test_training_step_memory_within_numpy(monkeypatch):
    """Peak traced memory of an LSTM training step: the engine's at most 1.2x the NumPy path's."""
    import tracemalloc
    layer = rnnlab.LSTM(32, 96, bidirectional=True, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 40, 32)).astype(np.float32)
    dy = rng.standard_normal((16, 40, 192)).astype(np.float32)
    peaks = {}
    for flag in ("numpy", "auto"):
        monkeypatch.setenv("RNNLAB_ENGINE", flag)
        tracemalloc.start()
        y, _, cache = layer.forward(x)
        layer.backward(dy, None, cache)
        peaks[flag] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del cache
    assert peaks["auto"] <= 1.2 * peaks["numpy"], peaks


def test_infer_equals_forward():
    for kind in ("RNN", "LSTM", "GRU"):
        layer = getattr(rnnlab, kind)(4, 6, num_layers=2, bidirectional=True, seed=1)
        x = np.random.default_rng(1).standard_normal((3, 5, 4)).astype(np.float32)
        y, state, _ = layer.forward(x)
        y_i, state_i = layer.infer(x)
        np.testing.assert_array_equal(y_i, y)
        for a, b in zip(_flat(state_i), _flat(state)):
            np.testing.assert_array_equal(a, b)


@needs_engine
def test_products_alone_touch_nothing_and_refuse_cell_options(monkeypatch):
    """engine.lstm_products (the benchmarks' floor) reads its arguments without writing them, and the
    loops refuse its flag together with a cell option or on another cell."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    rng = np.random.default_rng(0)
    x, h0 = rng.standard_normal((6, 5, 4)).astype(np.float32), rng.standard_normal((5, 20)).astype(np.float32)
    W, U = rng.standard_normal((4, 80)).astype(np.float32), rng.standard_normal((20, 80)).astype(np.float32)
    before = [a.copy() for a in (x, h0, W, U)]
    for backward in (False, True):
        for reverse in (False, True):
            assert engine.lstm_products(x, h0, W, U, backward=backward, reverse=reverse) is None
    for a, b in zip((x, h0, W, U), before):
        np.testing.assert_array_equal(a, b)
    hs = np.zeros((7, 5, 20), np.float32)
    for which, flags in ((engine._LSTM_FWD, engine._FLOOR | engine._CIFG), (engine._GRU_FWD, engine._FLOOR)):
        with pytest.raises(RuntimeError, match="refused its arguments"):
            engine._run(which, 6, 5, 20, 4, False, D=4, x=x, W=W, U=U, b=np.zeros(80, np.float32), hs=hs,
                        cs=hs.copy(), gates=np.zeros((6, 5, 80), np.float32), aux=np.zeros((6, 5, 20), np.float32),
                        b_hn=np.zeros(20, np.float32), vflags=flags)


@needs_engine
@pytest.mark.parametrize("kind,options", [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("LSTM", {"layer_norm": True}),
                                          ("GRU", {"layer_norm": True}), ("LSTM", {"gate_activation": "hard_sigmoid"}),
                                          ("LSTM", {"cell_clip": 0.5, "gate_clip": 1.0}), ("LSTM", {"proj_size": 7})])
def test_a_nan_weight_gives_nan_outputs_as_numpy_does(kind, options, monkeypatch):
    """The clamps of the compiled activations and clips keep a NaN (NumPy's tanh and clip do): a
    diverged weight shows in the outputs on every instruction set, vector lanes and scalar tails."""
    for isa in _engines():
        monkeypatch.setenv("RNNLAB_ENGINE", isa)
        layer = getattr(rnnlab, kind)(4, 37, seed=0, **options)
        layer.params["l0.W"][0, :] = np.nan
        y, _, _ = layer.forward(np.ones((3, 2, 4), np.float32))
        assert np.isnan(y[:, -1]).all(), (isa, kind, options)
