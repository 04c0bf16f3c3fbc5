"""rnnlab against PyTorch autograd on identical weights: outputs, final states, dx, dstate0 and every
parameter gradient, for RNN / LSTM / GRU x 1-3 layers x uni/bi x ragged lengths x with/without state0."""
import numpy as np
import pytest

import rnnlab
from rnnlab.interop.torch import from_torch, to_state_dict
from rnnlab.verify import KINDS, compare_with_torch, grid

from conftest import rel_err, require_torch

torch = require_torch()

TOL = {"float64": 1e-9, "float32": 1e-4}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind,layers,bi,ragged,with_state", grid())
def test_matches_torch(kind, layers, bi, ragged, with_state, dtype):
    e = compare_with_torch(kind, layers, bi, ragged, with_state, dtype)
    assert e["dtype_ok"]
    for name in ("y", "state", "dx", "dstate0", "params"):
        assert e[name] <= TOL[dtype], (name, e)
    if ragged:
        assert e["padding_zero"]


def random_configs(count: int, seed: int = 2024) -> list:
    """(kind, layers, bi, ragged, with_state, N, T, D, H), drawn from ``seed``: shapes from 1 (a
    single row, step, input or unit) up, beside the grid's one shape."""
    rng = np.random.default_rng(seed)
    return [(str(rng.choice(KINDS)), int(rng.integers(1, 4)), bool(rng.integers(2)), bool(rng.integers(2)),
             bool(rng.integers(2)), *(int(rng.integers(1, hi)) for hi in (7, 11, 9, 10))) for _ in range(count)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind,layers,bi,ragged,with_state,N,T,D,H", random_configs(24))
def test_matches_torch_on_random_shapes(kind, layers, bi, ragged, with_state, N, T, D, H, dtype):
    e = compare_with_torch(kind, layers, bi, ragged, with_state, dtype, N=N, T=T, D=D, H=H)
    for name in ("y", "state", "dx", "dstate0", "params"):
        assert e[name] <= TOL[dtype], (name, e)
    if ragged:
        assert e["padding_zero"]


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_both_nonlinearities(nonlinearity):
    e = compare_with_torch("RNN", 2, True, True, True, "float64", nonlinearity=nonlinearity)
    assert max(e[k] for k in ("y", "state", "dx", "dstate0", "params")) <= 1e-9


def torch_module(kind, D, H, layers, bi):
    cls = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind]
    return cls(D, H, num_layers=layers, bidirectional=bi, batch_first=True).double()


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_to_state_dict_round_trip_through_torch(kind):
    """rnnlab -> torch state_dict -> torch module -> from_torch gives back identical params."""
    layer = getattr(rnnlab, kind)(3, 4, num_layers=2, bidirectional=True, dtype="float64", seed=1)
    m = torch_module(kind, 3, 4, 2, True)
    m.load_state_dict({k: torch.tensor(v) for k, v in to_state_dict(layer).items()})
    back = from_torch(m)
    for k, v in layer.params.items():
        np.testing.assert_allclose(back.params[k], v, rtol=0, atol=1e-15)


def test_forget_bias_folds_into_torch_bias():
    layer = rnnlab.LSTM(3, 4, forget_bias=1.0, dtype="float64", seed=2)
    m = torch_module("LSTM", 3, 4, 1, False)
    m.load_state_dict({k: torch.tensor(v) for k, v in to_state_dict(layer).items()})
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    y, (h, c), _ = layer.forward(x)
    y_t, (h_t, c_t) = m(torch.tensor(x))
    assert rel_err(y, y_t.detach().numpy()) <= 1e-12
    assert rel_err(c, c_t.detach().numpy()) <= 1e-12


def test_reset_before_gru_has_no_torch_layout():
    with pytest.raises(ValueError, match="reset_after"):
        to_state_dict(rnnlab.GRU(3, 4, reset_after=False))


def test_import_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys, rnnlab, rnnlab.interop.torch, rnnlab.verify; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
