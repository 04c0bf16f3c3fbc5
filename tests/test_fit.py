"""rnnlab.fit: the same core as rnnlab.train.train (bit for bit), exact resume, each input form learns
a synthetic task with a known answer, predict / evaluate, and a head that does not fit the targets."""
import re
import json

import numpy as np
import pytest

import rnnlab
from rnnlab import GRU, LSTM, Dense, Dropout, Embedding
from rnnlab.data import load_task
from rnnlab.data.dataset import ArrayDataset, Task
from rnnlab.models import LastStep, Sequential
from rnnlab.train import Config, build_model, train

from conftest import without_seconds


def quiet_fit(model, x, y, **kw):
    return rnnlab.fit(model, x, y, progress=False, **kw)


def classifier(D=3, H=16, C=2, cell=LSTM, seed=0):
    return Sequential([cell(D, H, seed=seed), LastStep(), Dense(H, C, seed=seed + 1)])


def sign_task(rng, N=320, T=10, D=3):
    """y = [sum_t x[t, 0] > 0]: the answer needs the whole sequence."""
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    return x, (x[:, :, 0].sum(1) > 0).astype(np.int64)


def test_fit_on_a_builtin_tasks_arrays_equals_train():
    """The order task's fixed splits handed to fit as plain arrays give, bit for bit, the parameters
    and the metrics log of rnnlab.train.train on the same task with the same settings."""
    order = load_task("order", T=10, seed=5)
    (xtr, ytr), (xv, yv) = (order.valid.x, order.valid.y), (order.test.x, order.test.y)
    task = Task("order", "classify", order.input_size, order.output_size, ArrayDataset(xtr, ytr),
                ArrayDataset(xv, yv), ArrayDataset(xv, yv))
    cfg = Config(task="order", model="gru", hidden=8, epochs=3, batch_size=32, lr=0.01, seed=2,
                 schedule="cosine", patience=2, eval_batch_size=256)
    ref = train(cfg, task=task, progress=False, echo=lambda *a: None)
    model = build_model(task, cfg)
    hist = quiet_fit(model, xtr, ytr, validation_data=(xv, yv), epochs=3, batch_size=32, lr=0.01, seed=2,
                     schedule="cosine", patience=2)
    assert hist.best_epoch == ref["best_epoch"] and hist.complete
    for k, v in ref["model"].params.items():
        np.testing.assert_array_equal(model.params[k], v)
    assert without_seconds(hist.log) == without_seconds(ref["history"])
    assert hist.history["valid_loss"] == [line["valid_loss"] for line in ref["history"]]


@pytest.mark.parametrize("stop_at", [4, 10, 14])
def test_resume_after_an_interruption_is_exact(tmp_path, stop_at):
    """Stopped mid-epoch (steps 4 and 14) or after an epoch's last batch (step 10, before its
    validation), then resumed into a fresh model of
    the same architecture (with Dropout, whose stream the checkpoint carries): the same parameters,
    log and run folder as one uninterrupted run."""
    rng = np.random.default_rng(0)
    x, y = sign_task(rng, N=200, T=6)
    make = lambda: Sequential([GRU(3, 8, seed=1), Dropout(0.3, seed=2), LastStep(), Dense(8, 2, seed=3)])  # noqa: E731
    kw = dict(validation_split=0.2, epochs=3, batch_size=16, lr=0.01, seed=7)
    full_model = make()
    full = quiet_fit(full_model, x, y, out=str(tmp_path / "full"), **kw)
    part = quiet_fit(make(), x, y, out=str(tmp_path / "part"), stop_after_steps=stop_at, **kw)
    assert not part.complete and len(part.log) == (stop_at > 10)     # 10 batches per epoch
    model = make()
    done = quiet_fit(model, x, y, out=str(tmp_path / "part"), resume=True, **kw)
    assert done.complete
    for k, v in full_model.params.items():
        np.testing.assert_array_equal(model.params[k], v)
    assert without_seconds(done.log) == without_seconds(full.log)
    log = [json.loads(s) for s in open(tmp_path / "part" / "metrics.jsonl")]
    assert without_seconds(log) == without_seconds(full.log)
    back = rnnlab.saving.load(tmp_path / "part" / "model.npz")
    np.testing.assert_array_equal(back.forward(x[:5])[0], model.forward(x[:5])[0])


def trivial_ce(y, C):
    """Cross-entropy of the best constant predictor: the entropy of the class frequencies."""
    p = np.bincount(y.ravel(), minlength=C) / y.size
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def test_dense_arrays_learn():
    x, y = sign_task(np.random.default_rng(1))
    hist = quiet_fit(classifier(), x, y, validation_split=0.25, epochs=8, lr=0.01)
    assert hist.history["valid_loss"][-1] < 0.5 * trivial_ce(y, 2)
    assert hist.valid["accuracy"] > 0.85


def test_ragged_list_learns_and_matches_padded_arrays():
    """A list of (T_i, D) sequences: y = [sum of feature 0 > 0] over each sequence's own steps."""
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((int(rng.integers(3, 13)), 2)).astype(np.float32) for _ in range(320)]
    y = np.array([int(s[:, 0].sum() > 0) for s in xs])
    hist = quiet_fit(classifier(D=2), xs, y, validation_split=0.25, epochs=8, lr=0.01)
    assert hist.history["valid_loss"][-1] < 0.5 * trivial_ce(y, 2)
    # the same data as a padded array with lengths (and garbage in the padding) trains identically
    lengths = np.array([len(s) for s in xs])
    padded = np.full((320, lengths.max(), 2), np.nan, np.float32)
    for i, s in enumerate(xs):
        padded[i, :len(s)] = s
    a, b = classifier(D=2), classifier(D=2)
    ha = quiet_fit(a, xs, y, validation_split=0.25, epochs=2, lr=0.01)
    hb = quiet_fit(b, padded, y, lengths=lengths, validation_split=0.25, epochs=2, lr=0.01)
    assert without_seconds(ha.log) == without_seconds(hb.log)
    for k, v in a.params.items():
        np.testing.assert_array_equal(b.params[k], v)


def test_token_ids_learn():
    """Integer ids (N, T) through an Embedding: y = [token 3 occurs in the sequence]."""
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 8, (400, 8))
    y = (ids == 3).any(1).astype(np.int64)
    model = Sequential([Embedding(8, 8, seed=0), LSTM(8, 16, seed=1), LastStep(), Dense(16, 2, seed=2)])
    hist = quiet_fit(model, ids, y, validation_split=0.25, epochs=10, lr=0.02)
    assert hist.history["valid_loss"][-1] < 0.4 * trivial_ce(y, 2)


def test_ragged_token_ids_per_step_classes_learn():
    """A list of id sequences with one class per step: y_t = ids_{t-1} (echo the previous token), a
    memory of one step."""
    rng = np.random.default_rng(4)
    seqs = [rng.integers(0, 5, int(rng.integers(4, 10))) for _ in range(300)]
    ys = [np.concatenate([[0], s[:-1]]) for s in seqs]
    model = Sequential([Embedding(5, 8, seed=0), GRU(8, 16, seed=1), Dense(16, 5, seed=2)])
    hist = quiet_fit(model, seqs, ys, validation_split=0.2, epochs=10, lr=0.02)
    assert hist.kind == "classify_steps"
    assert hist.history["valid_loss"][-1] < 0.3 * trivial_ce(np.concatenate(ys), 5)
    assert hist.valid["accuracy"] > 0.9


def test_multilabel_steps_learn():
    """0/1 labels per step (N, T, K): y[t, k] = [x[t - 1, k] > 0]."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 8, 3)).astype(np.float32)
    y = np.zeros((300, 8, 3), np.float32)
    y[:, 1:] = x[:, :-1] > 0
    model = Sequential([LSTM(3, 16, seed=0), Dense(16, 3, seed=1)])
    hist = quiet_fit(model, x, y, validation_split=0.2, epochs=10, lr=0.02)
    assert hist.kind == "multilabel_steps"
    trivial = 3 * np.log(2)                   # summed over the 3 labels, each p = 1/2
    assert hist.history["valid_loss"][-1] < 0.4 * trivial


def test_regression_learns():
    """y = the mean of feature 0 over the sequence: the trivial predictor's MSE is var(y)."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((400, 8, 2)).astype(np.float32)
    y = x[:, :, 0].mean(1)
    model = Sequential([LSTM(2, 16, seed=0), LastStep(), Dense(16, 1, seed=1)])
    hist = quiet_fit(model, x, y, validation_split=0.2, epochs=12, lr=0.01)
    assert hist.kind == "regression"
    assert hist.history["valid_loss"][-1] < 0.2 * y.var()


def test_predict_keeps_the_order_and_equals_forward():
    rng = np.random.default_rng(7)
    x, _ = sign_task(rng, N=23, T=5)
    model = Sequential([LSTM(3, 6, seed=0), Dropout(0.5, seed=1), LastStep(), Dense(6, 4, seed=2)])
    model.train()                                          # predict runs in evaluation mode anyway
    out = rnnlab.predict(model, x, batch_size=5)
    assert model.training
    model.eval()
    np.testing.assert_array_equal(out, model.forward(x)[0])
    reverse = rnnlab.predict(model, x[::-1], batch_size=4)
    np.testing.assert_allclose(reverse[::-1], out, rtol=0, atol=1e-6)
    proba = rnnlab.predict_proba(model, x)
    np.testing.assert_allclose(proba.sum(-1), 1, atol=1e-6)
    np.testing.assert_array_equal(proba.argmax(-1), out.argmax(-1))


def test_predict_proba_refuses_a_single_output_head_without_multilabel():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 4, 2)).astype(np.float32)
    model = Sequential([GRU(2, 5, seed=0), LastStep(), Dense(5, 1, seed=1)])
    with pytest.raises(ValueError, match="predict_proba: the model has one output.*use predict.*multilabel=True"):
        rnnlab.predict_proba(model, x)
    with pytest.raises(ValueError, match="predict_proba: the model has one output"):
        model.predict_proba(x)
    proba = rnnlab.predict_proba(model, x, multilabel=True)      # one logit: its sigmoid
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-rnnlab.predict(model, x))), rtol=1e-6)


def test_predict_on_a_list_gives_each_sequence_its_own_steps():
    rng = np.random.default_rng(8)
    xs = [rng.standard_normal((n, 2)).astype(np.float32) for n in (3, 7, 1, 5, 4)]
    model = Sequential([GRU(2, 5, seed=0), Dense(5, 3, seed=1)])
    outs = rnnlab.predict(model, xs, batch_size=2)
    assert [o.shape for o in outs] == [(3, 3), (7, 3), (1, 3), (5, 3), (4, 3)]
    for s, o in zip(xs, outs):
        np.testing.assert_allclose(o, model.forward(s[None])[0][0], rtol=0, atol=1e-6)


def test_evaluate_gives_the_logged_metrics():
    rng = np.random.default_rng(9)
    x, y = sign_task(rng, N=100, T=5)
    xv, yv = sign_task(rng, N=40, T=5)
    model = classifier()
    hist = quiet_fit(model, x, y, validation_data=(xv, yv), epochs=2, lr=0.01)
    assert rnnlab.evaluate(model, xv, yv) == hist.valid
    best = hist.log[hist.best_epoch - 1]
    assert rnnlab.evaluate(model, xv, yv)["loss"] == best["valid_loss"]


def test_callbacks_see_every_epoch_and_can_stop():
    x, y = sign_task(np.random.default_rng(10), N=64, T=4)
    seen = []
    hist = quiet_fit(classifier(), x, y, epochs=5, callbacks=[lambda line: seen.append(line["epoch"]),
                                                            lambda line: line["epoch"] < 2])
    assert seen == [1, 2] and len(hist.log) == 2


def test_a_head_that_does_not_fit_the_targets_is_refused():
    x, y = sign_task(np.random.default_rng(11), N=20, T=4)
    with pytest.raises(ValueError, match=r"y: class id 2 at index \(5,\) is out of range for the model's 2 outputs"):
        y3 = y.copy()
        y3[5] = 2
        quiet_fit(classifier(C=2), x, y3)
    with pytest.raises(ValueError, match="put LastStep"):
        quiet_fit(Sequential([LSTM(3, 4), Dense(4, 2)]), x, y)
    with pytest.raises(ValueError, match="remove LastStep"):
        quiet_fit(classifier(), x, np.zeros((20, 4), np.int64))
    with pytest.raises(ValueError, match=r"the last layer gives 2 outputs per sequence, but y has 1 target each "
                                         r"\(y is read as real-valued targets, one each: regression; class ids need "
                                         r"integer y"):
        quiet_fit(classifier(), x, y.astype(np.float32) + 0.5)
    with pytest.raises(ValueError, match=r"y: float values are read as regression .* y.astype\(int\)"):
        quiet_fit(classifier(), x, y.astype(np.float32))
    with pytest.raises(ValueError, match="integer token ids need a model whose first layer is an Embedding"):
        quiet_fit(classifier(), np.zeros((20, 4), np.int64), y)
    with pytest.raises(ValueError, match=r"x: expected token ids in \[0, 4\)"):
        quiet_fit(Sequential([Embedding(4, 3), LSTM(3, 4), LastStep(), Dense(4, 2)]), np.full((20, 4), 4), y)
    with pytest.raises(ValueError, match="loss: expected one of"):
        quiet_fit(classifier(), x, y, loss="hinge")


def test_importing_rnnlab_does_not_import_the_trainer():
    import subprocess
    import sys
    code = "import sys, rnnlab; assert 'rnnlab.train' not in sys.modules; rnnlab.fit; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_sequential_predict_methods_equal_the_functions():
    rng = np.random.default_rng(3)
    model = Sequential([rnnlab.LSTM(3, 5, seed=0), LastStep(), rnnlab.Dense(5, 4, seed=1)])
    x = rng.standard_normal((7, 6, 3)).astype(np.float32)
    ragged = [x[i, : 2 + i % 4] for i in range(7)]
    np.testing.assert_array_equal(model.predict(x, batch_size=3), rnnlab.predict(model, x, batch_size=3))
    np.testing.assert_array_equal(model.predict(ragged), rnnlab.predict(model, ragged))
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(proba.argmax(1), model.predict(x).argmax(1))


def test_inputs_of_another_width_are_named_with_the_shape_given():
    """predict, evaluate and fit compare the inputs' features per step with the model's input_size
    and show the shape as given: a 2-D array (read as (N, T), one feature a step) and a whole x, not
    the (N, T, 1) it became or a two-row batch of it."""
    model = Sequential([LSTM(3, 4, seed=0), LastStep(), Dense(4, 2)])
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^x: expected 3 features per step .* got shape \(6, 3\) \(a 2-D array"):
        rnnlab.predict(model, rng.random((6, 3)).astype(np.float32))
    x5, y = rng.random((20, 6, 5)).astype(np.float32), np.arange(20) % 2
    with pytest.raises(ValueError, match=r"^x: expected 3 features per step .* got shape \(20, 6, 5\)$"):
        rnnlab.evaluate(model, x5, y)
    with pytest.raises(ValueError, match=r"^x: expected 3 features per step .* got shape \(20, 6, 5\)$"):
        rnnlab.fit(model, x5, y, epochs=1)
    with pytest.raises(ValueError, match=r"^x: expected 3 features per step .* got sequences of 2 feature"):
        rnnlab.predict(model, [rng.random((4, 2)).astype(np.float32)])
    assert rnnlab.predict(model, rng.random((2, 6, 3)).astype(np.float32)).shape == (2, 2)


def test_one_hot_y_is_refused_with_the_class_ids_to_pass():
    """Keras' one-hot targets would train a regression on 0s and 1s without a word: refused, pointing at
    y.argmax(1); loss='mse' still fits them as numbers."""
    rng = np.random.default_rng(0)
    x, ids = rng.random((20, 6, 3)).astype(np.float32), np.arange(20) % 2
    model = Sequential([LSTM(3, 4, seed=0), LastStep(), Dense(4, 2)])
    with pytest.raises(ValueError, match=r"^y: shape \(20, 2\) of 0s and 1s .* looks one-hot .* y.argmax\(1\)"):
        quiet_fit(model, x, np.eye(2)[ids], epochs=1)
    assert quiet_fit(model, x, np.eye(2)[ids], epochs=1, loss="mse").kind == "regression"
    assert quiet_fit(model, x, ids, epochs=1).kind == "classify"


def test_fit_names_its_own_arguments_for_a_used_run_folder(tmp_path):
    rng = np.random.default_rng(11)
    x, y = sign_task(rng, N=24, T=4)
    out = str(tmp_path / "run")
    first = quiet_fit(classifier(H=4), x, y, epochs=1, out=out)
    with pytest.raises(ValueError, match=r"^out: .* already holds a run .*continue it with resume=True or "
                                         r"replace it with overwrite=True$"):
        quiet_fit(classifier(H=4), x, y, epochs=1, out=out)
    with pytest.raises(ValueError, match="overwrite=True: cannot be combined with resume=True"):
        quiet_fit(classifier(H=4), x, y, epochs=1, out=out, resume=True, overwrite=True)
    with pytest.raises(FileNotFoundError, match=r"resume=True: no run folder at .*nothere"):
        quiet_fit(classifier(H=4), x, y, epochs=1, out=str(tmp_path / "nothere"), resume=True)
    again = quiet_fit(classifier(H=4, seed=5), x, y, epochs=2, out=out, overwrite=True)
    assert len(again.history["train_loss"]) == 2 and len(first.history["train_loss"]) == 1
    with pytest.raises(ValueError, match=r"^resume=True: checkpoint .*'param/0.l0.W' has shape \(3, 16\), the model "
                                         r"given expects \(3, 20\)$"):               # another model than the run's
        quiet_fit(classifier(H=5), x, y, epochs=3, out=out, resume=True)
    with open(tmp_path / "run" / "checkpoint.npz", "r+b") as f:                     # damaged
        f.truncate(100)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"^resume=True: no checkpoint at .*empty.*\(fit with out= first\)"):
        quiet_fit(classifier(H=4), x, y, epochs=1, out=str(empty), resume=True)
    with pytest.raises(ValueError, match=r"checkpoint\.npz: not a readable \.npz file") as err:
        quiet_fit(classifier(H=4), x, y, epochs=3, out=out, resume=True)
    assert "--resume" not in str(err.value)


def test_fit_shows_no_progress_bar_in_a_log_file_by_default(tmp_path):
    import subprocess
    import sys
    script = ("import numpy as np, rnnlab\n"
              "from rnnlab.models import Sequential, LastStep\n"
              "x = np.random.default_rng(0).standard_normal((40, 4, 3)).astype(np.float32)\n"
              "y = (x[:, :, 0].sum(1) > 0).astype(int)\n"
              "m = Sequential([rnnlab.LSTM(3, 4, seed=0), LastStep(), rnnlab.Dense(4, 2, seed=1)])\n"
              "rnnlab.fit(m, x, y, epochs=2, batch_size=8)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "it/s" not in done.stderr      # stderr is a pipe here: no bar
    assert done.stdout.count("epoch") >= 2                             # the epoch lines are printed


def test_resume_refuses_other_data_or_settings_and_says_when_nothing_is_left(tmp_path, capsys):
    """fit(resume=True) continues the run with the data and settings it started with: other arrays or
    another setting are refused by name (the resumed run trained on them, or ignored them, without a
    word); epochs may grow; an epochs already reached is said on stderr."""
    rng = np.random.default_rng(3)
    x, y = sign_task(rng, N=24, T=4)
    out = str(tmp_path / "run")
    quiet_fit(classifier(H=4), x, y, epochs=1, out=out)
    with pytest.raises(ValueError, match=r"^x, y: the run in out=.* was trained on other data"):
        quiet_fit(classifier(H=4), x[:20], y[:20], epochs=2, out=out, resume=True)
    with pytest.raises(ValueError, match=r"^x, y: the run in out=.* was trained on other data"):
        quiet_fit(classifier(H=4), x, y, epochs=2, out=out, resume=True, validation_split=0.25)
    for name, value, was in (("lr", 0.5, 0.001), ("batch_size", 4, 32), ("optimizer", "sgd", "adam"),
                             ("patience", 3, None), ("seed", 1, 0)):
        with pytest.raises(ValueError, match=re.escape(f"{name}: the run in out={out!r} started with {name}={was!r}, "
                                                       f"this call gives {value!r}")):
            quiet_fit(classifier(H=4), x, y, epochs=2, out=out, resume=True, **{name: value})
    with pytest.raises(ValueError, match="^overwrite=True: cannot be combined with resume=True"):   # not the data
        quiet_fit(classifier(H=4), x[:20], y[:20], epochs=2, out=out, resume=True, overwrite=True)
    with pytest.raises(ValueError, match=r"^resume=True: needs the run folder \(out\)"):
        quiet_fit(classifier(H=4), x, y, epochs=2, resume=True)
    capsys.readouterr()
    rnnlab.fit(classifier(H=4), x, y, epochs=1, out=out, resume=True, progress=None)
    assert "epochs=1: the run in out=" in capsys.readouterr().err
    assert len(quiet_fit(classifier(H=4), x, y, epochs=2, out=out, resume=True).history["train_loss"]) == 2



def test_fit_refuses_to_resume_a_run_the_command_made(tmp_path):
    """A run folder made by rnnlab train: fit(resume=True) points at rnnlab train --resume (it trained the
    command's run on the arrays given, whatever they were)."""
    from rnnlab.cli import main
    x, y = sign_task(np.random.default_rng(5), N=24, T=4)
    data, out = tmp_path / "d.npz", tmp_path / "run"
    np.savez(data, x=x, y=y)
    assert main(["train", "--data", str(data), "--hidden", "4", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    before = (out / "checkpoint.npz").read_bytes()
    with pytest.raises(ValueError, match=r"^resume=True: the run in out=.* was made by rnnlab train \(--task data\)"):
        quiet_fit(classifier(H=4), x[:5], y[:5], epochs=3, out=str(out), resume=True)
    assert (out / "checkpoint.npz").read_bytes() == before


def test_fit_and_evaluate_refuse_an_empty_out_and_a_zero_batch():
    x, y = sign_task(np.random.default_rng(6), N=8, T=3)
    with pytest.raises(ValueError, match=r"^out: expected a folder path \(or None to save nothing\), got ''"):
        quiet_fit(classifier(H=4), x, y, epochs=1, out="")
    with pytest.raises(ValueError, match=r"^batch_size: expected a positive integer, got 0"):
        rnnlab.evaluate(classifier(H=4), x, y, batch_size=0)


def test_a_resume_with_nothing_to_train_rewrites_no_file(tmp_path):
    """fit(resume=True) with epochs already reached leaves every file of the run as it was (model.npz was
    rewritten with the smaller epochs in its recorded config), and the model gets the run's best
    parameters; a larger epochs trains on."""
    x, y = sign_task(np.random.default_rng(7), N=16, T=3)
    out = tmp_path / "run"
    quiet_fit(classifier(H=4), x, y, epochs=2, out=str(out))
    files = sorted(p for p in out.iterdir() if not p.name.startswith("."))
    kept = {p.name: p.read_bytes() for p in files}
    model = classifier(H=4, seed=9)
    assert quiet_fit(model, x, y, epochs=1, out=str(out), resume=True).complete
    assert {p.name: p.read_bytes() for p in files} == kept
    saved = rnnlab.saving.load(out / "model.npz")
    assert all(np.array_equal(model.params[k], saved.params[k]) for k in saved.params)
    assert len(quiet_fit(classifier(H=4), x, y, epochs=3, out=str(out), resume=True).history["train_loss"]) == 3


def test_resume_compares_values_not_containers_and_names_the_seed():
    """The same values as float64 or a list resume; another seed is named before the data it redraws."""
    import tempfile
    x, y = sign_task(np.random.default_rng(8), N=16, T=3)
    with tempfile.TemporaryDirectory() as out:
        quiet_fit(classifier(H=4), x, y, epochs=1, out=out, validation_split=0.25)
        assert len(quiet_fit(classifier(H=4), x.astype(np.float64), y, epochs=2, out=out, resume=True,
                             validation_split=0.25).history["train_loss"]) == 2
        assert len(quiet_fit(classifier(H=4), list(x), list(y), epochs=3, out=out, resume=True,
                             validation_split=0.25).history["train_loss"]) == 3
        with pytest.raises(ValueError, match=r"^seed: the run in out=.* started with seed=0, this call gives 5"):
            quiet_fit(classifier(H=4), x, y, epochs=4, out=out, resume=True, validation_split=0.25, seed=5)
