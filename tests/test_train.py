"""The training loop: resume equals an uninterrupted run exactly, early stopping, logs, metrics JSON,
and bad configurations."""
import json
import os

import numpy as np
import pytest

from rnnlab.data import load_task
from rnnlab.layers import Recurrent
from rnnlab.models import LastStep
from rnnlab.saving import load
from rnnlab.train import Config, build_model, task_args

from conftest import assert_same_run, run_quiet, without_seconds


def tiny(**kw):
    base = dict(task="adding", T=8, train_size=96, hidden=6, epochs=3, batch_size=32, lr=0.01, seed=4,
                schedule="cosine")
    return Config(**{**base, **kw})


@pytest.mark.parametrize("model, stop_at", [("lstm", 4), ("gru", 3), ("rnn", 7)])
def test_resume_continues_to_the_same_result(tmp_path, model, stop_at):
    """Interrupted mid-epoch (steps 4, 7) or at an epoch's end (step 3), then resumed: parameters,
    optimizer state and the metrics log equal those of one uninterrupted run."""
    cfg = tiny(model=model, patience=5)
    full = run_quiet(cfg, out=str(tmp_path / "full"))
    part = run_quiet(cfg, out=str(tmp_path / "part"), stop_after_steps=stop_at)
    assert not part["complete"] and part["steps"] == stop_at
    done = run_quiet(cfg, out=str(tmp_path / "part"), resume=True)
    assert done["complete"] and done["steps"] == full["steps"] == 9
    assert_same_run(done, full)
    log = [json.loads(s) for s in open(tmp_path / "part" / "metrics.jsonl")]
    assert without_seconds(log) == without_seconds(full["history"])
    ck_full = np.load(tmp_path / "full" / "checkpoint.npz")
    ck_part = np.load(tmp_path / "part" / "checkpoint.npz")
    for k in ck_full.files:
        if k.startswith("opt/"):
            np.testing.assert_array_equal(ck_full[k], ck_part[k])


def test_resume_can_extend_the_epochs(tmp_path):
    long = run_quiet(tiny(epochs=3), out=str(tmp_path / "a"))
    run_quiet(tiny(epochs=2), out=str(tmp_path / "b"))
    extended = run_quiet(tiny(epochs=3), out=str(tmp_path / "b"), resume=True)
    assert len(extended["history"]) == 3
    # the cosine schedule depends on the total epochs, so compare a constant-rate pair instead
    a = run_quiet(tiny(epochs=3, schedule="constant"), out=str(tmp_path / "c"))
    run_quiet(tiny(epochs=1, schedule="constant"), out=str(tmp_path / "d"))
    b = run_quiet(tiny(epochs=3, schedule="constant"), out=str(tmp_path / "d"), resume=True)
    for k, v in a["model"].params.items():
        np.testing.assert_array_equal(b["model"].params[k], v)
    assert long["steps"] == extended["steps"]


def test_training_learns_and_writes_its_run_folder(tmp_path):
    cfg = tiny(task="order", T=12, train_size=512, hidden=12, epochs=6, lr=0.02, model="gru")
    result = run_quiet(cfg, out=str(tmp_path))
    assert result["history"][-1]["valid_loss"] < result["history"][0]["valid_loss"]
    assert result["test"]["accuracy"] > 0.5                                  # chance is 0.25
    assert sorted(os.listdir(tmp_path)) == [".lock", "checkpoint.npz", "metrics.json", "metrics.jsonl", "model.npz"]
    final = json.load(open(tmp_path / "metrics.json"))
    assert final["test_loss"] == pytest.approx(result["test"]["loss"])
    assert final["test_accuracy"] == pytest.approx(result["test"]["accuracy"])
    model = load(tmp_path / "model.npz")
    batch = next(load_task("order", T=12, seed=4).test.batches(10))
    np.testing.assert_array_equal(model.forward(batch.x)[0], result["model"].forward(batch.x)[0])


def test_early_stopping_keeps_the_best_parameters():
    # a learning rate this large makes the validation loss rise after the first epoch
    result = run_quiet(tiny(epochs=8, lr=3.0, patience=2, clip=0, optimizer="sgd", schedule="constant",
                            model="rnn"))
    losses = [h["valid_loss"] for h in result["history"]]
    assert len(losses) < 8
    best = int(np.argmin(losses))
    assert len(losses) == best + 1 + 2 and result["best_epoch"] == best + 1
    assert result["valid"]["loss"] == pytest.approx(losses[best])


def test_per_step_tasks_train(tmp_path):
    result = run_quiet(Config(task="reber", train_size=64, hidden=8, epochs=1, batch_size=32, lr=0.01))
    assert 0 <= result["test"]["strings_correct"] <= 1
    result = run_quiet(Config(task="copy", T=5, train_size=64, hidden=8, epochs=1, batch_size=32))
    assert result["test"]["loss"] < 3.0


@pytest.mark.parametrize("field, value", [("model", "transformer"), ("hidden", 0), ("lr", -1.0),
                                          ("clip", -1.0), ("schedule", "linear"), ("batch_size", 2.5)])
def test_bad_config_names_the_argument(field, value):
    with pytest.raises(ValueError, match=field):
        Config(**{field: value})


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        run_quiet(tiny(), out=str(tmp_path), resume=True)
    (tmp_path / "checkpoint.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="checkpoint"):
        run_quiet(tiny(), out=str(tmp_path), resume=True)


def test_select_by_accuracy_keeps_the_most_accurate_epoch():
    # with these settings validation accuracy peaks (1.0) at epoch 5 while the loss keeps falling to epoch 6
    cfg = Config(task="order", T=12, train_size=128, hidden=8, epochs=6, batch_size=32, lr=0.1, seed=1,
                 select="accuracy")
    result = run_quiet(cfg)
    accs = [h["valid_accuracy"] for h in result["history"]]
    losses = [h["valid_loss"] for h in result["history"]]
    best = int(np.argmax(accs))                     # the first epoch with the highest accuracy
    assert best != int(np.argmin(losses))           # selection by loss would keep another epoch
    assert result["best_epoch"] == best + 1
    assert result["valid"]["accuracy"] == pytest.approx(accs[best])


def test_select_accuracy_needs_a_classification_task():
    with pytest.raises(ValueError, match="select"):
        run_quiet(tiny(select="accuracy"))
    with pytest.raises(ValueError, match="select"):
        Config(select="f1")


@pytest.mark.parametrize("model, dropout", [("lstm", 0.0), ("gru", 0.2)])
def test_bidirectional_reads_both_directions_and_resumes_exactly(tmp_path, model, dropout):
    cfg = tiny(model=model, bidirectional=True, layers=2, dropout=dropout)
    task = load_task(cfg.task, **task_args(cfg))
    net = build_model(task, cfg)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ([model.upper(), "LastStep", "Dense"] if not dropout else
                     [model.upper(), "Dropout", model.upper(), "LastStep", "Dropout", "Dense"])
    assert all(layer.bidirectional for layer in net.layers if isinstance(layer, Recurrent))
    last = next(layer for layer in net.layers if isinstance(layer, LastStep))
    assert last.directions == 2 and net.layers[-1].params["W"].shape == (12, 1)   # 2 directions x 6 units
    init = {k: v.copy() for k, v in net.params.items()}
    full = run_quiet(cfg, out=str(tmp_path / "full"))
    moved = [k for k in init if "_reverse." in k and not np.array_equal(init[k], full["model"].params[k])]
    assert moved                                                   # the reverse direction is trained
    run_quiet(cfg, out=str(tmp_path / "part"), stop_after_steps=4)
    assert_same_run(run_quiet(cfg, out=str(tmp_path / "part"), resume=True), full)


def test_bidirectional_needs_a_per_sequence_task():
    with pytest.raises(ValueError, match="bidirectional: needs a per-sequence task"):
        run_quiet(Config(task="copy", T=5, train_size=64, hidden=4, epochs=1, bidirectional=True))
    with pytest.raises(ValueError, match="bidirectional: expected True or False, got 'yes'"):
        Config(bidirectional="yes")
