"""Keras go_backwards, recurrent_activation="hard_sigmoid", Bidirectional(merge_mode="mul") and Embedding
through rnnlab.interop.keras: real Keras 3 (torch backend) layers with random weights against rnnlab's
outputs (float32, max abs error <= 1e-5), .keras files, rnnlab -> Keras -> rnnlab, the Keras 2 files
made by tf-keras 2.21 (tests/fixtures/keras2), and what Keras cannot hold refused by name."""
import os
import zlib

import numpy as np
import pytest

import rnnlab
from rnnlab.errors import FormatError
from rnnlab.interop import keras as ki
from rnnlab.layers import MergeDirections, Recurrent, ReverseSequence
from rnnlab.models import LastStep, Sequential

from conftest import max_abs_err, require_keras

keras = require_keras()
L = keras.layers
TOL = 1e-5
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "keras2")


def randomize(model, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    model.set_weights([scale * rng.standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()])


def run(kmodel, x):
    return keras.ops.convert_to_numpy(kmodel(x))


def inputs(seed, scale=1.0, shape=(3, 6, 5)):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype("float32")


def kinds(model):
    return [type(layer).__name__ for layer in model.layers]


RECURRENT = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {"reset_after": True}), ("GRU", {"reset_after": False})]


@pytest.mark.parametrize("cls,kw", RECURRENT)
@pytest.mark.parametrize("sequences", [True, False])
def test_go_backwards_reads_as_a_reverse_layer_and_reverse_sequence(cls, kw, sequences, tmp_path):
    seed = zlib.crc32(repr((cls, kw, sequences)).encode())
    model = keras.Sequential([keras.Input((None, 5)),
                              getattr(L, cls)(4, go_backwards=True, return_sequences=sequences, **kw), L.Dense(2)])
    randomize(model, seed)
    x = inputs(seed)
    ours = ki.from_keras(model)
    rnn = {"SimpleRNN": "RNN"}.get(cls, cls)
    assert kinds(ours) == [rnn, "ReverseSequence"] + ([] if sequences else ["LastStep"]) + ["Dense"]
    assert ours.layers[0].direction == "reverse"
    y_keras = run(model, x)
    assert max_abs_err(ours.forward(x)[0], y_keras) <= TOL
    model.save(tmp_path / "m.keras")
    assert max_abs_err(ki.load_model(tmp_path / "m.keras").forward(x)[0], y_keras) <= TOL


def test_go_backwards_outputs_are_in_processing_order():
    """Keras' output s of a backward layer is its state after reading s + 1 steps from the end: the last
    output equals the final state, which rnnlab's reverse layer gives at t = 0."""
    layer = L.LSTM(3, go_backwards=True, return_sequences=True, return_state=True)
    x = inputs(1, shape=(2, 5, 4))
    layer(x)
    randomize(layer, 1)
    y_k, h_k, _ = [keras.ops.convert_to_numpy(o) for o in layer(x)]
    ours = ki.from_keras(layer)
    assert kinds(ours) == ["LSTM", "ReverseSequence"]
    y, cache = ours.forward(x)
    assert max_abs_err(y, y_k) <= TOL and max_abs_err(y[:, -1], h_k) <= TOL
    assert max_abs_err(cache.states[0][0][0], h_k) <= TOL           # the reverse layer's final h
    y_rev, _, _ = ours.layers[0].forward(x)
    assert max_abs_err(y_rev[:, 0], h_k) <= TOL and max_abs_err(y_rev, y_k) > 1e-2


@pytest.mark.parametrize("cls,kw", RECURRENT[1:])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_hard_sigmoid_is_keras3s(cls, kw, bidirectional, tmp_path):
    seed = zlib.crc32(repr((cls, kw, bidirectional)).encode())
    layer = getattr(L, cls)(4, recurrent_activation="hard_sigmoid", return_sequences=True, **kw)
    model = keras.Sequential([keras.Input((None, 5)), L.Bidirectional(layer) if bidirectional else layer])
    randomize(model, seed, scale=1.0)
    x = inputs(seed, scale=2.0)                        # large pre-activations: gates in the flat parts too
    ours = ki.from_keras(model)
    assert ours.gate_activation == "hard_sigmoid" and ours.bidirectional == bidirectional
    _, _, cache = ours.forward(x)
    gates = np.concatenate([(d.cell.cell.gates if hasattr(d.cell, "cell")      # the compiled LSTM's cache
                             else np.stack([s.gates for s in d.cell.steps])).ravel() for d in cache.directions])
    assert np.mean((gates == 0) | (gates == 1)) > 0.05
    y_keras = run(model, x)
    assert max_abs_err(ours.forward(x)[0], y_keras) <= TOL
    model.save(tmp_path / "m.keras")
    assert ki.load_model(tmp_path / "m.keras").gate_activation == "hard_sigmoid"
    ours.gate_activation = "hard_sigmoid_keras2"       # the other definition gives other outputs
    assert max_abs_err(ours.forward(x)[0], y_keras) > 1e-3


@pytest.mark.parametrize("sequences", [True, False])
@pytest.mark.parametrize("cls", ["LSTM", "GRU", "SimpleRNN"])
def test_merge_mode_mul(cls, sequences, tmp_path):
    seed = zlib.crc32(repr((cls, sequences)).encode())
    model = keras.Sequential([keras.Input((None, 5)),
                              L.Bidirectional(getattr(L, cls)(4, return_sequences=sequences), merge_mode="mul"),
                              L.Dense(2)])
    randomize(model, seed)
    x = inputs(seed)
    ours = ki.from_keras(model)
    assert kinds(ours) == [{"SimpleRNN": "RNN"}.get(cls, cls)] + ([] if sequences else ["LastStep"]) + \
        ["MergeDirections", "Dense"]
    y_keras = run(model, x)
    assert max_abs_err(ours.forward(x)[0], y_keras) <= TOL
    model.save(tmp_path / "m.keras")
    assert max_abs_err(ki.load_model(tmp_path / "m.keras").forward(x)[0], y_keras) <= TOL


def round_trip(model, x, tmp_path):
    """to_keras computes what model computes; from_keras and a .keras file give the same outputs back."""
    kmodel = ki.to_keras(model)
    y = model.forward(x)[0]
    assert max_abs_err(run(kmodel, x.astype("int32") if x.dtype.kind == "i" else x), y) <= TOL
    np.testing.assert_array_equal(ki.from_keras(kmodel).forward(x)[0], y)
    ki.save_model(model, tmp_path / "m.keras")
    np.testing.assert_array_equal(ki.load_model(tmp_path / "m.keras").forward(x)[0], y)
    return kmodel


EXPORTS = {
    "reverse": lambda: Sequential([rnnlab.LSTM(5, 4, direction="reverse", seed=0), ReverseSequence(),
                                   rnnlab.Dense(4, 2, seed=1)]),
    "reverse-last": lambda: Sequential([rnnlab.GRU(5, 4, direction="reverse", reset_after=False, seed=0),
                                        ReverseSequence(), LastStep(), rnnlab.Dense(4, 2, seed=1)]),
    "reverse-stacked": lambda: Sequential([rnnlab.RNN(5, 4, num_layers=3, direction="reverse", seed=0),
                                           ReverseSequence(), LastStep()]),
    "hard-sigmoid": lambda: Sequential([rnnlab.LSTM(5, 4, num_layers=2, gate_activation="hard_sigmoid", seed=0),
                                        rnnlab.GRU(4, 3, gate_activation="hard_sigmoid", seed=1)]),
    "mul": lambda: Sequential([rnnlab.GRU(5, 4, bidirectional=True, seed=0), MergeDirections(4, "mul"),
                               rnnlab.Dense(4, 2, seed=1)]),
    "mul-last": lambda: Sequential([rnnlab.LSTM(5, 4, num_layers=2, bidirectional=True, seed=0), LastStep(),
                                    MergeDirections(4, "mul")]),
}


@pytest.mark.parametrize("name", EXPORTS)
def test_export_to_keras_and_back(name, tmp_path):
    model = EXPORTS[name]()
    for k, v in model.params.items():
        v *= 3                                         # saturating gates for the hard sigmoids
    kmodel = round_trip(model, inputs(5, scale=2.0), tmp_path)
    config = [layer.get_config() for layer in kmodel.layers]
    if name.startswith("reverse"):
        assert [c.get("go_backwards") for c in config if "go_backwards" in c][:2] in ([True], [True, False])
    if name == "hard-sigmoid":
        assert {c["recurrent_activation"] for c in config} == {"hard_sigmoid"}
    if name.startswith("mul"):
        assert config[-1 if name == "mul-last" else 0]["merge_mode"] == "mul"


@pytest.mark.parametrize("padding_idx", [None, 0])
def test_embedding_exports_as_keras_embedding(padding_idx, tmp_path):
    model = Sequential([rnnlab.Embedding(20, 5, padding_idx=padding_idx, seed=3), rnnlab.LSTM(5, 4, seed=0),
                        LastStep(), rnnlab.Dense(4, 1, "sigmoid", seed=1)])
    ids = np.random.default_rng(0).integers(0, 20, (3, 7))
    ids[:, :2] = 0                                     # padding tokens at the front, as pad_sequences makes them
    kmodel = round_trip(model, ids, tmp_path)
    assert type(kmodel.layers[0]).__name__ == "Embedding" and not kmodel.layers[0].get_config()["mask_zero"]


def test_what_keras_cannot_hold_is_refused_by_name():
    cases = [
        (rnnlab.LSTM(3, 4, gate_activation="hard_sigmoid_keras2"),
         r"layer\.gate_activation: Keras 3 has no counterpart of 'hard_sigmoid_keras2'"),
        (rnnlab.GRU(3, 4, direction="reverse"), r"model\.layers\[0\]\.direction: Keras' go_backwards"),
        (Sequential([rnnlab.GRU(3, 4, direction="reverse"), LastStep()]),
         r"model\.layers\[0\]\.direction: .*followed by LastStep"),
        (Sequential([rnnlab.GRU(3, 4), ReverseSequence()]), r"model\.layers\[1\]: Keras has no ReverseSequence"),
        (Sequential([rnnlab.GRU(3, 4, direction="reverse"), ReverseSequence(), LastStep(directions=2)]),
         r"model\.layers\[2\]: .*LastStep\(directions=2\)"),
        (Sequential([rnnlab.LSTM(3, 4), rnnlab.Dense(4, 8), MergeDirections(4, "mul")]),
         r"model\.layers\[2\]: Keras merges directions only inside Bidirectional"),
        (Sequential([rnnlab.LSTM(3, 4), rnnlab.Embedding(5, 4)]), r"model\.layers\[1\]: an Embedding reads token ids"),
    ]
    for model, message in cases:
        with pytest.raises(ValueError, match=message):
            ki.to_keras(model)


# ----- Keras 2 full-model .h5 files, made by tf-keras 2.21 (make_fixtures.py) --------------------------
def fixture(name):
    return os.path.join(FIXTURES, f"{name}.h5"), dict(np.load(os.path.join(FIXTURES, f"{name}.npz")))


@pytest.mark.parametrize("name,layers", [
    ("go_backwards", ["LSTM", "ReverseSequence", "GRU", "ReverseSequence", "LastStep", "Dense"]),
    ("hard_sigmoid", ["LSTM", "GRU", "GRU", "LastStep"]),
    ("merge_mul", ["LSTM", "MergeDirections", "GRU", "LastStep", "MergeDirections", "Dense"]),
])
def test_keras2_files_compute_what_tf_keras_computed(name, layers):
    path, ref = fixture(name)
    model = ki.load_model(path)
    assert kinds(model) == layers
    assert max_abs_err(model.forward(ref["x"])[0], ref["y"]) <= TOL


def test_keras2_hard_sigmoid_is_the_02_slope_one():
    """A Keras 2 file's hard_sigmoid is clip(0.2 x + 1/2, 0, 1); Keras 3's clip(x / 6 + 1/2, 0, 1) in its
    place misses what tf-keras computed."""
    path, ref = fixture("hard_sigmoid")
    model = ki.load_model(path)
    recurrent = [layer for layer in model.layers if isinstance(layer, Recurrent)]
    assert [layer.gate_activation for layer in recurrent] == ["hard_sigmoid_keras2"] * 3
    assert [layer.reset_after for layer in recurrent[1:]] == [True, False]
    for layer in recurrent:
        layer.gate_activation = "hard_sigmoid"
    assert max_abs_err(model.forward(ref["x"])[0], ref["y"]) > 1e-3
    with pytest.raises(ValueError, match=r"layer\.gate_activation: Keras 3 has no counterpart of 'hard_sigmoid_keras2'"):
        ki.to_keras(ki.load_model(path))


def test_keras2_unknown_gate_activation_is_a_format_error(tmp_path):
    import json
    import shutil
    import h5py
    target = tmp_path / "m.h5"
    shutil.copy(fixture("hard_sigmoid")[0], target)
    with h5py.File(target, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        config["config"]["layers"][1]["config"]["recurrent_activation"] = "softsign"
        h5.attrs["model_config"] = json.dumps(config)
    with pytest.raises(FormatError, match=r"m\.h5: .*\.recurrent_activation: rnnlab's LSTM has .*'softsign'"):
        ki.load_model(target)
