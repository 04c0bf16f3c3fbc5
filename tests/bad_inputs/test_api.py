"""Bad input to the Python API: every case raises ValueError at the boundary, and the message starts
with the argument's name as the user wrote it (``betas[0]:``, ``lr:``, ``cache:``), then says what was
expected. Each case is (id, call, argument name)."""
import re

import numpy as np
import pytest

import rnnlab
import rnnlab.saving
from rnnlab import losses, optim
from rnnlab.gradcheck import gradcheck
from rnnlab.interop import tf1
from rnnlab.models import LastStep, Sequential, mlp
from rnnlab.saving import save

X = np.ones((2, 5, 3), np.float32)


def lstm(**kw):
    return rnnlab.LSTM(3, 4, **kw)


def params():
    return {"w": np.zeros(3)}


def step_with(opt, p, g):
    opt.step(p, g)


def nan_at(shape, at=0):
    a = np.zeros(shape)
    a.reshape(-1)[at] = np.nan
    return a


def backward_with_cache_of(layer, other, dy_size):
    _, _, cache = other.forward(X)
    return layer.backward(np.zeros((2, 5, dy_size), np.float32), None, cache)


def backward_after_forward(layer, dy, dstate):
    """layer.backward(dy, dstate, cache) with the cache of the layer's own forward on X."""
    return layer.backward(dy, dstate, layer.forward(X)[2])


def seq_model():
    return Sequential([rnnlab.GRU(3, 4, bidirectional=True, seed=0), LastStep(), rnnlab.Dense(8, 2, seed=1)])


def scheduled_step(schedule):
    opt = optim.SGD(0.1, schedule=schedule)
    opt.step(params(), {"w": np.ones(3)})


OPTIMIZERS = [
    ("sgd-lr-zero", lambda: optim.SGD(lr=0), "lr"),
    ("sgd-lr-negative", lambda: optim.SGD(lr=-0.1), "lr"),
    ("sgd-lr-inf", lambda: optim.SGD(lr=float("inf")), "lr"),
    ("sgd-lr-nan", lambda: optim.SGD(lr=float("nan")), "lr"),
    ("sgd-lr-bool", lambda: optim.SGD(lr=True), "lr"),
    ("sgd-lr-numpy-bool", lambda: optim.SGD(lr=np.bool_(True)), "lr"),
    ("sgd-lr-str", lambda: optim.SGD(lr="0.1"), "lr"),
    ("sgd-lr-none", lambda: optim.SGD(lr=None), "lr"),
    ("sgd-lr-array", lambda: optim.SGD(lr=np.array([0.1])), "lr"),
    ("sgd-momentum-one", lambda: optim.SGD(momentum=1.0), "momentum"),
    ("sgd-momentum-negative", lambda: optim.SGD(momentum=-0.1), "momentum"),
    ("sgd-momentum-nan", lambda: optim.SGD(momentum=float("nan")), "momentum"),
    ("sgd-momentum-bool", lambda: optim.SGD(momentum=True), "momentum"),
    ("sgd-nesterov-str", lambda: optim.SGD(momentum=0.9, nesterov="yes"), "nesterov"),
    ("sgd-nesterov-no-momentum", lambda: optim.SGD(nesterov=True), "nesterov"),
    ("sgd-weight-decay-negative", lambda: optim.SGD(weight_decay=-1e-4), "weight_decay"),
    ("sgd-weight-decay-inf", lambda: optim.SGD(weight_decay=float("inf")), "weight_decay"),
    ("sgd-schedule-not-callable", lambda: optim.SGD(schedule=5), "schedule"),
    ("adagrad-eps-zero", lambda: optim.Adagrad(eps=0), "eps"),
    ("adagrad-eps-negative", lambda: optim.Adagrad(eps=-1e-10), "eps"),
    ("rmsprop-rho-1.5", lambda: optim.RMSprop(rho=1.5), "rho"),
    ("rmsprop-rho-one", lambda: optim.RMSprop(rho=1.0), "rho"),
    ("rmsprop-rho-negative", lambda: optim.RMSprop(rho=-0.1), "rho"),
    ("rmsprop-eps-negative", lambda: optim.RMSprop(eps=-1e-8), "eps"),
    ("adam-beta1-one", lambda: optim.Adam(betas=(1.0, 0.999)), "betas[0]"),
    ("adam-beta2-one", lambda: optim.Adam(betas=(0.9, 1.0)), "betas[1]"),
    ("adam-beta1-negative", lambda: optim.Adam(betas=(-0.1, 0.999)), "betas[0]"),
    ("adam-beta2-nan", lambda: optim.Adam(betas=(0.9, float("nan"))), "betas[1]"),
    ("adam-betas-one-number", lambda: optim.Adam(betas=0.9), "betas"),
    ("adam-betas-three", lambda: optim.Adam(betas=(0.9, 0.99, 0.999)), "betas"),
    ("adam-eps-negative", lambda: optim.Adam(eps=-1e-8), "eps"),
    ("adam-eps-zero", lambda: optim.Adam(eps=0.0), "eps"),
    ("adam-lr-inf", lambda: optim.Adam(lr=np.float32("inf")), "lr"),
    ("adamw-weight-decay-nan", lambda: optim.AdamW(weight_decay=float("nan")), "weight_decay"),
    ("make-optimizer-unknown", lambda: optim.make_optimizer("adamx"), "optimizer"),
    ("make-optimizer-not-str", lambda: optim.make_optimizer(3), "optimizer"),
    ("step-decay-every-zero", lambda: optim.step_decay(0), "every"),
    ("step-decay-gamma-zero", lambda: optim.step_decay(2, gamma=0), "gamma"),
    ("exponential-decay-nan", lambda: optim.exponential_decay(float("nan")), "gamma"),
    ("cosine-total-zero", lambda: optim.cosine(0), "total"),
    ("cosine-warmup-past-total", lambda: optim.cosine(10, warmup=11), "warmup"),
    ("cosine-floor-two", lambda: optim.cosine(10, floor=2.0), "floor"),
    ("schedule-returns-nan", lambda: scheduled_step(lambda t: float("nan")), "schedule"),
    ("clip-max-norm-zero", lambda: optim.clip_grad_norm({"w": np.ones(3)}, 0), "max_norm"),
    ("clip-max-norm-negative", lambda: optim.clip_grad_norm({"w": np.ones(3)}, -1.0), "max_norm"),
    ("clip-max-norm-nan", lambda: optim.clip_grad_norm({"w": np.ones(3)}, float("nan")), "max_norm"),
    ("clip-max-norm-inf", lambda: optim.clip_grad_norm({"w": np.ones(3)}, float("inf")), "max_norm"),
    ("clip-max-norm-str", lambda: optim.clip_grad_norm({"w": np.ones(3)}, "1"), "max_norm"),
    ("clip-grads-list", lambda: optim.clip_grad_norm([np.ones(3)], 1.0), "grads"),
    ("step-params-list", lambda: step_with(optim.SGD(), [np.zeros(3)], {"w": np.ones(3)}), "params"),
    ("step-grads-shape", lambda: step_with(optim.SGD(), params(), {"w": np.ones(4)}), "grads['w']"),
    ("step-grads-unknown-key", lambda: step_with(optim.SGD(), params(), {"v": np.ones(3)}), "grads"),
]

LOSSES = [
    ("ce-logits-nan", lambda: losses.softmax_cross_entropy(nan_at((2, 3)), np.array([0, 1])), "logits"),
    ("ce-logits-inf", lambda: losses.softmax_cross_entropy(np.full((2, 3), np.inf), np.array([0, 1])), "logits"),
    ("ce-logits-int", lambda: losses.softmax_cross_entropy(np.zeros((2, 3), int), np.array([0, 1])), "logits"),
    ("ce-empty-batch", lambda: losses.softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, int)), "logits"),
    ("ce-no-classes", lambda: losses.softmax_cross_entropy(np.zeros((2, 0)), np.zeros(2, int)), "logits"),
    ("ce-targets-float", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])), "targets"),
    ("ce-targets-bool", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([True, False])),
     "targets"),
    ("ce-targets-too-big", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3])), "targets"),
    ("ce-targets-negative", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([-1, 0])), "targets"),
    ("ce-targets-shape", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2])), "targets"),
    ("ce-mask-negative", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1]),
                                                              mask=np.array([1.0, -1.0])), "mask"),
    ("ce-mask-nan", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1]),
                                                         mask=np.array([1.0, np.nan])), "mask"),
    ("ce-mask-shape", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1]), mask=np.ones(3)),
     "mask"),
    ("ce-mask-all-zero", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1]), mask=np.zeros(2)),
     "mask"),
    ("ce-mask-strings", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1]),
                                                             mask=np.array(["a", "b"])), "mask"),
    ("mse-pred-nan", lambda: losses.mean_squared_error(nan_at((2, 1)), np.zeros((2, 1))), "pred"),
    ("mse-target-nan", lambda: losses.mean_squared_error(np.zeros((2, 1)), nan_at((2, 1))), "target"),
    ("mse-target-shape", lambda: losses.mean_squared_error(np.zeros((2, 1)), np.zeros((2, 2))), "target"),
    ("mse-target-strings", lambda: losses.mean_squared_error(np.zeros((2, 1)), np.array([["a"], ["b"]])), "target"),
    ("mse-empty-batch", lambda: losses.mean_squared_error(np.zeros((0, 1)), np.zeros((0, 1))), "pred"),
    ("bce-targets-seven", lambda: losses.binary_cross_entropy_with_logits(np.zeros((2, 3)), np.full((2, 3), 7.0)),
     "targets"),
    ("bce-targets-negative", lambda: losses.binary_cross_entropy_with_logits(np.zeros((2, 3)), -np.ones((2, 3))),
     "targets"),
    ("bce-targets-nan", lambda: losses.binary_cross_entropy_with_logits(np.zeros((2, 3)), nan_at((2, 3))),
     "targets"),
    ("bce-logits-nan", lambda: losses.binary_cross_entropy_with_logits(nan_at((2, 3)), np.zeros((2, 3))),
     "logits"),
    ("bce-targets-shape", lambda: losses.binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 4))),
     "targets"),
    ("bce-mask-negative", lambda: losses.binary_cross_entropy_with_logits(
        np.zeros((2, 4, 3)), np.zeros((2, 4, 3)), mask=-np.ones((2, 4))), "mask"),
    ("bce-empty-batch", lambda: losses.binary_cross_entropy_with_logits(np.zeros((0, 4, 3)), np.zeros((0, 4, 3))),
     "logits"),
]

LAYERS = [
    ("lstm-input-size-zero", lambda: rnnlab.LSTM(0, 4), "input_size"),
    ("lstm-hidden-size-negative", lambda: rnnlab.LSTM(3, -1), "hidden_size"),
    ("lstm-hidden-size-float", lambda: rnnlab.LSTM(3, 4.0), "hidden_size"),
    ("lstm-num-layers-zero", lambda: lstm(num_layers=0), "num_layers"),
    ("lstm-num-layers-bool", lambda: lstm(num_layers=True), "num_layers"),
    ("lstm-bidirectional-str", lambda: lstm(bidirectional="yes"), "bidirectional"),
    ("lstm-dtype-int", lambda: lstm(dtype="int32"), "dtype"),
    ("lstm-dtype-float16", lambda: lstm(dtype="float16"), "dtype"),
    ("lstm-dtype-nonsense", lambda: lstm(dtype="floaty"), "dtype"),
    ("lstm-seed-negative", lambda: lstm(seed=-1), "seed"),
    ("lstm-seed-str", lambda: lstm(seed="a"), "seed"),
    ("lstm-forget-bias-nan", lambda: lstm(forget_bias=float("nan")), "forget_bias"),
    ("lstm-forget-bias-inf", lambda: lstm(forget_bias=float("inf")), "forget_bias"),
    ("lstm-forget-bias-bool", lambda: lstm(forget_bias=True), "forget_bias"),
    ("lstm-forget-bias-str", lambda: lstm(forget_bias="1"), "forget_bias"),
    ("gru-reset-after-int", lambda: rnnlab.GRU(3, 4, reset_after=1), "reset_after"),
    ("rnn-nonlinearity", lambda: rnnlab.RNN(3, 4, nonlinearity="sigmoid"), "nonlinearity"),
    ("dense-input-size-zero", lambda: rnnlab.Dense(0, 3), "input_size"),
    ("dense-output-size-zero", lambda: rnnlab.Dense(3, 0), "output_size"),
    ("dense-activation-unknown", lambda: rnnlab.Dense(3, 2, "gelu"), "activation"),
    ("dense-activation-none", lambda: rnnlab.Dense(3, 2, None), "activation"),
    ("dense-activation-list", lambda: rnnlab.Dense(3, 2, ["relu"]), "activation"),
    ("dense-seed-negative", lambda: rnnlab.Dense(3, 2, seed=-5), "seed"),
    ("dense-dtype-int", lambda: rnnlab.Dense(3, 2, dtype="int64"), "dtype"),
    ("dropout-rate-one", lambda: rnnlab.Dropout(1.0), "rate"),
    ("dropout-rate-negative", lambda: rnnlab.Dropout(-0.1), "rate"),
    ("dropout-rate-nan", lambda: rnnlab.Dropout(float("nan")), "rate"),
    ("dropout-rate-bool", lambda: rnnlab.Dropout(True), "rate"),
    ("dropout-seed-negative", lambda: rnnlab.Dropout(0.5, seed=-1), "seed"),
    ("laststep-directions-three", lambda: LastStep(3), "directions"),
    ("laststep-directions-bool", lambda: LastStep(True), "directions"),
    ("laststep-directions-zero", lambda: LastStep(0), "directions"),
    ("mlp-one-size", lambda: mlp([5]), "sizes"),
    ("mlp-zero-size", lambda: mlp([5, 0, 3]), "sizes[1]"),
    ("mlp-sizes-str", lambda: mlp("5,3"), "sizes"),
    ("mlp-seed-negative", lambda: mlp([5, 3], seed=-1), "seed"),
    ("mlp-activation", lambda: mlp([5, 3], activation="gelu"), "activation"),
    ("sequential-empty", lambda: Sequential([]), "layers"),
    ("sequential-not-a-layer", lambda: Sequential([rnnlab.Dense(2, 2), 3]), "layers[1]"),
]

FORWARD_BACKWARD = [
    ("forward-x-nan", lambda: lstm().forward(nan_at((2, 5, 3)).astype(np.float32)), "x"),
    ("forward-x-int", lambda: lstm().forward(np.ones((2, 5, 3), int)), "x"),
    ("forward-x-features", lambda: lstm().forward(np.ones((2, 5, 4), np.float32)), "x"),
    ("forward-x-2d", lambda: lstm().forward(np.ones((5, 3), np.float32)), "x"),
    ("forward-x-empty-batch", lambda: lstm().forward(np.ones((0, 5, 3), np.float32)), "x"),
    ("forward-lengths-zero", lambda: lstm().forward(X, None, [0, 5]), "lengths"),
    ("forward-lengths-past-T", lambda: lstm().forward(X, None, [6, 5]), "lengths"),
    ("forward-lengths-fraction", lambda: lstm().forward(X, None, [1.5, 5]), "lengths"),
    ("forward-lengths-shape", lambda: lstm().forward(X, None, [5, 5, 5]), "lengths"),
    ("forward-lengths-bool", lambda: lstm().forward(X, None, [True, True]), "lengths"),
    ("forward-lengths-str", lambda: lstm().forward(X, None, ["5", "5"]), "lengths"),
    ("forward-state0-not-pair", lambda: lstm().forward(X, np.zeros((1, 2, 4), np.float32)), "state0"),
    ("forward-state0-shape", lambda: rnnlab.GRU(3, 4).forward(X, np.zeros((2, 2, 4), np.float32)), "state0"),
    ("forward-state0-nan", lambda: rnnlab.GRU(3, 4).forward(X, nan_at((1, 2, 4))), "state0"),
    ("forward-state0-c-shape", lambda: lstm().forward(X, (np.zeros((1, 2, 4)), np.zeros((1, 2, 5)))),
     "state0[c]"),
    ("backward-bidirectional-cache-to-unidirectional",
     lambda: backward_with_cache_of(rnnlab.LSTM(3, 8), rnnlab.LSTM(3, 4, bidirectional=True), 8), "cache"),
    ("backward-lstm-cache-to-gru", lambda: backward_with_cache_of(rnnlab.GRU(3, 4), rnnlab.LSTM(3, 4), 4), "cache"),
    ("backward-two-layer-cache-to-one", lambda: backward_with_cache_of(lstm(), lstm(num_layers=2), 4), "cache"),
    ("backward-cache-other-input-size", lambda: backward_with_cache_of(rnnlab.LSTM(5, 4), lstm(), 4), "cache"),
    ("backward-cache-tuple", lambda: lstm().backward(None, None, (1, 2)), "cache"),
    ("forward-x-none", lambda: lstm().forward(None), "x"),
    ("step-x-none", lambda: (lambda m: m.step(None, m.initial_state(1)))(lstm()), "x_t"),
    ("backward-cache-of-another-layer", lambda: backward_with_cache_of(lstm(), lstm(), 4), "cache"),
    ("backward-dy-shape", lambda: backward_after_forward(lstm(), np.zeros((2, 5, 5), np.float32), None), "dy"),
    ("backward-dy-nan", lambda: backward_after_forward(lstm(), nan_at((2, 5, 4)), None), "dy"),
    ("backward-dy-int", lambda: backward_after_forward(lstm(), np.zeros((2, 5, 4), int), None), "dy"),
    ("backward-dstate-shape", lambda: backward_after_forward(rnnlab.GRU(3, 4), None, np.zeros((2, 4))), "dstate"),
    ("dense-forward-features", lambda: rnnlab.Dense(3, 2).forward(np.ones((2, 4), np.float32)), "x"),
    ("dense-backward-cache", lambda: rnnlab.Dense(3, 2).backward(np.ones((2, 2)), None), "cache"),
    ("dense-backward-cache-of-another-layer", lambda: rnnlab.Dense(3, 2).backward(
        np.ones((2, 2)), rnnlab.Dense(3, 2).forward(np.ones((2, 3), np.float32))[1]), "cache"),
    ("dense-backward-dy-shape", lambda: (lambda d: d.backward(np.ones((2, 3)), d.forward(np.ones((2, 3), np.float32))[1]))(
        rnnlab.Dense(3, 2)), "dy"),
    ("dropout-backward-cache", lambda: rnnlab.Dropout(0.5).backward(np.ones(3), None), "cache"),
    ("laststep-forward-2d", lambda: LastStep().forward(np.ones((2, 3))), "x"),
    ("laststep-forward-lengths", lambda: LastStep().forward(np.ones((2, 3, 4)), [4, 1]), "lengths"),
    ("laststep-odd-features", lambda: LastStep(2).forward(np.ones((2, 3, 5))), "x"),
    ("laststep-backward-dy", lambda: LastStep().backward(np.ones((2, 5)), LastStep().forward(np.ones((2, 3, 4)))[1]),
     "dy"),
    ("sequential-states-length", lambda: seq_model().forward(X, states=[None]), "states"),
    ("sequential-backward-cache", lambda: seq_model().backward(np.ones((2, 2)), (1, 2)), "cache"),
    ("sequential-dstates-length", lambda: seq_model().backward(np.ones((2, 2), np.float32),
                                                               seq_model().forward(X)[1], [None]), "dstates"),
]

MASKS = [
    ("forward-mask-shape", lambda: lstm().forward(X, mask=np.ones((2, 4))), "mask"),
    ("forward-mask-transposed", lambda: lstm().forward(X, mask=np.ones((5, 2))), "mask"),
    ("forward-mask-1d", lambda: lstm().forward(X, mask=np.ones(5)), "mask"),
    ("forward-mask-two", lambda: lstm().forward(X, mask=np.full((2, 5), 2)), "mask"),
    ("forward-mask-half", lambda: lstm().forward(X, mask=np.full((2, 5), 0.5)), "mask"),
    ("forward-mask-nan", lambda: lstm().forward(X, mask=nan_at((2, 5))), "mask"),
    ("forward-mask-str", lambda: lstm().forward(X, mask=np.full((2, 5), "1")), "mask"),
    ("forward-mask-and-lengths", lambda: lstm().forward(X, None, [5, 5], mask=np.ones((2, 5))), "mask"),
    ("infer-mask-shape", lambda: rnnlab.GRU(3, 4, bidirectional=True).infer(X, mask=np.ones((2, 6))), "mask"),
    ("laststep-forward-mask", lambda: LastStep().forward(np.ones((2, 3, 4)), mask=np.ones((2, 4))), "mask"),
    ("sequential-mask-and-lengths", lambda: seq_model().forward(X, [5, 5], mask=np.ones((2, 5))), "mask"),
    ("sequential-mask-shape", lambda: seq_model().forward(X, mask=np.ones((3, 5))), "mask"),
    ("layer-zero-output-for-mask", lambda: lstm(zero_output_for_mask="yes"), "zero_output_for_mask"),
    ("embedding-mask-zero", lambda: rnnlab.Embedding(5, 2, mask_zero=1), "mask_zero"),
    ("masking-mask-value-nan", lambda: rnnlab.Masking(float("nan")), "mask_value"),
    ("masking-forward-2d", lambda: rnnlab.Masking().forward(np.ones((2, 3))), "x"),
    ("masking-backward-cache", lambda: rnnlab.Masking().backward(np.ones((2, 3, 1)), None), "cache"),
]

GRADCHECK = [
    ("gradcheck-eps-zero", lambda: gradcheck(rnnlab.Dense(2, 2), eps=0), "eps"),
    ("gradcheck-eps-negative", lambda: gradcheck(rnnlab.Dense(2, 2), eps=-1), "eps"),
    ("gradcheck-eps-nan", lambda: gradcheck(rnnlab.Dense(2, 2), eps=float("nan")), "eps"),
    ("gradcheck-eps-large", lambda: gradcheck(rnnlab.Dense(2, 2), eps=0.5), "eps"),
    ("gradcheck-max-checks-zero", lambda: gradcheck(rnnlab.Dense(2, 2), max_checks=0), "max_checks"),
    ("gradcheck-max-checks-float", lambda: gradcheck(rnnlab.Dense(2, 2), max_checks=2.5), "max_checks"),
    ("gradcheck-seed-negative", lambda: gradcheck(rnnlab.Dense(2, 2), seed=-1), "seed"),
    ("gradcheck-floor-zero", lambda: gradcheck(rnnlab.Dense(2, 2), floor=0), "floor"),
    ("gradcheck-model-str", lambda: gradcheck("lstm"), "model"),
    ("gradcheck-x-nan", lambda: gradcheck(rnnlab.Dense(2, 2), x=nan_at((3, 2))), "x"),
]

TF1 = [
    ("tf1-variables-list", lambda: tf1.from_variables([("rnn/lstm_cell/kernel", np.zeros((7, 16)))]), "variables"),
    ("tf1-forget-bias-nan", lambda: tf1.from_variables({}, forget_bias=float("nan")), "forget_bias"),
    ("tf1-key-int", lambda: tf1.from_variables({3: np.zeros(3)}), "variables"),
    ("tf1-no-cells", lambda: tf1.from_variables({"dense/kernel": np.zeros((3, 3))}), "variables"),
    ("tf1-encoder-and-decoder", lambda: tf1.from_variables({
        "encoder/rnn/lstm_cell/kernel": np.zeros((7, 16)), "encoder/rnn/lstm_cell/bias": np.zeros(16),
        "decoder/rnn/lstm_cell/kernel": np.zeros((7, 16)), "decoder/rnn/lstm_cell/bias": np.zeros(16)}),
     "variables"),
    ("tf1-peephole-partial", lambda: tf1.from_variables({"rnn/lstm_cell/kernel": np.zeros((7, 16)),
                                                         "rnn/lstm_cell/bias": np.zeros(16),
                                                         "rnn/lstm_cell/w_f_diag": np.zeros(4)}), "variables"),
    ("tf1-peephole-shape", lambda: tf1.lstm_from_tf1(np.zeros((7, 16)), np.zeros(16), w_i_diag=np.zeros(3),
                                                     w_f_diag=np.zeros(4), w_o_diag=np.zeros(4)), "w_i_diag"),
    ("tf1-projection-shape", lambda: tf1.lstm_from_tf1(np.zeros((5, 16)), np.zeros(16), projection=np.zeros((3, 2))),
     "projection"),
    ("tf1-projection-wide", lambda: tf1.lstm_from_tf1(np.zeros((8, 16)), np.zeros(16), projection=np.zeros((4, 5))),
     "projection"),
    ("tf1-projection-rows", lambda: tf1.lstm_from_tf1(np.zeros((2, 16)), np.zeros(16), projection=np.zeros((4, 2))),
     "kernel"),
    ("tf1-cell-clip-zero", lambda: tf1.lstm_from_tf1(np.zeros((7, 16)), np.zeros(16), cell_clip=0), "cell_clip"),
    ("tf1-cell-clip-nan", lambda: tf1.from_variables({}, cell_clip=float("nan")), "cell_clip"),
    ("tf1-peepholes-in-one-level", lambda: tf1.from_variables({
        "rnn/multi_rnn_cell/cell_0/lstm_cell/kernel": np.zeros((7, 16)),
        "rnn/multi_rnn_cell/cell_0/lstm_cell/bias": np.zeros(16),
        **{f"rnn/multi_rnn_cell/cell_0/lstm_cell/{n}": np.zeros(4) for n in ("w_i_diag", "w_f_diag", "w_o_diag")},
        "rnn/multi_rnn_cell/cell_1/lstm_cell/kernel": np.zeros((8, 16)),
        "rnn/multi_rnn_cell/cell_1/lstm_cell/bias": np.zeros(16)}), "variables"),
    ("tf1-cell-arguments-gru", lambda: tf1.cell_arguments(rnnlab.GRU(3, 4)), "layer"),
    ("tf1-kernel-int", lambda: tf1.lstm_from_tf1(np.zeros((7, 16), int), np.zeros(16)), "kernel"),
    ("tf1-bias-shape", lambda: tf1.lstm_from_tf1(np.zeros((7, 16)), np.zeros(12)), "bias"),
    ("tf1-forget-bias-str", lambda: tf1.lstm_from_tf1(np.zeros((7, 16)), np.zeros(16), forget_bias="1"),
     "forget_bias"),
]

SAVE = [
    ("save-arguments-swapped", lambda: save(seq_model(), "model.npz"), "path"),
    ("save-path-none", lambda: save(None, seq_model()), "path"),
    ("save-model-str", lambda: save("model.npz", "lstm"), "model"),
    ("save-meta-list", lambda: save("model.npz", seq_model(), meta=[1, 2]), "meta"),
    ("save-meta-array", lambda: save("model.npz", seq_model(), meta={"x": np.zeros(3)}), "meta"),
]


TF1_FIXTURES = __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "fixtures", "tf1")


def interop(module: str):
    return __import__(f"rnnlab.interop.{module}", fromlist=["_"])


LOAD = [
    ("tf1-load-checkpoint-int", lambda: tf1.load_checkpoint(3), "prefix"),
    ("tf1-load-checkpoint-scope-absent", lambda: tf1.load_checkpoint(TF1_FIXTURES + "/encoder_decoder.ckpt",
                                                                     scope="nope"), "scope"),
    ("keras-load-model-int", lambda: interop("keras").load_model(5), "path"),
    ("keras-save-model-int", lambda: interop("keras").save_model(seq_model(), 5), "path"),
    ("files-load-any-int", lambda: interop("files").load_any(5), "path"),
    ("files-save-any-none", lambda: interop("files").save_any(seq_model(), None), "path"),
    ("load-int", lambda: rnnlab.saving.load(5), "path"),
    ("read-meta-none", lambda: rnnlab.saving.read_meta(None), "path"),
    ("trees-load-model-int", lambda: __import__("rnnlab.trees.saving", fromlist=["_"]).load_model(5), "path"),
]


def test_a_tf1_scope_it_lacks_lists_the_scopes_it_holds():
    with pytest.raises(ValueError) as err:
        tf1.load_checkpoint(TF1_FIXTURES + "/encoder_decoder.ckpt", scope="nope")
    assert "one of ['decoder', 'encoder']" in str(err.value), err.value
    assert "under scopes ['decoder/rnn/lstm_cell', 'encoder/rnn/basic_lstm_cell']" in str(err.value)
    assert str(err.value).endswith("got 'nope', under which it holds none")


def test_keras_save_model_checks_its_target_naming_path(tmp_path):
    pytest.importorskip("h5py")
    keras = interop("keras")
    (tmp_path / "dir.keras").mkdir()
    (tmp_path / "file").write_text("kept")
    with pytest.raises(IsADirectoryError, match=r"^path: '.*dir.keras' is a folder; expected the path of a file"):
        keras.save_model(seq_model(), str(tmp_path / "dir.keras"))
    with pytest.raises(NotADirectoryError, match=r"^path: cannot write '.*m.keras': '.*file' is a file"):
        keras.save_model(seq_model(), str(tmp_path / "file" / "sub" / "m.keras"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.keras", "file"]
    assert list((tmp_path / "dir.keras").iterdir()) == [] and (tmp_path / "file").read_text() == "kept"


def tree_model(cell, **kw):
    from rnnlab.trees import TreeModel, TreeModelConfig
    return TreeModel(TreeModelConfig(**{"cell": cell, "vocab_size": 10, "embed_dim": 6, "hidden": 6, **kw}))


TREES = [
    ("tree-nonlinearity-relu", lambda: tree_model("childsum-recursive", nonlinearity="relu"), "nonlinearity"),
    ("tree-nonlinearity-none", lambda: tree_model("recursive", nonlinearity=None), "nonlinearity"),
    ("tree-nonlinearity-capital", lambda: tree_model("recursive", nonlinearity="Identity"), "nonlinearity"),
    ("tree-nonlinearity-treelstm", lambda: tree_model("treelstm", nonlinearity="identity"), "nonlinearity"),
    ("tree-nonlinearity-childsum", lambda: tree_model("childsum", nonlinearity="identity"), "nonlinearity"),
    ("tree-childsum-recursive-embed-dim", lambda: tree_model("childsum-recursive", embed_dim=5), "embed_dim"),
    ("tree-config-nonlinearity", lambda: __import__("rnnlab.trees.train", fromlist=["TreeConfig"]).TreeConfig(
        model="recursive", nonlinearity="sigmoid"), "--nonlinearity"),
]

CASES = OPTIMIZERS + LOSSES + LAYERS + FORWARD_BACKWARD + MASKS + GRADCHECK + TF1 + SAVE + LOAD + TREES


@pytest.mark.parametrize("call,name", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_argument_is_refused_naming_it(call, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                       # a case that got through would write here
    with pytest.raises(ValueError) as err:
        call()
    message = str(err.value)
    assert re.match(re.escape(name) + r"(:| )", message) or f"{name}:" in message, message
    assert "expected" in message or "needs" in message or "given twice" in message, message
    assert list(tmp_path.iterdir()) == []             # nothing written by a refused call


def test_ids_are_unique():
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("lr", [np.float32(0.01), np.float64(0.01), np.int64(1), 1, 0.01])
def test_numpy_scalars_are_accepted_and_give_the_python_number_result(lr):
    p, ref = {"w": np.ones(3)}, {"w": np.ones(3)}
    optim.Adam(lr=lr, betas=(np.float32(0.9), 0.999), eps=np.float64(1e-8)).step(p, {"w": np.full(3, 0.5)})
    optim.Adam(lr=float(lr), betas=(float(np.float32(0.9)), 0.999), eps=1e-8).step(ref, {"w": np.full(3, 0.5)})
    np.testing.assert_array_equal(p["w"], ref["w"])
    assert np.all(np.isfinite(p["w"])) and np.all(p["w"] < 1)


def test_adam_near_one_betas_stay_finite():
    p = {"w": np.ones(3)}
    opt = optim.Adam(lr=0.1, betas=(0.999999, 0.999999))
    for _ in range(5):
        opt.step(p, {"w": np.full(3, 0.5)})
    assert np.all(np.isfinite(p["w"]))


def test_binary_targets_may_be_bool_or_probabilities():
    z = np.array([[0.3, -1.2]])
    as_bool, _ = losses.binary_cross_entropy_with_logits(z, np.array([[True, False]]))
    as_float, _ = losses.binary_cross_entropy_with_logits(z, np.array([[1.0, 0.0]]))
    assert as_bool == as_float
    soft, _ = losses.binary_cross_entropy_with_logits(z, np.array([[0.5, 0.25]]))
    assert np.isfinite(soft)


@pytest.mark.parametrize("call", [lambda: lstm().forward(None), lambda: rnnlab.Dense(3, 2).forward(None),
                                  lambda: (lambda m: m.step(None, m.initial_state(1)))(lstm()),
                                  lambda: rnnlab.Embedding(10, 3).forward(None),
                                  lambda: rnnlab.predict(seq_model(), None)])
def test_none_for_an_array_is_called_none(call):
    """None where an array goes is named as None (it was called "dtype object")."""
    with pytest.raises(ValueError, match="^x(_t)?: expected .*, got None$"):
        call()


@pytest.mark.parametrize("make", [lambda: rnnlab.LSTM(3, 4, seed=0), lambda: rnnlab.GRU(3, 4, bidirectional=True),
                                  lambda: rnnlab.Dense(3, 2)])
def test_a_layer_copied_with_its_cache_takes_the_copy_and_a_copy_alone_refuses_it(make):
    """backward refuses another layer object's cache, also a copy's (its weights may have moved on);
    a layer deep-copied or pickled together with its cache keeps taking it (the copy's cache is its own)."""
    import copy
    import pickle
    layer = make()
    x = X[:, 0] if isinstance(layer, rnnlab.Dense) else X
    out = layer.forward(x)
    y, cache = out[0], out[-1]
    back = (lambda m, c: m.backward(np.ones_like(y), c)) if isinstance(layer, rnnlab.Dense) else \
        (lambda m, c: m.backward(np.ones_like(y), None, c))
    for twin, twin_cache in (copy.deepcopy((layer, cache)), pickle.loads(pickle.dumps((layer, cache)))):
        got, want = back(twin, twin_cache), back(layer, cache)
        for a, b in zip(got[0:1], want[0:1]):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="^cache: .*another layer's forward"):
        back(copy.deepcopy(layer), cache)
