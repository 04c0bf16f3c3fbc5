"""The layer-norm loops' two work splits (rnnlab/engine/_cells_impl.h, flag RN_LN): by batch rows (each
thread its own rows over all steps; the column sums per fixed chunk of rows, added in chunk order) and
by unit blocks (each step's 16-unit blocks). The engine takes the rows split when every thread has
rn_rows_min rows or more; the tests force each split through rn_set_rows_min and check that
both give the same bits, that each equals the NumPy step functions, and that neither depends on the
number of threads."""
import numpy as np
import pytest

import rnnlab

from test_engine import _engines, needs_engine
from test_engine_lnorm import _assert_close, _lengths, _run
from test_engine_variants import assert_same_bits_on_threads

ROWS, UNITS = 1, 10 ** 9          # rn_rows_min that forces the split by rows, by unit blocks (conftest.split)


# kind, options, training, D, H, layers, bidirectional, N, T, ragged, direction
CASES = [
    ("LSTM", {}, True, 5, 37, 1, True, 20, 7, True, "forward"),
    ("LSTM", {"peepholes": True, "cell_clip": 0.8, "zoneout": (0.1, 0.3)}, True, 6, 70, 1, False, 17, 6, True,
     "reverse"),
    ("LSTM", {"input_forget": True, "gate_activation": "hard_sigmoid", "weight_drop": 0.2}, True, 4, 33, 2, True,
     9, 5, False, "forward"),
    ("LSTM", {"zoneout": 0.2, "peepholes": True}, False, 5, 130, 1, False, 26, 4, True, "forward"),
    ("GRU", {}, True, 5, 37, 1, True, 20, 7, True, "forward"),
    ("GRU", {"zoneout": 0.2, "gate_activation": "hard_sigmoid"}, True, 6, 70, 1, False, 17, 6, True, "reverse"),
    ("GRU", {"weight_drop": 0.3}, True, 4, 130, 2, True, 9, 5, False, "forward"),
]


def _id(c):
    opts = "-".join(f"{k}={v}" for k, v in c[1].items()) or "ln"
    return f"{c[0]}-{opts}-H{c[4]}-N{c[7]}-{c[10]}"


def _shape(case):
    kind, options, training, D, H, L, bi, N, T, ragged, direction = case
    return kind, dict(D=D, H=H, L=L, bi=bi, N=N, T=T, lengths=_lengths(H, N, T, ragged), seed=H + L,
                      training=training, direction=direction,
                      scale=4.0 if "gate_activation" in options else 1.0, **options)


@needs_engine
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_both_splits_equal_numpy_and_each_other(case, split, monkeypatch):
    """Per ISA: the rows split and the unit-block split give the same bits, and both equal the NumPy
    path within 1e-5 (or the float64 reference, as in test_engine_lnorm); the counter shows which ran."""
    kind, shape = _shape(case)
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "2")
    ref, _ = _run(kind, "numpy", monkeypatch, **shape)
    ref64, _ = _run(kind, "numpy", monkeypatch, dtype="float64", **shape)
    for name in _engines():
        lib = split(ROWS)
        lib.rn_row_runs_taken()
        by_rows, _ = _run(kind, name, monkeypatch, **shape)
        assert lib.rn_row_runs_taken() > 0, name
        split(UNITS)
        by_units, _ = _run(kind, name, monkeypatch, **shape)
        assert lib.rn_row_runs_taken() == 0, name
        _assert_close(by_rows, ref, ref64, name)
        for key in ref:
            assert np.array_equal(by_rows[key], by_units[key]), (name, key)


@needs_engine
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("rule", [ROWS, UNITS])
def test_each_split_does_not_depend_on_threads(kind, rule, split, monkeypatch):
    """1, 2 and 3 threads give the same bits with either split forced (N = 30: seven chunks of 4 rows
    and one of 2, shared unevenly by 3 threads; H = 200: four 64-unit panels)."""
    options = {"peepholes": True, "zoneout": (0.1, 0.2)} if kind == "LSTM" else {"zoneout": 0.2}
    shape = dict(D=6, H=200, L=1, bi=True, N=30, T=6, lengths=_lengths(5, 30, 6, True), seed=3, training=True,
                 weight_drop=0.2, **options)
    split(rule)
    assert_same_bits_on_threads(_run, kind, shape, monkeypatch)


@needs_engine
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_the_rule_picks_rows_for_many_rows_per_thread(kind, split, monkeypatch):
    """With the default rule (6 rows per thread): N = 24 runs by rows on 1 and 2 threads, N = 8 by rows
    on 1 thread and by unit blocks on 2, N = 5 by unit blocks; 1 and 2 threads give the same bits."""
    lib = split(6)
    for N, by_rows in ((24, True), (8, False), (5, False)):
        shape = dict(D=4, H=40, L=1, bi=False, N=N, T=5, lengths=_lengths(2, N, 5, True), seed=2, training=True)
        monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "2")
        lib.rn_row_runs_taken()
        two, _ = _run(kind, "auto", monkeypatch, **shape)
        assert (lib.rn_row_runs_taken() > 0) == by_rows, N
        monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "1")
        one, _ = _run(kind, "auto", monkeypatch, **shape)
        assert (lib.rn_row_runs_taken() > 0) == (N >= 6), N
        for key in one:
            assert np.array_equal(one[key], two[key]), (N, key)


@needs_engine
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_rows_split_infer_equals_forward(kind, split, monkeypatch):
    """infer (no cache) by rows gives forward's outputs and states bit for bit, and those by unit blocks."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "2")
    x = np.random.default_rng(0).standard_normal((14, 6, 5)).astype(np.float32)
    lengths = [6, 3, 5, 1, 6, 6, 2, 4, 6, 5, 1, 6, 3, 6]
    layer = getattr(rnnlab, kind)(5, 21, num_layers=2, bidirectional=True, seed=1, layer_norm=True,
                                  zoneout=0.3).eval()
    out = []
    for rule in (ROWS, UNITS):
        split(rule)
        y, s, _ = layer.forward(x, lengths=lengths)
        y2, s2 = layer.infer(x, lengths=lengths)
        assert np.array_equal(y, y2)
        for a, b in zip(s if kind == "LSTM" else [s], s2 if kind == "LSTM" else [s2]):
            assert np.array_equal(a, b)
        out.append(y2)
    assert np.array_equal(out[0], out[1])
