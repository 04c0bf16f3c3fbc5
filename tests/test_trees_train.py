"""Training tree models end to end on a tiny treebank; save/load; the sst command."""
import argparse
import json

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.trees import train
from rnnlab.trees.saving import load_model, read, save_model

POS = ["(4 (3 (2 a) (4 great)) (3 (2 fun) (2 film)))", "(3 (2 the) (3 (3 good) (2 story)))",
       "(4 (4 great) (3 (2 the) (4 film)))", "(3 (3 good) (2 fun))"]
NEG = ["(0 (1 (2 a) (0 awful)) (1 (2 dull) (2 film)))", "(1 (2 the) (1 (1 bad) (2 story)))",
       "(0 (0 awful) (1 (2 the) (1 film)))", "(1 (1 bad) (1 dull))"]
NEU = ["(2 (2 the) (2 film))", "(2 (2 a) (2 story))"]


@pytest.fixture
def sst_dir(tmp_path):
    folder = tmp_path / "sst"
    folder.mkdir()
    (folder / "train.txt").write_text("\n".join(POS + NEG + NEU) + "\n")
    (folder / "dev.txt").write_text("\n".join(POS[:2] + NEG[:2] + NEU[:1]) + "\n")
    (folder / "test.txt").write_text("\n".join(POS[2:] + NEG[2:] + NEU[1:] + ["(3 (2 unseen) (3 good))"]) + "\n")
    return folder


def args_for(data_dir, out, **kw):
    base = dict(task="sst", model="treelstm", hidden=8, layers=1, epochs=6, batch_size=4, lr=0.1,
                optimizer="adagrad", clip=5.0, seed=0, data_dir=str(data_dir), out=str(out), resume=False,
                metrics_json=str(out / "final.json"), max_minutes=None, embed_dim=8, dropout=0.0)
    base.update(kw)
    return argparse.Namespace(**base)


@pytest.mark.parametrize("cell", ["recursive", "treelstm", "childsum", "childsum-recursive"])
def test_training_lowers_the_loss_and_writes_metrics(sst_dir, tmp_path, cell):
    out = tmp_path / cell
    assert train.run(args_for(sst_dir, out, model=cell)) == 0
    metrics = json.loads((out / "final.json").read_text())
    losses = [row["train_loss"] for row in metrics["history"]]
    assert losses[-1] < 0.7 * losses[0]
    assert 0 <= metrics["test_accuracy_fine"] <= 1 and metrics["test_loss"] > 0
    assert "test_accuracy_binary_from_fine" in metrics and metrics["epochs_run"] == 6
    model, vocab, meta = load_model(out / "best.npz")
    assert model.config.cell == cell and meta["epoch"] == metrics["best_epoch"]


def test_binary_task_drops_neutral_sentences(sst_dir, tmp_path):
    out = tmp_path / "bin"
    assert train.run(args_for(sst_dir, out, binary=True, epochs=8)) == 0
    metrics = json.loads((out / "final.json").read_text())
    assert metrics["test_sentences"] == 5 and metrics["test_accuracy_binary"] >= 0.6
    assert load_model(out / "best.npz")[0].config.classes == 2


def test_resume_continues_where_it_stopped(sst_dir, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train.run(args_for(sst_dir, straight, epochs=4, dropout=0.3))
    train.run(args_for(sst_dir, split, epochs=2, dropout=0.3))
    train.run(args_for(sst_dir, split, epochs=4, dropout=0.3, resume=True))
    a, b = read(straight / "last.npz"), read(split / "last.npz")
    for k in a[1]:
        np.testing.assert_allclose(a[1][k], b[1][k], rtol=1e-6, atol=1e-7, err_msg=k)
    assert b[0]["meta"]["epoch"] == 4


def test_per_node_schedule_trains_the_same(sst_dir, tmp_path):
    train.run(args_for(sst_dir, tmp_path / "level", epochs=2, dropout=0.2))
    train.run(args_for(sst_dir, tmp_path / "node", epochs=2, dropout=0.2, tree_schedule="node"))
    a, b = read(tmp_path / "level" / "last.npz"), read(tmp_path / "node" / "last.npz")
    for k in a[1]:
        np.testing.assert_allclose(a[1][k], b[1][k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_bad_arguments_fail_with_their_names(sst_dir, tmp_path):
    with pytest.raises(ValueError, match="--model"):
        train.run(args_for(sst_dir, tmp_path / "run", model="lstm"))
    with pytest.raises(ValueError, match="--layers"):
        train.run(args_for(sst_dir, tmp_path / "run", layers=2))
    with pytest.raises(ValueError, match="--task"):
        train.run(args_for(sst_dir, tmp_path / "run", task="adding"))
    with pytest.raises(FileNotFoundError, match="data_dir"):
        train.run(args_for(tmp_path / "nowhere", tmp_path / "run"))
    with pytest.raises(FileNotFoundError, match="--resume"):
        train.run(args_for(sst_dir, tmp_path / "fresh", resume=True))
    with pytest.raises(ValueError, match="dropout"):
        train.run(args_for(sst_dir, tmp_path / "run", dropout=1.5))
    (sst_dir / "dev.txt").write_text("(3 (2 a) (2 b)\n")
    with pytest.raises(ValueError, match=r"dev.txt:1:1: unbalanced"):
        train.run(args_for(sst_dir, tmp_path / "run"))


def test_save_load_round_trip_and_bad_files(sst_dir, tmp_path):
    train.run(args_for(sst_dir, tmp_path / "r", epochs=1, lowercase=True))
    model, vocab, _ = load_model(tmp_path / "r" / "best.npz")
    assert vocab.lowercase
    save_model(tmp_path / "copy.npz", model, vocab, {"note": 1})
    again, vocab2, meta = load_model(tmp_path / "copy.npz")
    assert vocab2.words == vocab.words and vocab2.lowercase and meta == {"note": 1}
    for k in model.params:
        np.testing.assert_array_equal(model.params[k], again.params[k])
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_model(tmp_path / "junk.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="without the tree model header"):
        load_model(tmp_path / "plain.npz")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "none.npz")


def test_sst_command_prints_every_phrase(sst_dir, tmp_path, capsys):
    train.run(args_for(sst_dir, tmp_path / "r", epochs=3))
    capsys.readouterr()
    path = str(tmp_path / "r" / "best.npz")
    assert main(["sst", path, "a great film"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and lines[0].endswith("a great film") and lines[1].startswith("  ")
    assert main(["sst", path, "--tree", "(4 (3 good) (2 zzz))"]) == 0
    out = capsys.readouterr().out
    assert "gold very positive" in out and "(unknown word)" in out
    assert main(["sst", path, "--evaluate", "test", "--data-dir", str(sst_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["sentences"] == 6
    assert main(["sst", path, "--tree", "(4 (3 good) (2 ))"]) == 2
    assert "--tree:1:" in capsys.readouterr().err
    assert main(["sst", path]) == 2
    train.run(args_for(sst_dir, tmp_path / "b", epochs=1, binary=True))
    capsys.readouterr()
    assert main(["sst", str(tmp_path / "b" / "best.npz"), "not", "a", "good", "film"]) == 0
    assert capsys.readouterr().out.split()[1] in ("negative", "positive")
    assert main(["sst", str(tmp_path / "b" / "best.npz"), "--tree", "(2 (2 the) (4 film))"]) == 0
    assert "gold neutral  the film" in capsys.readouterr().out


def test_max_minutes_stops_early_and_still_tests(sst_dir, tmp_path):
    assert train.run(args_for(sst_dir, tmp_path / "r", epochs=50, max_minutes=1e-6)) == 0
    metrics = json.loads((tmp_path / "r" / "final.json").read_text())
    assert metrics["epochs_run"] == 1 and metrics["history"][0]["trees"] == 4     # one minibatch
    assert 0 <= metrics["test_accuracy_fine"] <= 1


def test_patience_stops_after_epochs_without_a_better_dev_accuracy(sst_dir, tmp_path):
    out = tmp_path / "r"
    assert train.run(args_for(sst_dir, out, epochs=40, patience=2)) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["epochs_run"] == m["best_epoch"] + 2 < 40
    assert [h["dev_root_accuracy"] for h in m["history"]][-2:] <= [m["dev_root_accuracy"]] * 2
    assert "early stopping" in (out / "train.log").read_text()


def test_a_finite_blow_up_stops_the_run_and_keeps_the_last_good_epoch(sst_dir, tmp_path, capsys):
    """The identity composition at lr 1.5: epoch 1 trains, epoch 2's first minibatch has a finite loss
    above 100 x ln 5 per node. The run stops naming the epoch; last.npz and best.npz hold epoch 1."""
    out = tmp_path / "r"
    argv = ["train", "--task", "sst", "--model", "childsum-recursive", "--nonlinearity", "identity", "--hidden", "8",
            "--batch-size", "4", "--lr", "1.5", "--dropout", "0", "--epochs", "4", "--data-dir", str(sst_dir),
            "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "diverged at epoch 2" in err and "above 100 x ln 5" in err and "--lr" in err
    assert "--hidden 50 --dropout 0.5 --emb-lr 0.1 --batch-size 10 --lowercase" in err
    header, params, _ = read(out / "last.npz")
    assert header["meta"]["epoch"] == 1 and all(np.isfinite(v).all() for v in params.values())
    assert read(out / "best.npz")[0]["meta"]["epoch"] == 1
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize("cell", ["recursive", "treelstm", "childsum", "childsum-recursive"])
def test_normal_runs_stay_far_below_the_divergence_bound(sst_dir, tmp_path, cell, monkeypatch):
    """Every minibatch's loss per labelled node, over 6 epochs at the recipe's lr 0.05 and at lr 0.1,
    stays under a tenth of the bound (the uniform prediction's ln 5 is 1.6, the bound 161)."""
    seen = []
    forward = train.TreeModel.loss_and_grads

    def recorded(self, batch, *a, **k):
        out = forward(self, batch, *a, **k)
        seen.append(out[0] * len(batch.roots) / (batch.labels >= 0).sum())
        return out
    monkeypatch.setattr(train.TreeModel, "loss_and_grads", recorded)
    for lr in (0.05, 0.1):
        assert train.run(args_for(sst_dir, tmp_path / f"{cell}-{lr}", model=cell, lr=lr, clip=0.0, dropout=0.5)) == 0
    assert len(seen) == 2 * 6 * 3 and max(seen) < train.loss_bound(5) / 10


@pytest.mark.parametrize("cell", ["recursive", "treelstm", "childsum", "childsum-recursive"])
def test_memory_estimate_counts_the_model_parameters(cell):
    """memory_needed's parameter terms match the arrays TreeModel builds (float32, Adagrad: one slot),
    for the parameters, their best copy, the accumulators and the dense gradients (not E's)."""
    cfg = train.TreeConfig(model=cell, hidden=6, embed_dim=None if "recursive" in cell else 4, dropout=0.0)
    model = train.TreeModel(train.TreeModelConfig(cell, 11, cfg.embed_dim, 6, 5), seed=0)
    need = train.memory_needed(cfg, vocab_size=11)
    sizes = {k: v.nbytes for k, v in model.params.items()}
    assert need["embedding"] == 3 * sizes["E"]
    assert need["cell"] == 4 * (sum(sizes.values()) - sizes["E"]) and need["batch"] == 0


def test_a_model_too_large_for_memory_is_refused_before_training(sst_dir, tmp_path, monkeypatch):
    """The check uses the vocabulary and the batches' leaves once the data is read; nothing is written."""
    import rnnlab.memory
    cfg = train.TreeConfig(model="childsum", hidden=8, embed_dim=10000)
    need = sum(train.memory_needed(cfg, 11).values())        # V = 11: the tiny treebank's words and <unk>
    monkeypatch.setattr(rnnlab.memory, "available_memory", lambda: need - 1)
    with pytest.raises(ValueError, match=r"--embed-dim: 10,000 needs at least .* vocabulary 11"):
        train.run(args_for(sst_dir, tmp_path / "r", model="childsum", hidden=8, embed_dim=10000))
    assert not (tmp_path / "r" / "train.log").exists() and not (tmp_path / "r" / "last.npz").exists()
    monkeypatch.setattr(rnnlab.memory, "available_memory", lambda: 10 * need)
    assert train.run(args_for(sst_dir, tmp_path / "ok", model="childsum", hidden=8, embed_dim=10000, epochs=1)) == 0


def tree_argv(sst_dir, out, *extra):
    return ["train", "--task", "sst", "--model", "childsum", "--hidden", "8", "--embed-dim", "8", "--batch-size",
            "4", "--dropout", "0.3", "--data-dir", str(sst_dir), "--out", str(out), *extra]


def test_resume_from_the_run_folder_alone_continues_a_tree_run(sst_dir, tmp_path, capsys):
    """``rnnlab train --out DIR --resume`` finds the tree run (last.npz) and ends where an unbroken run does."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(tree_argv(sst_dir, straight, "--epochs", "3")) == 0
    assert main(tree_argv(sst_dir, split, "--epochs", "1")) == 0
    assert main(["train", "--out", str(split), "--resume", "--epochs", "3", "--data-dir", str(sst_dir)]) == 0
    assert f"resumed from {split / 'last.npz'} after epoch 1" in capsys.readouterr().out
    a, b = read(straight / "last.npz"), read(split / "last.npz")
    assert b[0]["meta"]["epoch"] == 3 and b[0]["meta"]["settings"] == a[0]["meta"]["settings"]
    for k in a[1]:
        np.testing.assert_allclose(a[1][k], b[1][k], rtol=1e-6, atol=1e-7, err_msg=k)
    assert main(tree_argv(sst_dir, split, "--epochs", "4", "--resume")) == 0    # the same flags again: allowed


@pytest.mark.parametrize("extra, flag", [
    (["--hidden", "16"], "--hidden"), (["--lr", "0.2"], "--lr"), (["--model", "treelstm"], "--model"),
    (["--binary"], "--binary"), (["--dropout", "0.5"], "--dropout"), (["--embed-dim", "4"], "--embed-dim"),
    (["--task", "sst", "--hidden", "16"], "--hidden"), (["--task", "sst", "--lowercase"], "--lowercase")])
def test_tree_resume_refuses_a_different_configuration(sst_dir, tmp_path, capsys, extra, flag):
    out = tmp_path / "r"
    assert main(tree_argv(sst_dir, out, "--epochs", "1")) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--data-dir", str(sst_dir), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"rnnlab train: error: {flag}: --resume continues"), err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
