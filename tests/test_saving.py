"""Save and load parameters plus configuration (.npz, no pickle, atomic)."""
import os

import numpy as np
import pytest

import rnnlab
from rnnlab.models import LastStep, Sequential, mlp
from rnnlab.saving import load, load_params, read_meta, save


def models():
    return [rnnlab.LSTM(3, 4, num_layers=2, bidirectional=True, forget_bias=1.0, seed=0),
            rnnlab.GRU(3, 4, reset_after=False, dtype="float64", seed=1),
            rnnlab.RNN(3, 4, nonlinearity="relu", seed=2),
            Sequential([rnnlab.LSTM(28, 16, seed=3), LastStep(), rnnlab.Dense(16, 10, seed=4)]),
            mlp([100, 300, 10], seed=5)]


@pytest.mark.parametrize("model", models(), ids=lambda m: type(m).__name__)
def test_round_trip(tmp_path, model):
    path = tmp_path / "m.npz"
    save(path, model, meta={"epoch": 3})
    back = load(path)
    assert type(back) is type(model)
    assert repr(back) == repr(model)
    assert set(back.params) == set(model.params)
    for k, v in model.params.items():
        assert back.params[k].dtype == v.dtype
        np.testing.assert_array_equal(back.params[k], v)
    assert read_meta(path) == {"epoch": 3}
    with np.load(path, allow_pickle=False) as data:       # readable without pickle
        assert "__rnnlab__" in data.files


def test_loaded_model_computes_the_same(tmp_path):
    model = models()[3]
    x = np.random.default_rng(0).standard_normal((2, 5, 28)).astype(np.float32)
    save(tmp_path / "m.npz", model)
    back = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.forward(x)[0], model.forward(x)[0])


def test_mismatch_names_parameter_and_shapes(tmp_path):
    save(tmp_path / "a.npz", rnnlab.LSTM(3, 4, seed=0))
    with pytest.raises(ValueError, match=r"parameter 'l0.W' has shape \(3, 16\) in '.*a.npz', but the model expects \(3, 20\)"):
        load_params(rnnlab.LSTM(3, 5), tmp_path / "a.npz")
    with pytest.raises(ValueError, match=r"missing \['l1.U', 'l1.W', 'l1.b'\]"):
        load_params(rnnlab.LSTM(3, 4, num_layers=2), tmp_path / "a.npz")


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no rnnlab file at"):
        load(tmp_path / "nope.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="without the rnnlab header '__rnnlab__'"):
        load(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        load(tmp_path / "junk.npz")


def test_failed_save_keeps_the_previous_file(tmp_path):
    path = tmp_path / "m.npz"
    good = rnnlab.GRU(3, 4, seed=0)
    save(path, good)
    before = path.read_bytes()

    class Exploding(rnnlab.GRU):
        @property
        def params(self):
            raise RuntimeError("disk full")

        @params.setter
        def params(self, value):
            pass

    with pytest.raises(RuntimeError):
        save(path, Exploding(3, 4))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]    # no temporary left behind
