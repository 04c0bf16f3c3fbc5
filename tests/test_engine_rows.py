"""The two work splits of the compiled engine's time loops (rnnlab/engine/_cells.c, "The two work
splits of a time loop"): by batch rows (each thread its parts of the rows through every step, no wait
in the time loop) and by unit blocks (each step's blocks of hidden units, all rows, a wait after each
step). The engine takes the split by rows where every thread has rn_rows_min rows or more; the tests
force each split through rn_set_rows_min (conftest.split) and check that both give the same bits on
every instruction set this CPU runs (training, with its backward, and inference), that they equal the
NumPy cells within float32 relative error 1e-5 (the layer-norm loops: or the float64 reference, as in
test_engine_lnorm), that neither depends on the number of threads, and that the default rule picks
the rows split only where each thread has six rows or more. The layer-norm loops' backward sums the
gains' gradients per fixed chunk of 4 rows, in chunk order, on both splits."""
import numpy as np
import pytest

import rnnlab

from conftest import rel_err
from test_engine import _engines, needs_engine
from test_engine_lnorm import _assert_close, _lengths
from test_engine_lnorm import _run as _run_ln
from test_engine_variants import _run, assert_same_bits_on_threads

TOL = 1e-5
ROWS, UNITS = 1, 10 ** 9          # rn_rows_min that forces the split by rows, by unit blocks

# kind, options, training, D, H, layers, bidirectional, N, T, ragged, direction. N = 13, 20, 31: parts
# of 6 and 7 rows (AVX-512), or whole 6-row blocks (AVX2, plain C), the last one short.
CASES = [
    ("LSTM", {}, True, 5, 37, 2, True, 13, 7, True, "forward"),
    ("LSTM", {}, True, 6, 70, 1, False, 31, 6, False, "reverse"),
    ("LSTM", {"forget_bias": 1.0}, True, 4, 130, 1, False, 20, 5, True, "forward"),
    # peepholes: the forward splits by rows, the backward by unit blocks (dp sums each unit's rows)
    ("LSTM", {"peepholes": True, "cell_clip": 0.8}, True, 5, 37, 1, True, 20, 6, True, "forward"),
    ("LSTM", {"zoneout": (0.1, 0.3), "input_forget": True, "gate_activation": "hard_sigmoid", "weight_drop": 0.2},
     True, 6, 70, 1, False, 31, 5, True, "reverse"),
    ("LSTM", {"gate_clip": 0.5, "recurrent_dropout": 0.3}, True, 4, 33, 2, False, 13, 6, True, "forward"),
    # proj_size: loops of their own, two phases a step (gates, then h_t = m_t W_hr)
    ("LSTM", {"proj_size": 9}, True, 5, 37, 2, True, 13, 7, True, "forward"),
    ("LSTM", {"proj_size": 70, "zoneout": (0.1, 0.2), "input_forget": True}, True, 6, 130, 1, False, 31, 5, True,
     "reverse"),
    ("LSTM", {"proj_size": 20, "peepholes": True, "weight_drop": 0.2}, True, 4, 70, 1, True, 20, 6, False, "forward"),
    ("GRU", {}, True, 5, 37, 2, True, 13, 7, True, "forward"),
    ("GRU", {"zoneout": 0.2, "gate_activation": "hard_sigmoid"}, True, 6, 70, 1, False, 31, 6, True, "reverse"),
    ("GRU", {"recurrent_dropout": 0.3, "weight_drop": 0.2}, True, 4, 130, 1, True, 20, 5, False, "forward"),
    ("RNN", {}, True, 5, 37, 2, True, 13, 7, True, "forward"),
    ("RNN", {"nonlinearity": "relu", "zoneout": 0.2}, True, 6, 70, 1, False, 31, 6, True, "reverse"),
    ("RNN", {"recurrent_dropout": 0.3}, True, 4, 130, 1, True, 20, 5, True, "forward"),
]
# layer_norm (test_engine_lnorm's layers, random gains; the same tuple)
LN_CASES = [
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
    opts = "-".join(f"{k}={v}" for k, v in c[1].items()) or "plain"
    return f"{c[0]}-{opts}-H{c[4]}-L{c[5]}-{'bi' if c[6] else 'uni'}-N{c[7]}-{c[10]}"


def _shape(case):
    kind, options, training, D, H, L, bi, N, T, ragged, direction = case
    return kind, dict(D=D, H=H, L=L, bi=bi, N=N, T=T, lengths=_lengths(H, N, T, ragged), seed=H + L,
                      training=training, direction=direction,
                      scale=4.0 if "gate_activation" in options else 1.0, **options)


def _infer(kind, flag, monkeypatch, *, D, H, L, bi, N, T, lengths, seed, training, direction, scale, **options):
    """A fresh layer's inference (evaluation mode) on x ~ N(0, scale^2)."""
    monkeypatch.setenv("RNNLAB_ENGINE", flag)
    layer = getattr(rnnlab, kind)(D, H, num_layers=L, bidirectional=bi, seed=seed, direction=direction,
                                  **options).train(False)
    x = (np.random.default_rng(seed + 1).standard_normal((N, T, D)) * scale).astype(np.float32)
    y, state = layer.infer(x, lengths=lengths)
    return [y, *(state if isinstance(state, tuple) else (state,))]


def _both_splits(run, kind, shape, name, split, monkeypatch):
    """(results by rows, by unit blocks) of run on engine name; the counter shows which split ran."""
    lib = split(ROWS)
    lib.rn_row_runs_taken()
    by_rows, _ = run(kind, name, monkeypatch, **shape)
    assert lib.rn_row_runs_taken() > 0, name
    split(UNITS)
    by_units, _ = run(kind, name, monkeypatch, **shape)
    assert lib.rn_row_runs_taken() == 0, name
    for key in by_rows:
        assert np.array_equal(by_rows[key], by_units[key]), (name, key)
    return by_rows, by_units


@needs_engine
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_both_splits_equal_numpy_and_each_other(case, split, monkeypatch):
    """Per ISA, on 2 threads: the rows split and the unit-block split give the same bits (forward,
    backward and inference), both within 1e-5 of the NumPy cells."""
    kind, shape = _shape(case)
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "2")
    ref, _ = _run(kind, "numpy", monkeypatch, **shape)
    for name in _engines():
        by_rows, _ = _both_splits(_run, kind, shape, name, split, monkeypatch)
        assert set(by_rows) == set(ref)
        for key in ref:
            assert rel_err(by_rows[key], ref[key]) <= TOL, (name, key, rel_err(by_rows[key], ref[key]))
        split(ROWS)
        infer_rows = _infer(kind, name, monkeypatch, **shape)
        split(UNITS)
        for a, b in zip(infer_rows, _infer(kind, name, monkeypatch, **shape)):
            assert np.array_equal(a, b), name


@needs_engine
@pytest.mark.parametrize("case", LN_CASES, ids=["layer_norm-" + _id(c) for c in LN_CASES])
def test_both_layer_norm_splits_equal_numpy_and_each_other(case, split, monkeypatch):
    """The same for the layer-norm loops: equal bits, and within 1e-5 of the NumPy path or the float64
    reference (test_engine_lnorm)."""
    kind, shape = _shape(case)
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "2")
    ref, _ = _run_ln(kind, "numpy", monkeypatch, **shape)
    ref64, _ = _run_ln(kind, "numpy", monkeypatch, dtype="float64", **shape)
    for name in _engines():
        by_rows, _ = _both_splits(_run_ln, kind, shape, name, split, monkeypatch)
        _assert_close(by_rows, ref, ref64, name)


@needs_engine
@pytest.mark.parametrize("kind, options", [("LSTM", {"zoneout": 0.2}), ("GRU", {"zoneout": 0.2}),
                                           ("RNN", {"zoneout": 0.2}),
                                           ("LSTM", {"peepholes": True, "zoneout": (0.1, 0.2)}),
                                           ("LSTM", {"proj_size": 70, "zoneout": (0.1, 0.2)}),
                                           ("LSTM", {"layer_norm": True, "peepholes": True, "zoneout": (0.1, 0.2)}),
                                           ("GRU", {"layer_norm": True, "zoneout": 0.2})])
@pytest.mark.parametrize("rule", [ROWS, UNITS])
def test_each_split_does_not_depend_on_threads(kind, options, rule, split, monkeypatch):
    """1, 2 and 3 threads give the same bits with either split forced (N = 29 or 30: parts of 9 and 10
    rows on 3 threads, or seven chunks of 4 rows and one of 2 in the layer-norm loops; H = 200: four
    64-unit panels)."""
    options = dict(options)
    ln = options.pop("layer_norm", False)
    N = 30 if ln else 29
    shape = dict(D=6, H=200, L=1, bi=True, N=N, T=6, lengths=_lengths(5, N, 6, True), seed=3, training=True,
                 weight_drop=0.2, **options)
    split(rule)
    assert_same_bits_on_threads(_run_ln if ln else _run, kind, shape, monkeypatch)


@needs_engine
@pytest.mark.parametrize("kind, ln, options", [("LSTM", False, {}), ("GRU", False, {}), ("RNN", False, {}),
                                               ("LSTM", False, {"proj_size": 20}), ("LSTM", True, {}),
                                               ("GRU", True, {})])
def test_the_rule_picks_rows_for_six_rows_per_thread(kind, ln, options, split, monkeypatch):
    """With the default rule (6 rows per thread): N = 24 runs by rows on 1 and 2 threads, N = 8 by
    rows on 1 thread and by unit blocks on 2, N = 5 by unit blocks; the results are the same bits."""
    run = _run_ln if ln else _run
    lib = split(6)
    for N, by_rows in ((24, True), (8, False), (5, False)):
        shape = dict(D=4, H=40, L=1, bi=False, N=N, T=5, lengths=_lengths(2, N, 5, True), seed=2, training=True,
                     **options)
        monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "2")
        lib.rn_row_runs_taken()
        two, _ = run(kind, "auto", monkeypatch, **shape)
        assert (lib.rn_row_runs_taken() > 0) == by_rows, N
        monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "1")
        one, _ = run(kind, "auto", monkeypatch, **shape)
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
