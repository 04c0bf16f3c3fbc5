"""ONNX through rnnlab.interop.onnx, run by onnxruntime: rnnlab models exported to the standard RNN,
LSTM and GRU operators give rnnlab's outputs and final states on ragged batches (sequence_lens); graphs
written by hand in the ONNX layout (no rnnlab naming, both bias halves set, Gemm heads) import to rnnlab
models that give onnxruntime's outputs; rnnlab -> ONNX -> rnnlab returns identical arrays.
onnxruntime runs these operators in float32 only, so every comparison is float32."""
import itertools
import zlib

import numpy as np
import pytest

import rnnlab
from rnnlab.interop import onnx as oi
from rnnlab.models import LastStep, Sequential

from conftest import max_abs_err, require_onnx

onnx, ort = require_onnx()
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

TOL = 1e-5
LENGTHS = np.array([6, 2, 4, 1], np.int32)


def session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def layer_of(kind, option, layers, bi, seed):
    if kind == "RNN":
        return rnnlab.RNN(3, 4, layers, bi, nonlinearity=option, seed=seed)
    if kind == "GRU":
        return rnnlab.GRU(3, 4, layers, bi, reset_after=option, seed=seed)
    return rnnlab.LSTM(3, 4, layers, bi, forget_bias=option, seed=seed)


def model_of(layer, head, seed):
    if head is None:
        return layer
    dense = rnnlab.Dense(layer.output_size, 2, "softmax" if head == "last" else "tanh", seed=seed + 1)
    return Sequential([layer, LastStep(), dense] if head == "last" else [layer, dense])


KINDS = [("RNN", "tanh"), ("RNN", "relu"), ("LSTM", 0.0), ("LSTM", 1.0), ("GRU", True), ("GRU", False)]
CASES = list(itertools.product(KINDS, [1, 2], [False, True], ["last", "each", None]))


def export_error(model, seed: int, head) -> float:
    """Max abs error between rnnlab's ``model`` (a layer when ``head`` is None) and onnxruntime running
    its export, over y and every final state, on a ragged batch drawn from ``seed``."""
    x = np.random.default_rng(seed).standard_normal((4, 6, 3)).astype("float32")
    outs = session(oi.to_onnx(model)).run(None, {"x": x, "lengths": LENGTHS})
    if head is None:
        y, state, _ = model.forward(x, None, LENGTHS)
    else:
        y, cache = model.forward(x, LENGTHS)
        state = cache.states[0]
    state = state if isinstance(state, tuple) else (state,)
    assert len(outs) == 1 + len(state)
    return max([max_abs_err(y, outs[0])] + [max_abs_err(s, o) for s, o in zip(state, outs[1:])])


def compare_export(kind, option, layers, bi, head) -> float:
    seed = zlib.crc32(repr((kind, option, layers, bi, head)).encode()) % 2**31
    return export_error(model_of(layer_of(kind, option, layers, bi, seed), head, seed), seed, head)


@pytest.mark.parametrize("kind_option,layers,bi,head", CASES)
def test_export_runs_identically_in_onnxruntime(kind_option, layers, bi, head):
    assert compare_export(*kind_option, layers, bi, head) <= TOL


@pytest.mark.parametrize("kind_option,layers,bi,head", CASES[::5])
def test_round_trip_through_onnx_is_exact(kind_option, layers, bi, head, tmp_path):
    kind, option = kind_option
    model = model_of(layer_of(kind, 0.0 if kind == "LSTM" else option, layers, bi, 7), head, 7)
    oi.save_model(model, tmp_path / "m.onnx")
    back = oi.load_model(tmp_path / "m.onnx")
    assert repr(back) == repr(model)
    for k, v in model.params.items():
        np.testing.assert_array_equal(back.params[k], v)


def foreign_graph(op, bi, attrs, seed, H=4, D=3, head="gemm"):
    """A graph as another exporter would write it: time-major input, ONNX-layout random weights with
    both bias halves non-zero, Squeeze/Reshape glue and a Gemm(transB=1) head on Y_h."""
    rng = np.random.default_rng(seed)
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    dirs = 2 if bi else 1
    inits = [numpy_helper.from_array((0.5 * rng.standard_normal(s)).astype("float32"), n) for n, s in
             [("W", (dirs, G * H, D)), ("R", (dirs, G * H, H)), ("B", (dirs, 2 * G * H)),
              ("fc_w", (2, dirs * H)), ("fc_b", (2,))]]
    inits.append(numpy_helper.from_array(np.array([0, -1], np.int64), "flat"))
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    nodes = [helper.make_node(op, ["X", "W", "R", "B", "seq"], outs, name="enc", hidden_size=H,
                              direction="bidirectional" if bi else "forward", **attrs),
             helper.make_node("Transpose", ["Y_h"], ["h_t"], perm=[1, 0, 2]),
             helper.make_node("Reshape", ["h_t", "flat"], ["h_flat"]),
             helper.make_node("Gemm", ["h_flat", "fc_w", "fc_b"], ["logits"], transB=1),
             helper.make_node("Sigmoid", ["logits"], ["p"])]
    graph = helper.make_graph(
        nodes, "foreign",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", D]),
         helper.make_tensor_value_info("seq", TensorProto.INT32, ["N"])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 2]),
         helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [dirs, "N", H])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


FOREIGN = [("LSTM", {}), ("GRU", {"linear_before_reset": 1}), ("GRU", {"linear_before_reset": 0}),
           ("RNN", {}), ("RNN", {"activations": ["Relu"]})]


def compare_import(op, attrs, bi) -> float:
    seed = zlib.crc32(repr((op, attrs, bi)).encode())
    if op == "RNN" and bi and attrs:
        attrs = {"activations": ["Relu", "Relu"]}
    proto = foreign_graph(op, bi, attrs, seed)
    x = np.random.default_rng(seed).standard_normal((4, 6, 3)).astype("float32")
    p, y_h = session(proto).run(None, {"X": x.transpose(1, 0, 2).copy(), "seq": LENGTHS})
    model = oi.load_model(proto)
    assert [type(layer).__name__ for layer in model.layers] == [op, "LastStep", "Dense"]
    y, cache = model.forward(x, LENGTHS)
    h = cache.states[0][0] if op == "LSTM" else cache.states[0]
    return max(max_abs_err(y, p), max_abs_err(h, y_h))


@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("op,attrs", FOREIGN)
def test_foreign_graph_imports_identically(op, attrs, bi):
    assert compare_import(op, attrs, bi) <= TOL


def test_what_rnnlab_cannot_represent_is_named():
    for op, attrs, message in [("GRU", {"clip": 3.0}, r"'enc'\.clip"),
                               ("GRU", {"direction": "sideways"}, r"'enc'\.direction.*sideways"),
                               ("GRU", {"activations": ["HardSigmoid", "Relu"]}, r"'enc'\.activations")]:
        proto = foreign_graph(op, False, {}, 0)
        for k, v in attrs.items():
            for a in list(proto.graph.node[0].attribute):
                if a.name == k:
                    proto.graph.node[0].attribute.remove(a)
            proto.graph.node[0].attribute.append(helper.make_attribute(k, v))
        with pytest.raises(ValueError, match=message):
            oi.load_model(proto)
    proto = foreign_graph("GRU", False, {}, 0)
    proto.graph.node.append(helper.make_node("Conv", ["p", "fc_w"], ["z"], name="conv1"))
    with pytest.raises(ValueError, match="Conv node 'conv1'"):
        oi.load_model(proto)
