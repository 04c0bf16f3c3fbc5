"""Dropout: its gradient with a fixed mask, evaluation as the identity, the preserved mean in training,
bad rates, saving, the models train builds with it, the commands on such a model, and exact resume."""
import json

import numpy as np
import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.commands.sample import generate
from rnnlab.data import load_task
from rnnlab.gradcheck import check_entries
from rnnlab.layers.dropout import Dropout, dropout_backward, dropout_forward, dropout_mask
from rnnlab.metrics import evaluate
from rnnlab.models import LastStep, Sequential, clone, evaluation
from rnnlab.saving import load, read_meta, save
from rnnlab.train import Config, build_model

from conftest import assert_same_run, interrupted_and_full, run_quiet

EPS, TOL = 1e-6, 1e-7          # central differences in float64: O(eps^2) truncation, round-off ~1e-16 / eps


def tiny(**kw):
    base = dict(task="adding", T=6, train_size=96, hidden=5, layers=2, epochs=2, batch_size=32, lr=0.01,
                seed=3, dropout=0.3, patience=5)
    return Config(**{**base, **kw})


def test_pure_functions_gradcheck_with_a_fixed_mask():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 4))                                    # (N, T, F)
    s = dropout_mask(rng, x.shape, 0.4, np.float64)
    probe = rng.standard_normal(x.shape)
    y, cache = dropout_forward(x, s)
    np.testing.assert_array_equal(y, x * s)
    dx = dropout_backward(probe, cache)
    row = check_entries("x", x, dx, np.arange(x.size), lambda: float(np.sum(dropout_forward(x, s)[0] * probe)),
                        EPS, 1e-8)
    assert row.max_rel_err < TOL, row


def test_model_gradcheck_through_dropout_in_training_mode():
    """LSTM -> Dropout -> GRU -> Dropout -> Dense in float64, training mode, non-zero initial states,
    T = 5: every parameter, x and both initial states against central differences. Each loss
    evaluation restarts every Dropout's generator from its seed, so the masks stay fixed."""
    model = Sequential([rnnlab.LSTM(3, 4, dtype="float64", seed=1), Dropout(0.5, seed=2),
                        rnnlab.GRU(4, 4, dtype="float64", seed=3), Dropout(0.25, seed=4),
                        rnnlab.Dense(4, 2, dtype="float64", seed=5)]).train()
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 5, 3))
    h0, c0, g0 = (0.5 * rng.standard_normal((1, 3, 4)) for _ in range(3))
    states = [(h0, c0), None, g0, None, None]

    def forward():
        for layer in model.layers:
            if isinstance(layer, Dropout):
                layer.rng = np.random.default_rng(layer.seed)
        return model.forward(x, states=states)

    y, cache = forward()
    probe = rng.standard_normal(y.shape)
    dx, dstates0, grads = model.backward_states(probe, cache)
    assert np.count_nonzero(cache.caches[1].s == 0) > 0                   # some units are really dropped
    loss = lambda: float(np.sum(forward()[0] * probe))                    # noqa: E731
    checks = [(k, model.params[k], grads[k]) for k in model.params]
    checks += [("x", x, dx), ("h0", h0, dstates0[0][0]), ("c0", c0, dstates0[0][1]), ("g0", g0, dstates0[2])]
    for name, array, analytic in checks:
        row = check_entries(name, array, analytic, np.arange(array.size), loss, EPS, 1e-8)
        assert row.max_rel_err < TOL, row


def test_evaluation_is_the_identity():
    x = np.random.default_rng(0).standard_normal((4, 6, 5)).astype(np.float32)
    layer = Dropout(0.5, seed=0)
    assert not layer.training                                             # evaluation by default
    for _ in range(2):
        y, cache = layer.forward(x)
        np.testing.assert_array_equal(y, x)
        np.testing.assert_array_equal(layer.backward(2 * x, cache)[0], 2 * x)
        layer.train().eval()
    base = Sequential([rnnlab.GRU(5, 3, seed=1), LastStep(), rnnlab.Dense(3, 2, seed=2)])
    with_dropout = Sequential([clone(base[0]), LastStep(), Dropout(0.9, seed=3), clone(base[2])])
    np.testing.assert_array_equal(with_dropout.forward(x)[0], base.forward(x)[0])
    with_dropout.train()
    assert with_dropout[2].training and not np.array_equal(with_dropout.forward(x)[0], base.forward(x)[0])
    with evaluation(with_dropout):
        assert not with_dropout[2].training
        np.testing.assert_array_equal(with_dropout.forward(x)[0], base.forward(x)[0])
    assert with_dropout.training and with_dropout[2].training            # the mode outside is restored


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_training_keeps_the_mean(rate):
    """On 10^6 ones, mean(y) has standard deviation sqrt(p / (1 - p) / 10^6) <= 0.003 (p = 0.9), so a
    tolerance of 0.02 holds with margin, while any wrong scaling (none: mean 1 - p; by 1 / p: mean
    (1 - p) / p) is more than 0.09 away for these rates."""
    layer = Dropout(rate, seed=7).train()
    x = np.ones((1000, 1000), np.float32)
    y, cache = layer.forward(x)
    assert y.dtype == np.float32
    assert abs(y.mean() - 1.0) < 0.02
    assert abs((y == 0).mean() - rate) < 0.005                            # the fraction dropped is p
    np.testing.assert_allclose(np.unique(y), [0.0, 1.0 / (1.0 - rate)], rtol=1e-6)   # kept: x / (1 - p)
    dx, grads = layer.backward(x, cache)
    np.testing.assert_array_equal(dx, y)                                  # dx = dy * s, here dy = x
    assert grads == {}


def test_masks_are_fresh_each_step_and_follow_the_seed():
    x = np.ones((8, 50), np.float64)
    a, b = Dropout(0.5, seed=1).train(), Dropout(0.5, seed=1).train()
    ya1, ya2 = a.forward(x)[0], a.forward(x)[0]
    assert not np.array_equal(ya1, ya2)
    np.testing.assert_array_equal(b.forward(x)[0], ya1)
    np.testing.assert_array_equal(b.forward(x)[0], ya2)


def test_rate_zero_is_the_identity():
    x = np.random.default_rng(1).standard_normal((3, 4, 5))
    layer = Dropout(0.0, seed=0).train()
    y, cache = layer.forward(x)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(layer.backward(x, cache)[0], x)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.5", True, None])
def test_bad_rate_names_the_argument(rate):
    with pytest.raises(ValueError, match=r"rate: expected a number in \[0, 1\)"):
        Dropout(rate)
    with pytest.raises(ValueError, match=r"dropout: expected a number in \[0, 1\).*got"):
        tiny(dropout=rate)


def test_bad_seed_and_cache_name_the_argument():
    with pytest.raises(ValueError, match="seed: expected"):
        Dropout(0.5, seed=-1)
    with pytest.raises(ValueError, match="cache: expected the cache returned by Dropout.forward"):
        Dropout(0.5).backward(np.ones(3), None)


def test_cli_rejects_a_bad_dropout(capsys):
    assert main(["train", "--dropout", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "dropout" in err and "[0, 1)" in err and "1.0" in err


def test_save_load_round_trip(tmp_path):
    model = Sequential([rnnlab.LSTM(3, 4, seed=0), Dropout(0.2, seed=1), rnnlab.LSTM(4, 4, seed=2),
                        LastStep(), Dropout(0.5, seed=3), rnnlab.Dense(4, 2, seed=4)]).train()
    save(tmp_path / "m.npz", model)
    back = load(tmp_path / "m.npz")
    assert repr(back) == repr(model)
    assert [layer.config() for layer in back.layers if isinstance(layer, Dropout)] == \
           [{"rate": 0.2, "seed": 1}, {"rate": 0.5, "seed": 3}]
    assert not back.training and not back[1].training                     # a loaded model evaluates
    for k, v in model.params.items():
        np.testing.assert_array_equal(back.params[k], v)
    x = np.random.default_rng(5).standard_normal((2, 6, 3)).astype(np.float32)
    model.eval()
    np.testing.assert_array_equal(back.forward(x)[0], model.forward(x)[0])
    assert back.num_params() == model.num_params()
    assert clone(back)[4].config() == back[4].config()


def test_build_model_places_dropout_between_layers_and_before_the_head():
    task = load_task("adding", T=6, train_size=32, seed=0)
    kinds = lambda m: [layer.kind for layer in m.layers]                  # noqa: E731
    assert kinds(build_model(task, tiny(dropout=0.0))) == ["LSTM", "LastStep", "Dense"]      # as before
    assert build_model(task, tiny(dropout=0.0))[0].num_layers == 2
    model = build_model(task, tiny(dropout=0.3, layers=3, model="gru"))
    assert kinds(model) == ["GRU", "Dropout", "GRU", "Dropout", "GRU", "LastStep", "Dropout", "Dense"]
    assert all(layer.rate == 0.3 for layer in model.layers if isinstance(layer, Dropout))
    assert len({layer.seed for layer in model.layers if isinstance(layer, Dropout)}) == 3
    assert model.num_params() == build_model(task, tiny(dropout=0.0, layers=3, model="gru")).num_params()


def test_resume_with_dropout_equals_an_uninterrupted_run(tmp_path):
    """Stopped mid-epoch (step 2 of 3) and resumed: the Dropout streams come back from the checkpoint,
    so parameters, metrics and log equal one uninterrupted run; and dropout does change training."""
    cfg = tiny()
    done, full = interrupted_and_full(cfg, tmp_path, stop_after_steps=2)
    assert done["complete"] and done["steps"] == full["steps"] == 6
    assert_same_run(done, full)
    assert not full["model"].training                                     # returned in evaluation mode
    plain = run_quiet(tiny(dropout=0.0))
    assert plain["test"] != full["test"]


def test_commands_run_a_dropout_model_with_dropout_off(tmp_path, capsys):
    """train --dropout on text; then evaluation, evaluate (model file and checkpoint) and sample give
    what the same model without its Dropout layers gives, even when it is left in training mode;
    summary lists each Dropout with 0 parameters."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("to be or not to be " * 30)
    out = tmp_path / "char"
    assert main(["train", "--task", "text", "--text", str(corpus), "--seq-len", "16", "--hidden", "8",
                 "--layers", "2", "--dropout", "0.5", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    final = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    model = load(out / "model.npz").train()
    assert [layer.kind for layer in model.layers] == ["LSTM", "Dropout", "LSTM", "Dropout", "Dense"]
    plain = Sequential([layer for layer in model.layers if not isinstance(layer, Dropout)])
    task = load_task("text", text_path=str(corpus), seq_len=16, seed=0)
    test = evaluate(model, task.test, task.kind, 500)
    assert test == evaluate(plain, task.test, task.kind, 500) and test["loss"] == final["test_loss"]
    valid = evaluate(plain, task.valid, task.kind, 500)
    for path in ("model.npz", "checkpoint.npz"):                          # best and last: one epoch, the same
        assert main(["evaluate", str(out / path), "--split", "valid"]) == 0
        assert json.loads(capsys.readouterr().out)["valid_loss"] == valid["loss"]
    chars = read_meta(out / "model.npz")["task"]["chars"]
    expected = generate(plain, chars, "to ", 30, 0.8, seed=1)
    assert generate(model, chars, "to ", 30, 0.8, seed=1) == expected and model.training
    assert main(["sample", str(out / "model.npz"), "--prime", "to ", "--length", "30", "--seed", "1"]) == 0
    assert capsys.readouterr().out == "to " + expected + "\n"
    assert main(["summary", "--file", str(out / "model.npz"), "--no-torch"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert sum(row.split() == ["Dropout(rate=0.5)", "0"] for row in rows) == 2
