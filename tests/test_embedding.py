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


def test_padding_idx_row_is_zero_and_gets_no_gradient_like_torch():
    torch = require_torch()
    rng = np.random.default_rng(5)
    emb = Embedding(9, 5, dtype="float64", seed=6, padding_idx=-2)
    assert emb.padding_idx == 7 and not emb.params["W"][7].any()
    ref = torch.nn.Embedding(9, 5, padding_idx=7).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(emb.params["W"]))
    ids = rng.integers(0, 9, (4, 7))
    ids[:, -2:] = 7                                      # padded at the end, as a batch of sentences is
    y, cache = emb.forward(ids)
    dy = rng.standard_normal(y.shape)
    t_y = ref(torch.from_numpy(ids))
    t_y.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, t_y.detach().numpy(), rtol=0, atol=1e-12)
    dW = emb.backward(dy, cache)[1]["W"]
    np.testing.assert_allclose(dW, ref.weight.grad.numpy(), rtol=0, atol=1e-12)
    assert not dW[7].any() and dW.any()
    with pytest.raises(ValueError, match=r"padding_idx: expected None or an integer in \[-9, 9\)"):
        Embedding(9, 5, padding_idx=9)


def test_sparse_gradient_is_the_dense_one_and_trains_the_same():
    from rnnlab.optim import SGD, Adagrad, SparseGrad, clip_grad_norm, global_norm
    rng = np.random.default_rng(7)
    dense = Embedding(8, 3, dtype="float64", seed=1, padding_idx=0)
    sparse = Embedding(8, 3, dtype="float64", seed=1, padding_idx=0, sparse=True)
    assert repr(sparse) == "Embedding(8, 3, padding_idx=0, sparse=True)"
    ids = ids_with_repeats(rng, V=8)
    ids[1, :2] = 0
    dy = rng.standard_normal((3, 6, 3))
    g_dense = dense.backward(dy, dense.forward(ids)[1])[1]
    g_sparse = sparse.backward(dy, sparse.forward(ids)[1])[1]
    assert isinstance(g_sparse["W"], SparseGrad) and 0 not in g_sparse["W"].rows
    np.testing.assert_allclose(g_sparse["W"].dense((8, 3), "float64"), g_dense["W"], rtol=0, atol=1e-12)
    assert abs(global_norm(g_sparse) - global_norm(g_dense)) < 1e-12
    assert abs(clip_grad_norm(g_sparse, 0.5) - clip_grad_norm(g_dense, 0.5)) < 1e-12   # both now scaled
    for opt_d, opt_s in ((SGD(0.1), SGD(0.1)), (Adagrad(0.1), Adagrad(0.1))):   # exact for these rules
        opt_d.step(dense.params, {"W": g_dense["W"].copy()})
        opt_s.step(sparse.params, {"W": g_sparse["W"]})
        np.testing.assert_allclose(sparse.params["W"], dense.params["W"], rtol=0, atol=1e-12)
    assert not sparse.params["W"][0].any()


def test_sparse_embedding_model_trains_with_fit():
    import rnnlab
    rng = np.random.default_rng(0)
    x = rng.integers(1, 6, (64, 5))
    y = (x[:, -1] > 3).astype(np.int64)
    model = Sequential([Embedding(6, 4, seed=0, padding_idx=0, sparse=True), LSTM(4, 8, seed=1), LastStep(),
                        Dense(8, 2, seed=2)])
    before = model.params["0.W"].copy()
    rnnlab.fit(model, x, y, epochs=2, batch_size=16, lr=0.05)
    assert not np.allclose(model.params["0.W"][1:], before[1:]) and not model.params["0.W"][0].any()
