"""ONNX files made by torch.onnx.export (the TorchScript exporter, dynamo=False) import into rnnlab
and compute what the torch module computes: nn.RNN, nn.LSTM, nn.GRU with 1-2 layers, bidirectional,
batch_first both ways, zero or explicit initial states (graph inputs), an nn.Embedding in front and an
nn.Linear head on the last step, on every step or on h_n. Each file is exported with dynamic batch and
time axes and run on other sizes than the export's. float32, max abs error <= 1e-5 against torch."""
import io
import itertools
import warnings
import zlib

import numpy as np
import pytest

from rnnlab.interop import onnx as oi

from conftest import max_abs_err, require_onnx

onnx, ort = require_onnx()
torch = pytest.importorskip("torch")

TOL = 1e-5
D, H, V, C = 3, 4, 11, 2


class Net(torch.nn.Module):
    """Embedding (optional) -> RNN/LSTM/GRU -> Linear (optional) read as ``head`` says."""

    def __init__(self, kind, layers, bi, batch_first, embed=False, head=None, nonlinearity="tanh"):
        super().__init__()
        kw = {"nonlinearity": nonlinearity} if kind == "RNN" else {}
        self.emb = torch.nn.Embedding(V, D) if embed else None
        self.rnn = getattr(torch.nn, kind)(D, H, layers, batch_first=batch_first, bidirectional=bi, **kw)
        self.fc = torch.nn.Linear(H * (2 if bi else 1), C) if head else None
        self.head, self.bi, self.batch_first = head, bi, batch_first

    def forward(self, x, *state):
        if self.emb is not None:
            x = self.emb(x)
        out, s = self.rnn(x, *state)
        if self.head is None:
            return out
        h_n = s[0] if isinstance(s, tuple) else s
        if self.head == "each":
            return self.fc(out)
        if self.head == "last":
            return self.fc(out[:, -1] if self.batch_first else out[-1])
        if self.head == "slice":
            return self.fc(out[:, -1:][:, 0] if self.batch_first else out[-1:][0])
        return self.fc(torch.cat((h_n[-2], h_n[-1]), 1) if self.bi else h_n[-1])   # "h_n"


def export(net, args, names, opset=None):
    """The ONNX model of ``net`` with dynamic batch and time axes on every input and the output."""
    x_axes = {0: "N", 1: "T"} if getattr(net, "batch_first", True) else {0: "T", 1: "N"}
    dyn = {names[0]: x_axes, **{n: {1: "N"} for n in names[1:]}}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, args, buf, dynamo=False, input_names=names, output_names=["y"],
                          dynamic_axes=dyn, **({"opset_version": opset} if opset else {}))
    return onnx.load_from_string(buf.getvalue())


def inputs(net, kind, layers, bi, N, T, seed, embed):
    g = torch.Generator().manual_seed(seed)
    shape = (N, T) if net.batch_first else (T, N)
    x = torch.randint(0, V, shape, generator=g) if embed else torch.randn(shape + (D,), generator=g)
    K = layers * (2 if bi else 1)
    h0, c0 = torch.randn(K, N, H, generator=g), torch.randn(K, N, H, generator=g)
    return x, ((h0, c0) if kind == "LSTM" else h0)


def check(kind, layers, bi, batch_first, with_state, embed=False, head=None, nonlinearity="tanh", opset=None):
    """Max abs error of the imported model against torch (output and, without a head, final state)."""
    seed = zlib.crc32(repr((kind, layers, bi, batch_first, with_state, embed, head, nonlinearity)).encode())
    torch.manual_seed(seed)
    net = Net(kind, layers, bi, batch_first, embed, head, nonlinearity).eval()
    names = ["x"] + ((["h0", "c0"] if kind == "LSTM" else ["h0"]) if with_state else [])
    x, state = inputs(net, kind, layers, bi, 2, 5, seed, embed)
    proto = export(net, (x, state) if with_state else (x,), names, opset)
    g = oi.import_graph(proto)
    assert g.input == "x" and g.output == "y"
    assert g.input_layout == ("NT" if batch_first else "TN") + ("" if embed else "D")
    x, state = inputs(net, kind, layers, bi, 3, 7, seed + 1, embed)      # other sizes than the export's
    with torch.no_grad():
        want = net(x, state) if with_state else net(x)
        out, want_state = net.rnn(net.emb(x) if embed else x, *([state] if with_state else []))
    xb = x.numpy() if batch_first else x.numpy().swapaxes(0, 1)
    xb = np.ascontiguousarray(xb)
    parts = state if isinstance(state, tuple) else (state,)
    state0 = None
    if with_state:
        assert g.states == {n: (int(embed), s) for n, s in zip(names[1:], "hc")}
        state0 = tuple(p.numpy() for p in parts)
        state0 = state0 if kind == "LSTM" else state0[0]
    else:
        assert g.states == {}
    if head is None and not embed:
        y, got_state, _ = g.model.forward(xb, state0)
    else:
        states = [None] * len(g.model.layers)
        states[int(embed)] = state0
        y, cache = g.model.forward(xb, states=states)
        got_state = cache.states[int(embed)]
    if y.ndim == 3 and not batch_first:
        y = y.swapaxes(0, 1)
    assert g.output_layout == ("NF" if y.ndim == 2 else ("NTF" if batch_first else "TNF"))
    errs = [max_abs_err(y, want.numpy())]
    got_state = got_state if isinstance(got_state, tuple) else (got_state,)
    want_state = want_state if isinstance(want_state, tuple) else (want_state,)
    errs += [max_abs_err(a, b.numpy()) for a, b in zip(got_state, want_state)]
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {"x": x.numpy(), **{n: p.numpy() for n, p in zip(names[1:], parts)}}
    errs.append(max_abs_err(sess.run(None, feed)[0], want.numpy()))        # the file is what torch computes
    return max(errs)


KINDS = ["LSTM", "GRU", "RNN"]
BARE = list(itertools.product(KINDS, [1, 2], [False, True], [False, True], [False, True]))


@pytest.mark.parametrize("kind,layers,bi,batch_first,with_state", BARE)
def test_exported_module_computes_what_torch_computes(kind, layers, bi, batch_first, with_state):
    assert check(kind, layers, bi, batch_first, with_state) <= TOL


HEADS = [("LSTM", 1, False, True, False, True, "last"), ("LSTM", 2, True, True, True, True, "last"),
         ("GRU", 2, True, False, False, True, "last"), ("RNN", 1, False, False, True, True, "last"),
         ("LSTM", 2, True, False, False, True, "h_n"), ("GRU", 1, False, True, True, True, "h_n"),
         ("RNN", 2, True, True, False, False, "h_n"), ("LSTM", 1, True, True, False, False, "each"),
         ("GRU", 2, False, False, True, True, "each"), ("LSTM", 1, False, True, False, False, "slice"),
         ("GRU", 1, True, False, False, True, "slice"), ("LSTM", 1, False, False, False, True, None)]


@pytest.mark.parametrize("kind,layers,bi,batch_first,with_state,embed,head", HEADS)
def test_exported_model_with_embedding_and_head(kind, layers, bi, batch_first, with_state, embed, head):
    assert check(kind, layers, bi, batch_first, with_state, embed, head) <= TOL


def test_relu_rnn_exports_and_imports():
    assert check("RNN", 2, True, True, False, nonlinearity="relu") <= TOL


def test_what_is_not_a_layer_is_refused_naming_node_and_operator():
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(D, H, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0] * 2.0

    proto = export(Scaled().eval(), (torch.randn(2, 5, D),), ["x"])
    with pytest.raises(ValueError, match=r"ONNX Mul node '/Mul'.*no counterpart"):
        oi.load_model(proto)

    class Fixed(torch.nn.Module):                    # a non-zero constant initial state
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.RNN(D, H, batch_first=True)
            self.register_buffer("h0", torch.ones(1, 1, H))

        def forward(self, x):
            return self.rnn(x, self.h0.expand(1, x.shape[0], H).contiguous())[0]

    proto = export(Fixed().eval(), (torch.randn(2, 5, D),), ["x"])
    with pytest.raises(ValueError, match=r"(initial_h|Expand)"):
        oi.load_model(proto)


def test_bad_onnx_file_is_a_format_error(tmp_path):
    net = Net("LSTM", 1, False, True, head="last").eval()
    proto = export(net, (torch.randn(2, 5, D),), ["x"])
    proto.graph.node.append(onnx.helper.make_node("Erf", ["y"], ["z"], name="erf1"))
    proto.graph.output.append(onnx.helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None))
    path = tmp_path / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(rnnlab_errors().FormatError, match=r"m\.onnx.*Erf node 'erf1'"):
        oi.load_model(path)


def rnnlab_errors():
    import rnnlab.errors
    return rnnlab.errors


def test_rnnlab_embedding_model_exports_to_onnx_and_back(tmp_path):
    import rnnlab
    from rnnlab.models import LastStep, Sequential
    model = Sequential([rnnlab.Embedding(V, D, seed=1, padding_idx=0), rnnlab.LSTM(D, H, 2, True, seed=2),
                        LastStep(), rnnlab.Dense(2 * H, C, "softmax", seed=3)])
    ids = np.random.default_rng(0).integers(0, V, (4, 6))
    lengths = np.array([6, 2, 4, 1], np.int32)
    oi.save_model(model, tmp_path / "m.onnx")
    proto = onnx.load(tmp_path / "m.onnx")
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {"x": ids.astype(np.int64), "lengths": lengths})
    y, cache = model.forward(ids, lengths)
    assert max(max_abs_err(y, outs[0]), max_abs_err(cache.states[1][0], outs[1])) <= TOL
    g = oi.import_graph(tmp_path / "m.onnx")
    assert g.input_layout == "NT" and g.lengths == "lengths" and g.output_layout == "NF"
    assert [type(layer).__name__ for layer in g.model.layers] == ["Embedding", "LSTM", "LastStep", "Dense"]
    for k, v in model.params.items():
        np.testing.assert_array_equal(g.model.params[k], v)


def test_lengths_must_reach_every_operator_and_the_last_step_comes_from_y_h():
    import rnnlab
    from rnnlab.models import Sequential
    model = Sequential([rnnlab.GRU(D, H, seed=1), rnnlab.GRU(H, H, seed=2)])
    proto = oi.to_onnx(model)
    second = [n for n in proto.graph.node if n.op_type == "GRU"][1]
    del second.input[4:]                              # the second operator runs every step of every row
    with pytest.raises(ValueError, match=r"1 of 2 recurrent operators read sequence_lens"):
        oi.load_model(proto)
    proto = oi.to_onnx(Sequential([rnnlab.GRU(D, H, seed=1), rnnlab.Dense(H, C, seed=2)]))
    helper = onnx.helper
    idx = next(i for i, n in enumerate(proto.graph.node) if n.op_type == "MatMul")
    mm = proto.graph.node[idx]
    proto.graph.initializer.append(onnx.numpy_helper.from_array(np.array(-1, np.int64), "minus1"))
    proto.graph.node.insert(idx, helper.make_node("Gather", [mm.input[0], "minus1"], ["last"], name="pick", axis=0))
    mm.input[0] = "last"
    with pytest.raises(ValueError, match=r"Gather node 'pick': with sequence_lens 'lengths'.*read the final state"):
        oi.load_model(proto)


@pytest.mark.parametrize("opset", [9, 11])
def test_older_opsets_with_attribute_forms_of_slice_and_squeeze(opset):
    assert check("LSTM", 2, False, True, True, True, "slice", opset=opset) <= TOL
    assert check("GRU", 1, True, False, False, False, "last", opset=opset) <= TOL


def test_expand_of_zeros_is_a_zero_initial_state():
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((0.5 * rng.standard_normal(s)).astype("float32"), n)
             for n, s in [("W", (1, H, D)), ("R", (1, H, H)), ("B", (1, 2 * H))]]
    inits += [numpy_helper.from_array(np.zeros((1, 1, H), np.float32), "z"),
              numpy_helper.from_array(np.array([1], np.int64), "one"),
              numpy_helper.from_array(np.array([H], np.int64), "h"),
              numpy_helper.from_array(np.array(1, np.int64), "i1")]
    nodes = [helper.make_node("Shape", ["X"], ["s"]), helper.make_node("Gather", ["s", "i1"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "zero_axis"], ["n1"]),
             helper.make_node("Concat", ["one", "n1", "h"], ["shape"], axis=0),
             helper.make_node("Expand", ["z", "shape"], ["h0"]),
             helper.make_node("RNN", ["X", "W", "R", "B", "", "h0"], ["Y", "Y_h"], name="rnn", hidden_size=H),
             helper.make_node("Squeeze", ["Y_h", "zero_axis"], ["y"])]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "zero_axis"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", D])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", H])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    x = rng.standard_normal((5, 3, D)).astype("float32")
    want = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})[0]
    g = oi.import_graph(proto)
    assert g.input_layout == "TND" and [type(layer).__name__ for layer in g.model.layers] == ["RNN", "LastStep"]
    assert max_abs_err(g.model.forward(np.ascontiguousarray(x.transpose(1, 0, 2)))[0], want) <= TOL
    proto.graph.node[4].input[0] = "W"                # Expand of weights is not a zero state
    with pytest.raises(ValueError, match=r"ONNX Expand node .*only of zeros"):
        oi.load_model(proto)
