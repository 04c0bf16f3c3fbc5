"""Keras masks through rnnlab: real Keras 3 (torch backend) SimpleRNN, LSTM, GRU (both reset_after) and
Bidirectional (merge concat, sum, ave) with random weights, run on random per-step masks (padded at the
front, holes, a sequence with no valid step), give rnnlab's ``forward(x, mask=...)`` outputs and final
states; whole models with Masking or Embedding(mask_zero=True), saved as .keras, load and compute what
Keras computes; rnnlab -> Keras keeps the Masking layer; Keras 2 .h5 fixtures with masks load too."""
import os
import zlib

import numpy as np
import pytest

import rnnlab
from rnnlab.interop import keras as ki
from rnnlab.layers import Recurrent
from rnnlab.models import LastStep, Sequential

from conftest import max_abs_err, require_keras

keras = require_keras()
TOL = 1e-5
N, T, D, H = 5, 7, 4, 3
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "keras2")


def random_mask(seed):
    """(N, T) bool: row 0 full, row 1 padded at the front, row 2 with holes, row 3 all masked, row 4 random."""
    rng = np.random.default_rng(seed)
    m = np.ones((N, T), bool)
    m[1, :3] = False
    m[2, [0, 2, 3, 5]] = False
    m[3] = False
    m[4] = rng.random(T) < 0.5
    return m


def randomize(layer, seed):
    rng = np.random.default_rng(seed)
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])


def numpy(outs):
    return [keras.ops.convert_to_numpy(o) for o in (outs if isinstance(outs, (list, tuple)) else [outs])]


CELLS = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {"reset_after": True}), ("GRU", {"reset_after": False})]


@pytest.mark.parametrize("cls,options", CELLS, ids=lambda c: str(c))
@pytest.mark.parametrize("merge", [None, "concat", "sum", "ave"])
@pytest.mark.parametrize("sequences", [True, False])
def test_layers_with_masks_match_keras(cls, options, merge, sequences):
    seed = zlib.crc32(repr((cls, options, merge, sequences)).encode())
    inner = getattr(keras.layers, cls)(H, return_sequences=sequences, return_state=True, **options)
    layer = inner if merge is None else keras.layers.Bidirectional(inner, merge_mode=merge)
    x = np.random.default_rng(seed).standard_normal((N, T, D)).astype(np.float32)
    m = random_mask(seed)
    layer(x, mask=m)
    randomize(layer, seed)
    y_k, *states_k = numpy(layer(x, mask=m))
    model = ki.from_keras(layer)
    rec = model if isinstance(model, Recurrent) else model.layers[0]
    assert rec.zero_output_for_mask == (merge is not None and sequences)     # Keras' own settings
    y, state, _ = rec.forward(x, mask=m)
    if not sequences:
        y = LastStep(rec.directions).forward(y, mask=m)[0]
    if not isinstance(model, Recurrent):
        for after in model.layers[1:]:                                         # the merge's fixed Dense
            y = after.forward(y)[0]
    assert max_abs_err(y, y_k) <= TOL
    ours = [state] if cls != "LSTM" else list(state)
    per_direction = len(ours)
    for d in range(rec.directions):
        for j, s in enumerate(ours):
            assert max_abs_err(s[d], states_k[d * per_direction + j]) <= TOL


@pytest.mark.parametrize("cls,options", CELLS, ids=lambda c: str(c))
def test_reverse_direction_is_go_backwards(cls, options):
    """direction="reverse" is Keras' go_backwards=True with its outputs in input order: masked steps
    repeat the output of the step after (the one before in processing order)."""
    seed = zlib.crc32(repr(("back", cls, options)).encode())
    ours = getattr(rnnlab, {"SimpleRNN": "RNN"}.get(cls, cls))(D, H, direction="reverse", seed=seed, **options)
    layer = getattr(keras.layers, cls)(H, return_sequences=True, return_state=True, go_backwards=True, **options)
    x = np.random.default_rng(seed).standard_normal((N, T, D)).astype(np.float32)
    m = random_mask(seed)
    layer(x, mask=m)
    layer.set_weights(ki.keras_weights(ours))
    y_k, *states_k = numpy(layer(x, mask=m))
    y, state, _ = ours.forward(x, mask=m)
    assert max_abs_err(y, y_k[:, ::-1]) <= TOL
    for s, s_k in zip([state] if cls != "LSTM" else state, states_k):
        assert max_abs_err(s[0], s_k) <= TOL


def padded_input(seed, mask_value=0.0):
    """x (N, T, D) whose masked steps (random_mask) hold mask_value in every feature, and the mask."""
    m = random_mask(seed)
    x = np.random.default_rng(seed).standard_normal((N, T, D)).astype(np.float32)
    x[~m] = mask_value
    return x, m


def models():
    L = keras.layers
    yield "masking-lstm-bigru", keras.Sequential([
        keras.Input((None, D)), L.Masking(), L.LSTM(H, return_sequences=True),
        L.Bidirectional(L.GRU(H)), L.Dense(2)]), 0.0
    yield "masking-value-rnn-bilstm-sum", keras.Sequential([
        keras.Input((None, D)), L.Masking(mask_value=-1.0), L.SimpleRNN(H, return_sequences=True),
        L.Bidirectional(L.LSTM(H, return_sequences=True), merge_mode="sum"), L.TimeDistributed(L.Dense(2))]), -1.0
    yield "masking-gru-per-step", keras.Sequential([
        keras.Input((None, D)), L.Masking(), L.GRU(H, reset_after=False, return_sequences=True), L.Dense(2)]), 0.0
    yield "embedding-bilstm-rnn", keras.Sequential([
        keras.Input((None,), dtype="int32"), L.Embedding(12, D, mask_zero=True),
        L.Bidirectional(L.LSTM(H, return_sequences=True), merge_mode="ave"), L.SimpleRNN(H), L.Dense(2)]), None


@pytest.mark.parametrize("index", range(4), ids=[name for name, _, _ in models()])
def test_keras_models_with_masks_load_and_compute_what_keras_computes(index, tmp_path):
    name, model, mask_value = list(models())[index]
    seed = zlib.crc32(name.encode())
    if mask_value is None:
        m = random_mask(seed)
        x = np.random.default_rng(seed).integers(1, 12, (N, T)).astype(np.int32) * m
    else:
        x, m = padded_input(seed, mask_value)
    for layer in model.layers:
        if layer.weights:
            randomize(layer, seed)
    y_k = numpy(model(x))[0]
    model.save(tmp_path / "m.keras")
    ours = ki.load_model(tmp_path / "m.keras")
    kinds = [type(layer).__name__ for layer in ours.layers]
    assert kinds[0] == ("Embedding" if mask_value is None else "Masking")
    y, _ = ours.forward(x)
    assert max_abs_err(y, y_k) <= TOL
    assert max_abs_err(ki.from_keras(model).forward(x)[0], y_k) <= TOL
    # without the mask the outputs differ: the test sees the mask at work
    plain = ki.load_model(tmp_path / "m.keras", masking="lengths")
    assert max_abs_err(plain.forward(x)[0], y_k) > 1e-3


def test_rnnlab_masking_model_to_keras_and_back(tmp_path):
    model = Sequential([rnnlab.Masking(-1.0), rnnlab.LSTM(D, H, seed=0),
                        rnnlab.GRU(H, H, seed=1, direction="bidirectional"), LastStep(), rnnlab.Dense(2 * H, 2, seed=2)])
    x, m = padded_input(7, -1.0)
    kmodel = ki.to_keras(model)
    assert type(kmodel.layers[0]).__name__ == "Masking"
    assert max_abs_err(numpy(kmodel(x))[0], model.forward(x)[0]) <= TOL
    ki.save_model(model, tmp_path / "r.keras")
    back = ki.load_model(tmp_path / "r.keras")
    assert max_abs_err(back.forward(x)[0], model.forward(x)[0]) <= TOL


def test_what_masks_cannot_hold_is_named():
    L = keras.layers
    model = keras.Sequential([keras.Input((None, D)), L.Masking(),
                              L.LSTM(H, zero_output_for_mask=True, name="zero"), L.Dense(2)])
    with pytest.raises(ValueError, match=r"LSTM 'zero'\).zero_output_for_mask"):
        ki.from_keras(model)
    ki.from_keras(model, masking="lengths")                  # without the mask it does not matter
    carry = Sequential([rnnlab.Masking(), rnnlab.GRU(D, H, direction="bidirectional", zero_output_for_mask=False)])
    with pytest.raises(ValueError, match=r"layers\[1\]\.zero_output_for_mask"):
        ki.to_keras(carry)


@pytest.mark.parametrize("name", ["masking_front", "mask_zero_bidirectional"])
def test_keras2_files_with_masks(name):
    """tf-keras 2.21 models (tests/fixtures/keras2/make_fixtures.py) on batches padded at the front with
    holes: Masking -> LSTM -> LSTM -> Dense, and Embedding(mask_zero=True) -> Bidirectional(GRU) ->
    GRU(reset_after=False) -> Dense."""
    path = os.path.join(FIXTURES, f"{name}.h5")
    ref = dict(np.load(os.path.join(FIXTURES, f"{name}.npz")))
    model = ki.load_model(path)
    assert type(model.layers[0]).__name__ in ("Masking", "Embedding")
    assert max_abs_err(model.forward(ref["x"])[0], ref["y"]) <= TOL
    assert max_abs_err(ki.load_model(path, masking="lengths").forward(ref["x"])[0], ref["y"]) > 1e-3
