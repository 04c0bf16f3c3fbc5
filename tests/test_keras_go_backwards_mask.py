"""Keras go_backwards=True on masked batches: real Keras 3 (torch backend) SimpleRNN, LSTM and GRU with
random weights, run on random per-step masks (padded at the front, at the end, holes, a sequence with
no valid step), give what rnnlab's [reverse layer, ReverseSequence(), LastStep()] computes: Keras
reverses the whole padded time axis, passes the input mask on unchanged, and its last output is the
output at the last step of processing order. Whole models (.keras files and Keras objects), stacked
after or before other masked layers, a tf-keras 2.21 fixture, the round trip to Keras, and gradchecks
(float64) of ReverseSequence and LastStep with a mask."""
import os
import zlib

import numpy as np
import pytest

import rnnlab
from rnnlab.interop import keras as ki
from rnnlab.layers import ReverseSequence
from rnnlab.models import LastStep, Sequential

from conftest import max_abs_err, require_keras
from test_keras_mask import CELLS, numpy, randomize
from test_mask import central_differences

keras = require_keras()
TOL = 1e-5
N, T, D, H = 6, 7, 4, 3
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "keras2")


def random_mask(seed):
    """(N, T) bool: row 0 full, 1 padded at the front, 2 padded at the end, 3 with holes and its last
    step masked, 4 with no valid step, 5 random."""
    rng = np.random.default_rng(seed)
    m = np.ones((N, T), bool)
    m[1, :3] = False
    m[2, 4:] = False
    m[3, [0, 2, 3, 6]] = False
    m[4] = False
    m[5] = rng.random(T) < 0.5
    return m



# ----- what Keras does ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,options", CELLS, ids=lambda c: str(c))
@pytest.mark.parametrize("zero", [False, True])
def test_keras_go_backwards_is_the_forward_layer_on_the_flipped_batch(cls, options, zero):
    """The semantics rnnlab follows, asserted of Keras itself: go_backwards(x, m) equals the same layer
    run forward on x and m flipped in time, its last output is its output at step T - 1, and its
    compute_mask passes the input mask on unflipped."""
    seed = zlib.crc32(repr(("keras", cls, options, zero)).encode())
    x = np.random.default_rng(seed).standard_normal((N, T, D)).astype(np.float32)
    m = random_mask(seed)
    make = getattr(keras.layers, cls)
    back = make(H, go_backwards=True, return_sequences=True, zero_output_for_mask=zero, **options)
    ahead = make(H, return_sequences=True, zero_output_for_mask=zero, **options)
    last = make(H, go_backwards=True, zero_output_for_mask=zero, **options)
    for layer in (back, ahead, last):
        layer(x)
    randomize(back, seed)
    ahead.set_weights(back.get_weights())
    last.set_weights(back.get_weights())
    y_back = numpy(back(x, mask=m))[0]
    assert max_abs_err(y_back, numpy(ahead(x[:, ::-1].copy(), mask=m[:, ::-1].copy()))[0]) == 0
    assert max_abs_err(numpy(last(x, mask=m))[0], y_back[:, -1]) == 0
    assert np.array_equal(numpy(back.compute_mask(x, keras.ops.convert_to_tensor(m)))[0], m)


# ----- layers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,options", CELLS, ids=lambda c: str(c))
@pytest.mark.parametrize("sequences,zero", [(True, False), (True, True), (False, False)])
def test_go_backwards_layers_with_masks_match_keras(cls, options, sequences, zero):
    seed = zlib.crc32(repr((cls, options, sequences, zero)).encode())
    layer = getattr(keras.layers, cls)(H, go_backwards=True, return_sequences=sequences, zero_output_for_mask=zero,
                                       **options)
    x = np.random.default_rng(seed).standard_normal((N, T, D)).astype(np.float32)
    m = random_mask(seed)
    layer(x, mask=m)
    randomize(layer, seed)
    y_k = numpy(layer(x, mask=m))[0]
    model = ki.from_keras(layer)                  # a single layer: the caller adds LastStep, as for any layer
    assert [type(lay).__name__ for lay in model.layers][1:] == ["ReverseSequence"]
    assert model.layers[0].reverse and model.layers[0].zero_output_for_mask == zero
    if not sequences:
        model = Sequential(model.layers + [LastStep()])
    y, _ = model.forward(x, mask=m)
    assert max_abs_err(y, y_k) <= TOL
    # the masked rows are what tells the two orders apart: with lengths the padding would stay at the end
    if sequences:
        assert max_abs_err(y[2], y_k[2][::-1]) > 1e-3


def test_reverse_sequence_with_a_mask_reverses_every_step():
    x = np.random.default_rng(0).standard_normal((N, T, 2))
    m = random_mask(0)
    y, cache = ReverseSequence().forward(x, mask=m)
    assert np.array_equal(y, x[:, ::-1])
    dy = np.random.default_rng(1).standard_normal(y.shape)
    assert np.array_equal(ReverseSequence().backward(dy, cache)[0], dy[:, ::-1])
    lengths = np.array([7, 4, 3, 1, 2, 7])
    by_lengths = ReverseSequence().forward(x, lengths)[0]
    assert np.array_equal(by_lengths[1, :4], x[1, 3::-1]) and np.array_equal(by_lengths[1, 4:], x[1, 4:])
    with pytest.raises(ValueError, match=r"mask: expected lengths .* or mask .*not both"):
        ReverseSequence().forward(x, lengths, mask=m)
    with pytest.raises(ValueError, match=r"mask: expected shape \(6, 7\)"):
        ReverseSequence().forward(x, mask=m[:, :5])


def test_last_step_after_reverse_sequence_reads_the_end_of_the_sweep():
    """In a Sequential with a mask, LastStep after ReverseSequence reads the mask reversed in time: the
    step of the reverse sweep's last valid input (the first valid step in input order), zeros for a
    sequence with no valid step; the next recurrent layer reads the mask unflipped."""
    layer = rnnlab.GRU(D, H, direction="reverse", seed=3)
    x = np.random.default_rng(3).standard_normal((N, T, D))
    m = random_mask(3)
    y_r = layer.forward(x, mask=m)[0]
    last, _ = Sequential([layer, ReverseSequence(), LastStep()]).forward(x, mask=m)
    first = np.argmax(m, axis=1)
    want = y_r[np.arange(N), first] * m.any(axis=1)[:, None]
    assert max_abs_err(last, want) == 0
    assert max_abs_err(last, y_r[:, 0]) == 0               # the carried outputs reach t = 0
    after = rnnlab.LSTM(H, 2, seed=4)
    y, _ = Sequential([layer, ReverseSequence(), after]).forward(x, mask=m)
    assert max_abs_err(y, after.forward(y_r[:, ::-1], mask=m)[0]) == 0


# ----- whole models ------------------------------------------------------------------------------------
def models():
    L = keras.layers
    yield "masking-lstm-back-gru-back", keras.Sequential([
        keras.Input((None, D)), L.Masking(), L.LSTM(H, go_backwards=True, return_sequences=True),
        L.GRU(H, go_backwards=True), L.Dense(2)]), 0.0
    yield "masking-gru-back-zero-lstm", keras.Sequential([
        keras.Input((None, D)), L.Masking(mask_value=-1.0),
        L.GRU(H, go_backwards=True, return_sequences=True, zero_output_for_mask=True, reset_after=False),
        L.LSTM(H), L.Dense(2)]), -1.0
    yield "embedding-lstm-rnn-back", keras.Sequential([
        keras.Input((None,), dtype="int32"), L.Embedding(12, D, mask_zero=True), L.LSTM(H, return_sequences=True),
        L.SimpleRNN(H, go_backwards=True), L.Dense(2)]), None
    yield "masking-bigru-lstm-back-per-step", keras.Sequential([
        keras.Input((None, D)), L.Masking(), L.Bidirectional(L.GRU(H, return_sequences=True)),
        L.LSTM(H, go_backwards=True, return_sequences=True), L.TimeDistributed(L.Dense(2))]), 0.0


@pytest.mark.parametrize("index", range(4), ids=[name for name, _, _ in models()])
def test_keras_models_with_go_backwards_and_masks_compute_what_keras_computes(index, tmp_path):
    name, model, mask_value = list(models())[index]
    seed = zlib.crc32(name.encode())
    m = random_mask(seed)
    if mask_value is None:
        x = np.random.default_rng(seed).integers(1, 12, (N, T)).astype(np.int32) * m
    else:
        x = np.random.default_rng(seed).standard_normal((N, T, D)).astype(np.float32)
        x[~m] = mask_value
    for layer in model.layers:
        if layer.weights:
            randomize(layer, seed)
    y_k = numpy(model(x))[0]
    model.save(tmp_path / "m.keras")
    ours = ki.load_model(tmp_path / "m.keras")
    assert "ReverseSequence" in [type(layer).__name__ for layer in ours.layers]
    assert max_abs_err(ours.forward(x)[0], y_k) <= TOL
    assert max_abs_err(ki.from_keras(model).forward(x)[0], y_k) <= TOL
    # without the mask the outputs differ: the test sees the mask at work
    assert max_abs_err(ki.load_model(tmp_path / "m.keras", masking="lengths").forward(x)[0], y_k) > 1e-3


def test_keras2_file_with_go_backwards_and_a_mask():
    """tf-keras 2.21 (tests/fixtures/keras2/make_fixtures.py): Masking -> LSTM(go_backwards=True,
    return_sequences=True) -> GRU(go_backwards=True) -> Dense, a sequence padded at the end among front
    padding and holes."""
    path = os.path.join(FIXTURES, "masking_go_backwards.h5")
    ref = dict(np.load(os.path.join(FIXTURES, "masking_go_backwards.npz")))
    assert (~ref["mask"][:, -1]).any() and ref["mask"][:, 0].any()   # some sequence padded at the end
    model = ki.load_model(path)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Masking", "LSTM", "ReverseSequence", "GRU", "ReverseSequence", "LastStep", "Dense"]
    assert max_abs_err(model.forward(ref["x"])[0], ref["y"]) <= TOL
    assert max_abs_err(ki.load_model(path, masking="lengths").forward(ref["x"])[0], ref["y"]) > 1e-3


def test_rnnlab_go_backwards_model_to_keras_and_back(tmp_path):
    model = Sequential([rnnlab.Masking(-1.0), rnnlab.LSTM(D, H, direction="reverse", seed=0), ReverseSequence(),
                        rnnlab.GRU(H, H, direction="reverse", seed=1), ReverseSequence(), LastStep(),
                        rnnlab.Dense(H, 2, seed=2)])
    m = random_mask(5)
    x = np.random.default_rng(5).standard_normal((N, T, D)).astype(np.float32)
    x[~m] = -1.0
    kmodel = ki.to_keras(model)
    assert [getattr(layer, "go_backwards", None) for layer in kmodel.layers] == [None, True, True, None]
    y = model.forward(x)[0]
    assert max_abs_err(numpy(kmodel(x))[0], y) <= TOL
    ki.save_model(model, tmp_path / "r.keras")
    back = ki.load_model(tmp_path / "r.keras")
    assert max_abs_err(back.forward(x)[0], y) <= TOL


def test_go_backwards_with_zero_outputs_and_last_step_is_refused():
    """Keras' last output of a go_backwards layer with zero_output_for_mask=True is zero where x[:, 0] is
    masked; rnnlab's LastStep reads the last valid step, so the chain refuses it, as for a forward layer."""
    L = keras.layers
    model = keras.Sequential([keras.Input((None, D)), L.Masking(),
                              L.GRU(H, go_backwards=True, zero_output_for_mask=True, name="back"), L.Dense(2)])
    with pytest.raises(ValueError, match=r"GRU 'back'\).zero_output_for_mask"):
        ki.from_keras(model)


# ----- gradients ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("zero", [False, True])
def test_gradcheck_go_backwards_stack_with_a_mask(kind, zero):
    """Masking -> reverse layer -> ReverseSequence -> reverse LSTM -> ReverseSequence -> LastStep ->
    Dense in float64: backward equals central differences in x and every parameter."""
    rng = np.random.default_rng(zlib.crc32(f"{kind}{zero}".encode()))
    m = random_mask(1)
    x = rng.standard_normal((N, T, D)) * m[:, :, None]
    model = Sequential([rnnlab.Masking(0.0),
                        getattr(rnnlab, kind)(D, H, direction="reverse", zero_output_for_mask=zero, dtype="float64",
                                              seed=0),
                        ReverseSequence(),
                        rnnlab.LSTM(H, H, direction="reverse", dtype="float64", seed=1), ReverseSequence(),
                        LastStep(), rnnlab.Dense(H, 2, dtype="float64", seed=2)])
    w = rng.standard_normal((N, 2))
    assert central_differences(model, x, w, list(model.params), rng) <= 1e-6


def test_gradcheck_go_backwards_per_step_with_a_mask():
    """Masking -> reverse GRU -> ReverseSequence -> Dense on every step (float64)."""
    rng = np.random.default_rng(11)
    m = random_mask(2)
    x = rng.standard_normal((N, T, D)) * m[:, :, None]
    model = Sequential([rnnlab.Masking(0.0), rnnlab.GRU(D, H, direction="reverse", dtype="float64", seed=0),
                        ReverseSequence(), rnnlab.Dense(H, 2, dtype="float64", seed=1)])
    w = rng.standard_normal((N, T, 2))
    assert central_differences(model, x, w, list(model.params), rng) <= 1e-6


def test_gradcheck_catches_a_last_step_reading_the_unreversed_mask(monkeypatch):
    """If LastStep's backward sent dy to the last valid step of the unreversed mask, the check fails."""
    rng = np.random.default_rng(12)
    m = random_mask(1)
    x = rng.standard_normal((N, T, D)) * m[:, :, None]
    model = Sequential([rnnlab.Masking(0.0), rnnlab.LSTM(D, H, direction="reverse", dtype="float64", seed=0),
                        ReverseSequence(), LastStep(), rnnlab.Dense(H, 2, dtype="float64", seed=2)])
    w = rng.standard_normal((N, 2))
    assert central_differences(model, x, w, list(model.params), np.random.default_rng(0), per=20) <= 1e-6
    backward = LastStep.backward

    def wrong(self, dy, cache):
        last = T - 1 - np.argmax(m[:, ::-1], axis=1)          # the last valid step of the unreversed mask
        return backward(self, dy, cache._replace(last=last))
    monkeypatch.setattr(LastStep, "backward", wrong)
    assert central_differences(model, x, w, list(model.params), np.random.default_rng(0), per=20) > 1e-2
