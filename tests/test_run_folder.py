"""The run folder: one run per --out (refused unless --resume or --overwrite), a lock against two runs
at once, stale temporary files removed, file modes from the umask, unwritable folders as one error
line, absolute data paths; divergence stops a run without writing anything non-finite; a broken or
mismatched checkpoint is one error naming it and the key or shape."""
import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnlab.train as training
from rnnlab.training import run_folder
from rnnlab.cli import main
from rnnlab.data import ArrayDataset, Task
from rnnlab.saving import atomic_write
from rnnlab.train import Config, Diverged, read_checkpoint, train

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--task", "adding", "--T", "5", "--train-size", "64", "--hidden", "4", "--batch-size", "32",
        "--epochs", "2", "--quiet"]


def tiny(**kw):
    return Config(**{**dict(task="adding", T=5, train_size=64, hidden=4, batch_size=32, epochs=2), **kw})


def quiet(cfg, **kw):
    return train(cfg, progress=False, echo=lambda *a: None, **kw)


def contents(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_used_out_is_refused_and_overwrite_replaces_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    first = contents(out)
    assert main(["train", *TINY, "--lr", "0.01", "--out", str(out)]) == 2
    err = one_error(capsys)
    assert "--out" in err and "--resume" in err and "--overwrite" in err
    assert contents(out) == first                                   # nothing of the first run lost
    assert main(["train", *TINY, "--lr", "0.01", "--out", str(out), "--overwrite"]) == 0
    header, _ = read_checkpoint(out / "checkpoint.npz")
    assert header["config"]["lr"] == 0.01                          # the second run, whole
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in log] == [1, 2]
    assert json.loads((out / "metrics.json").read_text())["complete"]
    meta = json.loads(str(np.load(out / "model.npz")["__rnnlab__"]))["meta"]
    assert meta["config"]["lr"] == 0.01


def test_an_interrupted_run_is_refused_too(tmp_path):
    out = tmp_path / "run"
    quiet(tiny(), out=str(out), stop_after_steps=1)
    with pytest.raises(ValueError, match="--out: .* already holds a run .*--resume"):
        quiet(tiny(), out=str(out))
    assert quiet(tiny(), out=str(out), resume=True)["complete"]


def test_overwrite_never_deletes_files_a_run_did_not_write(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"--out: .*holds files that a training run did not write \(notes.txt\)"):
        quiet(tiny(), out=str(out), overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_a_held_lock_makes_a_second_run_fail_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    lock = run_folder.acquire(str(out))                           # this process holds the run folder
    try:
        done = subprocess.run([sys.executable, "-m", "rnnlab.cli", "train", *TINY, "--out", str(out)],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert "--out" in done.stderr and "in use by another training run" in done.stderr
        assert f"pid {os.getpid()}" in done.stderr and socket.gethostname() in done.stderr
        assert not (out / "checkpoint.npz").exists()
        with pytest.raises(ValueError, match=f"pid {os.getpid()}"):
            quiet(tiny(), out=str(out))
    finally:
        run_folder.release(lock, str(out))
    assert quiet(tiny(), out=str(out))["complete"]                # free again once released


def test_stale_tmp_files_are_removed_on_start_and_resume(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".tmp-3f2a-checkpoint.npz").write_bytes(b"half a checkpoint")
    quiet(tiny(), out=str(out), stop_after_steps=1)               # a folder with only stale files is empty
    assert not list(out.glob(".tmp-*"))
    (out / ".tmp-77aa-model.npz").write_bytes(b"half a model")
    assert quiet(tiny(), out=str(out), resume=True)["complete"]
    assert not list(out.glob(".tmp-*"))


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_files_get_mode_0666_minus_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "a.bin", lambda f: f.write(b"x"))
        quiet(tiny(epochs=1), out=str(tmp_path / "run"))
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == mode
    for name in training.RUN_FILES:
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == mode, name


def test_a_read_only_out_is_one_error_line(tmp_path, capsys):
    if os.geteuid() == 0:                 # root writes anywhere but in /sys
        if not os.path.isdir("/sys/kernel"):
            pytest.skip("running as root without /sys: no folder is read-only")
        out = "/sys/kernel/rnnlab-run"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        out = str(ro / "run")
    assert main(["train", *TINY, "--out", out]) == 2
    err = one_error(capsys)
    assert err.startswith(f"rnnlab train: error: --out: cannot write the run folder {out!r}")


def test_an_out_below_a_file_is_one_error_line_naming_out(tmp_path, capsys):
    (tmp_path / "data.npz").write_bytes(b"x")
    out = str(tmp_path / "data.npz" / "run")
    assert main(["train", *TINY, "--out", out]) == 2
    err = one_error(capsys)
    assert err.startswith(f"rnnlab train: error: --out: cannot create the run folder {out!r} (Not a directory)")
    assert (tmp_path / "data.npz").read_bytes() == b"x"


def test_a_full_disk_is_one_error_line(tmp_path, monkeypatch, capsys):
    def full(*args, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(training, "write_checkpoint", full)
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 2
    err = one_error(capsys)
    assert "--out: cannot write the run folder" in err and "No space left on device" in err


def test_relative_text_and_data_paths_are_stored_absolute(tmp_path, monkeypatch):
    (tmp_path / "corpus.txt").write_text("the quick brown fox jumps over the lazy dog. " * 40)
    monkeypatch.chdir(tmp_path)
    cfg = Config(task="text", text_path="corpus.txt", data_dir=".", seq_len=20, hidden=4, epochs=1,
                 batch_size=16)
    assert cfg.text_path == str(tmp_path / "corpus.txt") and cfg.data_dir == str(tmp_path)
    quiet(cfg, out="run", stop_after_steps=1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    header, _ = read_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert header["config"]["text_path"] == str(tmp_path / "corpus.txt")
    assert quiet(cfg, out=str(tmp_path / "run"), resume=True)["complete"]      # from another folder


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_an_empty_split_is_refused(tmp_path, split):
    """An empty split (e.g. a .mat file with an empty traindata) would train 0 steps and exit 0."""
    full = ArrayDataset(np.zeros((4, 3, 2), np.float32), np.zeros((4, 1), np.float32))
    empty = ArrayDataset(np.zeros((0, 3, 2), np.float32), np.zeros((0, 1), np.float32))
    splits = {s: (empty if s == split else full) for s in ("train", "valid", "test")}
    task = Task("mine", "regression", 2, 1, **splits, meta={"path": "/data/mine.mat"})
    with pytest.raises(ValueError, match=f"--task adding: the {split} split is empty \\(from /data/mine.mat\\)"):
        quiet(tiny(), out=str(tmp_path / "run"), task=task)
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_compare_twice_into_one_out_reuses_identical_runs_and_replaces_others(tmp_path, capsys):
    args = ["compare", "--models", "lstm", "--seeds", "1", "--jobs", "1", "--epochs", "1", "--T", "5",
            "--train-size", "64", "--hidden", "4", "--out", str(tmp_path)]
    assert main(args) == 0
    run = tmp_path / "runs" / "lstm-seed0"
    first = contents(run)
    table = (tmp_path / "compare.md").read_text().split("Total wall time")[0]
    capsys.readouterr()
    assert main(args) == 0                                          # make run, twice
    assert "reused" in capsys.readouterr().out
    assert contents(run) == first
    assert (tmp_path / "compare.md").read_text().split("Total wall time")[0] == table
    assert main(args[:-2] + ["--lr", "0.02", "--out", str(tmp_path)]) == 0     # another configuration
    header, _ = read_checkpoint(run / "checkpoint.npz")
    assert header["config"]["lr"] == 0.02
    assert json.loads((tmp_path / "compare.json").read_text())["runs"][0]["complete"]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1          # one run's log, not two


def test_divergence_stops_and_keeps_the_last_finite_checkpoint(tmp_path, monkeypatch):
    real, calls = training.batch_loss, []

    def loss_nan_at_step_4(kind, pred, batch):
        calls.append(1)
        loss, dout, count, extra = real(kind, pred, batch)
        return (float("nan") if len(calls) == 4 else loss), dout, count, extra
    monkeypatch.setattr(training, "batch_loss", loss_nan_at_step_4)
    out = tmp_path / "run"
    with pytest.raises(Diverged, match=r"epoch 2, step 4 \(batch 2 of 2\): the loss is nan; the checkpoint "
                                       r"of step 3 .* is kept"):
        quiet(tiny(checkpoint_every=1), out=str(out))
    header, arrays = read_checkpoint(out / "checkpoint.npz")
    assert header["state"]["step"] == 3
    assert all(np.isfinite(v).all() for v in arrays.values() if v.dtype.kind == "f")
    assert not (out / "model.npz").exists() and not (out / "metrics.json").exists()


def test_a_huge_learning_rate_diverges_with_one_error_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--optimizer", "sgd", "--lr", "1e30", "--clip", "0", "--out", str(out)]) == 2
    err = one_error(capsys)
    assert "training diverged at epoch 1, step" in err and "--lr" in err
    assert not (out / "model.npz").exists()
    if (out / "checkpoint.npz").exists():
        _, arrays = read_checkpoint(out / "checkpoint.npz")
        assert all(np.isfinite(v).all() for v in arrays.values() if v.dtype.kind == "f")


def test_a_non_finite_gradient_or_parameter_stops_the_run(tmp_path, monkeypatch):
    model_backward = training.Sequential.backward

    def inf_gradient(self, dout, cache):
        dx, grads = model_backward(self, dout, cache)
        next(iter(grads.values()))[...] = np.inf
        return dx, grads
    monkeypatch.setattr(training.Sequential, "backward", inf_gradient)
    with pytest.raises(Diverged, match=r"epoch 1, step 1 .*the gradient of '.*' is not finite; no checkpoint"):
        quiet(tiny(clip=0.0), out=str(tmp_path / "a"))
    with pytest.raises(Diverged, match="the gradient"):
        quiet(tiny(clip=1.0), out=str(tmp_path / "b"))


def write_npz(path, arrays, header):
    np.savez(path, **arrays, __state__=np.array(json.dumps(header)))


@pytest.fixture
def checkpoint(tmp_path):
    out = tmp_path / "run"
    quiet(tiny(), out=str(out), stop_after_steps=1)
    header, arrays = read_checkpoint(out / "checkpoint.npz")
    return out, header, arrays


@pytest.mark.parametrize("damage, words", [
    (lambda h, a: h.pop("config"), ["'__state__' config"]),
    (lambda h, a: h.pop("state"), ["'__state__' state"]),
    (lambda h, a: h["config"].update(hidden=5), ["has shape", "expects"]),
    (lambda h, a: h["config"].update(hidden=0), ["config does not validate", "hidden"]),
    (lambda h, a: h["config"].update(model="gru"), ["do not match the model built from its config"]),
    (lambda h, a: h["state"].update(bogus=1), ["state does not fit", "bogus"]),
    (lambda h, a: h["state"].update(step=-3), ["state 'step'"]),
    (lambda h, a: a.pop(next(k for k in a if k.startswith("param/"))), ["missing ['"]),
    (lambda h, a: a.pop("opt/t"), ["'opt/t'"]),
    (lambda h, a: a.update({"param/extra": np.zeros(3, np.float32)}), ["unexpected ['extra']"]),
    (lambda h, a: a.update({k: np.zeros(7, np.float32) for k in a if k.startswith("opt/m/")}), ["optimizer array"]),
    (lambda h, a: a.update({k: np.full_like(v, np.nan) for k, v in a.items() if k.startswith("best/")}),
     ["non-finite"]),
    (lambda h, a: h.update(dropout={"0": {}}), ["Dropout streams"]),
])
def test_a_mismatched_checkpoint_is_one_error_naming_it(checkpoint, damage, words, capsys):
    out, header, arrays = checkpoint
    damage(header, arrays)
    write_npz(out / "checkpoint.npz", arrays, header)
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 2
    err = one_error(capsys)
    assert str(out / "checkpoint.npz") in err
    for w in words:
        assert w in err


def test_a_truncated_checkpoint_is_one_error_naming_it(checkpoint, capsys):
    out, _, _ = checkpoint
    data = (out / "checkpoint.npz").read_bytes()
    (out / "checkpoint.npz").write_bytes(data[: len(data) // 2])
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 2
    assert str(out / "checkpoint.npz") in one_error(capsys)


TREES = ["(4 (3 (2 a) (4 great)) (3 (2 fun) (2 film)))", "(1 (2 the) (1 (1 bad) (2 story)))",
         "(3 (3 good) (2 fun))", "(0 (0 awful) (1 (2 the) (1 film)))", "(2 (2 the) (2 film))"]


@pytest.fixture
def sst(tmp_path):
    folder = tmp_path / "sst"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        (folder / f"{split}.txt").write_text("\n".join(TREES) + "\n")
    return folder


def sst_args(data, out, *extra):
    return ["train", "--task", "sst", "--model", "treelstm", "--hidden", "4", "--embed-dim", "4",
            "--batch-size", "2", "--epochs", "2", "--data-dir", str(data), "--out", str(out), *extra]


def test_sst_run_folder_rules(sst, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(sst_args(sst, out)) == 0
    first = contents(out)
    capsys.readouterr()
    assert main(sst_args(sst, out, "--lr", "0.01")) == 2
    err = one_error(capsys)
    assert "--out" in err and "--overwrite" in err
    assert contents(out) == first
    (out / ".tmp-0a1b-last.npz").write_bytes(b"half")
    assert main(sst_args(sst, out, "--lr", "0.01", "--overwrite")) == 0
    assert not list(out.glob(".tmp-*"))
    assert json.loads((out / "metrics.json").read_text())["settings"]["lr"] == 0.01
    assert (out / "train.log").read_text().count("settings") == 1         # the new run's log only
    lock = run_folder.acquire(str(out))
    try:
        capsys.readouterr()
        assert main(sst_args(sst, out, "--resume", "--epochs", "3")) == 2
        assert f"pid {os.getpid()}" in one_error(capsys)
    finally:
        run_folder.release(lock, str(out))


def test_sst_empty_splits_are_refused(sst, tmp_path, capsys):
    (sst / "dev.txt").write_text("")
    assert main(sst_args(sst, tmp_path / "run")) == 2
    assert "--data-dir: the SST dev split" in one_error(capsys)
    (sst / "dev.txt").write_text("\n".join(TREES) + "\n")
    (sst / "train.txt").write_text("(2 (2 the) (2 film))\n")
    assert main(sst_args(sst, tmp_path / "run", "--binary")) == 2
    assert "train split" in one_error(capsys)


def test_sst_divergence_stops_and_keeps_the_finite_checkpoints(sst, tmp_path, monkeypatch, capsys):
    from rnnlab.trees.model import TreeModel
    real, calls = TreeModel.loss_and_grads, []

    def nan_in_epoch_2(self, *args, **kw):
        calls.append(1)
        loss, x, grads = real(self, *args, **kw)
        return (float("nan") if len(calls) == 4 else loss), x, grads
    monkeypatch.setattr(TreeModel, "loss_and_grads", nan_in_epoch_2)
    out = tmp_path / "run"
    assert main(sst_args(sst, out)) == 2                   # 3 minibatches per epoch: the 4th is epoch 2's first
    err = capsys.readouterr().err.splitlines()[-1]
    assert "training diverged at epoch 2, minibatch 1 of 3: the loss is nan" in err
    assert not (out / "metrics.json").exists()
    from rnnlab.trees.saving import read
    header, params, _ = read(out / "last.npz")
    assert header["meta"]["epoch"] == 1 and all(np.isfinite(v).all() for v in params.values())


def test_train_says_when_nothing_is_saved_or_nothing_is_left_to_train(tmp_path, capsys):
    loud = [a for a in TINY if a != "--quiet"]
    assert main(["train", *loud]) == 0
    err = capsys.readouterr().err
    assert "rnnlab train: no --out: the trained model is not saved" in err
    out = str(tmp_path / "run")
    assert main(["train", *loud, "--out", out]) == 0
    assert "no --out" not in capsys.readouterr().err
    assert main(["train", "--out", out, "--resume", "--epochs", "1"]) == 0
    err = capsys.readouterr().err
    assert "--epochs 1: the run in --out has finished 2 epoch(s) already; nothing more to train" in err
    assert main(["train", "--out", out, "--resume", "--epochs", "3"]) == 0
    assert "nothing more to train" not in capsys.readouterr().err
    assert main(["train", *TINY]) == 0                                # --quiet: no notice
    assert capsys.readouterr().err == ""
