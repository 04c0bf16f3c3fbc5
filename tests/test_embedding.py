"""Embedding: forward is a row lookup, backward accumulates repeated ids (finite differences in
float64, and PyTorch's nn.Embedding), save/load, and bad ids."""
import numpy as np
import pytest

from rnnlab import LSTM, Dense, Embedding
from rnnlab.gradcheck import check_entries
from rnnlab.models import LastStep, Sequential, clone
from rnnlab.saving import load, save

from conftest import require_torch

EPS, TOL = 1e-6, 1e-7          # central differences in float64


def ids_with_repeats(rng, V=7, N=3, T=6):
    ids = rng.integers(0, V, (N, T))
    ids[0, :3] = 2                                       # a row read several times: its gradients must add
    return ids


def test_forward_is_a_lookup_and_backward_adds_repeated_rows():
    rng = np.random.default_rng(0)
    emb = Embedding(7, 4, dtype="float64", seed=1)
    ids = ids_with_repeats(rng)
    y, cache = emb.forward(ids)
    assert y.shape == (3, 6, 4)
    np.testing.assert_array_equal(y[1, 2], emb.params["W"][ids[1, 2]])
    dy = rng.standard_normal(y.shape)
    dx, grads = emb.backward(dy, cache)
    assert dx is None
    expected = np.zeros((7, 4))
    for n in range(3):
        for t in range(6):
            expected[ids[n, t]] += dy[n, t]
    np.testing.assert_allclose(grads["W"], expected, rtol=0, atol=1e-12)
    assert np.abs(grads["W"][2]).sum() > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradcheck_in_a_model(seed):
    """Embedding -> LSTM -> LastStep -> Dense in float64: every embedding entry's gradient, and
    the LSTM's input weights, against central differences."""
    rng = np.random.default_rng(seed)
    V, E, H = 6, 3, 4
    model = clone(Sequential([Embedding(V, E, seed=seed), LSTM(E, H, seed=seed + 1), LastStep(),
                              Dense(H, 2, seed=seed + 2)]), "float64")
    ids = ids_with_repeats(rng, V, N=3, T=5)
    lengths = np.array([5, 3, 4])
    probe = rng.standard_normal((3, 2))
    out, cache = model.forward(ids, lengths)
    _, grads = model.backward(probe, cache)

    def loss():
        return float(np.sum(model.forward(ids, lengths)[0] * probe))

    for key in ("0.W", "1.l0.W"):
        row = check_entries(key, model.params[key], grads[key], np.arange(model.params[key].size), loss,
                            EPS, 1e-8)
        assert row.max_rel_err < TOL, row
    unused = sorted(set(range(V)) - set(ids.ravel().tolist()))
    for v in unused:                                     # rows never read get no gradient
        assert not grads["0.W"][v].any()


def test_equals_torch_embedding():
    torch = require_torch()
    rng = np.random.default_rng(3)
    emb = Embedding(9, 5, dtype="float64", seed=4)
    ids = rng.integers(0, 9, (4, 7))
    ids[2, :] = 8
    ref = torch.nn.Embedding(9, 5).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(emb.params["W"]))
    y, cache = emb.forward(ids)
    dy = rng.standard_normal(y.shape)
    t_y = ref(torch.from_numpy(ids))
    t_y.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, t_y.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(emb.backward(dy, cache)[1]["W"], ref.weight.grad.numpy(), rtol=0, atol=1e-12)


def test_init_is_standard_normal_like_torch():
    W = Embedding(2000, 50, seed=0).params["W"]
    assert abs(W.mean()) < 0.01 and abs(W.std() - 1) < 0.01


def test_bad_ids_name_the_index():
    emb = Embedding(5, 2)
    with pytest.raises(ValueError, match=r"x: expected token ids in \[0, 5\).*got 5 at index \(1, 0\)"):
        emb.forward(np.array([[0, 1], [5, 2]]))
    with pytest.raises(ValueError, match=r"got -1 at index \(0, 1\)"):
        emb.forward(np.array([[0, -1]]))
    with pytest.raises(ValueError, match="x: expected integer token ids, got dtype float"):
        emb.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="num_embeddings: expected a positive integer"):
        Embedding(0, 3)


def test_save_and_load(tmp_path):
    model = Sequential([Embedding(10, 4, seed=1), LSTM(4, 3, seed=2), LastStep(), Dense(3, 2, seed=3)])
    save(tmp_path / "m.npz", model)
    back = load(tmp_path / "m.npz")
    assert type(back.layers[0]) is Embedding and back.layers[0].num_embeddings == 10
    ids = np.array([[1, 2, 9], [0, 0, 3]])
    np.testing.assert_array_equal(back.forward(ids)[0], model.forward(ids)[0])
