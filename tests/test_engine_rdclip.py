"""Recurrent dropout (LSTM, GRU, RNN), the RNN's identity nonlinearity and the LSTM's gate_clip in the
compiled loops, against the NumPy variant step functions, which are the reference: outputs, final
states, dx, dstate0 and every parameter gradient within float32 relative error 1e-5, alone and with
the options that run compiled beside them (zoneout, weight drop, peepholes, cell_clip, input_forget,
hard-sigmoid gates), over ragged batches, reverse and bidirectional, stacked layers, batch 1 and H
not a multiple of 16, for every instruction set this CPU runs; that such layers really run the
compiled loops; that the results do not depend on the number of threads; that infer equals forward;
and that the gate clip's backward reads its record of which pre-activations were clipped."""
import numpy as np
import pytest

import rnnlab
from rnnlab import engine
from rnnlab.layers import gru as gru_mod
from rnnlab.layers import lstm as lstm_mod
from rnnlab.layers import rnn as rnn_mod
from rnnlab.layers.gru_variants import GRUVCache
from rnnlab.layers.lstm_variants import LSTMOptions, LSTMVCache, lstmv_backward, lstmv_forward
from rnnlab.layers.recurrent import RegCache
from rnnlab.layers.rnn import RNNCache, RNNVCache

from conftest import rel_err
from test_engine import _engines, needs_engine
from test_engine_variants import _run, assert_same_bits_on_threads

TOL = 1e-5
LSTM_E, GRU_E = lstm_mod.LSTMEngineCache, gru_mod.GRUEngineCache
NUMPY_CACHE = {"LSTM": LSTMVCache, "GRU": GRUVCache, "RNN": RNNVCache}

# shapes: D, H, layers, bidirectional, N, T, ragged, direction
SHAPES = [(5, 37, 2, True, 7, 9, True, "forward"),
          (3, 16, 1, False, 1, 12, False, "forward"),          # batch 1
          (6, 70, 1, False, 13, 5, True, "reverse"),
          (4, 33, 3, False, 6, 4, True, "forward")]
OPTIONS = [  # kind, options, training, the compiled cache type
    ("LSTM", {"recurrent_dropout": 0.3}, True, LSTM_E),
    ("LSTM", {"recurrent_dropout": 0.4, "zoneout": (0.2, 0.3), "weight_drop": 0.2}, True, LSTM_E),
    ("LSTM", {"recurrent_dropout": 0.3, "peepholes": True, "cell_clip": 0.5, "input_forget": True}, True, LSTM_E),
    ("LSTM", {"recurrent_dropout": 0.3, "gate_activation": "hard_sigmoid", "zoneout": 0.2}, True, LSTM_E),
    ("GRU", {"recurrent_dropout": 0.3}, True, RegCache),
    ("GRU", {"recurrent_dropout": 0.3, "zoneout": 0.2, "weight_drop": 0.3}, True, RegCache),
    ("GRU", {"recurrent_dropout": 0.3, "gate_activation": "hard_sigmoid_keras2", "weight_drop": 0.2}, True, GRU_E),
    ("RNN", {"recurrent_dropout": 0.3}, True, RegCache),
    ("RNN", {"recurrent_dropout": 0.3, "nonlinearity": "relu", "zoneout": 0.2}, True, RegCache),
    ("RNN", {"nonlinearity": "identity"}, False, RNNCache),
    ("RNN", {"nonlinearity": "identity", "zoneout": 0.3}, True, RegCache),
    ("RNN", {"nonlinearity": "identity", "zoneout": 0.3}, False, RegCache),       # zoneout's expectation
    ("RNN", {"nonlinearity": "identity", "weight_drop": 0.3, "recurrent_dropout": 0.2}, True, RegCache),
    ("LSTM", {"gate_clip": 0.5}, False, LSTM_E),
    ("LSTM", {"gate_clip": 0.8, "peepholes": True, "cell_clip": 0.6}, False, LSTM_E),
    ("LSTM", {"gate_clip": 0.5, "input_forget": True, "forget_bias": 1.0}, False, LSTM_E),
    ("LSTM", {"gate_clip": 1.0, "gate_activation": "hard_sigmoid"}, False, LSTM_E),
    ("LSTM", {"gate_clip": 0.7, "peepholes": True, "zoneout": (0.2, 0.3), "weight_drop": 0.2}, True, LSTM_E),
    ("LSTM", {"gate_clip": 0.5, "recurrent_dropout": 0.3, "peepholes": True, "cell_clip": 0.4,
              "gate_activation": "hard_sigmoid_keras2", "zoneout": 0.1}, True, LSTM_E),
]
CASES = [(*o, *s) for o in OPTIONS for s in SHAPES]
# the weight-gradient blocking (T N = 300 rows > one 256-row chunk, H = 200 > one 192-row block)
CASES += [("LSTM", {"recurrent_dropout": 0.3, "gate_clip": 0.5}, True, LSTM_E, 70, 200, 1, False, 12, 25, True,
           "forward"),
          ("GRU", {"recurrent_dropout": 0.3}, True, RegCache, 70, 200, 1, False, 12, 25, True, "forward"),
          ("RNN", {"recurrent_dropout": 0.3, "nonlinearity": "identity"}, True, RegCache, 70, 200, 1, True, 12, 25,
           True, "forward")]


def _case_id(c):
    opts = "-".join(f"{k}={v}" for k, v in c[1].items())
    return (f"{c[0]}-{opts}-{'train' if c[2] else 'eval'}-H{c[5]}-L{c[6]}-{'bi' if c[7] else 'uni'}-N{c[8]}"
            f"{'-ragged' if c[10] else ''}-{c[11]}")


def _lengths(N, T, ragged, seed):
    if not ragged:
        return None
    lengths = np.random.default_rng(seed).integers(1, T + 1, size=N)
    lengths[0] = T
    return lengths


@needs_engine
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_engine_equals_numpy(case, monkeypatch):
    kind, options, training, cache_type, D, H, L, bi, N, T, ragged, direction = case
    # x ~ N(0, 3^2): part of the gate pre-activations lie beyond gate_clip (test_gate_clip_clips)
    shape = dict(D=D, H=H, L=L, bi=bi, N=N, T=T, lengths=_lengths(N, T, ragged, H), seed=H + L, training=training,
                 direction=direction, scale=3.0, **options)
    ref, ref_cells = _run(kind, "numpy", monkeypatch, **shape)
    assert all(isinstance(c, NUMPY_CACHE[kind]) for c in ref_cells)          # the reference: NumPy step functions
    for name in _engines():
        got, cells = _run(kind, name, monkeypatch, **shape)
        assert all(isinstance(c, cache_type) for c in cells), (name, [type(c).__name__ for c in cells])
        assert set(got) == set(ref)
        for key in ref:
            assert got[key].dtype == np.float32, (name, key)
            assert rel_err(got[key], ref[key]) <= TOL, (name, key, rel_err(got[key], ref[key]))


@needs_engine
@pytest.mark.parametrize("seed", range(6))
def test_engine_equals_numpy_random_shapes(seed, monkeypatch):
    """Random shapes and option sets with recurrent dropout or gate_clip, the CPU's best engine."""
    rng = np.random.default_rng(500 + seed)
    kind = ("LSTM", "GRU", "RNN")[seed % 3]
    options = {"recurrent_dropout": float(rng.uniform(0.1, 0.6))}
    if rng.integers(2):
        options["weight_drop"] = float(rng.uniform(0.1, 0.5))
    if rng.integers(2):
        options["zoneout"] = float(rng.uniform(0, 0.5))
    if kind == "LSTM":
        options.update(gate_clip=float(rng.uniform(0.3, 2.0)), peepholes=bool(rng.integers(2)))
    if kind == "RNN":
        options["nonlinearity"] = ("tanh", "relu", "identity")[int(rng.integers(3))]
    shape = dict(D=int(rng.integers(1, 20)), H=int(rng.integers(1, 90)), L=int(rng.integers(1, 3)),
                 bi=bool(rng.integers(2)), N=int(rng.integers(1, 15)), T=int(rng.integers(1, 12)), seed=seed,
                 training=True, scale=2.0, **options)
    shape["lengths"] = rng.integers(1, shape["T"] + 1, size=shape["N"]) if seed % 2 else None
    ref, _ = _run(kind, "numpy", monkeypatch, **shape)
    got, cells = _run(kind, "auto", monkeypatch, **shape)
    assert not any(isinstance(c, NUMPY_CACHE[kind]) for c in cells), shape
    for key in ref:
        assert rel_err(got[key], ref[key]) <= TOL, (shape, key, rel_err(got[key], ref[key]))


@needs_engine
def test_gate_clip_clips(monkeypatch):
    """The test inputs drive part of the pre-activations of every gate beyond gate_clip: the record
    says so, and the clipped gates sit at sigma(+-x) and tanh(+-x)."""
    H, x = 37, 0.5
    _, cells = _run("LSTM", "auto", monkeypatch, D=5, H=H, L=1, bi=False, N=7, T=9, lengths=None, seed=3,
                    training=False, scale=3.0, gate_clip=x)
    cache = cells[0]
    keep = cache.variant["gate_keep"]                           # (T, N, 4 nb) words, bit l: unit 16 k + l
    nb = (H + 15) // 16
    bits = (keep[..., None] >> np.arange(16, dtype=np.uint16)) & 1
    bits = bits.reshape(*keep.shape[:2], 4, nb * 16)[..., :H].astype(bool)       # (T, N, gate, unit)
    assert not bits.reshape(-1, 4 * H)[:, :].all()
    for k in range(4):
        assert 0.05 < 1 - bits[:, :, k].mean() < 0.95, (k, bits[:, :, k].mean())
    gates = cache.cell.gates.reshape(*keep.shape[:2], 4, H)
    g_clipped = np.abs(gates[:, :, 3][~bits[:, :, 3]])
    assert np.allclose(g_clipped, np.tanh(x), rtol=0, atol=1e-6)
    assert np.abs(gates[:, :, 3]).max() <= np.tanh(np.float32(x)) + 1e-6
    i_clipped = gates[:, :, 0][~bits[:, :, 0]]
    assert np.allclose(np.minimum(i_clipped, 1 - i_clipped), 1 / (1 + np.exp(x)), rtol=0, atol=1e-6)


@needs_engine
@pytest.mark.parametrize("name", _engines())
def test_gate_clip_record_at_the_bound(name, monkeypatch):
    """Pre-activations one float32 step inside, at, and one step beyond the bound: the gate values at and
    beyond are the same, the one inside differs by an ulp or not at all, so only the record tells the
    backward which were clipped; da is the NumPy reference's (0 at and beyond the bound), for every
    gate, with the hard sigmoid too."""
    monkeypatch.setenv("RNNLAB_ENGINE", name)
    x = np.float32(0.5)
    inside, beyond = np.nextafter(x, np.float32(0)), np.nextafter(x, np.float32(1))
    row = np.array([inside, x, beyond, -inside, -x, -beyond, 0.25, -0.75] * 3, np.float32)[:19]   # H = 19
    H = row.size
    T, N, D = 1, 2, 1
    W = np.tile(row, 4)[None, :].astype(np.float32)            # a = x_t W with x_t = 1, U = 0, b = 0
    U = np.zeros((H, 4 * H), np.float32)
    b = np.zeros(4 * H, np.float32)
    xs = np.ones((T, N, D), np.float32)
    h0 = np.zeros((N, H), np.float32)
    dy = np.random.default_rng(0).standard_normal((T, N, H)).astype(np.float32)
    dh = np.random.default_rng(1).standard_normal((N, H)).astype(np.float32)
    c0 = np.random.default_rng(2).standard_normal((N, H)).astype(np.float32)
    for act in ("sigmoid", "hard_sigmoid"):
        keep = engine.gate_keep_array(T, N, H)
        y, gates, hs, cs, tanh_c = engine.lstm_forward(xs, h0, c0, W, U, b, gate_clip=float(x), gate_keep=keep,
                                                       gate_activation=act)
        assert gates[0, 0, 1] == gates[0, 0, 2]                 # at and beyond the bound: the same gate value
        _, _, _, grads = engine.lstm_backward(dy, dh, np.zeros((N, H), np.float32), xs, W, U, gates, hs, cs, tanh_c,
                                              gate_clip=float(x), gate_keep=keep, gate_activation=act)
        opt = LSTMOptions(gate_clip=float(x), gate_activation=act)
        p = {"W": W, "U": U, "b": b}
        _, _, cache = lstmv_forward(xs, (h0, c0), p, opt=opt)
        _, _, want = lstmv_backward(dy + 0, (dh, np.zeros((N, H), np.float32)), cache)
        db = grads["b"].reshape(4, H)
        assert np.all(db[:, [1, 2, 4, 5]] == 0) and np.all(db[:, [0, 3]] != 0), (act, db)
        assert rel_err(grads["b"], want["b"]) <= TOL, act


@needs_engine
def test_gate_keep_is_written_only_with_a_cache():
    """Within inference() the loop writes no record (and needs none); outside it, lstm_forward and
    lstm_backward ask for gate_keep by name."""
    T, N, D, H = 3, 2, 4, 21
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, N, D)).astype(np.float32) * 3
    h0 = np.zeros((N, H), np.float32)
    W, U, b = (rng.standard_normal(s).astype(np.float32) for s in ((D, 4 * H), (H, 4 * H), (4 * H,)))
    with pytest.raises(ValueError, match="gate_keep"):
        engine.lstm_forward(x, h0, h0, W, U, b, gate_clip=0.5)
    with pytest.raises(ValueError, match="gate_keep"):
        engine.lstm_forward(x, h0, h0, W, U, b, gate_clip=0.5, gate_keep=np.zeros((T, N, 4), np.uint16))
    keep = engine.gate_keep_array(T, N, H)
    y, gates, hs, cs, tanh_c = engine.lstm_forward(x, h0, h0, W, U, b, gate_clip=0.5, gate_keep=keep)
    with pytest.raises(ValueError, match="gate_keep"):
        engine.lstm_backward(y, h0, h0, x, W, U, gates, hs, cs, tanh_c, gate_clip=0.5)
    sentinel = np.full_like(keep, 0xABCD)
    untouched = sentinel.copy()
    with engine.inference():
        y2 = engine.lstm_forward(x, h0, h0, W, U, b, gate_clip=0.5, gate_keep=sentinel)[0]
        y3 = engine.lstm_forward(x, h0, h0, W, U, b, gate_clip=0.5)[0]
    assert np.array_equal(sentinel, untouched)
    assert np.array_equal(y, y2) and np.array_equal(y, y3)


@needs_engine
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_h_rec_is_h_times_the_mask(kind, monkeypatch):
    """The loop's h~ = h s_r, for every step of a ragged batch (padded rows carry h, and so h~), is the
    product of the carried h and the mask, bit for bit; the engine asks for h_rec by name."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    layer = getattr(rnnlab, kind)(4, 37, seed=0, recurrent_dropout=0.4).train()
    x = np.random.default_rng(0).standard_normal((5, 6, 4)).astype(np.float32)
    _, _, cache = layer.forward(x, lengths=np.array([6, 2, 4, 1, 6]))
    c = cache.directions[0].cell
    rh = c.variant["recurrent_dropout"] if kind == "LSTM" else c.rh
    h_rec = c.variant["h_rec"] if kind == "LSTM" else c.h_rec
    assert rh is not None and 0 < np.mean(rh == 0) < 1
    assert np.array_equal(h_rec, c.cell.hs * rh)
    T, N, D, H = 6, 5, 4, 37
    z = np.zeros((T, N, D), np.float32)
    h0 = np.zeros((N, H), np.float32)
    s_r = np.ones((N, H), np.float32)
    with pytest.raises(ValueError, match="h_rec"):
        if kind == "LSTM":
            engine.lstm_forward(z, h0, h0, np.zeros((D, 4 * H), np.float32), np.zeros((H, 4 * H), np.float32),
                                np.zeros(4 * H, np.float32), recurrent_dropout=s_r)
        elif kind == "GRU":
            engine.gru_forward(z, h0, np.zeros((D, 3 * H), np.float32), np.zeros((H, 3 * H), np.float32),
                               np.zeros(3 * H, np.float32), np.zeros(H, np.float32), recurrent_dropout=s_r)
        else:
            engine.rnn_forward(z, h0, np.zeros((D, H), np.float32), np.zeros((H, H), np.float32),
                               np.zeros(H, np.float32), recurrent_dropout=s_r, h_rec=np.zeros((T, N, H), np.float32))


@needs_engine
def test_engine_rejects_an_unknown_nonlinearity():
    z = np.zeros((2, 1, 3), np.float32)
    with pytest.raises(ValueError, match="nonlinearity"):
        engine.rnn_forward(z, np.zeros((1, 4), np.float32), np.zeros((3, 4), np.float32), np.zeros((4, 4), np.float32),
                           np.zeros(4, np.float32), nonlinearity="sigmoid")


THREAD_CASES = [("LSTM", {"recurrent_dropout": 0.3, "gate_clip": 0.5, "peepholes": True}),
                ("LSTM", {"recurrent_dropout": 0.3, "zoneout": 0.2}),
                ("GRU", {"recurrent_dropout": 0.3, "zoneout": 0.2}),
                ("GRU", {"recurrent_dropout": 0.3, "gate_activation": "hard_sigmoid"}),
                ("RNN", {"recurrent_dropout": 0.3}),
                ("RNN", {"nonlinearity": "identity", "weight_drop": 0.3})]


@needs_engine
@pytest.mark.parametrize("kind, options", THREAD_CASES)
def test_thread_count_does_not_change_results(kind, options, monkeypatch):
    """The same bits on 1, 2 and 3 threads (H = 150: 10 unit blocks, 3 panels)."""
    shape = dict(D=6, H=150, L=1, bi=True, N=13, T=7, lengths=_lengths(13, 7, True, 0), seed=3, training=True,
                 scale=3.0, **options)
    assert_same_bits_on_threads(_run, kind, shape, monkeypatch)


@needs_engine
def test_layers_never_call_the_numpy_steps(monkeypatch):
    """Float32 layers with these options train and infer without the NumPy variant loops."""
    def refuse(*args, **kwargs):
        raise AssertionError("the NumPy variant loop ran")
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    for mod, names in ((lstm_mod, ("lstmv_forward", "lstmv_backward")), (gru_mod, ("gruv_forward", "gruv_backward")),
                       (rnn_mod, ("rnnv_forward", "rnnv_backward", "rnn_forward", "rnn_backward"))):
        for name in names:
            monkeypatch.setattr(mod, name, refuse)
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    for kind, options in [("LSTM", {"recurrent_dropout": 0.3}), ("LSTM", {"gate_clip": 1.0}),
                          ("LSTM", {"gate_clip": 1.0, "recurrent_dropout": 0.2, "weight_drop": 0.2, "zoneout": 0.1,
                                    "peepholes": True, "gate_activation": "hard_sigmoid", "bidirectional": True}),
                          ("GRU", {"recurrent_dropout": 0.3}),
                          ("GRU", {"recurrent_dropout": 0.3, "gate_activation": "hard_sigmoid", "zoneout": 0.2}),
                          ("RNN", {"recurrent_dropout": 0.3}), ("RNN", {"nonlinearity": "identity"}),
                          ("RNN", {"nonlinearity": "identity", "recurrent_dropout": 0.2, "zoneout": 0.1,
                                   "weight_drop": 0.2, "bidirectional": True})]:
        for training in (True, False):
            layer = getattr(rnnlab, kind)(4, 20, seed=0, **options).train(training)
            assert layer.compiled, options
            y, state, cache = layer.forward(x)
            layer.backward(np.ones_like(y), None, cache)
            layer.infer(x)


@needs_engine
@pytest.mark.parametrize("kind, options", [("LSTM", {"gate_clip": 0.5, "peepholes": True, "cell_clip": 0.5}),
                                           ("LSTM", {"gate_clip": 0.5, "recurrent_dropout": 0.3, "zoneout": 0.2}),
                                           ("GRU", {"recurrent_dropout": 0.3}),
                                           ("RNN", {"recurrent_dropout": 0.3, "nonlinearity": "identity"}),
                                           ("RNN", {"nonlinearity": "identity"})])
def test_infer_equals_forward(kind, options, monkeypatch):
    """infer (no cache kept) gives forward's outputs and states bit for bit, in training mode (the same
    masks: the generator's state set back) and in evaluation."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    x = (np.random.default_rng(0).standard_normal((4, 6, 5)) * 3).astype(np.float32)
    layer = getattr(rnnlab, kind)(5, 21, num_layers=2, bidirectional=True, seed=1, **options)
    for training in (True, False):
        layer.train(training)
        saved = None if layer.rng is None else layer.rng.bit_generator.state
        y, state, _ = layer.forward(x)
        if saved is not None:
            layer.rng.bit_generator.state = saved
        y2, state2 = layer.infer(x)
        assert np.array_equal(y, y2)
        for s, s2 in zip(state if kind == "LSTM" else (state,), state2 if kind == "LSTM" else (state2,)):
            assert np.array_equal(s, s2)
