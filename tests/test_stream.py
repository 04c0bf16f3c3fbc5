"""Streaming inference: ``initial_state`` / ``step`` equal the whole-sequence forward, for every cell,
stacked layers and Sequential models; bad input fails with a message naming the argument."""
import numpy as np
import pytest

import rnnlab
from rnnlab.layers import GRU, LSTM, RNN, Dense, Dropout
from rnnlab.models import LastStep, Sequential

from conftest import rel_err

TOL = {"float64": 1e-12, "float32": 1e-5}
CELLS = [(RNN, {}), (RNN, {"nonlinearity": "relu"}), (LSTM, {}), (LSTM, {"forget_bias": 1.0}),
         (GRU, {}), (GRU, {"reset_after": False})]


def parts(state):
    return list(state) if isinstance(state, tuple) else [state]


def random_state(layer, N, rng):
    s = [0.5 * rng.standard_normal(layer.state_shape(N)).astype(layer.dtype) for _ in layer.state_names]
    return tuple(s) if len(s) > 1 else s[0]


def stream(model, x, state):
    ys = []
    for t in range(x.shape[1]):
        y_t, state = model.step(x[:, t], state)
        ys.append(y_t)
    return np.stack(ys, axis=1), state


@pytest.mark.parametrize("cell, options", CELLS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("num_layers, N", [(1, 1), (1, 3), (3, 2)])
def test_step_equals_forward(cell, options, dtype, num_layers, N):
    rng = np.random.default_rng(num_layers * 10 + N)
    layer = cell(5, 7, num_layers=num_layers, dtype=dtype, seed=3, **options)
    x = rng.standard_normal((N, 9, 5)).astype(dtype)
    s0 = random_state(layer, N, rng)
    y, sT = layer.infer(x, s0)
    y_s, sT_s = stream(layer, x, s0)
    assert y_s.dtype == np.dtype(dtype) and y_s.shape == (N, 9, 7)
    assert rel_err(y_s, y) < TOL[dtype]
    for a, b in zip(parts(sT_s), parts(sT)):
        assert a.shape == (num_layers, N, 7) and a.dtype == np.dtype(dtype)
        assert rel_err(a, b) < TOL[dtype]


@pytest.mark.parametrize("cell, options", CELLS)
def test_initial_state_is_zero_in_pytorch_layout(cell, options):
    layer = cell(4, 6, num_layers=2, dtype="float64", seed=0, **options)
    state = layer.initial_state(5)
    for s in parts(state):
        assert s.shape == (2, 5, 6) and s.dtype == np.float64 and not s.any()
    x = np.random.default_rng(0).standard_normal((5, 4, 4))
    y_s, _ = stream(layer, x, state)
    y_none, _ = stream(layer, x, None)                    # None: the same zero state
    assert rel_err(y_s, layer.infer(x)[0]) < 1e-12
    np.testing.assert_array_equal(y_none, y_s)


def test_step_leaves_the_given_state_unchanged():
    layer = LSTM(3, 4, num_layers=2, dtype="float64", seed=0)
    s0 = random_state(layer, 2, np.random.default_rng(0))
    kept = [s.copy() for s in s0]
    y_t, s1 = layer.step(np.ones((2, 3)), s0)
    for a, b, c in zip(s0, kept, s1):
        np.testing.assert_array_equal(a, b)
        assert not np.shares_memory(a, c)
    y_t += 1.0                                            # y_t is the caller's to change
    assert rel_err(s1[0][-1] + 1.0, y_t) == 0.0


def test_step_casts_a_float_input_to_the_layer_dtype():
    layer = GRU(3, 4, seed=0)                             # float32
    y_t, state = layer.step(np.ones((1, 3), np.float64))
    assert y_t.dtype == np.float32 and state.dtype == np.float32


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sequential_step_with_head_on_last_step(dtype):
    """LastStep streams as the identity: y_t is the prediction for the sequence ending at t."""
    model = Sequential([LSTM(4, 6, num_layers=2, dtype=dtype, seed=0), Dropout(0.5, seed=1),
                        GRU(6, 5, dtype=dtype, seed=2), LastStep(), Dense(5, 3, "softmax", dtype=dtype, seed=3)])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 4)).astype(dtype)
    states = model.initial_state(2)
    assert [type(s).__name__ for s in states] == ["tuple", "NoneType", "ndarray", "NoneType", "NoneType"]
    for t in range(7):
        y_t, states = model.step(x[:, t], states)
        y_prefix, cache = model.forward(x[:, :t + 1])
        assert y_t.shape == (2, 3)
        assert rel_err(y_t, y_prefix) < TOL[dtype]
    _, cache = model.forward(x)
    for a, b in zip(parts(states[0]), parts(cache.states[0])):
        assert rel_err(a, b) < TOL[dtype]
    assert rel_err(states[2], cache.states[2]) < TOL[dtype]


def test_sequential_step_with_head_on_every_step():
    model = Sequential([Dense(3, 4, "tanh", dtype="float64", seed=0), RNN(4, 6, num_layers=2, dtype="float64", seed=1),
                        Dense(6, 2, dtype="float64", seed=2)])
    x = np.random.default_rng(1).standard_normal((1, 8, 3))
    y, _ = model.forward(x)
    y_s, states = stream(model, x, model.initial_state(1))
    assert rel_err(y_s, y) < 1e-12
    assert states[0] is None and states[2] is None and states[1].shape == (2, 1, 6)


def test_bidirectional_refuses_to_stream():
    layer = LSTM(3, 4, bidirectional=True)
    for call in (lambda: layer.step(np.zeros((1, 3), np.float32)), lambda: layer.initial_state(1)):
        with pytest.raises(ValueError, match="bidirectional LSTM cannot run step by step: its reverse direction"):
            call()
    model = Sequential([GRU(3, 4, bidirectional=True), LastStep(), Dense(8, 2)])
    with pytest.raises(ValueError, match=r"layers\[0\]: a bidirectional GRU"):
        model.initial_state(1)
    with pytest.raises(ValueError, match=r"layers\[0\]: a bidirectional GRU"):
        model.step(np.zeros((1, 3), np.float32))


@pytest.mark.parametrize("x_t, match", [
    (np.zeros((2, 4)), r"x_t: expected shape \(N, 3\) \(batch, input_size\), got \(2, 4\)"),
    (np.zeros(3), r"x_t: expected shape \(N, 3\)"),
    (np.zeros((2, 3), np.int64), "x_t: expected a floating-point array"),
    (np.array([[0.0, np.nan, 0.0]], np.float32), r"x_t: expected finite values, got nan at index \(0, 1\)"),
    (np.array([[0.0, 0.0, 0.0], [np.inf, 0.0, 0.0]]), r"x_t: expected finite values, got inf at index \(1, 0\)"),
])
def test_bad_input_names_x_t(x_t, match):
    with pytest.raises(ValueError, match=match):
        LSTM(3, 4).step(x_t)


def test_bad_state_names_state():
    lstm, gru = LSTM(3, 4, num_layers=2), GRU(3, 4)
    x_t = np.zeros((2, 3), np.float32)
    h, c = lstm.initial_state(2)
    with pytest.raises(ValueError, match=r"state\[c\]: expected shape \(2, 2, 4\) .*got \(2, 1, 4\)"):
        lstm.step(x_t, (h, c[:, :1]))
    with pytest.raises(ValueError, match=r"state: expected a tuple \('h', 'c'\)"):
        lstm.step(x_t, h)
    with pytest.raises(ValueError, match=r"state\[h\]: expected dtype float32 \(the layer's dtype\), got float64"):
        lstm.step(x_t, (h.astype(np.float64), c))
    with pytest.raises(ValueError, match=r"state: expected shape \(1, 2, 4\)"):
        gru.step(x_t, gru.initial_state(3))
    with pytest.raises(ValueError, match="state: expected an array"):
        gru.step(x_t, [[0.0] * 4])
    with pytest.raises(ValueError, match="batch: expected a positive integer"):
        gru.initial_state(0)


def test_sequential_bad_input_and_modes():
    model = Sequential([GRU(3, 4, seed=0), Dropout(0.3), Dense(4, 2)])
    with pytest.raises(ValueError, match=r"states: expected a list of 3 entries"):
        model.step(np.zeros((1, 3), np.float32), [None])
    with pytest.raises(ValueError, match=r"states\[0\]: expected shape \(1, 1, 4\)"):
        model.step(np.zeros((1, 3), np.float32), [np.zeros((1, 2, 4), np.float32), None, None])
    with pytest.raises(ValueError, match=r"x_t: expected shape \(N, 3\)"):
        model.step(np.zeros((1, 5), np.float32))
    model.train()
    with pytest.raises(ValueError, match=r"layers\[1\] is a Dropout in training mode.*model.eval\(\)"):
        model.step(np.zeros((1, 3), np.float32))
    model.eval()
    y_t, _ = model.step(np.zeros((1, 3), np.float32))
    assert y_t.shape == (1, 2)
    with pytest.raises(ValueError, match=r"x_t: expected finite values, got -inf at index \(0, 2\)"):
        model.step(np.array([[0.0, 1.0, -np.inf]], np.float32))
    dense_first = Sequential([Dense(3, 4), GRU(4, 2)])
    with pytest.raises(ValueError, match=r"x_t: expected last dimension 3"):
        dense_first.step(np.zeros((1, 4), np.float32))


def test_sequential_refuses_what_cannot_stream():
    class Custom:
        params: dict = {}

        def forward(self, x):
            return x, None
    with pytest.raises(ValueError, match=r"layers\[1\] \(Custom\) cannot run step by step"):
        Sequential([GRU(3, 4), Custom()]).initial_state(1)
    with pytest.raises(ValueError, match=r"layers\[1\] \(Custom\) cannot run step by step"):
        Sequential([GRU(3, 4), Custom()]).step(np.zeros((1, 3), np.float32))
    model = Sequential([Dense(3, 8), LastStep(directions=2), Dense(8, 2)])
    with pytest.raises(ValueError, match=r"layers\[1\] is LastStep\(directions=2\)"):
        model.step(np.zeros((1, 3), np.float32))


def test_step_functions_are_the_sequence_loop():
    """The public step functions, chained by hand over time, give the sequence function's outputs."""
    from rnnlab.layers import gru, lstm, rnn
    rng = np.random.default_rng(0)
    layer = LSTM(3, 5, dtype="float64", seed=0, forget_bias=0.5)
    p = layer.direction_params(0, 0)
    x = rng.standard_normal((6, 2, 3))                     # time-major (T, N, D)
    h, c = rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    y, (hT, cT), _ = lstm.lstm_forward(x, (h, c), p, forget_bias=0.5)
    for t in range(6):
        (h, c), _ = lstm.lstm_step_forward(lstm.lstm_input_part(x[t], p, 0.5), h, c, p["U"])
        np.testing.assert_allclose(h, y[t], rtol=0, atol=1e-14)
    np.testing.assert_allclose(c, cT, rtol=0, atol=1e-14)
    for reset_after in (True, False):
        g = GRU(3, 5, dtype="float64", seed=1, reset_after=reset_after)
        p = g.direction_params(0, 0)
        h = rng.standard_normal((2, 5))
        y, _, _ = gru.gru_forward(x, (h,), p, reset_after=reset_after)
        for t in range(6):
            h, _ = gru.gru_step_forward(gru.gru_input_part(x[t], p), h, p["U"], p.get("b_hn"), reset_after)
            np.testing.assert_allclose(h, y[t], rtol=0, atol=1e-14)
    e = RNN(3, 5, dtype="float64", seed=2)
    p = e.direction_params(0, 0)
    y, _, _ = rnn.rnn_forward(x, (np.zeros((2, 5)),), p)
    h = np.zeros((2, 5))
    for t in range(6):
        h = rnn.rnn_step_forward(rnn.rnn_input_part(x[t], p), h, p["U"])
        np.testing.assert_allclose(h, y[t], rtol=0, atol=1e-14)


def test_public_api_exposes_streaming():
    assert callable(rnnlab.LSTM(2, 3).step) and callable(Sequential([rnnlab.GRU(2, 3)]).initial_state)
