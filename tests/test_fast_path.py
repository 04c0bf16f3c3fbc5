"""The fused kernels (rnnlab.kernels.fused, numba) against the readable NumPy cells they replace:
same outputs, states, caches and gradients, and each backward accepts the other path's cache."""
import numpy as np
import pytest

import rnnlab
from rnnlab import kernels
from rnnlab.layers import gru, lstm

from conftest import rel_err

try:
    from rnnlab.kernels import fused
except ImportError:                              # numba not installed: the reference runs everywhere
    fused = None
needs_numba = pytest.mark.skipif(fused is None, reason="numba not installed (pip install rnnlab[fast])")

TOL = 2e-5      # float32; tanh32 is within 3e-7 of tanh, the rest is summation order


@needs_numba
def test_tanh32_is_close_to_tanh():
    z = np.linspace(-20, 20, 400_001).astype(np.float32)
    out = np.empty_like(z)
    fused.tanh_array(z, out)
    assert np.abs(out.astype(np.float64) - np.tanh(z.astype(np.float64))).max() < 5e-7
    assert np.all(np.abs(out) <= 1)              # so sigmoid32 stays in [0, 1]


def _inputs(seed, T=7, N=5, D=6, H=9, gates=4, n_state=2):
    rng = np.random.default_rng(seed)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    p = {"W": f32(D, gates * H) * 0.4, "U": f32(H, gates * H) * 0.4, "b": f32(gates * H) * 0.4,
         "b_hn": f32(H) * 0.4}
    state0 = tuple(f32(N, H) * 0.5 for _ in range(n_state))
    dstate = tuple(f32(N, H) for _ in range(n_state))
    return f32(T, N, D) * 2, p, state0, f32(T, N, H), dstate


def _assert_same(a, b):
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            assert rel_err(a[k], b[k]) <= TOL, k
    elif isinstance(a, tuple):
        for u, v in zip(a, b):
            _assert_same(u, v)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and rel_err(a, b) <= TOL
    else:
        assert a == b or (a is None and b is None)


@needs_numba
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("forget_bias", [0.0, 1.0])
def test_lstm_fused_equals_reference(reverse, forget_bias):
    x, p, s0, dy, ds = _inputs(seed=3 + reverse)
    y_ref, sT_ref, c_ref = lstm.lstm_forward(x, s0, p, None, reverse, forget_bias)
    y, sT, c = fused.lstm_forward(x, s0, p, reverse, forget_bias)
    _assert_same((y, sT), (y_ref, sT_ref))
    _assert_same(tuple(c), tuple(c_ref))
    g_ref = lstm.lstm_backward(dy, ds, c_ref)
    _assert_same(fused.lstm_backward(dy, ds, c_ref), g_ref)     # caches are interchangeable
    _assert_same(fused.lstm_backward(dy, ds, c), g_ref)
    _assert_same(lstm.lstm_backward(dy, ds, c), g_ref)


@needs_numba
@pytest.mark.parametrize("reverse", [False, True])
def test_gru_fused_equals_reference(reverse):
    x, p, s0, dy, ds = _inputs(seed=5 + reverse, gates=3, n_state=1)
    y_ref, sT_ref, c_ref = gru.gru_forward(x, s0, p, None, reverse, True)
    y, sT, c = fused.gru_forward(x, s0, p, reverse)
    _assert_same((y, sT), (y_ref, sT_ref))
    _assert_same(tuple(c), tuple(c_ref))
    g_ref = gru.gru_backward(dy, ds, c_ref)
    _assert_same(fused.gru_backward(dy, ds, c_ref), g_ref)
    _assert_same(fused.gru_backward(dy, ds, c), g_ref)
    _assert_same(gru.gru_backward(dy, ds, c), g_ref)


@needs_numba
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_layer_dispatch_and_switch(kind, monkeypatch):
    """A stacked bidirectional float32 layer gives the same results with RNNLAB_FAST=0 and =1;
    float64 and ragged batches never take the fused path."""
    layer = getattr(rnnlab, kind)(4, 6, num_layers=2, bidirectional=True, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    dy = rng.standard_normal((3, 5, 12)).astype(np.float32)
    results = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("RNNLAB_FAST", flag)
        y, state, cache = layer.forward(x)
        results[flag] = (y, state, layer.backward(dy, None, cache))
        assert isinstance(cache.directions[0].cell, lstm.LSTMCache if kind == "LSTM" else gru.GRUCache)
    _assert_same(results["1"], results["0"])
    monkeypatch.setenv("RNNLAB_FAST", "1")
    assert kernels.applies(x, None)
    assert not kernels.applies(x.astype(np.float64), None)
    assert not kernels.applies(x, np.ones((5, 3, 1), np.float32))

