"""Reverse-only recurrent layers (direction="reverse", ONNX's name): the reverse half of a bidirectional
layer on its own, on ragged batches; gradients by central differences; configuration, saving, summary;
streaming and formats without such a layer refuse it; ONNX operators with direction="reverse" run in
onnxruntime as rnnlab computes and import back."""
import zlib

import numpy as np
import pytest

import rnnlab
from rnnlab.commands.gradcheck import THRESHOLD
from rnnlab.gradcheck import default_input, gradcheck
from rnnlab.models import LastStep, Sequential
from rnnlab.saving import load, save

from conftest import max_abs_err

LENGTHS = np.array([6, 2, 4, 1])
KINDS = [("RNN", {"nonlinearity": "tanh"}), ("LSTM", {"forget_bias": 1.0}), ("GRU", {"reset_after": True}),
         ("GRU", {"reset_after": False})]


def make(kind, options, **kw):
    return getattr(rnnlab, kind)(3, 4, **options, **kw)


@pytest.mark.parametrize("kind,options", KINDS)
def test_reverse_layer_is_the_reverse_half_of_a_bidirectional_layer(kind, options):
    bi = make(kind, options, bidirectional=True, dtype="float64", seed=1)
    rev = make(kind, options, direction="reverse", dtype="float64", seed=2)
    for name, value in bi.direction_params(0, 1).items():
        rev.params[f"l0.{name}"][...] = value
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 3))
    s_bi = tuple(rng.standard_normal((2, 4, 4)) for _ in bi.state_names)
    s_rev = tuple(s[1:] for s in s_bi)
    pack = (lambda s: s) if kind == "LSTM" else (lambda s: s[0])
    y_bi, f_bi, _ = bi.forward(x, pack(s_bi), LENGTHS)
    y_rev, f_rev, _ = rev.forward(x, pack(s_rev), LENGTHS)
    np.testing.assert_allclose(y_rev, y_bi[..., 4:], rtol=0, atol=1e-12)
    for a, b in zip(f_rev if kind == "LSTM" else (f_rev,), f_bi if kind == "LSTM" else (f_bi,)):
        np.testing.assert_allclose(a, b[1:], rtol=0, atol=1e-12)
    assert np.all(y_rev[1, 2:] == 0)                     # padded steps output zero
    np.testing.assert_allclose((f_rev[0] if kind == "LSTM" else f_rev)[0], y_rev[:, 0], atol=1e-12)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind,options", KINDS)
def test_reverse_gradients_match_central_differences(kind, options, layers):
    layer = make(kind, options, num_layers=layers, direction="reverse", dtype="float64", seed=layers)
    x, state0 = default_input(layer, batch=3, time=5)
    report = gradcheck(layer, x, state0, np.array([5, 2, 3]), max_checks=25)
    assert report.worst <= THRESHOLD, report.format()
    assert {f"param {k}" for k in layer.params} <= {r.name for r in report.rows}


def test_direction_argument_config_save_load_and_summary(tmp_path):
    layer = rnnlab.LSTM(3, 4, num_layers=2, direction="reverse", seed=0)
    assert layer.direction == "reverse" and layer.directions == 1 and not layer.bidirectional
    assert layer.config()["direction"] == "reverse"
    assert "direction" not in rnnlab.LSTM(3, 4).config()      # forward layers keep their old config
    assert rnnlab.GRU(3, 4, direction="bidirectional").bidirectional
    assert sorted(layer.params) == ["l0.U", "l0.W", "l0.b", "l1.U", "l1.W", "l1.b"]
    model = Sequential([layer, rnnlab.Dense(4, 2, seed=1)])
    save(tmp_path / "m.npz", model)
    back = load(tmp_path / "m.npz")
    assert back.layers[0].reverse and repr(back) == repr(model)
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    np.testing.assert_array_equal(back.forward(x)[0], model.forward(x)[0])
    text = model.summary()
    assert "LSTM(3 -> 4, 2 layers, reverse)" in text
    with pytest.raises(ValueError, match="direction: expected one of"):
        rnnlab.RNN(3, 4, direction="backward")
    with pytest.raises(ValueError, match="direction: 'reverse' runs one direction"):
        rnnlab.RNN(3, 4, bidirectional=True, direction="reverse")


def test_streaming_refuses_a_reverse_layer():
    layer = rnnlab.GRU(3, 4, direction="reverse")
    with pytest.raises(ValueError, match=r"step: a GRU with direction='reverse' cannot run step by step"):
        layer.step(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="direction='reverse'"):
        Sequential([layer, rnnlab.Dense(4, 2)]).initial_state(1)


def test_formats_without_reverse_layers_refuse_them():
    torch_interop = pytest.importorskip("rnnlab.interop.torch")
    model = Sequential([rnnlab.LSTM(3, 4, direction="reverse"), rnnlab.Dense(4, 2)])
    with pytest.raises(ValueError, match=r"model.layers\[0\].direction: this format has no reverse-only LSTM"):
        torch_interop.model_state_dict(model)


# ----- ONNX -------------------------------------------------------------------------------------
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind,options", KINDS)
def test_reverse_onnx_operator_runs_in_onnxruntime_and_imports_back(kind, options, layers, tmp_path):
    from conftest import require_onnx
    onnx, ort = require_onnx()
    from rnnlab.interop import onnx as oi
    seed = zlib.crc32(repr((kind, options, layers)).encode())
    options = {**options, "forget_bias": 0.0} if kind == "LSTM" else options
    model = Sequential([make(kind, options, num_layers=layers, direction="reverse", seed=seed),
                        rnnlab.Dense(4, 2, "tanh", seed=seed + 1)])
    proto = oi.to_onnx(model)
    assert {n.op_type: n for n in proto.graph.node}[kind].attribute
    x = np.random.default_rng(seed).standard_normal((4, 6, 3)).astype("float32")
    lengths = LENGTHS.astype(np.int32)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {"x": x, "lengths": lengths})
    y, cache = model.forward(x, lengths)
    state = cache.states[0] if kind == "LSTM" else (cache.states[0],)
    assert max([max_abs_err(y, outs[0])] + [max_abs_err(s, o) for s, o in zip(state, outs[1:])]) <= 1e-5
    oi.save_model(model, tmp_path / "m.onnx")
    back = oi.load_model(tmp_path / "m.onnx")
    assert repr(back) == repr(model)
    for k, v in model.params.items():
        np.testing.assert_array_equal(back.params[k], v)


def test_onnx_last_step_of_a_reverse_layer_is_refused():
    from rnnlab.interop import onnx as oi
    pytest.importorskip("onnx")
    model = Sequential([rnnlab.RNN(3, 4, direction="reverse"), LastStep(), rnnlab.Dense(4, 2)])
    with pytest.raises(ValueError, match="reverse layer reaches at t = 0"):
        oi.to_onnx(model)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_foreign_reverse_operator_imports_identically(op):
    """A hand-written graph: time-major input, both bias halves set, Y squeezed to (T, N, H)."""
    from conftest import require_onnx
    onnx, ort = require_onnx()
    from onnx import TensorProto, helper, numpy_helper
    from rnnlab.interop import onnx as oi
    rng = np.random.default_rng(zlib.crc32(op.encode()))
    G, H, D = {"LSTM": 4, "GRU": 3, "RNN": 1}[op], 4, 3
    inits = [numpy_helper.from_array((0.5 * rng.standard_normal(s)).astype("float32"), n) for n, s in
             [("W", (1, G * H, D)), ("R", (1, G * H, H)), ("B", (1, 2 * G * H))]]
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "axes"))
    attrs = {"linear_before_reset": 1} if op == "GRU" else {}
    nodes = [helper.make_node(op, ["X", "W", "R", "B", "seq"], ["Y", "Y_h"], name="enc", hidden_size=H,
                              direction="reverse", **attrs),
             helper.make_node("Squeeze", ["Y", "axes"], ["y"])]
    graph = helper.make_graph(nodes, "foreign",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", D]),
                               helper.make_tensor_value_info("seq", TensorProto.INT32, ["N"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", "N", H]),
                               helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, "N", H])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    x = rng.standard_normal((4, 6, 3)).astype("float32")
    y_ort, h_ort = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"X": x.transpose(1, 0, 2).copy(), "seq": LENGTHS.astype(np.int32)})
    g = oi.import_graph(proto)
    assert g.input_layout == "TND" and g.output_layout == "TNF" and g.lengths == "seq"
    assert g.model.direction == "reverse"
    y, state, _ = g.model.forward(x, None, LENGTHS)
    h = state[0] if op == "LSTM" else state
    assert max(max_abs_err(y.transpose(1, 0, 2), y_ort), max_abs_err(h, h_ort)) <= 1e-5
