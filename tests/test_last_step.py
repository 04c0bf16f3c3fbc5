"""LastStep's ``directions``: an explicit value is never overridden by Sequential, and the default is
inferred from the nearest layer below that is not Dropout, so identity layers in between change
nothing. PyTorch's common head ``fc(out[:, -1])`` on a bidirectional layer is LastStep(directions=1)."""
import numpy as np
import pytest

import rnnlab
from rnnlab.interop import torch as ti
from rnnlab.models import LastStep, Sequential, build, clone, spec_of
from rnnlab.saving import load, save

from conftest import max_abs_err, require_torch

N, T, D, H = 3, 6, 4, 5
LENGTHS_FULL = np.full(N, T)


def bi_lstm(seed=0):
    return rnnlab.LSTM(D, H, bidirectional=True, dtype="float64", seed=seed)


def head(seed=1):
    return rnnlab.Dense(2 * H, 3, "identity", dtype="float64", seed=seed)


def x_batch(seed=2):
    return np.random.default_rng(seed).standard_normal((N, T, D))


@pytest.mark.parametrize("between", [0, 1, 2])
def test_explicit_directions_is_never_overridden(between):
    drops = [rnnlab.Dropout(0.3, seed=k) for k in range(between)]
    for d in (1, 2):
        model = Sequential([bi_lstm(), *drops, LastStep(directions=d), head()])
        assert model[1 + between].directions == d


def test_default_is_inferred_through_dropout_and_predictions_do_not_change():
    plain = Sequential([bi_lstm(), LastStep(), head()])
    with_dropout = Sequential([clone(plain[0]), rnnlab.Dropout(0.5, seed=3), LastStep(), clone(plain[2])])
    assert plain[1].directions == 2 and with_dropout[2].directions == 2
    x = x_batch()
    y0, _ = plain.forward(x)
    y1, _ = with_dropout.eval().forward(x)
    np.testing.assert_array_equal(y0, y1)


def test_explicit_one_differs_from_inferred_two_on_a_bidirectional_layer():
    x = x_batch()
    inferred = Sequential([bi_lstm(), LastStep(), head()])
    explicit = Sequential([clone(inferred[0]), LastStep(directions=1), clone(inferred[2])])
    y2, _ = inferred.forward(x)
    y1, _ = explicit.forward(x)
    assert np.abs(y1 - y2).max() > 1e-3          # the reverse half differs: read at T-1, not at 0


def test_default_after_a_dense_or_alone_is_one():
    assert Sequential([rnnlab.Dense(4, 4), LastStep()])[1].directions == 1
    alone = LastStep()
    assert alone.directions == 1
    y, _ = alone.forward(np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4))
    np.testing.assert_array_equal(y, np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)[:, -1])


def test_the_resolved_value_survives_saving_and_rebuilding(tmp_path):
    model = Sequential([bi_lstm(), rnnlab.Dropout(0.2), LastStep(directions=1), head()])
    assert build(spec_of(model))[2].directions == 1
    path = tmp_path / "m.npz"
    save(str(path), model)
    again = load(str(path))
    assert again[2].directions == 1
    x = x_batch()
    np.testing.assert_array_equal(model.forward(x)[0], again.forward(x)[0])


@pytest.mark.parametrize("directions", [True, 0, 3, 1.5, "2"])
def test_bad_directions_are_refused(directions):
    with pytest.raises(ValueError, match="directions: expected 1, 2 or None"):
        LastStep(directions=directions)


def test_pytorch_out_last_step_head_is_directions_one():
    """A user porting ``fc(out[:, -1])`` from PyTorch writes LastStep(directions=1) and gets exactly
    PyTorch's output, with and without an eval-mode Dropout in between."""
    torch = require_torch()
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(D, H, bidirectional=True, batch_first=True).double()
    fc = torch.nn.Linear(2 * H, 3).double()
    x = x_batch()
    with torch.no_grad():
        out, _ = lstm(torch.from_numpy(x))
        want = fc(out[:, -1]).numpy()
    layer = ti.from_torch(lstm)
    dense = rnnlab.Dense(2 * H, 3, "identity", dtype="float64")
    dense.params["W"][...] = fc.weight.detach().numpy().T
    dense.params["b"][...] = fc.bias.detach().numpy()
    for between in ([], [rnnlab.Dropout(0.4, seed=1)]):
        model = Sequential([layer, *between, LastStep(directions=1), dense])
        got, _ = model.forward(x, LENGTHS_FULL)
        assert max_abs_err(got, want) <= 1e-12
    inferred, _ = Sequential([layer, LastStep(), dense]).forward(x)
    assert max_abs_err(inferred, want) > 1e-3    # the default reads h_n, not out[:, -1]
