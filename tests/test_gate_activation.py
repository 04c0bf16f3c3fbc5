"""The gate activation option of the LSTM and GRU (gate_activation="sigmoid" | "hard_sigmoid" |
"hard_sigmoid_keras2"): the two hard sigmoids against their definitions (and PyTorch's Hardsigmoid with
its gradient), central-difference gradchecks with saturated gates, a broken derivative caught, the
cells that run the option (the compiled loops of the LSTM and the reset-after GRU where the engine
applies, else the NumPy variant cells), the step-by-step path, save/load, and the exporters that
cannot hold the option naming it."""
import numpy as np
import pytest

import rnnlab
import rnnlab.layers.lstm_variants as lv
from rnnlab import activations
from rnnlab.commands.gradcheck import THRESHOLD
from rnnlab.gradcheck import default_input, gradcheck
from rnnlab.saving import load, save

from conftest import require_onnx, require_torch

HARD = ("hard_sigmoid", "hard_sigmoid_keras2")
LENGTHS = np.array([6, 3, 1])
CELLS = [("LSTM", {}), ("GRU", {"reset_after": True}), ("GRU", {"reset_after": False})]


def layer_of(cell, kw, gate, dtype="float64", **more):
    layer = getattr(rnnlab, cell)(3, 4, seed=0, dtype=dtype, gate_activation=gate, **kw, **more)
    for v in layer.params.values():
        v *= 4                  # large pre-activations: many gates sit in the flat parts of a hard sigmoid
    return layer


def test_hard_sigmoids_follow_their_definitions_at_and_around_the_kinks():
    z = np.array([-4, -3, -2.5, -1, 0, 1, 2.5, 2.9, 3, 4], np.float64)
    np.testing.assert_allclose(activations.hard_sigmoid(z), np.clip(z / 6 + 0.5, 0, 1), atol=1e-15)
    np.testing.assert_allclose(activations.hard_sigmoid_keras2(z), np.clip(0.2 * z + 0.5, 0, 1), atol=1e-15)
    a = activations.hard_sigmoid(z)
    np.testing.assert_allclose(activations.hard_sigmoid_grad(a), np.where(np.abs(z) < 3, 1 / 6, 0), atol=1e-15)
    a2 = activations.hard_sigmoid_keras2(z)
    np.testing.assert_allclose(activations.hard_sigmoid_keras2_grad(a2), np.where(np.abs(z) < 2.5, 0.2, 0),
                               atol=1e-15)


def test_hard_sigmoid_is_torch_hardsigmoid_with_its_gradient():
    torch = require_torch()
    z = np.concatenate([np.linspace(-5, 5, 41), [-3.0, 3.0]])
    t = torch.tensor(z, requires_grad=True)
    torch.nn.functional.hardsigmoid(t).sum().backward()
    a = activations.hard_sigmoid(z)
    np.testing.assert_allclose(a, torch.nn.functional.hardsigmoid(torch.tensor(z)).numpy(), atol=1e-15)
    np.testing.assert_allclose(activations.hard_sigmoid_grad(a), t.grad.numpy(), atol=1e-15)


@pytest.mark.parametrize("gate", HARD)
@pytest.mark.parametrize("cell,kw", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradcheck(cell, kw, gate, bidirectional):
    layer = layer_of(cell, kw, gate, num_layers=2, bidirectional=bidirectional)
    x, s0 = default_input(layer, batch=3, time=6, seed=1)
    _, _, cache = layer.forward(x, s0, LENGTHS)
    gates = np.concatenate([np.stack([s.gates for s in d.cell.steps]).ravel() for d in cache.directions])
    assert 0.05 < np.mean((gates == 0) | (gates == 1)) < 0.9        # both flat parts and the slope are in play
    report = gradcheck(layer, x, s0, LENGTHS, max_checks=25, eps=1e-7)
    assert report.worst <= THRESHOLD, report.format()
    assert {f"param {k}" for k in layer.params} <= {r.name for r in report.rows}


@pytest.mark.parametrize("cell,kw", CELLS)
def test_a_wrong_gate_derivative_fails_the_gradcheck(cell, kw, monkeypatch):
    layer = layer_of(cell, kw, "hard_sigmoid")
    table = dict(activations.GATE_ACTIVATIONS)
    table["hard_sigmoid"] = (activations.hard_sigmoid, lambda a: np.full_like(a, 1 / 6))   # no flat parts
    monkeypatch.setattr(lv, "GATE_ACTIVATIONS", table)
    import rnnlab.layers.gru_variants as gv
    monkeypatch.setattr(gv, "GATE_ACTIVATIONS", table)
    x, s0 = default_input(layer, batch=3, time=6, seed=1)
    assert gradcheck(layer, x, s0, LENGTHS, max_checks=25, eps=1e-7).worst > 1e-3


@pytest.mark.parametrize("cell,kw", CELLS)
def test_the_option_changes_the_output_and_runs_the_variant_cells(cell, kw):
    from rnnlab import engine
    x, _ = default_input(layer_of(cell, kw, "sigmoid", dtype="float32"), batch=3, time=6, seed=1)
    outs = {}
    for gate in ("sigmoid",) + HARD:
        layer = layer_of(cell, kw, gate, dtype="float32")
        y, _, cache = layer.forward(x)
        assert layer._plain == (gate == "sigmoid")
        if gate != "sigmoid":                    # the compiled loop (not the reset-before GRU), else the NumPy cells
            compiled = engine.active() != "numpy" and kw.get("reset_after", True)
            want = f"{cell}EngineCache" if compiled else f"{cell}VCache"
            assert type(cache.directions[0].cell).__name__ == want
        outs[gate] = y
    assert np.abs(outs["hard_sigmoid"] - outs["sigmoid"]).max() > 1e-2
    assert np.abs(outs["hard_sigmoid"] - outs["hard_sigmoid_keras2"]).max() > 1e-2


@pytest.mark.parametrize("cell,kw", CELLS)
def test_sigmoid_through_the_variant_cells_is_the_plain_cell(cell, kw):
    """The variant step functions with gate_activation="sigmoid" compute the plain cell, forward and
    backward, so the option is the only difference the hard sigmoids make."""
    import rnnlab.layers.gru as gru
    import rnnlab.layers.gru_variants as gv
    import rnnlab.layers.lstm as lstm
    layer = layer_of(cell, kw, "sigmoid")
    p = layer.direction_params(0, 0)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 3, 3))                              # (T, N, D)
    state0 = tuple(rng.standard_normal((3, 4)) for _ in layer.state_names)
    dy = rng.standard_normal((6, 3, 4))
    if cell == "LSTM":
        y0, _, c0 = lstm.lstm_forward(x, state0, p, reverse=True)
        y1, _, c1 = lv.lstmv_forward(x, state0, p, reverse=True, opt=lv.LSTMOptions(gate_activation="sigmoid"))
        d0, d1 = lstm.lstm_backward(dy, state0, c0), lv.lstmv_backward(dy, state0, c1)
    else:
        y0, _, c0 = gru.gru_forward(x, state0, p, reverse=True, reset_after=kw["reset_after"])
        y1, _, c1 = gv.gruv_forward(x, state0, p, reverse=True, reset_after=kw["reset_after"],
                                    gate_activation="sigmoid")
        d0, d1 = gru.gru_backward(dy, state0, c0), gv.gruv_backward(dy, state0, c1)
    np.testing.assert_allclose(y1, y0, atol=1e-12)
    np.testing.assert_allclose(d1[0], d0[0], atol=1e-12)
    for k in d0[2]:
        np.testing.assert_allclose(d1[2][k], d0[2][k], atol=1e-12)


@pytest.mark.parametrize("gate", HARD)
@pytest.mark.parametrize("cell,kw", CELLS)
def test_step_by_step_equals_forward(cell, kw, gate):
    layer = layer_of(cell, kw, gate, num_layers=2)
    x, _ = default_input(layer, batch=2, time=5, seed=2)
    y, _, _ = layer.forward(x)
    state = layer.initial_state(2)
    for t in range(5):
        y_t, state = layer.step(x[:, t], state)
        np.testing.assert_allclose(y_t, y[:, t], atol=1e-12)


@pytest.mark.parametrize("gate", HARD)
@pytest.mark.parametrize("cell,kw", CELLS)
def test_save_load_round_trip(cell, kw, gate, tmp_path):
    layer = layer_of(cell, kw, gate)
    save(tmp_path / "m.npz", layer)
    back = load(tmp_path / "m.npz")
    assert back.gate_activation == gate and back.config() == layer.config()
    x, _ = default_input(layer, batch=2, time=5, seed=2)
    np.testing.assert_array_equal(back.forward(x)[0], layer.forward(x)[0])
    assert "gate_activation" not in layer_of(cell, kw, "sigmoid").config()     # the default is not written


@pytest.mark.parametrize("cell,kw", CELLS)
def test_exporters_without_a_hard_sigmoid_name_the_option(cell, kw, tmp_path):
    from rnnlab.interop import tf1, torch as ti
    layer = layer_of(cell, kw, "hard_sigmoid", dtype="float32")
    if cell == "GRU" and not kw["reset_after"]:
        layer.reset_after = True                 # torch's refusal of reset-before would come first
    require_torch()
    with pytest.raises(ValueError, match=r"layer\.gate_activation: PyTorch .*'hard_sigmoid'"):
        ti.to_state_dict(layer)
    if cell == "LSTM":
        with pytest.raises(ValueError, match=r"layer\.gate_activation: .*TF1.*'hard_sigmoid'"):
            tf1.to_variables(layer)



@pytest.mark.parametrize("gate", HARD)
@pytest.mark.parametrize("cell,kw", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_onnx_hardsigmoid_gates_run_identically_in_onnxruntime_and_read_back(cell, kw, gate, bidirectional):
    onnx, ort = require_onnx()
    from rnnlab.interop import onnx as oi
    layer = layer_of(cell, kw, gate, dtype="float32", num_layers=2, bidirectional=bidirectional)
    proto = oi.to_onnx(layer)
    x = np.random.default_rng(5).standard_normal((3, 6, 3)).astype("float32")
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = session.run(None, {"x": x, "lengths": LENGTHS.astype(np.int32)})
    y, state, _ = layer.forward(x, None, LENGTHS)
    state = state if isinstance(state, tuple) else (state,)
    assert max(np.abs(a - b).max() for a, b in zip([y, *state], outs)) <= 1e-5
    back = oi.load_model(proto)
    assert back.gate_activation == gate and repr(back) == repr(layer)
    np.testing.assert_array_equal(back.forward(x, None, LENGTHS)[0], y)


def test_onnx_hardsigmoid_with_other_parameters_is_refused():
    require_onnx()
    from onnx import helper
    from rnnlab.interop import onnx as oi
    proto = oi.to_onnx(rnnlab.GRU(3, 4, gate_activation="hard_sigmoid", seed=0))
    node = next(n for n in proto.graph.node if n.op_type == "GRU")
    for a in list(node.attribute):
        if a.name == "activation_alpha":
            node.attribute.remove(a)
    node.attribute.append(helper.make_attribute("activation_alpha", [0.3]))
    with pytest.raises(ValueError, match=r"\.activation_alpha: rnnlab's HardSigmoid gates have alpha 1/6"):
        oi.load_model(proto)
    for a in list(node.attribute):
        if a.name in ("activation_alpha", "activation_beta"):
            node.attribute.remove(a)
    assert oi.load_model(proto).gate_activation == "hard_sigmoid_keras2"     # ONNX's defaults 0.2, 0.5
