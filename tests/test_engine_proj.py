"""The compiled engine's LSTM with a recurrent projection (proj_size; loops lstmp_fwd / lstmp_bwd)
against the NumPy variant step functions, which are the reference: outputs, final states, dx,
dstate0 and every parameter gradient (dW_hr included) within float32 relative error 1e-5, alone and
with the other compiled LSTM options, over ragged batches, reverse and bidirectional (the next
layer reads 2P inputs), stacked layers, batch 1, H and P not multiples of 16, P > H (the engine's
functions), every instruction set this CPU runs; that such a layer really runs the compiled loops;
thread-count independence; inference equal to forward; and one float32 check against
torch.nn.LSTM(proj_size=P) on the same weights."""
import numpy as np
import pytest

import rnnlab
from rnnlab import engine
from rnnlab.layers import lstm as lstm_mod
from rnnlab.layers.lstm_variants import LSTMOptions, LSTMVCache, lstmv_backward, lstmv_forward
from rnnlab.layers.regularizers import RegMasks

from conftest import rel_err, require_torch
from test_engine import _engines, needs_engine
from test_engine_variants import _run

TOL = 1e-5


CASES = [  # options, training, D, H, proj_size, layers, bidirectional, N, T, ragged, direction
    ({}, False, 5, 37, 11, 2, True, 7, 9, True, "forward"),
    ({}, False, 3, 16, 8, 1, False, 1, 12, False, "forward"),
    ({}, False, 6, 70, 33, 1, False, 13, 5, True, "reverse"),
    ({}, False, 4, 33, 20, 3, False, 6, 4, False, "forward"),
    ({}, False, 3, 129, 70, 1, True, 3, 6, True, "forward"),
    ({"forget_bias": 1.0}, False, 5, 37, 1, 1, False, 7, 9, True, "reverse"),
    ({"peepholes": True}, False, 5, 37, 11, 2, True, 7, 9, True, "forward"),
    ({"cell_clip": 0.3}, False, 6, 70, 33, 1, True, 13, 5, True, "forward"),
    ({"input_forget": True, "forget_bias": 1.0}, False, 3, 16, 5, 1, False, 1, 12, False, "forward"),
    ({"peepholes": True, "cell_clip": 0.4, "input_forget": True}, False, 6, 70, 21, 2, True, 13, 5, True, "forward"),
    ({"gate_activation": "hard_sigmoid", "peepholes": True}, False, 5, 37, 11, 1, True, 7, 9, True, "forward"),
    ({"gate_activation": "hard_sigmoid_keras2"}, False, 4, 33, 20, 2, False, 6, 4, True, "reverse"),
    ({"zoneout": (0.3, 0.2)}, True, 5, 37, 11, 2, True, 7, 9, True, "forward"),
    ({"zoneout": 0.3}, True, 3, 16, 8, 1, False, 1, 12, False, "reverse"),
    ({"zoneout": (0.2, 0.4)}, False, 5, 37, 11, 1, True, 7, 9, True, "forward"),       # the expectation
    ({"zoneout": (0.1, 0.4), "cell_clip": 0.4, "peepholes": True}, True, 4, 33, 20, 2, False, 6, 4, True, "forward"),
    ({"weight_drop": 0.3}, True, 5, 37, 11, 2, True, 7, 9, True, "forward"),
    ({"weight_drop": 0.3, "zoneout": 0.2, "peepholes": True}, True, 6, 70, 33, 1, False, 13, 5, True, "forward"),
    # the weight-gradient blocking: T N = 300 rows > one 256-row chunk; H = 200 > one 192-row block
    # of dW_hr, P = 100: two 64-column panels
    ({}, False, 70, 200, 100, 1, True, 12, 25, True, "forward"),
    ({"peepholes": True, "zoneout": 0.2}, True, 70, 200, 100, 1, False, 12, 25, True, "forward"),
]


def _case_id(c):
    opts = "-".join(f"{k}={v}" for k, v in c[0].items())
    return f"{opts or 'plain'}-{'train' if c[1] else 'eval'}-H{c[3]}-P{c[4]}-L{c[5]}-{'bi' if c[6] else c[10]}-N{c[7]}" \
           f"{'-ragged' if c[9] else ''}"


def _shape(case):
    options, training, D, H, P, L, bi, N, T, ragged, direction = case
    lengths = None
    if ragged:
        lengths = np.random.default_rng(H).integers(1, T + 1, size=N)
        lengths[0] = T
    scale = 12.0 if "gate_activation" in options else 1.0
    return dict(D=D, H=H, L=L, bi=bi, N=N, T=T, lengths=lengths, seed=H + L, training=training, direction=direction,
                scale=scale, proj_size=P, **options)


@needs_engine
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_engine_proj_equals_numpy(case, monkeypatch):
    shape = _shape(case)
    ref, ref_cells = _run("LSTM", "numpy", monkeypatch, **shape)
    assert all(isinstance(c, LSTMVCache) for c in ref_cells)             # the reference: NumPy step functions
    assert any(k.endswith("W_hr") for k in ref)
    for name in _engines():
        got, cells = _run("LSTM", name, monkeypatch, **shape)
        assert all(isinstance(c, lstm_mod.LSTMEngineCache) and c.variant["W_hr"] is not None for c in cells), \
            (name, [type(c).__name__ for c in cells])
        assert set(got) == set(ref)
        for key in ref:
            assert got[key].dtype == np.float32, (name, key)
            assert got[key].shape == ref[key].shape, (name, key)
            assert rel_err(got[key], ref[key]) <= TOL, (name, key, rel_err(got[key], ref[key]))


@needs_engine
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("H, P, options", [(13, 40, {}), (13, 40, {"peepholes": True, "zoneout": True}),
                                            (20, 20, {"cell_clip": 0.3, "zoneout": True}), (5, 1, {})])
def test_engine_functions_with_any_proj_width(H, P, options, reverse, monkeypatch):
    """rnnlab.engine.lstm_forward / lstm_backward with W_hr for any P, P >= H too (which the layer, like
    PyTorch, refuses), against lstmv_forward / lstmv_backward in float32, ragged, every instruction set."""
    T, N, D = 7, 5, 6
    rng = np.random.default_rng(H * P)
    f = lambda *s: rng.standard_normal(s).astype(np.float32) * np.float32(0.5)      # noqa: E731
    x, h0, c0 = f(T, N, D), f(N, P), f(N, H)
    p = {"W": f(D, 4 * H), "U": f(P, 4 * H), "b": f(4 * H), "W_hr": f(H, P)}
    opt = LSTMOptions(peepholes=bool(options.get("peepholes")), cell_clip=options.get("cell_clip"))
    if opt.peepholes:
        p["p"] = f(3 * H)
    mask = np.ones((T, N, 1), np.float32)
    mask[4:, 1], mask[2:, 3] = 0, 0
    if reverse:
        mask = mask[::-1].copy()
    reg, zone = None, None
    if options.get("zoneout"):
        zh, zc = (rng.random((N, P)) < 0.3).astype(np.float32), (rng.random((N, H)) < 0.4).astype(np.float32)
        reg, zone = RegMasks(zh=zh, zc=zc), (zh, zc)
    dy, dhT, dcT = f(T, N, P), f(N, P), f(N, H)
    y, (hT, cT), cache = lstmv_forward(x, (h0, c0), p, mask, reverse, opt, reg)
    dx, (dh0, dc0), grads = lstmv_backward(dy, (dhT, dcT), cache)
    ref = dict(y=y, hT=hT, cT=cT, dx=dx, dh0=dh0, dc0=dc0, **grads)
    c_hat = np.empty((T, N, H), np.float32) if zone is not None and (opt.peepholes or opt.cell_clip) else None
    variant = dict(peepholes=p.get("p"), cell_clip=opt.cell_clip, zoneout=zone, c_hat=c_hat, W_hr=p["W_hr"])
    for name in _engines():
        monkeypatch.setenv("RNNLAB_ENGINE", name)
        m = np.empty((T, N, H), np.float32)
        y, gates, hs, cs, tanh_c = engine.lstm_forward(x, h0, c0, p["W"], p["U"], p["b"], mask, reverse, m=m,
                                                       **variant)
        dx, dh0, dc0, grads = engine.lstm_backward(dy, dhT, dcT, x, p["W"], p["U"], gates, hs, cs, tanh_c, mask,
                                                   reverse, m=m, **variant)
        got = dict(y=y, hT=hs[0] if reverse else hs[-1], cT=cs[0] if reverse else cs[-1], dx=dx, dh0=dh0, dc0=dc0,
                   **grads)
        assert set(got) == set(ref)
        for key in ref:
            assert got[key].shape == ref[key].shape, (name, key)
            assert rel_err(got[key], ref[key]) <= TOL, (name, key, rel_err(got[key], ref[key]))


@needs_engine
def test_proj_results_do_not_depend_on_threads(monkeypatch):
    """The same bits on 1, 2 and 3 threads (dp and dW_hr included)."""
    shape = dict(D=6, H=70, L=2, bi=True, N=13, T=7, lengths=np.arange(13) % 7 + 1, seed=3, training=True,
                 proj_size=33, peepholes=True, cell_clip=0.5, zoneout=0.2, weight_drop=0.2)
    runs = []
    for n in ("1", "2", "3"):
        monkeypatch.setenv("RNNLAB_ENGINE_THREADS", n)
        runs.append(_run("LSTM", "auto", monkeypatch, **shape)[0])
    for other in runs[1:]:
        for key in runs[0]:
            assert np.array_equal(runs[0][key], other[key]), key


@needs_engine
def test_proj_infer_equals_forward(monkeypatch):
    """infer (no cache kept: m_t in one (N, H) scratch) gives forward's outputs and states bit for bit."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    x = np.random.default_rng(0).standard_normal((4, 6, 5)).astype(np.float32)
    for options in ({}, {"peepholes": True, "cell_clip": 0.5}, {"input_forget": True}, {"zoneout": (0.3, 0.1)},
                    {"zoneout": 0.2, "peepholes": True, "cell_clip": 0.5}, {"gate_activation": "hard_sigmoid"}):
        layer = rnnlab.LSTM(5, 21, num_layers=2, bidirectional=True, seed=1, proj_size=9, **options)
        y, (h, c), cache = layer.forward(x, lengths=np.array([6, 2, 5, 1]))
        assert isinstance(cache.directions[0].cell, lstm_mod.LSTMEngineCache)
        y2, (h2, c2) = layer.infer(x, lengths=np.array([6, 2, 5, 1]))
        assert y.shape == (4, 6, 18) and h.shape == (4, 4, 9) and c.shape == (4, 4, 21)
        assert np.array_equal(y, y2) and np.array_equal(h, h2) and np.array_equal(c, c2), options


@needs_engine
def test_proj_layer_never_calls_the_numpy_steps(monkeypatch):
    """A float32 LSTM with proj_size (alone and with the compiled options) trains and infers without the
    NumPy variant loop, and says so (``compiled``)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the NumPy variant loop ran")
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    monkeypatch.setattr(lstm_mod, "lstmv_forward", refuse)
    monkeypatch.setattr(lstm_mod, "lstmv_backward", refuse)
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    for options in ({}, {"peepholes": True, "cell_clip": 1.0}, {"input_forget": True}, {"zoneout": 0.2},
                    {"weight_drop": 0.3, "bidirectional": True}, {"gate_activation": "hard_sigmoid_keras2"}):
        layer = rnnlab.LSTM(4, 20, seed=0, proj_size=7, **options).train()
        assert layer.compiled, options
        y, state, cache = layer.forward(x)
        _, _, grads = layer.backward(np.ones_like(y), None, cache)
        assert grads["l0.W_hr"].shape == (20, 7) and np.abs(grads["l0.W_hr"]).sum() > 0
        layer.infer(x)


@needs_engine
def test_proj_with_an_option_the_engine_lacks_runs_numpy(monkeypatch):
    """proj_size with an option that the projected loops do not take runs NumPy, and says so."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    layer = rnnlab.LSTM(4, 20, seed=0, proj_size=5, layer_norm=True, gate_clip=1.0, recurrent_dropout=0.3).train()
    assert not layer.compiled
    _, _, cache = layer.forward(np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32))
    assert isinstance(cache.directions[0].cell, LSTMVCache)


@needs_engine
def test_proj_backward_after_the_switch_to_numpy(monkeypatch):
    """A compiled projected forward's cache goes back through the compiled loop after RNNLAB_ENGINE=numpy."""
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    layer = rnnlab.LSTM(4, 20, seed=0, proj_size=6)
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    y, _, cache = layer.forward(x)
    want = layer.backward(np.ones_like(y), None, cache)
    monkeypatch.setenv("RNNLAB_ENGINE", "numpy")
    got = layer.backward(np.ones_like(y), None, cache)
    assert all(np.array_equal(got[2][k], want[2][k]) for k in want[2])


@needs_engine
def test_engine_needs_m_for_the_projection():
    """The backward of the projection reads m_t = o tanh(c_t), which the loop writes to m: without one
    (outside inference()), or of the wrong shape, lstm_forward says so, naming m."""
    T, N, D, H, P = 3, 2, 4, 5, 3
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, N, D)).astype(np.float32)
    W, U, b, W_hr = (rng.standard_normal(s).astype(np.float32) for s in ((D, 4 * H), (P, 4 * H), (4 * H,), (H, P)))
    h0, c0 = np.zeros((N, P), np.float32), np.zeros((N, H), np.float32)
    with pytest.raises(ValueError, match="^m: expected"):
        engine.lstm_forward(x, h0, c0, W, U, b, W_hr=W_hr)
    with pytest.raises(ValueError, match="^m: expected"):
        engine.lstm_forward(x, h0, c0, W, U, b, W_hr=W_hr, m=np.empty((T, N, P), np.float32))
    m = np.empty((T, N, H), np.float32)
    y, gates, hs, cs, tanh_c = engine.lstm_forward(x, h0, c0, W, U, b, W_hr=W_hr, m=m)
    assert np.allclose(m, gates[..., 2 * H:3 * H] * tanh_c, rtol=1e-6, atol=1e-7)       # m_t = o tanh(c_t)
    assert np.allclose(y, m @ W_hr, rtol=1e-5, atol=1e-6)                               # h_t = m_t W_hr
    with engine.inference():
        y2 = engine.lstm_forward(x, h0, c0, W, U, b, W_hr=W_hr)[0]
    assert np.array_equal(y, y2)


@needs_engine
def test_compiled_proj_matches_torch_float32(monkeypatch):
    """The compiled loops against torch.nn.LSTM(proj_size=P) in float32 on the same weights: y, h_T, c_T,
    dx, dh_0, dc_0 and every parameter gradient within 1e-5."""
    torch = require_torch()
    from rnnlab.interop.torch import to_state_dict, to_torch
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    N, T, D, H, P = 5, 8, 6, 37, 11
    layer = rnnlab.LSTM(D, H, num_layers=2, bidirectional=True, proj_size=P, forget_bias=1.0, seed=4)
    rnn, _ = to_torch(layer)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    h0, c0 = (rng.standard_normal(layer.state_shape(N, s)).astype(np.float32) * 0.5 for s in ("h", "c"))
    dy = rng.standard_normal((N, T, 2 * P)).astype(np.float32)
    dh, dc = (rng.standard_normal(layer.state_shape(N, s)).astype(np.float32) for s in ("h", "c"))
    y, (hT, cT), cache = layer.forward(x, (h0, c0))
    assert all(isinstance(d.cell, lstm_mod.LSTMEngineCache) for d in cache.directions)
    dx, (dh0, dc0), grads = layer.backward(dy, (dh, dc), cache)
    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    yt, (hTt, cTt) = rnn(xt, (h0t, c0t))
    ((yt * torch.tensor(dy)).sum() + (hTt * torch.tensor(dh)).sum() + (cTt * torch.tensor(dc)).sum()).backward()
    for name, a, b in (("y", y, yt), ("h", hT, hTt), ("c", cT, cTt), ("dx", dx, xt.grad), ("dh0", dh0, h0t.grad),
                       ("dc0", dc0, c0t.grad)):
        assert rel_err(a, b.detach().numpy()) <= TOL, (name, rel_err(a, b.detach().numpy()))
    want = to_state_dict(layer, grads)
    named = dict(rnn.named_parameters())
    assert any(k.startswith("weight_hr") for k in named)
    for k, param in named.items():
        ref = want[k.replace("bias_hh", "bias_ih")]           # both torch biases get the gradient of b
        assert rel_err(ref, param.grad.numpy()) <= TOL, (k, rel_err(ref, param.grad.numpy()))


@needs_engine
def test_proj_sharded_batch(monkeypatch):
    """With RNNLAB_THREADS=2, N >= 64 rows and H >= 256 units the NumPy cells run the batch as two
    halves at once (rnnlab.engine.threads); the engine runs it whole, as a compiled projected loop on its own
    threads, and agrees with the halves."""
    from rnnlab.engine import threads
    monkeypatch.setenv("RNNLAB_THREADS", "2")
    if not threads.enabled():
        pytest.skip("two concurrent tasks are not available on this machine")
    shape = dict(D=4, H=256, L=1, bi=False, N=64, T=3, lengths=np.arange(64) % 3 + 1, seed=5, training=False,
                 proj_size=100, peepholes=True)
    ref, halves = _run("LSTM", "numpy", monkeypatch, **shape)
    assert len(halves) == 2
    got, cells = _run("LSTM", "auto", monkeypatch, **shape)
    assert len(cells) == 1 and isinstance(cells[0], lstm_mod.LSTMEngineCache)
    for key in ref:
        assert rel_err(got[key], ref[key]) <= TOL, (key, rel_err(got[key], ref[key]))


def test_projected_loops_refuse_gate_clip_and_recurrent_dropout():
    """The projected loops take neither option; the engine says so naming W_hr, before any C call."""
    rng = np.random.default_rng(0)
    T, N, D, H, P = 3, 2, 4, 6, 3
    x = rng.standard_normal((T, N, D)).astype(np.float32)
    args = (x, np.zeros((N, P), np.float32), np.zeros((N, H), np.float32),
            rng.standard_normal((D, 4 * H)).astype(np.float32), rng.standard_normal((P, 4 * H)).astype(np.float32),
            np.zeros(4 * H, np.float32))
    W_hr = rng.standard_normal((H, P)).astype(np.float32)
    for extra in ({"gate_clip": 1.0}, {"recurrent_dropout": np.ones((N, P), np.float32)}):
        with pytest.raises(ValueError, match="W_hr: the projected LSTM loops take neither"):
            engine.lstm_forward(*args, W_hr=W_hr, m=np.empty((T, N, H), np.float32), **extra)
