"""Parameter counts of the row-by-row MNIST LSTM and the 100-300-10 MLP, Sequential / LastStep / mlp, and the command line."""
import subprocess
import sys

import numpy as np
import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.models import LastStep, Sequential, clone, mlp
from rnnlab.summary import summary, torch_param_count

from conftest import rel_err


def test_row_by_row_mnist_model_counts():
    model = Sequential([rnnlab.LSTM(28, 128), LastStep(), rnnlab.Dense(128, 10)])
    assert [l.num_params() for l in model.layers] == [80384, 0, 1290]
    assert model.num_params() == 81674
    assert torch_param_count(model.layers[0]) == 80896
    text = summary(model)
    for s in ["80,384", "1,290", "81,674", "80,896", "(28 + 128) x 512 weights + 512 biases", "b_ih, b_hh"]:
        assert s in text
    assert mlp([100, 300, 10]).num_params() == 33310


def test_torch_counts_equal_real_torch_modules():
    from conftest import require_torch
    torch = require_torch()
    for ours, theirs in [(rnnlab.GRU(5, 7, num_layers=2, bidirectional=True), torch.nn.GRU(5, 7, 2, bidirectional=True)),
                         (rnnlab.RNN(5, 7), torch.nn.RNN(5, 7)),
                         (rnnlab.LSTM(28, 128), torch.nn.LSTM(28, 128))]:
        assert torch_param_count(ours) == sum(p.numel() for p in theirs.parameters())
    assert torch_param_count(rnnlab.GRU(5, 7, reset_after=False)) is None


def test_last_step_picks_each_final_state():
    rng = np.random.default_rng(0)
    layer = rnnlab.LSTM(3, 4, bidirectional=True, dtype="float64", seed=0)
    model = Sequential([layer, LastStep()])
    x = rng.standard_normal((3, 6, 3))
    lengths = np.array([6, 2, 4])
    y, cache = model.forward(x, lengths)
    h = cache.states[0][0]                        # (2, N, H): final h of both directions
    np.testing.assert_allclose(y, np.concatenate([h[0], h[1]], axis=1), rtol=0, atol=1e-15)


def test_mlp_is_the_notes_network():
    net = mlp([100, 300, 10])
    assert [(l.input_size, l.output_size, l.activation) for l in net.layers] == [(100, 300, "sigmoid"), (300, 10, "sigmoid")]
    x = np.random.default_rng(0).standard_normal((5, 100)).astype(np.float32)
    y, cache = net.forward(x)
    assert y.shape == (5, 10) and np.all((y > 0) & (y < 1))
    dx, grads = net.backward(np.ones_like(y), cache)
    assert dx.shape == x.shape and set(grads) == set(net.params)


def test_per_step_head_and_clone():
    model = Sequential([rnnlab.GRU(3, 4, seed=0), rnnlab.Dense(4, 2, seed=1)])
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    y, _ = model.forward(x)
    assert y.shape == (2, 5, 2)
    copy = clone(model, "float64")
    y64, _ = copy.forward(x.astype(np.float64))
    assert y64.dtype == np.float64 and rel_err(y, y64) < 1e-5
    copy.params["0.l0.W"][...] = 0                  # a clone does not share arrays
    assert np.abs(model.params["0.l0.W"]).sum() > 0


def test_cli_summary(capsys):
    assert main(["summary", "lstm:28:128", "dense:128:10"]) == 0
    out = capsys.readouterr().out
    assert "81,674" in out and "80,896" in out
    assert main(["summary", "--mlp", "100,300,10"]) == 0
    assert "33,310" in capsys.readouterr().out
    assert main(["summary", "gru:4:8:layers=2:bi=true"]) == 0
    assert "2 layers, bidirectional" in capsys.readouterr().out


def test_cli_summary_bad_spec(capsys):
    assert main(["summary", "lstm:28"]) == 2
    assert "expected KIND:IN:OUT" in capsys.readouterr().err
    assert main(["summary", "lstm:28:128:depth=2"]) == 2
    assert "unknown option 'depth'" in capsys.readouterr().err


def test_cli_gradcheck_runs_and_passes():
    out = subprocess.run([sys.executable, "-m", "rnnlab.cli", "gradcheck", "--max-checks", "5"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "48 passed, 0 failed" in out.stdout
