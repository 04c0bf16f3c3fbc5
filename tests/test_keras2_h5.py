"""Keras 2 full-model .h5 files (model.save("model.h5") in tf.keras 2.x) read with h5py only through
rnnlab.interop.keras.load_model. The files in tests/fixtures/keras2 were saved by tf-keras 2.21 and the
.npz beside each holds what Keras computed (make_fixtures.py there makes both)."""
import json
import os
import shutil

import numpy as np
import pytest

from rnnlab.errors import FormatError
from rnnlab.interop import keras as ki

from conftest import max_abs_err

pytest.importorskip("h5py")
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "keras2")


def fixture(name):
    return os.path.join(FIXTURES, f"{name}.h5"), dict(np.load(os.path.join(FIXTURES, f"{name}.npz")))


@pytest.mark.parametrize("name,kinds", [
    ("sentiment", ["Embedding", "LSTM", "LastStep", "Dense"]),
    ("gru", ["GRU", "GRU", "LastStep", "Dense"]),                     # reset_after True, then False
    ("bidirectional", ["LSTM", "RNN", "Dense"]),                      # TimeDistributed(Dense) on every step
    ("functional_ave", ["GRU", "LastStep", "Dense", "Dense"]),        # merge_mode="ave": a fixed Dense
])
def test_keras2_files_compute_what_keras_computed(name, kinds):
    path, ref = fixture(name)
    model = ki.load_model(path)
    assert [type(layer).__name__ for layer in model.layers] == kinds
    y, _ = model.forward(ref["x"])
    assert max_abs_err(y, ref["y"]) <= 1e-5


def test_gru_reset_after_both_ways():
    model = ki.load_model(fixture("gru")[0])
    assert [model.layers[0].reset_after, model.layers[1].reset_after] == [True, False]


def test_masking_keeps_its_mask_or_is_read_as_lengths_or_refused():
    path, ref = fixture("masking")
    with pytest.raises(FormatError, match=r"masking\.h5: .*Masking .*padded at the front"):
        ki.load_model(path, masking="refuse")
    y, _ = ki.load_model(path, masking="lengths").forward(ref["x"], ref["lengths"])
    assert max_abs_err(y, ref["y"]) <= 1e-5
    y, _ = ki.load_model(path).forward(ref["x"])             # the mask, from the zeros of x
    assert max_abs_err(y, ref["y"]) <= 1e-5


def edited(tmp_path, name, edit):
    import h5py
    target = tmp_path / f"{name}.h5"
    shutil.copy(fixture(name)[0], target)
    with h5py.File(target, "r+") as h5:
        edit(h5)
    return target


def test_damaged_files_are_format_errors(tmp_path):
    def bad_json(h5):
        h5.attrs["model_config"] = "{not json"
    with pytest.raises(FormatError, match="attribute 'model_config': not JSON"):
        ki.load_model(edited(tmp_path, "gru", bad_json))

    def missing_weight(h5):
        del h5["model_weights/gru/gru/gru_cell/bias:0"]
    with pytest.raises(FormatError, match=r"group 'model_weights/gru'.*lacks"):
        ki.load_model(edited(tmp_path, "gru", missing_weight))

    def external(h5):
        h5["model_weights/gru/elsewhere"] = __import__("h5py").ExternalLink("/etc/passwd", "/x")
    with pytest.raises(FormatError, match="external link"):
        ki.load_model(edited(tmp_path, "gru", external))

    def branched(h5):
        config = json.loads(h5.attrs["model_config"])
        config["config"]["layers"][2]["inbound_nodes"] = [[["input_1", 0, 0, {}]]]
        h5.attrs["model_config"] = json.dumps(config)
    with pytest.raises(FormatError, match="a chain of layers"):
        ki.load_model(edited(tmp_path, "functional_ave", branched))

    def softsign(h5):
        config = json.loads(h5.attrs["model_config"])
        config["config"]["layers"][1]["config"]["recurrent_activation"] = "softsign"
        h5.attrs["model_config"] = json.dumps(config)
    with pytest.raises(FormatError, match=r"GRU 'gru'\.recurrent_activation.*softsign"):
        ki.load_model(edited(tmp_path, "gru", softsign))


def test_rnnlab_convert_reads_keras2_files(tmp_path, capsys):
    from rnnlab.cli import main
    from rnnlab.saving import load
    path, ref = fixture("sentiment")
    assert main(["convert", path, str(tmp_path / "s.npz")]) == 0
    assert max_abs_err(load(tmp_path / "s.npz").forward(ref["x"])[0], ref["y"]) <= 1e-5
    path, ref = fixture("masking")
    assert main(["convert", path, str(tmp_path / "m.npz"), "--masking", "refuse"]) == 2
    assert "--masking lengths" in capsys.readouterr().err
    assert main(["convert", path, str(tmp_path / "m.npz"), "--masking", "lengths"]) == 0
    assert main(["convert", path, str(tmp_path / "k.npz")]) == 0            # default: Keras' mask, kept
    assert max_abs_err(load(tmp_path / "k.npz").forward(ref["x"])[0], ref["y"]) <= 1e-5
