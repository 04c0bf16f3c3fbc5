"""TensorFlow 1 cell variables through rnnlab.interop.tf1. TensorFlow is not installed: the reference
is each cell's published equations (tensorflow/python/ops/rnn_cell_impl.py, TF 1.15), written out below
in NumPy and run the way dynamic_rnn runs them with sequence_length (finished sequences keep their state
and output zeros); bidirectional as stack_bidirectional_dynamic_rnn (the reverse direction reads each
sequence reversed within its own length)."""
import zlib

import numpy as np
import pytest

import rnnlab
from rnnlab.interop import tf1

from conftest import max_abs_err

TOL = {"float32": 1e-5, "float64": 1e-10}
LENGTHS = np.array([6, 3, 1, 5])


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def basic_lstm_cell(x, state, kernel, bias, forget_bias):
    """BasicLSTMCell.call: i, j, f, o = split(matmul(concat([inputs, h]), kernel) + bias, 4)."""
    c, h = state
    i, j, f, o = np.split(np.concatenate([x, h], 1) @ kernel + bias, 4, axis=1)
    new_c = c * sigmoid(f + forget_bias) + sigmoid(i) * np.tanh(j)
    new_h = np.tanh(new_c) * sigmoid(o)
    return new_h, (new_c, new_h)


def gru_cell(x, state, v):
    """GRUCell.call: r, u from the gates kernel; candidate reads r * state."""
    (h,) = state
    r, u = np.split(sigmoid(np.concatenate([x, h], 1) @ v["gates/kernel"] + v["gates/bias"]), 2, axis=1)
    c = np.tanh(np.concatenate([x, r * h], 1) @ v["candidate/kernel"] + v["candidate/bias"])
    new_h = u * h + (1 - u) * c
    return new_h, (new_h,)


def basic_rnn_cell(x, state, kernel, bias):
    (h,) = state
    new_h = np.tanh(np.concatenate([x, h], 1) @ kernel + bias)
    return new_h, (new_h,)


def dynamic_rnn(cell, x, lengths, state):
    """tf.nn.dynamic_rnn(cell, x, sequence_length=lengths): past a sequence's length the state is copied
    through and the output is zero."""
    N, T, _ = x.shape
    outs = []
    for t in range(T):
        out, new = cell(x[:, t], state)
        m = (t < lengths)[:, None]
        state = tuple(np.where(m, n, s) for n, s in zip(new, state))
        outs.append(np.where(m, out, 0))
    return np.stack(outs, 1), state


def reverse_within(x, lengths):
    """tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0)."""
    y = x.copy()
    for n, L in enumerate(lengths):
        y[n, :L] = x[n, :L][::-1]
    return y


def run_tf1(kind, variables, x, lengths, layers, bi, forget_bias, H):
    """stack_bidirectional_dynamic_rnn (bi) or dynamic_rnn over a MultiRNNCell of the given cells."""
    N = x.shape[0]

    def cell_of(v):
        if kind == "LSTM":
            return lambda xt, s: basic_lstm_cell(xt, s, v["kernel"], v["bias"], forget_bias)
        if kind == "GRU":
            return lambda xt, s: gru_cell(xt, s, v)
        return lambda xt, s: basic_rnn_cell(xt, s, v["kernel"], v["bias"])

    def zero():
        z = np.zeros((N, H), x.dtype)
        return (z, z) if kind == "LSTM" else (z,)

    finals, inp = [], x
    for l in range(layers):
        outs = []
        for d in range(2 if bi else 1):
            cell = variables[l][d]
            if d == 0:
                y, s = dynamic_rnn(cell_of(cell), inp, lengths, zero())
            else:
                y, s = dynamic_rnn(cell_of(cell), reverse_within(inp, lengths), lengths, zero())
                y = reverse_within(y, lengths)
            outs.append(y)
            finals.append(s)
        inp = np.concatenate(outs, 2)
    return inp, finals


def make_variables(kind, D, H, layers, bi, dtype, rng):
    """Random TF1 variables [layer][direction] -> {name: array}, named like the cells name them."""
    out = []
    for l in range(layers):
        din = D if l == 0 else H * (2 if bi else 1)
        row = []
        for _ in range(2 if bi else 1):
            def r(*shape):
                return (0.5 * rng.standard_normal(shape)).astype(dtype)
            if kind == "LSTM":
                row.append({"kernel": r(din + H, 4 * H), "bias": r(4 * H)})
            elif kind == "GRU":
                row.append({"gates/kernel": r(din + H, 2 * H), "gates/bias": r(2 * H),
                            "candidate/kernel": r(din + H, H), "candidate/bias": r(H)})
            else:
                row.append({"kernel": r(din + H, H), "bias": r(H)})
        out.append(row)
    return out


def names_of(kind, variables, bi, layers, cell):
    """The checkpoint names stack_bidirectional_dynamic_rnn / MultiRNNCell give these variables."""
    flat = {}
    for l, row in enumerate(variables):
        for d, v in enumerate(row):
            if bi:
                path = f"stack_bidirectional_rnn/cell_{l}/bidirectional_rnn/{'bw' if d else 'fw'}/{cell}"
            elif layers > 1:
                path = f"rnn/multi_rnn_cell/cell_{l}/{cell}"
            else:
                path = f"rnn/{cell}"
            flat.update({f"{path}/{k}": a for k, a in v.items()})
    return flat


CELLS = [("LSTM", "basic_lstm_cell"), ("LSTM", "lstm_cell"), ("GRU", "gru_cell"), ("RNN", "basic_rnn_cell")]


def compare(kind, cell, layers, bi, dtype) -> float:
    rng = np.random.default_rng(zlib.crc32(repr((kind, cell, layers, bi, dtype)).encode()))
    D, H, forget_bias = 4, 5, 1.0
    variables = make_variables(kind, D, H, layers, bi, dtype, rng)
    x = rng.standard_normal((4, 6, D)).astype(dtype)
    y_tf, finals = run_tf1(kind, variables, x, LENGTHS, layers, bi, forget_bias, H)
    layer = tf1.from_variables(names_of(kind, variables, bi, layers, cell), forget_bias=forget_bias)
    assert layer.dtype == np.dtype(dtype) and layer.num_layers == layers and layer.bidirectional == bi
    y, state, _ = layer.forward(x, None, LENGTHS)
    errs = [max_abs_err(y, y_tf)]
    for k, s in enumerate(finals):                          # TF1 LSTM states are (c, h): c first
        if kind == "LSTM":
            errs += [max_abs_err(state[0][k], s[1]), max_abs_err(state[1][k], s[0])]
        else:
            errs.append(max_abs_err(state[k], s[0]))
    # and back: rnnlab -> TF1 names -> rnnlab, identical arrays
    again = tf1.from_variables(tf1.to_variables(layer, lstm_cell=cell), forget_bias=layer.forget_bias
                               if kind == "LSTM" else 1.0)
    for k, v in layer.params.items():
        np.testing.assert_array_equal(again.params[k], v)
    return max(errs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layers,bi", [(1, False), (2, False), (1, True), (2, True)])
@pytest.mark.parametrize("kind,cell", CELLS)
def test_tf1_variables_match_the_cell_equations(kind, cell, layers, bi, dtype):
    assert compare(kind, cell, layers, bi, dtype) <= TOL[dtype]


def test_single_cell_functions_round_trip():
    rng = np.random.default_rng(0)
    k, b = rng.standard_normal((7, 12)), rng.standard_normal(12)
    layer = tf1.lstm_from_tf1(k, b, forget_bias=0.5)
    assert layer.forget_bias == 0.5 and layer.input_size == 4
    out = tf1.to_tf1(layer)
    np.testing.assert_array_equal(out["kernel"], k)
    np.testing.assert_array_equal(out["bias"], b)
    assert out["forget_bias"] == 0.5
    g = {"gates/kernel": rng.standard_normal((7, 6)), "gates/bias": rng.standard_normal(6),
         "candidate/kernel": rng.standard_normal((7, 3)), "candidate/bias": rng.standard_normal(3)}
    back = tf1.to_tf1(tf1.gru_from_tf1(g["gates/kernel"], g["gates/bias"], g["candidate/kernel"], g["candidate/bias"]))
    for name, value in g.items():
        np.testing.assert_array_equal(back[name], value)


def test_what_tf1_cannot_hold_is_refused():
    with pytest.raises(ValueError, match="reset_after"):
        tf1.to_tf1(rnnlab.GRU(3, 4, reset_after=True))
    with pytest.raises(ValueError, match="peepholes"):
        tf1.from_variables({"rnn/lstm_cell/kernel": np.zeros((7, 16)), "rnn/lstm_cell/bias": np.zeros(16),
                            "rnn/lstm_cell/w_f_diag": np.zeros(4)})
    with pytest.raises(ValueError, match="kernel"):
        tf1.lstm_from_tf1(np.zeros((7, 15)), np.zeros(15))
    with pytest.raises(ValueError, match="expected TF1 lstm_cell, basic_lstm_cell, gru_cell or basic_rnn_cell"):
        tf1.from_variables({"dense/kernel": np.zeros((3, 3))})
