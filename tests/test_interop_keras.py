"""Keras 3 (torch backend) layers and models through rnnlab.interop.keras: real Keras SimpleRNN, LSTM,
GRU (reset_after True and False), Bidirectional and Dense with random weights, run by Keras on ragged
batches (masking), give rnnlab's outputs and final states; .keras and .weights.h5 files load without
Keras; rnnlab -> Keras -> rnnlab returns identical arrays."""
import zlib

import numpy as np
import pytest

import rnnlab
from rnnlab.interop import keras as ki
from rnnlab.models import LastStep, Sequential

from conftest import max_abs_err, require_keras

keras = require_keras()

# Keras 3.15 on torch multiplies float64 matrices in float32 (keras.ops.matmul casts to
# dtypes.result_type("float64", "float64") == "float32"), so its float64 layers are float32 peers.
TOL = {"float32": 1e-5, "float64": 1e-5}
LENGTHS = np.array([6, 2, 4, 1])


def randomize(layer, seed):
    """Random weights of scale 0.5, so the gates are neither saturated nor near-linear."""
    rng = np.random.default_rng(seed)
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])


def ragged_input(dtype, seed, D=5):
    """(x, mask): padded steps are zero (Keras' Masking reads them as padding) and masked out."""
    x = np.random.default_rng(seed).standard_normal((4, 6, D)).astype(dtype)
    mask = np.arange(6)[None, :] < LENGTHS[:, None]
    return x * mask[:, :, None], mask


def keras_layer(cls, option, bi, dtype):
    kw = {"return_sequences": True, "return_state": True, "zero_output_for_mask": True, "dtype": dtype}
    if cls == "SimpleRNN":
        kw["activation"] = option
    if cls == "GRU":
        kw["reset_after"] = option
    layer = getattr(keras.layers, cls)(3, **kw)
    return keras.layers.Bidirectional(layer, dtype=dtype) if bi else layer


LAYER_CASES = [("SimpleRNN", "tanh"), ("SimpleRNN", "relu"), ("LSTM", None), ("GRU", True), ("GRU", False)]


def compare_layer(cls, option, bi, dtype) -> float:
    seed = zlib.crc32(repr((cls, option, bi, dtype)).encode())
    layer = keras_layer(cls, option, bi, dtype)
    x, mask = ragged_input(dtype, seed)
    layer(x, mask=mask)                                     # build
    randomize(layer, seed)
    out = [keras.ops.convert_to_numpy(o) for o in layer(x, mask=mask)]
    y_k, states_k = out[0], out[1:]
    ours = ki.from_keras(layer)
    assert ours.bidirectional == bi and ours.dtype == np.dtype(dtype)
    y, state, _ = ours.forward(x, None, LENGTHS)
    state = state if isinstance(state, tuple) else (state,)
    n = len(state)                                          # Keras: [h, c] per direction, forward first
    errs = [max_abs_err(y, y_k)]
    for d in range(2 if bi else 1):
        errs += [max_abs_err(s[d], s_k) for s, s_k in zip(state, states_k[d * n:(d + 1) * n])]
    return max(errs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("cls,option", LAYER_CASES)
def test_layer_matches_keras_on_ragged_batch(cls, option, bi, dtype):
    assert compare_layer(cls, option, bi, dtype) <= TOL[dtype]


def model_cases():
    L = keras.layers
    return {
        "bilstm_gru_softmax": lambda: [L.Bidirectional(L.LSTM(4, return_sequences=True)),
                                       L.GRU(3, reset_after=False), L.Dense(2, activation="softmax")],
        "rnn_each_step": lambda: [L.SimpleRNN(4, activation="relu", return_sequences=True), L.Dense(3)],
        "bigru_last": lambda: [L.Bidirectional(L.GRU(3)), L.Dense(2, activation="tanh")],
    }


def keras_model(name, seed):
    model = keras.Sequential([keras.Input((None, 5)), keras.layers.Masking()] + model_cases()[name]())
    rng = np.random.default_rng(seed)
    model.set_weights([0.5 * rng.standard_normal(w.shape) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("name", ["bilstm_gru_softmax", "rnn_each_step", "bigru_last"])
def test_keras_file_runs_identically(name, tmp_path):
    seed = zlib.crc32(name.encode())
    model = keras_model(name, seed)
    x, _ = ragged_input("float32", seed)
    y_k = keras.ops.convert_to_numpy(model(x))
    model.save(tmp_path / "m.keras")
    ours = ki.load_model(tmp_path / "m.keras", masking="lengths")     # end-padded: lengths agree with the mask
    y, _ = ours.forward(x, LENGTHS)
    if name == "rnn_each_step":                             # Keras leaves the last output at padded steps
        valid = np.arange(6)[None, :] < LENGTHS[:, None]
        y, y_k = y[valid], y_k[valid]
    assert max_abs_err(y, y_k) <= TOL["float32"]
    assert max_abs_err(ki.from_keras(model, masking="lengths").forward(x, LENGTHS)[0], ours.forward(x, LENGTHS)[0]) == 0


@pytest.mark.parametrize("head", ["last", "each"])
def test_weights_file_without_architecture(head, tmp_path):
    L = keras.layers
    model = keras.Sequential([keras.Input((None, 5)), L.LSTM(4, return_sequences=True),
                              L.LSTM(3, return_sequences=head == "each"), L.Dense(2)])
    rng = np.random.default_rng(7)
    model.set_weights([0.5 * rng.standard_normal(w.shape) for w in model.get_weights()])
    model.save_weights(tmp_path / "m.weights.h5")
    x = rng.standard_normal((3, 6, 5)).astype("float32")
    ours = ki.load_model(tmp_path / "m.weights.h5", head=head)
    assert max_abs_err(ours.forward(x)[0], keras.ops.convert_to_numpy(model(x))) <= TOL["float32"]


def rnnlab_models():
    f64 = dict(dtype="float64")
    return [
        Sequential([rnnlab.LSTM(3, 4, bidirectional=True, seed=1, **f64), LastStep(),
                    rnnlab.Dense(8, 2, "softmax", seed=2, **f64)]),
        Sequential([rnnlab.GRU(3, 4, reset_after=False, seed=3, **f64), rnnlab.GRU(4, 2, seed=4, **f64),
                    rnnlab.Dense(2, 2, "sigmoid", seed=5, **f64)]),
        Sequential([rnnlab.RNN(3, 4, nonlinearity="relu", bidirectional=True, seed=6, **f64), LastStep()]),
        rnnlab.GRU(3, 4, bidirectional=True, seed=7, **f64),
    ]


@pytest.mark.parametrize("index", range(4))
def test_round_trip_through_keras_is_exact(index, tmp_path):
    model = rnnlab_models()[index]
    back = ki.from_keras(ki.to_keras(model))
    ki.save_model(model, tmp_path / "m.keras")
    again = ki.load_model(tmp_path / "m.keras")
    for other in (back, again):
        if isinstance(model, Sequential):
            assert [type(a) for a in other.layers] == [type(a) for a in model.layers]
        assert set(other.params) == set(model.params)
        for k, v in model.params.items():
            np.testing.assert_array_equal(other.params[k], v)


def test_stacked_layer_and_forget_bias_become_equivalent_keras_layers():
    model = Sequential([rnnlab.LSTM(3, 4, num_layers=2, forget_bias=1.0, bidirectional=True, seed=1),
                        LastStep(), rnnlab.Dense(8, 2, seed=2)])
    kmodel = ki.to_keras(model)
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    assert max_abs_err(model.forward(x)[0], keras.ops.convert_to_numpy(kmodel(x))) <= TOL["float32"]


def test_what_rnnlab_cannot_represent_is_named():
    L = keras.layers
    cases = [(L.LSTM(3, activation="relu", name="enc"), r"LSTM 'enc'\.activation.*relu"),
             (L.GRU(3, recurrent_activation="softsign", name="g"), r"GRU 'g'\.recurrent_activation.*softsign"),
             (L.SimpleRNN(3, activation="elu", name="s"), r"SimpleRNN 's'\.activation.*elu"),
             (L.Bidirectional(L.LSTM(3, go_backwards=True), backward_layer=L.LSTM(3), name="back"),
              r"Bidirectional 'back'\.forward_layer\.go_backwards"),
             (L.Bidirectional(L.GRU(3), merge_mode=None, name="bi"), r"Bidirectional 'bi'\.merge_mode.*None"),
             (L.TimeDistributed(L.LSTM(3), name="td"), r"TimeDistributed 'td'\.layer.*LSTM"),
             (L.Dense(2, activation="gelu", name="d"), r"Dense 'd'\.activation.*gelu")]
    for layer, message in cases:
        layer.build((None, 2, 6, 5) if isinstance(layer, L.TimeDistributed) else
                    (None, None, 5) if not isinstance(layer, L.Dense) else (None, 5))
        with pytest.raises(ValueError, match=message):
            ki.from_keras(layer)
    model = keras.Sequential([keras.Input((6,), dtype="int32"), L.Embedding(10, 5, name="emb", mask_zero=True),
                              L.LSTM(3)])
    with pytest.raises(ValueError, match=r"Embedding 'emb'\.mask_zero: Keras skips the masked steps"):
        ki.from_keras(model, masking="refuse")


def test_masking_keeps_its_mask_or_is_read_as_lengths_or_refused(tmp_path):
    """By default a Masking layer keeps Keras' mask (rnnlab's Masking); masking="lengths" drops it, for
    batches padded at the end; masking="refuse" refuses it. A bare weights file records no mask_value."""
    L = keras.layers
    model = keras.Sequential([keras.Input((None, 3)), L.Masking(name="pad"), L.LSTM(4), L.Dense(2)])
    with pytest.raises(ValueError, match=r"Masking 'pad'.*padded at the front.*masking='lengths'"):
        ki.from_keras(model, masking="refuse")
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=r"m\.keras: .*Masking 'pad'"):
        ki.load_model(tmp_path / "m.keras", masking="refuse")
    model.save_weights(tmp_path / "m.weights.h5")
    with pytest.raises(ValueError, match=r"layers/masking.*mask_value"):
        ki.load_model(tmp_path / "m.weights.h5")
    with pytest.raises(ValueError, match="masking: expected one of"):
        ki.load_model(tmp_path / "m.keras", masking="steps")
    assert [type(layer).__name__ for layer in ki.load_model(tmp_path / "m.keras").layers] == \
        ["Masking", "LSTM", "LastStep", "Dense"]
    ours = ki.load_model(tmp_path / "m.keras", masking="lengths")
    x, _ = ragged_input("float32", 3, D=3)
    assert max_abs_err(ours.forward(x, LENGTHS)[0], keras.ops.convert_to_numpy(model(x))) <= TOL["float32"]


@pytest.mark.parametrize("merge", ["sum", "ave", "concat"])
@pytest.mark.parametrize("sequences", [True, False])
def test_bidirectional_merge_modes_and_time_distributed_dense(merge, sequences, tmp_path):
    L = keras.layers
    model = keras.Sequential([keras.Input((None, 5)),
                              L.Bidirectional(L.GRU(4, return_sequences=sequences), merge_mode=merge),
                              L.TimeDistributed(L.Dense(3)) if sequences else L.Dense(3)])
    rng = np.random.default_rng(11)
    model.set_weights([0.5 * rng.standard_normal(w.shape) for w in model.get_weights()])
    x = rng.standard_normal((2, 6, 5)).astype("float32")
    y_k = keras.ops.convert_to_numpy(model(x))
    model.save(tmp_path / "m.keras")
    for ours in (ki.from_keras(model), ki.load_model(tmp_path / "m.keras")):
        assert max_abs_err(ours.forward(x)[0], y_k) <= TOL["float32"]


def test_embedding_first_layer(tmp_path):
    L = keras.layers
    model = keras.Sequential([keras.Input((None,), dtype="int32"), L.Embedding(12, 5), L.LSTM(4), L.Dense(2)])
    rng = np.random.default_rng(12)
    model.set_weights([0.5 * rng.standard_normal(w.shape) for w in model.get_weights()])
    ids = rng.integers(0, 12, (3, 7))
    model.save(tmp_path / "m.keras")
    y_k = keras.ops.convert_to_numpy(model(ids))
    for ours in (ki.from_keras(model), ki.load_model(tmp_path / "m.keras")):
        assert type(ours.layers[0]).__name__ == "Embedding"
        assert max_abs_err(ours.forward(ids)[0], y_k) <= TOL["float32"]
