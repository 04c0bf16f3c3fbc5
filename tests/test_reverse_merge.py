"""ReverseSequence (each sequence's valid steps in reverse order) and MergeDirections (Keras' merge modes
of a bidirectional layer's two halves): written-out examples, gradchecks inside models with ragged
batches, a reverse layer plus ReverseSequence equal to a forward layer on the time-reversed input,
save/load, and the exporters without these layers naming them."""
import numpy as np
import pytest

import rnnlab
from rnnlab.commands.gradcheck import THRESHOLD
from rnnlab.gradcheck import gradcheck
from rnnlab.layers import MergeDirections, ReverseSequence
from rnnlab.models import LastStep, Sequential
from rnnlab.saving import load, save

from conftest import require_onnx, require_torch

LENGTHS = np.array([6, 3, 1])


def test_reverse_sequence_reverses_the_valid_steps_and_keeps_the_padding():
    x = np.arange(2 * 4, dtype=np.float64).reshape(2, 4, 1)          # x[n, t] = 4 n + t
    y, cache = ReverseSequence().forward(x, np.array([4, 2]))
    np.testing.assert_array_equal(y[..., 0], [[3, 2, 1, 0], [5, 4, 6, 7]])
    np.testing.assert_array_equal(ReverseSequence().forward(x)[0][..., 0], [[3, 2, 1, 0], [7, 6, 5, 4]])
    dy = np.arange(8, dtype=np.float64).reshape(2, 4, 1) * 10
    dx, grads = ReverseSequence().backward(dy, cache)
    np.testing.assert_array_equal(dx[..., 0], [[30, 20, 10, 0], [50, 40, 60, 70]])
    assert grads == {}


def test_merge_directions_written_out():
    x = np.array([[1.0, 2.0, 3.0, 5.0]])                             # a = (1, 2), b = (3, 5)
    dy = np.array([[10.0, 100.0]])
    expect = {"sum": ([4, 7], [10, 100, 10, 100]), "ave": ([2, 3.5], [5, 50, 5, 50]),
              "mul": ([3, 10], [30, 500, 10, 200])}
    for mode, (y_want, dx_want) in expect.items():
        layer = MergeDirections(2, mode)
        y, cache = layer.forward(x)
        np.testing.assert_array_equal(y, [y_want])
        np.testing.assert_array_equal(layer.backward(dy, cache)[0], [dx_want])


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_reverse_layer_then_reverse_sequence_is_a_forward_layer_on_reversed_input(cell):
    """[reverse layer, ReverseSequence] reads each sequence from its last valid step and returns the
    outputs in that order: a forward layer of the same weights on the reversed sequence."""
    rev = getattr(rnnlab, cell)(3, 4, direction="reverse", seed=0, dtype="float64")
    fwd = getattr(rnnlab, cell)(3, 4, seed=0, dtype="float64")
    for k, v in rev.params.items():
        fwd.params[k][...] = v
    x = np.random.default_rng(1).standard_normal((3, 6, 3)) * (np.arange(6)[None, :, None] < LENGTHS[:, None, None])
    y, _ = Sequential([rev, ReverseSequence()]).forward(x, LENGTHS)
    x_rev, _ = ReverseSequence().forward(x, LENGTHS)
    y_fwd, _, _ = fwd.forward(x_rev, None, LENGTHS)
    np.testing.assert_allclose(y, y_fwd, atol=1e-12)


@pytest.mark.parametrize("mode", ["sum", "ave", "mul"])
@pytest.mark.parametrize("last", [False, True])
def test_gradcheck_of_models_with_both_layers(mode, last):
    model = Sequential([rnnlab.GRU(3, 4, bidirectional=True, seed=0, dtype="float64")]
                       + ([LastStep()] if last else [])
                       + [MergeDirections(4, mode), rnnlab.Dense(4, 2, seed=1, dtype="float64")])
    if not last:
        model = Sequential(model.layers[:2] + [rnnlab.LSTM(4, 3, direction="reverse", seed=2, dtype="float64"),
                                               ReverseSequence(), LastStep(), rnnlab.Dense(3, 2, seed=1, dtype="float64")])
    x = np.random.default_rng(4).standard_normal((3, 6, 3))
    report = gradcheck(model, x, None, LENGTHS, max_checks=20, eps=1e-7)
    assert report.worst <= THRESHOLD, report.format()


def test_save_load_round_trip(tmp_path):
    model = Sequential([rnnlab.LSTM(3, 4, bidirectional=True, seed=0), MergeDirections(4, "mul"),
                        rnnlab.GRU(4, 3, direction="reverse", seed=1), ReverseSequence(), LastStep(),
                        rnnlab.Dense(3, 2, seed=2)])
    save(tmp_path / "m.npz", model)
    back = load(tmp_path / "m.npz")
    assert repr(back) == repr(model)
    x = np.random.default_rng(0).standard_normal((3, 6, 3)).astype("float32")
    np.testing.assert_array_equal(back.forward(x, LENGTHS)[0], model.forward(x, LENGTHS)[0])


def test_sequential_checks_the_merge_width():
    with pytest.raises(ValueError, match=r"layers\[1\]: MergeDirections\(3, mode='mul'\) expects inputs of size 6"):
        Sequential([rnnlab.LSTM(3, 4, bidirectional=True), MergeDirections(3, "mul")])


def test_streaming_refuses_reverse_sequence():
    model = Sequential([rnnlab.LSTM(3, 4), ReverseSequence()])
    with pytest.raises(ValueError, match=r"layers\[1\] \(ReverseSequence\) cannot run step by step"):
        model.initial_state(2)


def test_torch_and_onnx_exporters_name_the_layers_they_lack():
    from rnnlab.interop import onnx as oi, torch as ti
    require_torch()
    require_onnx()
    merged = Sequential([rnnlab.LSTM(3, 4, bidirectional=True, seed=0), MergeDirections(4, "mul"), rnnlab.Dense(4, 2)])
    reversed_ = Sequential([rnnlab.LSTM(3, 4, seed=0), ReverseSequence()])
    for model, name in ((merged, "MergeDirections"), (reversed_, "ReverseSequence")):
        with pytest.raises(ValueError, match=name):
            ti.to_torch(model)
        with pytest.raises(ValueError, match=rf"model\.layers\[1\]: ONNX export has no counterpart of {name}"):
            oi.to_onnx(model)


@pytest.mark.parametrize("layer", [ReverseSequence(), MergeDirections(2, "mul"), MergeDirections(3, "ave")],
                         ids=repr)
def test_gradcheck_of_the_bare_layers(layer):
    report = gradcheck(layer, lengths=np.array([5, 2, 4]) if isinstance(layer, ReverseSequence) else None)
    assert report.worst <= THRESHOLD, report.format()
    assert [r.name for r in report.rows] == ["input x"]
