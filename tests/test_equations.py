"""Each cell against its equations written out literally, one gate at a time (float64): the readable
oracle for the fused, vectorised layers. Covers what PyTorch cannot: the reset-before GRU and
the LSTM's forget_bias."""
import numpy as np
import pytest

import rnnlab

from conftest import rel_err


def sig(z):
    return 1 / (1 + np.exp(-z))


def blocks(a, n):
    return np.split(a, n, axis=-1)


def lstm_reference(x, h, c, p, forget_bias):
    Wi, Wf, Wo, Wg = blocks(p["W"], 4)
    Ui, Uf, Uo, Ug = blocks(p["U"], 4)
    bi, bf, bo, bg = blocks(p["b"], 4)
    ys = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        i = sig(xt @ Wi + h @ Ui + bi)
        f = sig(xt @ Wf + h @ Uf + bf + forget_bias)
        o = sig(xt @ Wo + h @ Uo + bo)
        g = np.tanh(xt @ Wg + h @ Ug + bg)
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h)
    return np.stack(ys, 1), (h, c)


def gru_reference(x, h, p, reset_after):
    Wr, Wz, Wn = blocks(p["W"], 3)
    Ur, Uz, Un = blocks(p["U"], 3)
    br, bz, bn = blocks(p["b"], 3)
    ys = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        r = sig(xt @ Wr + h @ Ur + br)
        z = sig(xt @ Wz + h @ Uz + bz)
        if reset_after:
            n = np.tanh(xt @ Wn + bn + r * (h @ Un + p["b_hn"]))
        else:
            n = np.tanh(xt @ Wn + bn + (r * h) @ Un)
        h = (1 - z) * n + z * h
        ys.append(h)
    return np.stack(ys, 1), (h,)


def rnn_reference(x, h, p, nonlinearity):
    phi = np.tanh if nonlinearity == "tanh" else (lambda a: np.maximum(a, 0))
    ys = []
    for t in range(x.shape[1]):
        h = phi(x[:, t] @ p["W"] + h @ p["U"] + p["b"])
        ys.append(h)
    return np.stack(ys, 1), (h,)


def run_reference(layer, x, state0):
    p = layer.direction_params(0, 0)
    if isinstance(layer, rnnlab.LSTM):
        return lstm_reference(x, state0[0][0], state0[1][0], p, layer.forget_bias)
    if isinstance(layer, rnnlab.GRU):
        return gru_reference(x, state0[0], p, layer.reset_after)
    return rnn_reference(x, state0[0], p, layer.nonlinearity)


LAYERS = [lambda: rnnlab.LSTM(3, 5, forget_bias=1.0, dtype="float64", seed=0),
          lambda: rnnlab.LSTM(3, 5, dtype="float64", seed=1),
          lambda: rnnlab.GRU(3, 5, reset_after=True, dtype="float64", seed=2),
          lambda: rnnlab.GRU(3, 5, reset_after=False, dtype="float64", seed=3),
          lambda: rnnlab.RNN(3, 5, nonlinearity="tanh", dtype="float64", seed=4),
          lambda: rnnlab.RNN(3, 5, nonlinearity="relu", dtype="float64", seed=5)]


@pytest.mark.parametrize("make", LAYERS)
def test_forward_matches_written_out_equations(make):
    layer = make()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 3))
    state0 = layer.zero_state(4)
    state0 = tuple(rng.standard_normal(s.shape) for s in (state0 if isinstance(state0, tuple) else (state0,)))
    y, state, _ = layer.forward(x, state0 if len(state0) > 1 else state0[0])
    y_ref, final_ref = run_reference(layer, x, [s if len(state0) > 1 else s[0] for s in state0])
    assert rel_err(y, y_ref) <= 1e-12
    state = state if isinstance(state, tuple) else (state,)
    for s, s_ref in zip(state, final_ref):
        assert rel_err(s[0], s_ref) <= 1e-12


@pytest.mark.parametrize("make", LAYERS)
def test_reverse_direction_is_forward_on_reversed_time(make):
    """A bidirectional layer's reverse half equals a unidirectional layer run on x[:, ::-1]."""
    layer = make()
    bi = type(layer)(**{**layer.config(), "bidirectional": True})
    for k in layer.params:
        bi.params[k.replace("l0.", "l0_reverse.")][...] = layer.params[k]
    x = np.random.default_rng(1).standard_normal((2, 7, 3))
    y_uni, _, _ = layer.forward(x[:, ::-1])
    y_bi, _, _ = bi.forward(x)
    H = layer.hidden_size
    assert rel_err(y_bi[:, :, H:], y_uni[:, ::-1]) <= 1e-12


@pytest.mark.parametrize("make", LAYERS)
def test_ragged_batch_equals_each_sequence_alone(make):
    """Padding must not leak: each sequence of a ragged batch gives what it gives alone."""
    layer = make()
    bi = type(layer)(**{**layer.config(), "bidirectional": True, "num_layers": 2, "seed": 7})
    rng = np.random.default_rng(2)
    lengths = np.array([6, 2, 4])
    x = rng.standard_normal((3, 6, 3))
    x[1, 2:] = 1e3 * rng.standard_normal((4, 3))     # garbage in the padding
    y, state, _ = bi.forward(x, lengths=lengths)
    for n, L in enumerate(lengths):
        y_n, state_n, _ = bi.forward(x[n:n + 1, :L])
        assert rel_err(y[n, :L], y_n[0]) <= 1e-12
        assert np.all(y[n, L:] == 0)
        for s, s_n in zip(state if isinstance(state, tuple) else (state,),
                          state_n if isinstance(state_n, tuple) else (state_n,)):
            assert rel_err(s[:, n], s_n[:, 0]) <= 1e-12


def test_lstm_parameter_count_matches_the_note():
    """(28 + 128) x 512 weights + 512 biases, as TensorFlow's BasicLSTMCell."""
    layer = rnnlab.LSTM(28, 128)
    assert layer.params["l0.W"].shape == (28, 512)
    assert layer.params["l0.U"].shape == (128, 512)
    assert layer.num_params() == 156 * 512 + 512 == 80384
