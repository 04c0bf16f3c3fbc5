"""``rnnlab gradflow``'s measurement against central finite differences: the norm it reports for
layer l and k steps back is the mean over sequences of ||dL_n/dh^l_{T-k}[n]||."""
import numpy as np
import pytest

from rnnlab.commands.gradflow import hidden_grad_norms
from rnnlab.data.dataset import Batch
from rnnlab.metrics import batch_loss
from rnnlab.models import Dense, LastStep, Sequential, evaluation
from rnnlab.layers import GRU, LSTM, RNN, Dropout


def fd_norms(model, x, batch, kind, k, eps=1e-6):
    """Per recurrent layer, mean_n ||dL_n/dh_{T-k}[n]|| by central differences on the states."""
    N, T, _ = x.shape
    _, prefix = model.forward(x[:, :T - k])
    suffix = batch._replace(x=x[:, T - k:])

    def total_loss(states):                               # sum over n of L_n = N * mean loss
        out, _ = model.forward(x[:, T - k:], states=states)
        return batch_loss(kind, out, suffix)[0] * N

    rows = []
    for i, state in enumerate(prefix.states):
        if state is None:
            continue
        h = state[0] if isinstance(state, tuple) else state               # (layers, N, H)
        grad = np.zeros_like(h)
        for idx in np.ndindex(h.shape):
            for sign in (1, -1):
                hp = h.copy()
                hp[idx] += sign * eps
                s = list(prefix.states)
                s[i] = (hp, state[1]) if isinstance(state, tuple) else hp
                grad[idx] += sign * total_loss(s) / (2 * eps)
        rows.extend(np.linalg.norm(grad, axis=-1).mean(axis=1))
    return np.array(rows)


@pytest.mark.parametrize("cell", [RNN, LSTM, GRU])
@pytest.mark.parametrize("stacked", [True, False])
def test_hidden_grad_norms_match_finite_differences(cell, stacked):
    rng = np.random.default_rng(0)
    N, T, D, H = 3, 5, 2, 4
    if stacked:
        layers = [cell(D, H, num_layers=2, dtype="float64", seed=1)]
    else:
        layers = [cell(D, H, dtype="float64", seed=1), Dropout(0.5, seed=2), cell(H, H, dtype="float64", seed=3)]
    model = Sequential(layers + [LastStep(), Dense(H, 1, dtype="float64", seed=4)])
    model.train()                                          # hidden_grad_norms measures with Dropout off
    x = rng.standard_normal((N, T, D))
    batch = Batch(x, rng.standard_normal((N, 1)), None, None)
    norms = hidden_grad_norms(model, x, batch, "regression")
    assert norms.shape == (2, T - 1) and model.training                   # its mode is given back
    for k in (1, 3):
        with evaluation(model):
            fd = fd_norms(model, x, batch, "regression", k)
        np.testing.assert_allclose(norms[:, k - 1], fd, rtol=1e-6)
    assert norms[0, 0] != pytest.approx(norms[1, 0])      # the two layers are measured separately
