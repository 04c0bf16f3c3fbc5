import os

import numpy as np
import pytest

from rnnlab.verify import rel_err  # noqa: F401  (the one relative error, for the tests too)


def require_torch():
    """torch, or a skip; CI sets RNNLAB_REQUIRE_TORCH=1 so a missing torch fails instead of skipping."""
    if os.environ.get("RNNLAB_REQUIRE_TORCH") == "1":
        import torch  # noqa: F401  (an ImportError here fails the run, as it should in CI)
        return torch
    return pytest.importorskip("torch")


def _require(module: str):
    """``module``, or a skip; with RNNLAB_REQUIRE_TORCH=1 (CI) a missing module fails instead."""
    if os.environ.get("RNNLAB_REQUIRE_TORCH") == "1":
        import importlib
        return importlib.import_module(module)  # an ImportError here fails the run, as it should in CI
    return pytest.importorskip(module)


def require_keras():
    """Keras 3 on its torch backend (the backend is fixed before the first import of keras)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = _require("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras runs on the {keras.backend.backend()!r} backend; the tests expect 'torch'")
    return keras


def require_onnx():
    """(onnx, onnxruntime), or a skip; fails in CI like require_torch."""
    return _require("onnx"), _require("onnxruntime")


def max_abs_err(a, b) -> float:
    """max |a - b| in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max()) if a.size else 0.0


def without_seconds(history: list) -> list:
    """A metrics log without its wall-clock entries, which differ between equal runs."""
    return [{k: v for k, v in line.items() if k != "seconds"} for line in history]


def run_quiet(cfg, **kw) -> dict:
    """``rnnlab.train.train(cfg, **kw)`` without progress bar or epoch lines."""
    from rnnlab.train import train
    return train(cfg, progress=False, echo=lambda *a: None, **kw)


def interrupted_and_full(cfg, tmp_path, stop_after_steps: int = 2) -> tuple[dict, dict]:
    """(a run of ``cfg`` stopped after ``stop_after_steps`` and resumed to the end, the same run
    uninterrupted), each in its own folder under ``tmp_path``."""
    full = run_quiet(cfg, out=str(tmp_path / "full"))
    part = run_quiet(cfg, out=str(tmp_path / "part"), stop_after_steps=stop_after_steps)
    assert not part["complete"]
    done = run_quiet(cfg, out=str(tmp_path / "part"), resume=True)
    return done, full


def assert_same_run(done: dict, full: dict) -> None:
    """A resumed training run (rnnlab.train.run's result) equals the uninterrupted one: parameters,
    test metrics and the metrics log (wall-clock seconds aside)."""
    for k, v in full["model"].params.items():
        np.testing.assert_array_equal(done["model"].params[k], v)
    assert done["test"] == full["test"]
    assert without_seconds(done["history"]) == without_seconds(full["history"])


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch, tmp_path_factory):
    """Tests never download data nor read the user's cache: data comes from --data-dir, $RNNLAB_DATA or
    ../shared/data; the downloader's tests lift RNNLAB_OFFLINE against a local server."""
    monkeypatch.setenv("RNNLAB_OFFLINE", "1")
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path_factory.getbasetemp() / "rnnlab-cache"))


@pytest.fixture
def split():
    """split(k): set the compiled engine's rn_rows_min (the loops split by batch rows where every
    thread has k rows or more, else by unit blocks) to k for the test, restored after; returns the
    library (its rn_row_runs_taken counts the loops that split by rows)."""
    from rnnlab import engine
    lib = engine._library()[0]
    old = lib.rn_set_rows_min(6)
    lib.rn_row_runs_taken()

    def set_rule(k):
        lib.rn_set_rows_min(k)
        return lib

    yield set_rule
    lib.rn_set_rows_min(old)
