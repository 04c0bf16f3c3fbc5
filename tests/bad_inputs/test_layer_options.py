"""Bad input to the gate activation option and to ReverseSequence / MergeDirections: every case raises
ValueError at the boundary, the message starting with the argument's name as the user wrote it, then
saying what was expected. Each case is (id, call, argument name), as in test_api.py."""
import re

import numpy as np
import pytest

import rnnlab
from rnnlab.layers import MergeDirections, ReverseSequence

X = np.ones((2, 5, 4), np.float32)


def reverse_backward(dy, cache_of=None):
    _, cache = ReverseSequence().forward(X)
    return ReverseSequence().backward(dy, cache if cache_of is None else cache_of)


def merge_backward(dy, cache_of=None):
    layer = MergeDirections(2, "mul")
    _, cache = layer.forward(X)
    return layer.backward(dy, cache if cache_of is None else cache_of)


CASES = [
    ("lstm-gate-relu", lambda: rnnlab.LSTM(3, 4, gate_activation="relu"), "gate_activation"),
    ("lstm-gate-keras-spelling", lambda: rnnlab.LSTM(3, 4, gate_activation="hard-sigmoid"), "gate_activation"),
    ("gru-gate-none", lambda: rnnlab.GRU(3, 4, gate_activation=None), "gate_activation"),
    ("gru-gate-function", lambda: rnnlab.GRU(3, 4, gate_activation=np.tanh), "gate_activation"),
    ("merge-size-zero", lambda: MergeDirections(0), "size"),
    ("merge-size-float", lambda: MergeDirections(2.5), "size"),
    ("merge-mode-concat", lambda: MergeDirections(2, "concat"), "mode"),
    ("merge-mode-none", lambda: MergeDirections(2, None), "mode"),
    ("merge-x-width", lambda: MergeDirections(3).forward(X), "x"),
    ("merge-x-int", lambda: MergeDirections(2).forward(np.ones((2, 4), int)), "x"),
    ("merge-dy-shape", lambda: merge_backward(np.ones((2, 5, 4), np.float32)), "dy"),
    ("merge-cache-other", lambda: merge_backward(np.ones((2, 5, 2), np.float32), ReverseSequence().forward(X)[1]),
     "cache"),
    ("reverse-x-2d", lambda: ReverseSequence().forward(np.ones((2, 5))), "x"),
    ("reverse-lengths-zero", lambda: ReverseSequence().forward(X, np.array([0, 5])), "lengths"),
    ("reverse-lengths-long", lambda: ReverseSequence().forward(X, np.array([6, 5])), "lengths"),
    ("reverse-lengths-count", lambda: ReverseSequence().forward(X, np.array([5])), "lengths"),
    ("reverse-dy-steps", lambda: reverse_backward(np.ones((2, 4, 4), np.float32)), "dy"),
    ("reverse-cache-other", lambda: reverse_backward(X, MergeDirections(2).forward(X)[1]), "cache"),
]


@pytest.mark.parametrize("call,name", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_argument_is_refused_naming_it(call, name):
    with pytest.raises(ValueError) as err:
        call()
    message = str(err.value)
    assert re.match(re.escape(name) + r"(:| )", message), message
    assert "expected" in message, message


def test_ids_are_unique():
    assert len({c[0] for c in CASES}) == len(CASES)
