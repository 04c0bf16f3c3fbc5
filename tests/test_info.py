"""``rnnlab info`` and the engine recorded with every training run (rnnlab.runtime)."""
import importlib.metadata
import json

import numpy as np
import pytest

import rnnlab
from rnnlab import runtime
from rnnlab.cli import main
from rnnlab.models import Sequential
from rnnlab.train import Config, train


@pytest.fixture
def fake_engine(monkeypatch):
    """The engine description (rnnlab.runtime.engine_description) naming an engine no build has;
    the cells themselves still run whatever engine is built."""
    import rnnlab.train
    described = {"engine": "test-engine", "reason": "installed by the test", "threads": 1}
    monkeypatch.setattr(runtime, "engine_description", lambda model=None: dict(described))
    monkeypatch.setattr(rnnlab.train, "engine_description", lambda model=None: dict(described))
    return described


def info_json(capsys) -> dict:
    assert main(["info", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_reports_versions_blas_threads_and_extras(capsys):
    info = info_json(capsys)
    assert info["rnnlab"] == rnnlab.__version__
    assert info["numpy"] == np.__version__
    from rnnlab import engine
    assert info["engine"] == engine.info()
    assert set(info["engine"]) >= {"engine", "reason"}
    assert info["threads"]["usable_cores"] >= 1
    assert set(info["extras"]) >= {"torch", "keras", "onnx", "scipy", "matplotlib"}
    for name, version in info["extras"].items():
        try:
            installed = importlib.metadata.version(runtime.EXTRAS[name])
        except importlib.metadata.PackageNotFoundError:
            installed = None
        assert version == installed, name
    assert info["blas"]["name"]                                  # NumPy always names its BLAS


def test_info_names_the_engine_and_why(capsys, fake_engine):
    assert info_json(capsys)["engine"] == fake_engine
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "engine: test-engine (installed by the test)" in text
    assert f"rnnlab {rnnlab.__version__}" in text and f"NumPy {np.__version__}" in text


def test_info_with_the_engine_switched_off_reports_numpy(capsys, monkeypatch):
    monkeypatch.setenv("RNNLAB_ENGINE", "numpy")
    assert info_json(capsys)["engine"] == {"engine": "numpy", "reason": "RNNLAB_ENGINE=numpy", "threads": 0}


def tiny(**kw):
    return Config(**{**dict(task="adding", T=6, train_size=64, hidden=5, epochs=2, batch_size=32, seed=1), **kw})


def test_training_records_its_engine(tmp_path, fake_engine):
    out = tmp_path / "run"
    result = train(tiny(), out=str(out), progress=False, echo=lambda *a: None)
    assert result["engine"] == fake_engine
    lines = [json.loads(s) for s in open(out / "metrics.jsonl")]
    assert len(lines) == 2 and all(line["engine"] == "test-engine" for line in lines)
    assert json.load(open(out / "metrics.json"))["engine"] == fake_engine
    with np.load(out / "checkpoint.npz") as ck:
        assert json.loads(str(ck["__state__"]))["engine"] == fake_engine


def test_resumed_run_records_the_engine_of_each_part(tmp_path, fake_engine, monkeypatch):
    """Each metrics line names the engine that computed its epoch, also across a resume."""
    out = str(tmp_path / "run")
    train(tiny(), out=out, progress=False, echo=lambda *a: None, stop_after_steps=3)   # 2 steps an epoch
    monkeypatch.undo()
    monkeypatch.setenv("RNNLAB_ENGINE", "numpy")
    train(tiny(), out=out, progress=False, echo=lambda *a: None, resume=True)
    lines = [json.loads(s) for s in open(tmp_path / "run" / "metrics.jsonl")]
    assert [line["engine"] for line in lines] == ["test-engine", "numpy"]


def test_a_run_whose_layers_run_numpy_records_numpy(tmp_path):
    """The options the compiled engine does not cover (here layer_norm with gate_clip) run the NumPy cells, and the
    run says so, since the engines round differently; options it covers keep the active engine."""
    if rnnlab.engine.active() == "numpy":
        pytest.skip("no compiled engine is built here: every run records numpy")
    out = tmp_path / "ln"
    result = train(tiny(layer_norm=True, gate_clip=1.0), out=str(out), progress=False, echo=lambda *a: None)
    assert result["engine"]["engine"] == "numpy" and "options" in result["engine"]["reason"]
    assert {json.loads(s)["engine"] for s in open(out / "metrics.jsonl")} == {"numpy"}
    result = train(tiny(zoneout=(0.1, 0.05)), out=str(tmp_path / "zo"), progress=False, echo=lambda *a: None)
    assert result["engine"]["engine"] == rnnlab.engine.active() and "numpy_layers" not in result["engine"]
    two = Sequential([rnnlab.LSTM(3, 4), rnnlab.LSTM(4, 4, layer_norm=True, gate_clip=1.0), rnnlab.Dense(4, 1)])
    described = runtime.engine_description(two)
    assert described["numpy_layers"] == [1] and described["engine"] == rnnlab.engine.active()
    assert runtime.engine_description(Sequential([rnnlab.GRU(3, 4, dtype="float64")]))["engine"] == "numpy"
