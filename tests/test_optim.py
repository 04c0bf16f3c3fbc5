"""Optimizers: each rule against a hand computation, sparse against dense, clipping, schedules,
and a state_dict round trip that continues exactly."""
import math

import numpy as np
import pytest

from rnnlab.optim import (SGD, Adagrad, Adam, AdamW, RMSprop, SparseGrad, clip_grad_norm, cosine,
                          exponential_decay, global_norm, make_optimizer, step_decay)

G1 = np.array([0.5, -1.0, 2.0])
G2 = np.array([-0.25, 0.75, 1.0])
P0 = np.array([1.0, -2.0, 0.5])


def run(opt, grads=(G1, G2)):
    params = {"w": P0.copy()}
    for g in grads:
        opt.step(params, {"w": g.copy()})
    return params["w"]


def test_sgd_plain_momentum_nesterov_by_hand():
    np.testing.assert_allclose(run(SGD(lr=0.1)), P0 - 0.1 * G1 - 0.1 * G2)
    v1 = G1
    v2 = 0.9 * v1 + G2
    np.testing.assert_allclose(run(SGD(lr=0.1, momentum=0.9)), P0 - 0.1 * v1 - 0.1 * v2)
    np.testing.assert_allclose(run(SGD(lr=0.1, momentum=0.9, nesterov=True)),
                               P0 - 0.1 * (G1 + 0.9 * v1) - 0.1 * (G2 + 0.9 * v2))


def test_sgd_weight_decay_adds_l2_gradient():
    expected = P0 - 0.1 * (G1 + 0.01 * P0)
    np.testing.assert_allclose(run(SGD(lr=0.1, weight_decay=0.01), [G1]), expected)


def test_adagrad_and_rmsprop_by_hand():
    G = G1 ** 2
    p = P0 - 0.1 * G1 / (np.sqrt(G) + 1e-10)
    G = G + G2 ** 2
    p = p - 0.1 * G2 / (np.sqrt(G) + 1e-10)
    np.testing.assert_allclose(run(Adagrad(lr=0.1)), p)
    s = 0.1 * G1 ** 2
    p = P0 - 0.01 * G1 / (np.sqrt(s) + 1e-8)
    s = 0.9 * s + 0.1 * G2 ** 2
    p = p - 0.01 * G2 / (np.sqrt(s) + 1e-8)
    np.testing.assert_allclose(run(RMSprop(lr=0.01)), p)


def test_adam_and_adamw_by_hand():
    b1, b2, lr, eps = 0.9, 0.999, 0.01, 1e-8
    m = v = np.zeros(3)
    p = P0.copy()
    for t, g in enumerate((G1, G2), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    np.testing.assert_allclose(run(Adam(lr=lr)), p, rtol=1e-12)
    # AdamW: decay the weights first (decoupled), gradient untouched
    p1 = P0 - lr * 0.1 * P0
    m1, v1 = (1 - b1) * G1, (1 - b2) * G1 * G1
    p1 = p1 - lr * (m1 / (1 - b1)) / (np.sqrt(v1 / (1 - b2)) + eps)
    np.testing.assert_allclose(run(AdamW(lr=lr, weight_decay=0.1), [G1]), p1, rtol=1e-12)


@pytest.mark.parametrize("make", [lambda: SGD(lr=0.1), lambda: Adagrad(lr=0.1)])
def test_sparse_updates_equal_dense_for_sgd_and_adagrad(make):
    rng = np.random.default_rng(0)
    table = rng.normal(size=(6, 3))
    dense_p, sparse_p = {"E": table.copy()}, {"E": table.copy()}
    dense_opt, sparse_opt = make(), make()
    for _ in range(3):
        rows = rng.integers(0, 6, 5)                          # repeats included
        values = rng.normal(size=(5, 3))
        g = SparseGrad(rows, values)
        dense_opt.step(dense_p, {"E": g.dense((6, 3), np.float64)})
        sparse_opt.step(sparse_p, {"E": g})
    np.testing.assert_allclose(sparse_p["E"], dense_p["E"], rtol=1e-12)


def test_clip_grad_norm_scales_all_together_and_leaves_small_ones():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, 4.0]])}
    norm = clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(5.0)
    assert global_norm(grads) == pytest.approx(1.0)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0], rtol=1e-9)
    small = {"a": np.array([0.3, 0.4])}
    clip_grad_norm(small, 1.0)
    np.testing.assert_array_equal(small["a"], [0.3, 0.4])
    sparse = {"e": SparseGrad(np.array([1, 1]), np.array([[3.0], [1.0]]))}   # coalesced: row 1 = 4
    assert clip_grad_norm(sparse, 2.0) == pytest.approx(4.0)
    assert global_norm(sparse) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(grads, 0)


def test_schedules():
    assert [step_decay(2, 0.5)(t) for t in (1, 2, 3, 5)] == [1, 1, 0.5, 0.25]
    assert exponential_decay(0.9)(3) == pytest.approx(0.81)
    f = cosine(total=10, warmup=2)
    assert f(1) == 0.5 and f(2) == 1.0
    assert f(6) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(10) == pytest.approx(0.0, abs=1e-12)
    opt = SGD(lr=1.0, schedule=step_decay(1, 0.5))
    params = {"w": np.zeros(1)}
    for _ in range(3):
        opt.step(params, {"w": np.ones(1)})
    assert params["w"][0] == pytest.approx(-(1 + 0.5 + 0.25))


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "adamw"])
def test_state_dict_round_trip_continues_exactly(name):
    kwargs = {"lr": 0.01, **({"momentum": 0.9} if name == "sgd" else {})}
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=(4, 2)) for _ in range(5)]
    full_p = {"w": np.ones((4, 2))}
    full = make_optimizer(name, **kwargs)
    for g in grads:
        full.step(full_p, {"w": g})
    part_p = {"w": np.ones((4, 2))}
    first = make_optimizer(name, **kwargs)
    for g in grads[:2]:
        first.step(part_p, {"w": g})
    state = {k: np.array(v) for k, v in first.state_dict().items()}      # as if read back from a file
    second = make_optimizer(name, **kwargs)
    second.load_state_dict(state)
    for g in grads[2:]:
        second.step(part_p, {"w": g})
    np.testing.assert_array_equal(part_p["w"], full_p["w"])
    assert second.t == 5


def test_bad_hyperparameters_name_the_argument():
    with pytest.raises(ValueError, match="lr"):
        Adam(lr=0)
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.5)
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("lbfgs")
    with pytest.raises(ValueError, match="grads"):
        SGD().step({"w": np.zeros(2)}, {"v": np.zeros(2)})
