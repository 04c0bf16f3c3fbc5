"""LSTM variants through ONNX, run by onnxruntime (float32, max abs error <= 1e-5): peepholes (input
P), gate_clip (attribute clip) and input_forget exported on ragged batches, uni- and bidirectional,
two levels, with heads; graphs written in the ONNX layout with P, clip and input_forget import to
layers that give onnxruntime's outputs; proj_size and cell_clip, which ONNX cannot hold, are refused."""
import itertools
import zlib

import numpy as np
import pytest

import rnnlab
from rnnlab.interop import onnx as oi
from rnnlab.models import LastStep, Sequential

from conftest import max_abs_err, require_onnx
from test_interop_onnx import LENGTHS, export_error, foreign_graph, session

onnx, ort = require_onnx()
from onnx import numpy_helper  # noqa: E402

TOL = 1e-5
OPTIONS = [{"peepholes": True}, {"gate_clip": 0.5}, {"input_forget": True},
           {"peepholes": True, "gate_clip": 0.7, "input_forget": True, "forget_bias": 1.0}]
CASES = list(itertools.product(range(len(OPTIONS)), [1, 2], [False, True], ["last", None]))


def model_of(k, layers, bi, head, seed):
    layer = rnnlab.LSTM(3, 4, layers, bi, seed=seed, **OPTIONS[k])
    layer.params.update({n: 2 * v for n, v in layer.params.items()})    # larger weights: the clip acts
    if head is None:
        return layer
    return Sequential([layer, LastStep(), rnnlab.Dense(layer.output_size, 2, "softmax", seed=seed + 1)])


@pytest.mark.parametrize("k,layers,bi,head", CASES)
def test_export_runs_identically_in_onnxruntime(k, layers, bi, head):
    seed = zlib.crc32(repr((k, layers, bi, head)).encode()) % 2**31
    assert export_error(model_of(k, layers, bi, head, seed), seed, head) <= TOL     # y, h and c


def test_the_clip_changes_the_output():
    """gate_clip must act in the exported comparison above, or its test would pass without it."""
    model = model_of(1, 1, False, None, 3)
    x = np.random.default_rng(3).standard_normal((4, 6, 3)).astype("float32")
    y = model.forward(x)[0]
    model.gate_clip = None
    assert max_abs_err(model.forward(x)[0], y) > 1e-2


@pytest.mark.parametrize("k", range(len(OPTIONS)))
def test_round_trip_is_exact(k, tmp_path):
    model = model_of(k, 2, True, "last", 5)
    oi.save_model(model, tmp_path / "m.onnx")
    back = oi.load_model(tmp_path / "m.onnx")
    lstm = back.layers[0]
    for name in ("peepholes", "gate_clip", "input_forget"):
        assert getattr(lstm, name) == getattr(model.layers[0], name), name
    assert lstm.forget_bias == 0.0                   # folded into b
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype("float32")
    assert max_abs_err(back.forward(x, LENGTHS)[0], model.forward(x, LENGTHS)[0]) <= 1e-6


@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("attrs,peep", [({"clip": 0.6}, False), ({"input_forget": 1}, False), ({}, True),
                                        ({"clip": 0.8, "input_forget": 1}, True)])
def test_foreign_graph_imports_identically(attrs, peep, bi):
    seed = zlib.crc32(repr((attrs, peep, bi)).encode())
    proto = foreign_graph("LSTM", bi, attrs, seed)
    if peep:
        proto.graph.node[0].input.extend(["", "", "P"])
        P = np.random.default_rng(seed + 1).standard_normal((2 if bi else 1, 12)).astype("float32")
        proto.graph.initializer.append(numpy_helper.from_array(P, "P"))
    x = 3 * np.random.default_rng(seed).standard_normal((4, 6, 3)).astype("float32")
    p, y_h = session(proto).run(None, {"X": x.transpose(1, 0, 2).copy(), "seq": LENGTHS})
    model = oi.load_model(proto)
    lstm = model.layers[0]
    assert lstm.peepholes == peep and lstm.gate_clip == attrs.get("clip")
    assert lstm.input_forget == bool(attrs.get("input_forget"))
    y, cache = model.forward(x, LENGTHS)
    assert max(max_abs_err(y, p), max_abs_err(cache.states[0][0], y_h)) <= TOL


@pytest.mark.parametrize("kw", [{"proj_size": 2}, {"cell_clip": 1.0}, {"layer_norm": True}])
def test_what_onnx_cannot_hold_is_refused(kw):
    name = next(iter(kw))
    with pytest.raises(ValueError, match=f"layer.{name}"):
        oi.to_onnx(rnnlab.LSTM(3, 4, **kw))


def test_peephole_input_of_wrong_shape_is_named():
    proto = foreign_graph("LSTM", False, {}, 0)
    proto.graph.node[0].input.extend(["", "", "P"])
    proto.graph.initializer.append(numpy_helper.from_array(np.ones((1, 8), np.float32), "P"))
    with pytest.raises(ValueError, match=r"'enc'.*P \(peepholes\)"):
        oi.load_model(proto)
