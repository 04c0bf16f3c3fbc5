"""Initialisations: orthogonal blocks, Xavier bounds, forget bias, and the fused gate layout."""
import numpy as np
import pytest

from rnnlab.init import initialize, orthogonal, xavier_uniform
from rnnlab.layers import GRU, LSTM, RNN, Dense
from rnnlab.models import LastStep, Sequential


def test_orthogonal_and_xavier():
    rng = np.random.default_rng(0)
    q = orthogonal(rng, 16)
    np.testing.assert_allclose(q @ q.T, np.eye(16), atol=1e-12)
    w = xavier_uniform(rng, (30, 10))
    assert np.abs(w).max() <= np.sqrt(6 / 40) and np.abs(w).max() > 0.8 * np.sqrt(6 / 40)


@pytest.mark.parametrize("layer_type, gates", [(RNN, 1), (LSTM, 4), (GRU, 3)])
def test_xavier_scheme_on_recurrent_layers(layer_type, gates):
    model = Sequential([layer_type(5, 8, num_layers=2, dtype="float64"), LastStep(), Dense(8, 3, dtype="float64")])
    initialize(model, "xavier", forget_bias=1.0, seed=1)
    rec = model.layers[0]
    for layer in range(2):
        p = rec.direction_params(layer, 0)
        assert p["U"].shape == (8, gates * 8)
        for k in range(gates):
            block = p["U"][:, k * 8:(k + 1) * 8]
            np.testing.assert_allclose(block @ block.T, np.eye(8), atol=1e-10)
        expected_b = np.zeros(gates * 8)
        if layer_type is LSTM:
            expected_b[8:16] = 1.0                              # gate order (i, f, o, g)
        np.testing.assert_array_equal(p["b"], expected_b)
    assert np.all(model.layers[2].params["b"] == 0)


def test_torch_scheme_sets_only_the_forget_bias_and_is_seeded():
    a = initialize(LSTM(3, 4, seed=0), "torch", forget_bias=2.0)
    b = LSTM(3, 4, seed=0)
    np.testing.assert_array_equal(a.params["l0.W"], b.params["l0.W"])
    np.testing.assert_array_equal(a.params["l0.b"][4:8], 2.0)
    np.testing.assert_array_equal(a.params["l0.b"][:4], b.params["l0.b"][:4])
    c = initialize(GRU(3, 4), "xavier", seed=5)
    d = initialize(GRU(3, 4), "xavier", seed=5)
    np.testing.assert_array_equal(c.params["l0.U"], d.params["l0.U"])


def test_bad_scheme_names_the_argument():
    with pytest.raises(ValueError, match="scheme"):
        initialize(RNN(2, 3), "he")
    with pytest.raises(ValueError, match="forget_bias"):
        initialize(LSTM(2, 3), forget_bias="big")
