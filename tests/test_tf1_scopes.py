"""TF1 checkpoints whose cells sit under several scopes: rnnlab.interop.tf1.from_variables identifies
each cell by its full scope, imports the structure the names describe (MultiRNNCell cell_<k> levels,
fw/bw directions, any enclosing scope, names with the ":0" suffix), and refuses, listing the scopes it
found, what one rnnlab layer cannot hold. The names are those TF1 gives (rnn_cell_impl.py,
rnn.py of TF 1.15); the reference outputs are the cell equations of test_interop_tf1."""
import numpy as np
import pytest

from rnnlab.interop import tf1

from conftest import max_abs_err
from test_interop_tf1 import LENGTHS, make_variables, run_tf1

D, H = 4, 5


def named(variables, path_of):
    """{path_of(layer, direction)/leaf: array} for variables [layer][direction] -> {leaf: array}."""
    return {f"{path_of(l, d)}/{leaf}": a for l, row in enumerate(variables) for d, v in enumerate(row)
            for leaf, a in v.items()}


def check_against_reference(kind, variables, names, layers, bi):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 6, D))
    layer = tf1.from_variables(names)
    assert (layer.num_layers, layer.bidirectional) == (layers, bi)
    y_ref, _ = run_tf1(kind, variables, x, LENGTHS, layers, bi, 1.0, H)
    y, _, _ = layer.forward(x, None, LENGTHS)
    assert max_abs_err(y, y_ref) <= 1e-10


@pytest.mark.parametrize("cell", ["basic_lstm_cell", "lstm_cell"])
@pytest.mark.parametrize("suffix", ["", ":0"])
def test_multi_rnn_cell_levels_are_layers(cell, suffix):
    v = make_variables("LSTM", D, H, 2, False, "float64", np.random.default_rng(1))
    names = named(v, lambda l, d: f"rnn/multi_rnn_cell/cell_{l}/{cell}")
    names = {k + suffix: a for k, a in names.items()}
    check_against_reference("LSTM", v, names, 2, False)


@pytest.mark.parametrize("scope", ["", "encoder/"])
def test_stack_bidirectional_levels_and_directions(scope):
    v = make_variables("GRU", D, H, 2, True, "float64", np.random.default_rng(2))
    names = named(v, lambda l, d: f"{scope}stack_bidirectional_rnn/cell_{l}/bidirectional_rnn/"
                                  f"{'bw' if d else 'fw'}/gru_cell")
    names["encoder/dense/kernel"] = np.zeros((2 * H, 3))            # other variables are left out
    names[f"{scope}stack_bidirectional_rnn/cell_0/bidirectional_rnn/fw/gru_cell/gates/kernel/Adam"] = np.zeros(1)
    check_against_reference("GRU", v, names, 2, True)


def test_bidirectional_dynamic_rnn_with_one_level_multi_rnn_cell():
    v = make_variables("LSTM", D, H, 1, True, "float64", np.random.default_rng(3))
    for path in (lambda l, d: f"bidirectional_rnn/{'bw' if d else 'fw'}/lstm_cell",
                 lambda l, d: f"bidirectional_rnn/{'bw' if d else 'fw'}/multi_rnn_cell/cell_0/lstm_cell"):
        check_against_reference("LSTM", v, named(v, path), 1, True)


def test_a_multi_rnn_cell_inside_each_direction_is_refused_not_overwritten():
    """bidirectional_rnn/fw/multi_rnn_cell/cell_1: each direction's two levels run separately, which
    rnnlab's bidirectional stack does not compute; before full scopes, cell_1 overwrote cell_0."""
    v = make_variables("LSTM", D, H, 2, False, "float64", np.random.default_rng(4))
    for prefix in ("bidirectional_rnn", "stack_bidirectional_rnn/cell_0/bidirectional_rnn"):
        names = {}
        for direction in ("fw", "bw"):
            names.update(named(v, lambda l, d: f"{prefix}/{direction}/multi_rnn_cell/cell_{l}/lstm_cell"))
        with pytest.raises(ValueError, match="runs each direction's stack separately") as err:
            tf1.from_variables(names)
        assert f"{prefix}/fw/multi_rnn_cell/cell_1/lstm_cell" in str(err.value)
        assert f"{prefix}/bw/multi_rnn_cell/cell_0/lstm_cell" in str(err.value)


def test_an_encoder_and_a_decoder_are_refused_listing_both_scopes():
    enc = make_variables("LSTM", D, H, 2, False, "float64", np.random.default_rng(5))
    dec = make_variables("LSTM", D, H, 1, False, "float64", np.random.default_rng(6))
    names = {**named(enc, lambda l, d: f"encoder/rnn/multi_rnn_cell/cell_{l}/lstm_cell"),
             **named(dec, lambda l, d: "decoder/rnn/lstm_cell")}
    with pytest.raises(ValueError, match="cells of more than one RNN") as err:
        tf1.from_variables(names)
    for scope in ("encoder/rnn/multi_rnn_cell/cell_0/lstm_cell", "encoder/rnn/multi_rnn_cell/cell_1/lstm_cell",
                  "decoder/rnn/lstm_cell"):
        assert scope in str(err.value)
    encoder = tf1.from_variables({k: a for k, a in names.items() if k.startswith("encoder/")})
    decoder = tf1.from_variables({k: a for k, a in names.items() if k.startswith("decoder/")})
    assert encoder.num_layers == 2 and decoder.num_layers == 1
    np.testing.assert_array_equal(decoder.direction_params(0, 0)["b"][:H], dec[0][0]["bias"][:H])


def test_two_scopes_differing_only_in_a_top_scope_are_two_rnns():
    v = make_variables("RNN", D, H, 1, False, "float64", np.random.default_rng(8))
    names = {**named(v, lambda l, d: "a/rnn/basic_rnn_cell"), **named(v, lambda l, d: "b/rnn/basic_rnn_cell")}
    with pytest.raises(ValueError, match=r"under scopes \['a/rnn/basic_rnn_cell', 'b/rnn/basic_rnn_cell'\]"):
        tf1.from_variables(names)


@pytest.mark.parametrize("names,match", [
    ({"rnn/lstm_cell/kernel": np.zeros((9, 20)), "rnn/lstm_cell/bias": np.zeros(20),
      "rnn/basic_lstm_cell/kernel": np.zeros((9, 20)), "rnn/basic_lstm_cell/bias": np.zeros(20)},
     "both layer 0 direction 0"),
    ({"bidirectional_rnn/fw/lstm_cell/kernel": np.zeros((9, 20)),
      "bidirectional_rnn/fw/lstm_cell/bias": np.zeros(20)}, r"no cell for \(layer, direction\) \[\(0, 1\)\]"),
    ({"rnn/multi_rnn_cell/cell_1/lstm_cell/kernel": np.zeros((10, 20)),
      "rnn/multi_rnn_cell/cell_1/lstm_cell/bias": np.zeros(20)}, r"no cell for \(layer, direction\) \[\(0, 0\)\]"),
    ({"rnn/multi_rnn_cell/cell_0/multi_rnn_cell/cell_1/lstm_cell/kernel": np.zeros((9, 20)),
      "rnn/multi_rnn_cell/cell_0/multi_rnn_cell/cell_1/lstm_cell/bias": np.zeros(20)}, "nested stacks"),
    ({"rnn/lstm_cell/kernel": np.zeros((9, 20)), "rnn/lstm_cell/kernel:0": np.zeros((9, 20)),
      "rnn/lstm_cell/bias": np.zeros(20)}, "given twice"),
    ({"rnn/lstm_cell/kernel": np.zeros((9, 20))}, "lacks rnn/lstm_cell/bias"),
    ({"rnn/lstm_cell/kernel": np.full((9, 20), np.nan), "rnn/lstm_cell/bias": np.zeros(20)},
     "kernel: expected finite values"),
    ({"fw/bw/lstm_cell/kernel": np.zeros((9, 20))}, "two fw/bw scopes"),
    ({"rnn/multi_rnn_cell/cell_0/lstm_cell/kernel": np.zeros((9, 20)),
      "rnn/multi_rnn_cell/cell_0/lstm_cell/bias": np.zeros(20),
      "rnn/multi_rnn_cell/cell_1/gru_cell/gates/kernel": np.zeros((10, 10))}, "cells of different kinds"),
])
def test_what_one_layer_cannot_hold_is_refused(names, match):
    with pytest.raises(ValueError, match=match):
        tf1.from_variables(names)
