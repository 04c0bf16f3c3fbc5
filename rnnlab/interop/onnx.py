"""ONNX <-> rnnlab: export a sequence model to a graph of the standard ``RNN``, ``LSTM`` and ``GRU``
operators (forward, reverse or bidirectional, with ``sequence_lens``), and import such graphs.

ONNX stores per operator W [directions, G*H, D], R [directions, G*H, H] (rows, i.e. the transposes of
rnnlab's W and U) and B [directions, 2*G*H] = [Wb; Rb], gate blocks LSTM (i, o, f, c), GRU (z, r, h).
``linear_before_reset=1`` is rnnlab's reset-after GRU, with Rb's h block as b_hn; ``linear_before_reset=0``
adds Rb_h outside the reset, so it folds into b like every other bias. An LSTM's run-time
``forget_bias`` is folded into Wb's f block.

LSTM variants (rnnlab.layers.lstm_variants): ``peepholes`` is the input P [directions, 3H], blocks
(i, o, f) (rnnlab's ``p`` is (i, f, o)); ``gate_clip`` is the attribute ``clip`` (ONNX clips the
input of every activation: the gate pre-activations, peephole terms included); ``input_forget`` is
the attribute ``input_forget``. ONNX has no projection and no clip of the cell state itself, so an
LSTM with ``proj_size``, ``cell_clip`` or ``layer_norm`` is refused naming the option. An LSTM's or GRU's
``gate_activation`` "hard_sigmoid" / "hard_sigmoid_keras2" is the gate activation ``HardSigmoid`` with
``activation_alpha`` 1/6 / 0.2 and ``activation_beta`` 0.5, one value per HardSigmoid (per direction):
the parameter lists are consumed by the activations that take parameters, in order, as onnxruntime
reads them; import reads the same back (a HardSigmoid without the lists is ONNX's default, 0.2 and 0.5).

The exported graph: inputs ``x`` (N, T, D) and ``lengths`` (N,) int32 (``sequence_lens``; every
length in [1, T]); output ``y`` (what ``model.forward(x, lengths)`` returns in evaluation mode) and,
for the i-th layer of a Sequential that is recurrent, ``h<i>`` (and ``c<i>`` for the LSTM) of shape
(K, N, H), its final state. Inside, the operators run time-major (``layout=0``) between Transpose
nodes; each operator node is named ``rnnlab.<i>.l<level>`` so that a stacked layer imports back as one
layer, and recurrent layers in a row are operators in a row. It is the inference graph: a ``Dropout``
layer, the identity there, has no node.

A model that starts with an ``Embedding`` takes ``x`` as (N, T) int64 token ids, looked up with
``Gather`` on its table (``padding_idx`` and ``sparse`` concern training and are not stored).

Import (``load_model``, ``import_graph``) reads these graphs and those of other exporters, such as
``torch.onnx.export`` (rnnlab.interop._onnx_graph gives every value its meaning): the operators in
any of the directions forward, reverse (rnnlab's ``direction="reverse"``) or bidirectional;
zero initial states built from the input's shape (Shape / Gather / Unsqueeze / Concat /
ConstantOfShape / Expand / Slice); initial states that are graph inputs, which the model then takes
as ``state0`` (``import_graph`` says which input goes to which layer); batch-major or time-major
layouts (Transpose / Squeeze / Reshape around the operators: rnnlab models take batch-major x, and
``import_graph`` gives the graph's layout); the last step (Gather or Slice at -1 of the time axis, or
the final states Y_h, which become a ``LastStep``); Gemm or MatMul + Add heads with Sigmoid / Tanh /
Relu / Softmax; an embedding's ``Gather``; Dropout (the identity at inference unless its
``training_mode`` input is true) and Identity / Cast. Consecutive operators of one kind and size, the
second reading the first, become one stacked layer. Anything else that touches the data, and what
rnnlab cannot represent (clipping in an RNN or GRU, non-default activations, constant initial states
other than zero, a graph that branches), is refused with the node's name and operator or attribute.
An LSTM's peepholes (``P``), ``clip`` and ``input_forget`` become the layer's ``peepholes``,
``gate_clip`` and ``input_forget`` options.

Reading a file is defensive: any fault gives a ``rnnlab.errors.FormatError`` (a ``ValueError``) naming
the file and the node or tensor. Tensors stored as external data (``data_location`` EXTERNAL, or
``external_data`` entries) are refused before any tensor is read, since they name other local files;
the file is parsed with ``load_external_data=False``. A file larger than ``MAX_ONNX_BYTES`` is refused
before parsing, and every tensor's declared shape must match the data it holds.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import FormatError, describe
from ..extras import require
from ..layers import GRU, LSTM, RNN, Dense, Embedding, Recurrent
from ..models import LastStep
from ._onnx_graph import GraphReader, ImportedGraph
from ._layout import block, check_last_step, inference_layers, new_layer, refuse_variants, reorder, set_direction

OP = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "RNN"}
ACT_OPS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "softmax": "Softmax"}
GLUE = ("Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Cast", "Dropout")
DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
HARD_SIGMOID_ALPHA = {"hard_sigmoid": 1 / 6, "hard_sigmoid_keras2": 0.2}
"""ONNX HardSigmoid(x) = max(0, min(1, alpha x + beta)) with beta = 0.5: rnnlab's gate_activation by alpha."""
OPSET = 14
MAX_ONNX_BYTES = 1 << 31
"""Largest .onnx file read (2 GiB, protobuf's own limit); tensors hold their data inside the file, so
their arrays are bounded by it."""


def _onnx():
    return require("onnx", "rnnlab.interop.onnx needs onnx: pip install 'rnnlab[onnx]'")


# ----- rnnlab -> ONNX -------------------------------------------------------------------------------
def onnx_weights(layer: Recurrent, l: int) -> tuple:
    """(W, R, B) of level ``l`` of ``layer`` in ONNX layout, directions stacked on axis 0."""
    refuse_variants(layer, "ONNX", holds=("peepholes", "gate_clip", "input_forget", "proj_size", "cell_clip",
                                          "layer_norm", "gate_activation") if isinstance(layer, LSTM) else
                    ("gate_activation",))
    if isinstance(layer, LSTM):
        for option, why in (("proj_size", "has no recurrent projection"),
                            ("cell_clip", "clips the gate pre-activations (rnnlab's gate_clip), not the cell state"),
                            ("layer_norm", "has no layer normalization")):
            if getattr(layer, option):
                raise ValueError(f"layer.{option}: ONNX's LSTM {why}; got {option}={getattr(layer, option)!r}")
    kind = layer.kind
    Ws, Rs, Bs = [], [], []
    for d in range(layer.directions):
        p = layer.direction_params(l, d)
        Ws.append(reorder(p["W"], kind, "rnnlab", "onnx", 1).T)
        Rs.append(reorder(p["U"], kind, "rnnlab", "onnx", 1).T)
        b = p["b"].copy()
        if isinstance(layer, LSTM):
            block(b, "rnnlab", kind, "f")[...] += layer.forget_bias
        rb = np.zeros_like(b)
        if isinstance(layer, GRU) and layer.reset_after:
            block(rb, "rnnlab", kind, "n")[...] = p["b_hn"]
        Bs.append(np.concatenate([reorder(b, kind, "rnnlab", "onnx", 0), reorder(rb, kind, "rnnlab", "onnx", 0)]))
    return np.stack(Ws), np.stack(Rs), np.stack(Bs)


def onnx_peepholes(layer: LSTM, l: int) -> np.ndarray:
    """P [directions, 3H] of level ``l``: rnnlab's p blocks (i, f, o) in ONNX's order (i, o, f)."""
    return np.stack([reorder(layer.direction_params(l, d)["p"], "peepholes", "rnnlab", "onnx", 0)
                     for d in range(layer.directions)])


def to_onnx(model, opset: int = OPSET):
    """An ``onnx.ModelProto`` computing ``model.forward(x, lengths)`` (see the module docstring)."""
    from ..saving import check_model_params
    check_model_params(model)           # weights that no longer fit the model: refused, nothing written
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper
    live = inference_layers(model, reverse=True)     # Dropout is the identity at inference: no node
    first = live[0][1]
    dt = first.dtype if hasattr(first, "dtype") else np.dtype("float32")
    elem = TensorProto.DOUBLE if dt == np.float64 else TensorProto.FLOAT
    nodes, inits, outputs = [], [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op, inputs, outs, name=None, **attrs):
        nodes.append(helper.make_node(op, inputs, outs, name=name or outs[0], **attrs))
        return outs[0]

    sequence = isinstance(first, (Recurrent, Embedding))
    if isinstance(first, Embedding):               # x holds token ids; the lookup is a Gather on the table
        if first.mask_zero:
            raise ValueError(f"model.layers[{live[0][0]}].mask_zero: an ONNX RNN node takes sequence lengths, not "
                             f"per-step masks; got {first!r}")
        inputs = [helper.make_tensor_value_info("x", TensorProto.INT64, ["N", "T"]),
                  helper.make_tensor_value_info("lengths", TensorProto.INT32, ["N"])]
        e = node("Gather", [const(f"{live[0][0]}.W", first.params["W"]), "x"], ["x_emb"], name=f"rnnlab.{live[0][0]}")
        cur = node("Transpose", [e], ["x_tnd"], perm=[1, 0, 2])                      # (T, N, E)
        live = live[1:]
        if not live or not isinstance(live[0][1], Recurrent):
            raise ValueError("model: ONNX export takes an Embedding only before a recurrent layer")
    elif sequence:
        inputs = [helper.make_tensor_value_info("x", elem, ["N", "T", first.input_size]),
                  helper.make_tensor_value_info("lengths", TensorProto.INT32, ["N"])]
        cur = node("Transpose", ["x"], ["x_tnd"], perm=[1, 0, 2])                    # (T, N, D)
    elif isinstance(first, Dense):
        inputs = [helper.make_tensor_value_info("x", elem, ["N", first.input_size])]
        cur = "x"
    else:
        raise ValueError(f"model.layers[{live[0][0]}]: expected a recurrent or Dense layer, got "
                         f"{type(first).__name__}")
    time_major = sequence
    for k, (i, layer) in enumerate(live):
        if isinstance(layer, Recurrent):
            if not time_major:
                raise ValueError(f"model.layers[{i}]: a recurrent layer after the sequence was reduced")
            ys_h, ys_c = [], []
            for l in range(layer.num_layers):
                W, R, B = onnx_weights(layer, l)
                tag = f"rnnlab.{i}.l{l}"
                attrs = {"hidden_size": layer.hidden_size, "direction": layer.direction}
                if isinstance(layer, GRU):
                    attrs["linear_before_reset"] = int(layer.reset_after)
                if isinstance(layer, RNN):
                    attrs["activations"] = [layer.nonlinearity.capitalize()] * layer.directions
                elif layer.gate_activation != "sigmoid":           # f = HardSigmoid, one alpha and beta per direction
                    attrs["activations"] = (["HardSigmoid"] + DEFAULT_ACTS[layer.kind][1:]) * layer.directions
                    attrs["activation_alpha"] = [HARD_SIGMOID_ALPHA[layer.gate_activation]] * layer.directions
                    attrs["activation_beta"] = [0.5] * layer.directions
                op_inputs = [cur, const(f"{tag}.W", W), const(f"{tag}.R", R), const(f"{tag}.B", B), "lengths"]
                if isinstance(layer, LSTM):
                    if layer.gate_clip is not None:
                        attrs["clip"] = layer.gate_clip
                    if layer.input_forget:
                        attrs["input_forget"] = 1
                    if layer.peepholes:                                  # inputs 5, 6: initial_h, initial_c
                        op_inputs += ["", "", const(f"{tag}.P", onnx_peepholes(layer, l))]
                outs = [f"{tag}.Y", f"{tag}.Y_h"] + ([f"{tag}.Y_c"] if isinstance(layer, LSTM) else [])
                node(OP[layer.kind], op_inputs, outs, name=tag, **attrs)
                ys_h.append(outs[1])
                if isinstance(layer, LSTM):
                    ys_c.append(outs[2])
                t = node("Transpose", [outs[0]], [f"{tag}.Y_tnkh"], perm=[0, 2, 1, 3])   # (T, N, dirs, H)
                cur = node("Reshape", [t, const(f"{tag}.shape", np.array([0, 0, -1], np.int64))],
                           [f"{tag}.Y_tnf"])                                          # (T, N, dirs*H)
            for s, parts in (("h", ys_h), ("c", ys_c)):
                if parts:
                    node("Concat", parts, [f"{s}{i}"], axis=0)                       # (K, N, H)
                    outputs.append(helper.make_tensor_value_info(f"{s}{i}", elem,
                                                                 [layer.num_layers * layer.directions, "N",
                                                                  layer.hidden_size]))
            last_h = ys_h[-1]
        elif isinstance(layer, LastStep):
            if k == 0 or not isinstance(live[k - 1][1], Recurrent):
                raise ValueError(f"model.layers[{i}]: ONNX export takes LastStep only right after a recurrent layer")
            check_last_step(i, layer, live[k - 1][1])
            t = node("Transpose", [last_h], [f"{i}.h_nkh"], perm=[1, 0, 2])              # (N, dirs, H)
            cur = node("Reshape", [t, const(f"{i}.shape", np.array([0, -1], np.int64))], [f"{i}.last"])
            time_major = False
        elif isinstance(layer, Dense):
            a = node("MatMul", [cur, const(f"{i}.W", layer.params["W"])], [f"{i}.xW"])
            cur = node("Add", [a, const(f"{i}.b", layer.params["b"])], [f"{i}.a"])
            if layer.activation in ACT_OPS:
                kw = {"axis": -1} if layer.activation == "softmax" else {}
                cur = node(ACT_OPS[layer.activation], [cur], [f"{i}.y"], **kw)
        else:
            raise ValueError(f"model.layers[{i}]: ONNX export has no counterpart of {type(layer).__name__}")
    if time_major:
        cur = node("Transpose", [cur], ["y_ntf"], perm=[1, 0, 2])
    node("Identity", [cur], ["y"])
    out_dims = ["N", "T", None] if time_major else ["N", None]
    outputs.insert(0, helper.make_tensor_value_info("y", elem, out_dims))
    graph = helper.make_graph(nodes, "rnnlab", inputs, outputs, inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="rnnlab")
    onnx.checker.check_model(proto)
    return proto


def save_model(model, path, opset: int = OPSET) -> None:
    """Write ``to_onnx(model)`` to ``path`` (.onnx)."""
    from ..saving import atomic_write
    proto = to_onnx(model, opset)
    atomic_write(path, lambda f: f.write(proto.SerializeToString()))


# ----- ONNX -> rnnlab -------------------------------------------------------------------------------
def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _text(v):
    return v.decode() if isinstance(v, bytes) else v


def _hard_sigmoid(at: dict, dirs: int, where: str) -> str:
    """rnnlab's gate_activation for HardSigmoid gates: alpha 1/6 or 0.2 and beta 0.5 in every direction
    (the lists' one value per HardSigmoid; ONNX's defaults 0.2 and 0.5 without them)."""
    alphas = [float(np.float32(a)) for a in at.get("activation_alpha", [0.2] * dirs)]
    betas = [float(b) for b in at.get("activation_beta", [0.5] * dirs)]
    for gate, alpha in HARD_SIGMOID_ALPHA.items():
        if alphas == [float(np.float32(alpha))] * dirs and betas == [0.5] * dirs:
            return gate
    raise ValueError(f"{where}.activation_alpha: rnnlab's HardSigmoid gates have alpha 1/6 (gate_activation="
                     f"'hard_sigmoid') or 0.2 ('hard_sigmoid_keras2') and beta 0.5, one per direction; got alpha "
                     f"{alphas} and beta {betas}")


def _recurrent_layer(node, arrays: dict, where: str) -> Recurrent:
    """An rnnlab layer (one level) from one ONNX RNN / LSTM / GRU node."""
    kind = node.op_type
    at = _attrs(node)
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    options = {}
    if "clip" in at:
        if kind != "LSTM":
            raise ValueError(f"{where}.clip: rnnlab's {kind} does not clip its activations' inputs "
                             f"(only the LSTM's gate_clip does)")
        options["gate_clip"] = float(str(np.float32(at["clip"])))   # the float32 attribute's shortest decimal
    if at.get("input_forget", 0):
        options["input_forget"] = True
    direction = _text(at.get("direction", "forward"))
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ValueError(f"{where}.direction: rnnlab runs 'forward', 'reverse' or 'bidirectional', got {direction!r}")
    dirs = 2 if direction == "bidirectional" else 1
    if direction == "reverse":
        options["direction"] = "reverse"
    acts = [_text(a) for a in at.get("activations", [])]
    if kind == "RNN":
        acts = acts or ["Tanh"] * dirs
        if set(acts) not in ({"Tanh"}, {"Relu"}):
            raise ValueError(f"{where}.activations: rnnlab's RNN uses Tanh or Relu in both directions, got {acts}")
        options["nonlinearity"] = acts[0].lower()
    elif acts and acts == (["HardSigmoid"] + DEFAULT_ACTS[kind][1:]) * dirs:
        options["gate_activation"] = _hard_sigmoid(at, dirs, where)
    elif acts and acts != DEFAULT_ACTS[kind] * dirs:
        raise ValueError(f"{where}.activations: rnnlab's {kind} uses {DEFAULT_ACTS[kind]}, or HardSigmoid in "
                         f"place of Sigmoid, got {acts}")
    for name in ("activation_alpha", "activation_beta"):
        if name in at and "gate_activation" not in options:
            raise ValueError(f"{where}.{name}: rnnlab's activations take no parameters")
    if kind == "GRU":
        options["reset_after"] = bool(at.get("linear_before_reset", 0))
    ins = list(node.input) + [""] * 8
    labels = {5: "initial_h", 6: "initial_c"}
    peep = None
    if kind == "LSTM" and ins[7]:
        peep = arrays.get(ins[7])
        if peep is None:
            raise ValueError(f"{where}: input P (peepholes) {ins[7]!r} is not a constant initializer")
        options["peepholes"] = True
    for idx, label in labels.items():
        if ins[idx]:
            value = arrays.get(ins[idx])
            if value is None or np.any(value != 0):
                raise ValueError(f"{where}: input {label}: rnnlab imports zero initial states only; pass "
                                 f"state0 to forward instead")
    try:
        W, R = arrays[ins[1]], arrays[ins[2]]
    except KeyError as err:
        raise ValueError(f"{where}: weights {err.args[0]!r} are not constant initializers") from err
    if W.ndim != 3 or R.ndim != 3:
        raise ValueError(f"{where}: inputs W {W.shape} and R {R.shape}: expected rank 3, W (directions, G*H, D) "
                         f"and R (directions, G*H, H)")
    H = R.shape[2]
    if W.shape[:2] != (dirs, G * H) or R.shape != (dirs, G * H, H):
        raise ValueError(f"{where}: W {W.shape} and R {R.shape} do not fit a {direction} {kind} of hidden size {H}")
    B = arrays.get(ins[3]) if ins[3] else None
    B = np.zeros((dirs, 2 * G * H), W.dtype) if B is None else B
    if B.shape != (dirs, 2 * G * H):
        raise ValueError(f"{where}: input B has shape {B.shape}, expected ({dirs}, {2 * G * H})")
    layer = new_layer(kind, W.shape[2], H, W.dtype, bidirectional=dirs == 2, **options)
    for d in range(dirs):
        wb, rb = reorder(B[d, :G * H], kind, "onnx", "rnnlab", 0), reorder(B[d, G * H:], kind, "onnx", "rnnlab", 0)
        p = {"W": reorder(W[d].T, kind, "onnx", "rnnlab", 1), "U": reorder(R[d].T, kind, "onnx", "rnnlab", 1)}
        if kind == "GRU" and options["reset_after"]:
            p["b"] = wb + np.concatenate([block(rb, "rnnlab", kind, "rz"), np.zeros(H, W.dtype)])
            p["b_hn"] = block(rb, "rnnlab", kind, "n")
        else:
            p["b"] = wb + rb
        if peep is not None:
            if peep.shape != (dirs, 3 * H):
                raise ValueError(f"{where}: input P (peepholes) has shape {peep.shape}, expected {(dirs, 3 * H)}")
            p["p"] = reorder(peep[d], "peepholes", "onnx", "rnnlab", 0)
        set_direction(layer, 0, d, p)
    return layer


def _tensors(graph):
    """(where, TensorProto) of every tensor the graph stores: initializers and Constant values, also in
    subgraphs (walked with a stack)."""
    graphs = [graph]
    while graphs:
        g = graphs.pop()
        for t in g.initializer:
            yield f"initializer {t.name!r}", t
        for t in getattr(g, "sparse_initializer", ()):
            yield f"sparse initializer {t.values.name!r}", t.values
        for n in g.node:
            for a in n.attribute:
                where = f"{n.op_type} node {n.name or (n.output[0] if n.output else '?')!r} attribute {a.name!r}"
                if a.HasField("t"):
                    yield where, a.t
                if a.HasField("sparse_tensor"):
                    yield where, a.sparse_tensor.values
                for t in a.tensors:
                    yield where, t
                if a.HasField("g"):
                    graphs.append(a.g)
                graphs.extend(a.graphs)


def check_tensors(graph, path) -> None:
    """Refuse tensors whose data lives outside the file (external data), naming the tensor."""
    from onnx import TensorProto
    for where, t in _tensors(graph):
        if t.data_location == TensorProto.EXTERNAL or len(t.external_data):
            files = [e.value for e in t.external_data if e.key == "location"]
            raise FormatError(path, where, f"tensor {t.name!r} stores its data outside the file (external data "
                                           f"{files[:1]}); refused")


def load_model(source):
    """An rnnlab model from an ONNX file or ``onnx.ModelProto`` made of RNN / LSTM / GRU operators,
    embedding lookups and dense heads, e.g. ``rnnlab.interop.onnx.load_model("model.onnx")``: the
    ``model`` of ``import_graph(source)``, which also says which graph inputs are initial states and
    the graph's axis order. Raises ``FileNotFoundError`` when there is no file and
    ``rnnlab.errors.FormatError`` naming the file and the node or tensor on a malformed or unsupported
    graph, or tensors stored as external data."""
    return import_graph(source).model


def import_graph(source) -> ImportedGraph:
    """The rnnlab model of an ONNX graph and how the graph's inputs and outputs map to it (see
    ``ImportedGraph``), e.g. for a graph exported by ``torch.onnx.export`` from an ``nn.LSTM`` called
    with ``(x, (h0, c0))`` and ``batch_first=False``::

        g = rnnlab.interop.onnx.import_graph("lstm.onnx")
        # g.input_layout == "TND", g.states == {"h0": (0, "h"), "c0": (0, "c")}
        y, state, _ = g.model.forward(x.transpose(1, 0, 2), (h0, c0))

    Errors as ``load_model``."""
    onnx = _onnx()
    path = "<onnx.ModelProto>"
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise FileNotFoundError(f"source: no file at {path!r}")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"source: {path!r} is not a file")
        if os.path.getsize(path) > MAX_ONNX_BYTES:
            raise FormatError(path, "", f"{os.path.getsize(path)} bytes, more than MAX_ONNX_BYTES = {MAX_ONNX_BYTES}")
        try:
            source = onnx.load(path, load_external_data=False)
        except Exception as err:  # protobuf raises DecodeError and others for foreign files
            raise FormatError(path, "", f"not an ONNX model ({describe(err)})") from None
    if not hasattr(source, "graph"):
        raise ValueError(f"source: expected an .onnx path or an onnx.ModelProto, got {type(source).__name__}")
    check_tensors(source.graph, path)
    try:
        return _import(source.graph)
    except FormatError:
        raise
    except ValueError as err:                 # the importer's messages name the node and attribute
        raise FormatError(path, "", str(err)) from None
    except (KeyError, IndexError, TypeError, AttributeError, ZeroDivisionError, OverflowError, RecursionError,
            UnicodeDecodeError, RuntimeError, NotImplementedError) as err:
        raise FormatError(path, "", f"not a graph rnnlab reads ({describe(err)})") from None


def _import(graph) -> ImportedGraph:
    reader = GraphReader(graph, _recurrent_layer, _attrs)
    reader.run()
    return reader.result()


def _dense(W, b) -> Dense:
    dense = Dense(W.shape[0], W.shape[1], dtype=W.dtype.name)
    dense.params["W"] = np.ascontiguousarray(W)
    dense.params["b"] = np.ascontiguousarray(b, W.dtype)
    return dense
