"""``rnnlab convert`` between .npz, .pt, .keras and .onnx, and the promise that ``import rnnlab`` (and
every interop module) stays NumPy-only until a converter runs."""
import subprocess
import sys

import numpy as np
import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.models import LastStep, Sequential
from rnnlab.saving import load, save

from conftest import max_abs_err, require_keras, require_onnx, require_torch


def model_f32(seed=0):
    return Sequential([rnnlab.GRU(3, 4, num_layers=2, bidirectional=True, seed=seed), LastStep(),
                       rnnlab.Dense(8, 2, seed=seed + 1)])


def test_import_rnnlab_and_interop_stays_numpy_only():
    code = ("import sys, rnnlab, rnnlab.interop.torch, rnnlab.interop.keras, rnnlab.interop.onnx, "
            "rnnlab.interop.tf1, rnnlab.interop.files, rnnlab.commands.convert\n"
            "loaded = {'torch', 'keras', 'onnx', 'onnxruntime', 'h5py', 'tensorflow'} & set(sys.modules)\n"
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("ending", [".pt", ".keras", ".onnx"])
def test_convert_round_trip_is_exact(ending, tmp_path, capsys):
    {".pt": require_torch, ".keras": require_keras, ".onnx": require_onnx}[ending]()
    model = model_f32()
    save(tmp_path / "m.npz", model)
    assert main(["convert", str(tmp_path / "m.npz"), str(tmp_path / f"m{ending}")]) == 0
    assert main(["convert", str(tmp_path / f"m{ending}"), str(tmp_path / "back.npz")]) == 0
    assert "GRU(3, 4" in capsys.readouterr().out
    back = load(tmp_path / "back.npz")
    assert repr(back) == repr(model)
    for k, v in model.params.items():
        np.testing.assert_array_equal(back.params[k], v)


def test_keras_file_to_onnx_runs_like_keras(tmp_path):
    """A Keras model converted on the command line to ONNX: onnxruntime gives Keras' outputs."""
    keras = require_keras()
    _, ort = require_onnx()
    L = keras.layers
    kmodel = keras.Sequential([keras.Input((None, 3)), L.Bidirectional(L.LSTM(4)), L.Dense(2)])
    rng = np.random.default_rng(1)
    kmodel.set_weights([0.5 * rng.standard_normal(w.shape) for w in kmodel.get_weights()])
    kmodel.save(tmp_path / "m.keras")
    assert main(["convert", str(tmp_path / "m.keras"), str(tmp_path / "m.onnx")]) == 0
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    y = sess.run(["y"], {"x": x, "lengths": np.array([5, 5], np.int32)})[0]
    assert max_abs_err(y, keras.ops.convert_to_numpy(kmodel(x))) <= 1e-5


def test_torch_file_to_keras_runs_like_torch(tmp_path):
    """A PyTorch state_dict converted to a .keras file: Keras gives torch's outputs."""
    torch = require_torch()
    keras = require_keras()
    torch.manual_seed(0)
    rnn, fc = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True), torch.nn.Linear(4, 2)
    sd = {**{"rnn." + k: v for k, v in rnn.state_dict().items()}, **{"fc." + k: v for k, v in fc.state_dict().items()}}
    torch.save(sd, tmp_path / "m.pt")
    assert main(["convert", str(tmp_path / "m.pt"), str(tmp_path / "m.keras")]) == 0
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    with torch.no_grad():
        y_t = fc(rnn(torch.tensor(x))[0][:, -1]).numpy()
    y_k = keras.ops.convert_to_numpy(keras.saving.load_model(tmp_path / "m.keras")(x))
    assert max_abs_err(y_k, y_t) <= 1e-5


def test_convert_errors_name_the_problem(tmp_path, capsys):
    save(tmp_path / "m.npz", model_f32())
    assert main(["convert", str(tmp_path / "m.npz"), str(tmp_path / "m.txt")]) == 2
    assert "cannot tell the format" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "none.pt"), str(tmp_path / "m.npz")]) == 2
    assert "no file" in capsys.readouterr().err
    save(tmp_path / "gru.npz", rnnlab.GRU(3, 4, reset_after=False))
    assert main(["convert", str(tmp_path / "gru.npz"), str(tmp_path / "gru.pt")]) == 2
    assert "reset_after" in capsys.readouterr().err


def test_convert_never_writes_over_data_or_a_runs_files(tmp_path, capsys):
    """A target that exists and is not a model rnnlab saved (a data .npz), or a run's own file, is
    refused and left as it was; an existing model file is replaced, as a save replaces it."""
    import numpy as np
    import rnnlab
    from rnnlab.cli import main
    from rnnlab.saving import save
    model = tmp_path / "m.npz"
    save(model, rnnlab.LSTM(3, 4, seed=0))
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((20, 3, 3), np.float32), y=np.arange(20) % 2)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--hidden", "2", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    kept = data.read_bytes(), (run / "model.npz").read_bytes()
    assert main(["convert", str(model), str(data)]) == 2
    assert "exists and is not a model file rnnlab saved" in capsys.readouterr().err
    assert main(["convert", str(model), str(run / "model.npz")]) == 2
    assert f"is a file of the run in {str(run)!r}" in capsys.readouterr().err
    assert (data.read_bytes(), (run / "model.npz").read_bytes()) == kept
    for target, words in ((run / "model.onnx", f"is inside the run folder {str(run)!r}"),
                          (run / "sub" / "m.npz", f"is inside the run folder {str(run)!r}"),
                          ("/proc/rnnlab-c.npz", "target: cannot write '/proc/rnnlab-c.npz' (")):
        assert main(["convert", str(model), str(target)]) == 2
        assert words in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == sorted([".lock", "checkpoint.npz", "metrics.json",
                                                             "metrics.jsonl", "model.npz"])
    other = tmp_path / "other.npz"
    save(other, rnnlab.GRU(3, 4, seed=0))
    assert main(["convert", str(model), str(other)]) == 0               # a model file: replaced
