"""The command line on the user's own data: rnnlab train --data / --valid, --resume from anywhere,
rnnlab predict to .npy and .csv, rnnlab evaluate on such a run, and bad files."""
import json
import os
import re

import numpy as np
import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.models import Embedding
from rnnlab.saving import load, read_meta


def sign_data(path, rng, N, T=6, D=3, lengths=False):
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    arrays = {"x": x, "y": (x[:, :, 0].sum(1) > 0).astype(np.int64)}
    if lengths:
        arrays["lengths"] = rng.integers(2, T + 1, N)
    np.savez(path, **arrays)
    return arrays


TRAIN = ["--model", "gru", "--hidden", "8", "--batch-size", "16", "--lr", "0.01", "--quiet"]


def test_train_resume_evaluate_and_predict(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    train, valid = sign_data(tmp_path / "train.npz", rng, 160), sign_data(tmp_path / "valid.npz", rng, 40)
    new = sign_data(tmp_path / "new.npz", rng, 11, lengths=True)
    full, part = str(tmp_path / "full"), str(tmp_path / "part")
    data = ["--data", str(tmp_path / "train.npz"), "--valid", str(tmp_path / "valid.npz")]
    assert main(["train", *data, *TRAIN, "--epochs", "3", "--out", full]) == 0
    assert sorted(os.listdir(full)) == [".lock", "checkpoint.npz", "metrics.json", "metrics.jsonl", "model.npz"]
    meta = read_meta(os.path.join(full, "model.npz"))
    assert meta["config"]["task"] == "data" and meta["config"]["data"] == str(tmp_path / "train.npz")
    assert meta["task"]["kind"] == "classify"
    # one epoch, then --resume from another folder to three: the same parameters as the full run
    assert main(["train", *data, *TRAIN, "--epochs", "1", "--out", part]) == 0
    monkeypatch.chdir(tmp_path / "part")
    assert main(["train", "--out", part, "--resume", "--epochs", "3", "--quiet"]) == 0
    a, b = load(os.path.join(full, "model.npz")), load(os.path.join(part, "model.npz"))
    for k, v in a.params.items():
        np.testing.assert_array_equal(b.params[k], v)
    capsys.readouterr()
    assert main(["evaluate", os.path.join(full, "model.npz"), "--split", "valid"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["valid_loss"] == pytest.approx(rnnlab.evaluate(a, valid["x"], valid["y"])["loss"], rel=1e-6)

    out = tmp_path / "pred.npy"
    assert main(["predict", os.path.join(full, "model.npz"), "--data", str(tmp_path / "new.npz"),
                 "--out", str(out)]) == 0
    logits = a.forward(new["x"], new["lengths"])[0]
    np.testing.assert_array_equal(np.load(out), logits.argmax(-1))
    assert main(["predict", os.path.join(full, "model.npz"), "--data", str(tmp_path / "new.npz"),
                 "--out", str(tmp_path / "p.csv"), "--proba"]) == 0
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "index,p0,p1"
    table = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    assert table.shape == (11, 3)
    np.testing.assert_array_equal(table[:, 0], np.arange(11))
    np.testing.assert_allclose(table[:, 1:], rnnlab.predict_proba(a, new["x"], new["lengths"]), atol=1e-7)


def test_token_ids_train_with_an_embedding(tmp_path):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 6, (120, 5))
    np.savez(tmp_path / "ids.npz", x=ids, y=(ids == 2).any(1).astype(np.int64))
    out = str(tmp_path / "run")
    assert main(["train", "--data", str(tmp_path / "ids.npz"), *TRAIN, "--embed-dim", "4", "--epochs", "1",
                 "--out", out]) == 0
    model = load(os.path.join(out, "model.npz"))
    assert isinstance(model.layers[0], Embedding) and model.layers[0].params["W"].shape == (6, 4)
    assert main(["predict", os.path.join(out, "model.npz"), "--data", str(tmp_path / "ids.npz"),
                 "--out", str(tmp_path / "p.csv")]) == 0
    table = np.loadtxt(tmp_path / "p.csv", dtype=int, delimiter=",", skiprows=1)
    np.testing.assert_array_equal(table[:, 1], model.forward(ids)[0].argmax(-1))


def test_per_step_predictions_mark_the_padding(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 5, 2)).astype(np.float32)
    lengths = rng.integers(1, 6, 40)
    np.savez(tmp_path / "d.npz", x=x, y=(x[..., 0] > 0).astype(np.int64), lengths=lengths)
    out = str(tmp_path / "run")
    assert main(["train", "--data", str(tmp_path / "d.npz"), *TRAIN, "--epochs", "1", "--out", out]) == 0
    assert main(["predict", os.path.join(out, "model.npz"), "--data", str(tmp_path / "d.npz"),
                 "--out", str(tmp_path / "p.npy")]) == 0
    pred = np.load(tmp_path / "p.npy")
    assert pred.shape == (40, 5)
    pad = np.arange(5)[None] >= lengths[:, None]
    assert (pred[pad] == -1).all() and (pred[~pad] >= 0).all()


def test_bad_files_and_flags_are_named(tmp_path, capsys):
    np.savez(tmp_path / "nox.npz", inputs=np.zeros((2, 3, 1)))
    np.savez(tmp_path / "noy.npz", x=np.zeros((2, 3, 1)))
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 3, 1)), y=np.array([0, 1, -1, 0]))
    np.savez(tmp_path / "objects.npz", x=np.array([np.zeros(2), np.zeros(3)], dtype=object), y=np.zeros(2))
    (tmp_path / "text.npz").write_text("not a zip")
    cases = [
        (["--data", str(tmp_path / "missing.npz")], "--data: no file at"),
        (["--data", str(tmp_path / "nox.npz")], "has no key 'x'"),
        (["--data", str(tmp_path / "noy.npz")], "has no key 'y'"),
        (["--data", str(tmp_path / "bad.npz")],
         r"--data '.*bad.npz': key 'y': expected class ids >= 0, got -1 at index \(2,\)"),
        (["--data", str(tmp_path / "objects.npz")], "key 'x': --data: holds Python objects"),
        (["--data", str(tmp_path / "text.npz")], "text.npz: --data: not a readable .npz file"),
        (["--valid-split", "0.2"], "--valid-split: needs --data"),
    ]
    for argv, message in cases:
        assert main(["train", *argv, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert re.search(message, err), (argv, err)
    assert main(["predict", str(tmp_path / "m.npz"), "--data", str(tmp_path / "noy.npz"),
                 "--out", str(tmp_path / "p.txt")]) == 2
    assert "--out: expected a file ending in .npy or .csv" in capsys.readouterr().err
