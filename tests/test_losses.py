"""Losses: values against direct formulas, gradients against central differences (float64, masks)."""
import numpy as np
import pytest

from rnnlab.losses import binary_cross_entropy_with_logits, mean_squared_error, softmax_cross_entropy


def numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps
        down = f(x)
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


@pytest.mark.parametrize("lead", [(5,), (3, 4)])
@pytest.mark.parametrize("masked", [False, True])
def test_softmax_cross_entropy_value_and_gradient(lead, masked):
    rng = np.random.default_rng(len(lead) + masked)
    z = rng.normal(size=lead + (6,)) * 3
    y = rng.integers(0, 6, lead)
    mask = (rng.random(lead) > 0.4).astype(np.float64) if masked else None
    if masked:
        mask.flat[0] = 1
    loss, dz = softmax_cross_entropy(z, y, mask)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, y[..., None], -1)[..., 0]
    w = np.ones(lead) if mask is None else mask
    assert loss == pytest.approx((nll * w).sum() / w.sum(), rel=1e-12)
    num = numeric_grad(lambda v: softmax_cross_entropy(v, y, mask)[0], z.copy())
    np.testing.assert_allclose(dz, num, atol=1e-8)
    if masked:
        assert np.all(dz[mask == 0] == 0)                      # padded steps get no gradient


@pytest.mark.parametrize("masked", [False, True])
def test_mean_squared_error_value_and_gradient(masked):
    rng = np.random.default_rng(1)
    p, y = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 2))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], float) if masked else None
    loss, dp = mean_squared_error(p, y, mask)
    w = np.ones((3, 4)) if mask is None else mask
    assert loss == pytest.approx((((p - y) ** 2).mean(-1) * w).sum() / w.sum(), rel=1e-12)
    np.testing.assert_allclose(dp, numeric_grad(lambda v: mean_squared_error(v, y, mask)[0], p.copy()), atol=1e-8)


@pytest.mark.parametrize("masked", [False, True])
def test_binary_cross_entropy_value_gradient_and_large_logits(masked):
    rng = np.random.default_rng(2)
    z = rng.normal(size=(2, 5, 7)) * 4
    y = (rng.random((2, 5, 7)) > 0.7).astype(float)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], float) if masked else None
    loss, dz = binary_cross_entropy_with_logits(z, y, mask)
    p = 1 / (1 + np.exp(-z))
    nll = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(-1)    # summed over labels: NLL per step
    w = np.ones((2, 5)) if mask is None else mask
    assert loss == pytest.approx((nll * w).sum() / w.sum(), rel=1e-10)
    np.testing.assert_allclose(dz, numeric_grad(lambda v: binary_cross_entropy_with_logits(v, y, mask)[0],
                                                z.copy()), atol=1e-8)
    big, dbig = binary_cross_entropy_with_logits(np.array([[800.0, -800.0]]), np.array([[0.0, 1.0]]))
    assert big == pytest.approx(1600.0) and np.all(np.isfinite(dbig))


def test_losses_reject_bad_input_naming_the_argument():
    with pytest.raises(ValueError, match="targets"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="targets"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="mask"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1]), mask=np.zeros(2))
    with pytest.raises(ValueError, match="target"):
        mean_squared_error(np.zeros((2, 1)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="mask"):
        binary_cross_entropy_with_logits(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), mask=np.ones(3))
