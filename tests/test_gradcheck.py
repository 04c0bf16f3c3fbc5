"""Central-difference gradient checks on every layer type and configuration (float64, 5 steps,
non-zero initial states, full and ragged batches), and proof that the check catches a wrong gradient."""
import numpy as np
import pytest

import rnnlab
from rnnlab.commands.gradcheck import THRESHOLD, configurations
from rnnlab.gradcheck import default_input, gradcheck

CONFIGS = configurations()


@pytest.mark.parametrize("index", range(len(CONFIGS)), ids=[f"{i}-{type(m).__name__}" for i, (m, _) in enumerate(CONFIGS)])
def test_every_configuration(index):
    model, lengths = CONFIGS[index]
    x, state0 = default_input(model, batch=3, time=5)
    report = gradcheck(model, x, state0, lengths, max_checks=25)
    assert report.worst <= THRESHOLD, report.format()
    # every parameter and the input were checked
    names = {r.name for r in report.rows}
    assert {f"param {k}" for k in model.params} <= names
    assert "input x" in names
    if isinstance(model, rnnlab.layers.Recurrent):
        assert any(n.startswith("input state0") for n in names)


def test_gradcheck_catches_a_wrong_gradient():
    """Break the LSTM backward on purpose (dU off by 1%): the check must fail and name U."""
    import rnnlab.layers.lstm as lstm

    layer = rnnlab.LSTM(3, 4, seed=0, dtype="float64")
    good = gradcheck(layer)
    assert good.worst <= THRESHOLD

    class Broken(rnnlab.LSTM):
        def _cell_backward(self, dy, dstateT, cache, dx_out=None, dx_add=False):
            dx, (dh, dc), grads = lstm.lstm_backward(dy, dstateT, cache)
            grads["U"] = grads["U"] * 1.01
            return dx, (dh, dc), grads

    report = gradcheck(Broken(3, 4, seed=0, dtype="float64"))
    assert report.worst > 1e-3
    assert report.worst_name == "param l0.U"


def test_gradcheck_on_float32_layer_checks_a_float64_copy():
    layer = rnnlab.GRU(2, 3, seed=1)                 # float32
    report = gradcheck(layer)
    assert report.worst <= THRESHOLD
    assert layer.dtype == np.float32                 # the layer itself is untouched
