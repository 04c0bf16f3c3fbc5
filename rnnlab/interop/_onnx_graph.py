"""Reading an ONNX graph as a chain of rnnlab layers: each value is given a meaning, node by node.

Exporters do not write bare RNN operators. ``torch.onnx.export`` (the TorchScript exporter) builds a
zero initial state from the input's shape (``Shape -> Gather -> Unsqueeze -> Concat ->
ConstantOfShape``, sometimes ``Expand`` or ``Slice`` per level), wraps the operator in ``Transpose``,
``Squeeze`` and ``Reshape`` for ``batch_first`` and for the direction axis, reads the last step with
``Gather`` (or ``Slice`` and ``Squeeze``), an ``nn.Linear`` as ``Gemm`` (or ``MatMul`` + ``Add``), and an
``nn.Embedding`` as ``Gather`` on its weight. So every value is tracked as one of:

    const     an initializer or Constant
    meta      shape arithmetic (from Shape): never data
    zero      a tensor of zeros (ConstantOfShape 0, Expand of zeros, or any reshaping of them)
    state_in  a graph input read as an initial state, with the levels it covers (Slice on axis 0)
    lengths   a 1-D integer graph input read as ``sequence_lens``
    ids       token ids (2-D integers) before an Embedding
    seq       a sequence (3 axes) of features; seq4 an operator's Y (T, directions, N, H)
    vec       one vector per sequence (N, F), after the last step was taken
    hn, cn    an operator's Y_h / Y_c (directions, N, H), or levels of them concatenated
    hslot     one direction's final state, Gather of an hn
with, for sequences, the order of their axes as labels (T, N, F, K for the direction axis). The data
input's first two axes are unknown until an operator reads it: the RNN operator reads (T, N, D), so
a Transpose before it means the input is batch-major. Every node that gives data a meaning rnnlab
does not have is refused naming the node and its operator.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from ..layers import Dense, Embedding, Recurrent
from ..models import LastStep
from ._layout import make_model, stack_levels

SHAPE_OPS = ("Shape", "Size", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice", "Reshape", "Identity",
             "Add", "Sub", "Mul", "Div", "Equal", "Less", "Greater", "Not", "Where", "Range", "Max", "Min")
"""Operators read as shape arithmetic when every input is a constant or shape arithmetic."""
RECURRENT_OPS = ("LSTM", "GRU", "RNN")
ACTIVATIONS = ("Sigmoid", "Tanh", "Relu", "Softmax")
FLOAT_TYPES = (1, 11)            # TensorProto FLOAT, DOUBLE
INT_TYPES = (2, 3, 4, 5, 6, 7, 12, 13)
BIG = 2 ** 31 - 1                # Slice ends at or beyond this mean "to the end"


class ImportedGraph(NamedTuple):
    """What ``rnnlab.interop.onnx.import_graph`` returns.

    model:         the rnnlab layer or Sequential
    input:         the graph input that is the model's x (features, or token ids for an Embedding)
    input_layout:  "NTD" / "TND" (ids: "NT" / "TN"; a Dense-first model: "ND"): the graph's layout of
                   that input. rnnlab models take batch-major x, so a "TND" graph's x is passed as
                   ``x.transpose(1, 0, 2)``
    lengths:       the graph input read as ``sequence_lens`` (the model's ``lengths``), or None
    states:        {graph input: (layer index, "h" | "c")}: graph inputs that are initial states, in
                   rnnlab's (and ONNX's and PyTorch's) layout (num_layers * directions, N, H); pass them
                   as ``layer.forward(x, state0)`` or ``model.forward(x, states=[...])`` at that index
                   (an LSTM's state0 is the pair (h, c); a part the graph does not take is zeros)
    output:        the graph output that is the model's y
    output_layout: "NTF" / "TNF" / "NF", the graph's layout of that output
    """
    model: object
    input: str
    input_layout: str
    lengths: str | None
    states: dict
    output: str
    output_layout: str


@dataclass
class V:
    """The meaning of one value of the graph (see the module docstring)."""
    kind: str
    order: tuple = ()            # axis labels of ids, seq, seq4, hn
    pos: int = 0                 # layers in the chain when this value was made
    feat: int | None = None      # size of the last axis, where known
    array: np.ndarray | None = None      # const
    name: str = ""               # state_in, lengths, ids: the graph input
    start: int = 0               # state_in, hn, cn: first level slot covered
    stop: int | None = None      # ... one past the last (None: to the end)
    rec: int = -1                # hn, cn, hslot: index of the recurrent entry in the chain


@dataclass
class Entry:
    """A recurrent layer being assembled: one single-level rnnlab layer per operator node."""
    levels: list
    nodes: list
    h0: list = field(default_factory=list)   # per level: the V of initial_h (None: zeros)
    c0: list = field(default_factory=list)


def _where(n) -> str:
    return f"ONNX {n.op_type} node {n.name or (n.output[0] if n.output else '?')!r}"


class GraphReader:
    """One pass over the nodes in order (ONNX requires topological order), then the chain of layers."""

    def __init__(self, graph, recurrent_layer, attrs):
        from onnx import numpy_helper
        self.recurrent_layer, self.attrs = recurrent_layer, attrs
        self.values: dict[str, V] = {}
        for t in graph.initializer:
            self.values[t.name] = V("const", array=numpy_helper.to_array(t))
        self.chain: list = []                  # rnnlab layers, or Entry for recurrent ones
        self.alias: dict[str, str] = {}        # unknown input axes a0, a1 -> T or N once an operator reads them
        self.data_input: V | None = None
        self.data_name = ""
        self.input_rank = 0
        self.lengths_name: str | None = None
        self.recurrent_nodes = self.with_lengths = 0   # operators, and those reading sequence_lens
        self.graph = graph
        self._inputs(graph)

    # ----- graph inputs -------------------------------------------------------------------------
    def _inputs(self, graph) -> None:
        state_names = set()
        for n in graph.node:                   # inputs that reach an operator's initial_h / initial_c
            if n.op_type in RECURRENT_OPS:
                for name in list(n.input)[5:7]:
                    while name and name not in self.values:
                        prod = next((m for m in graph.node if name in m.output), None)
                        if prod is None or prod.op_type not in ("Slice", "Identity"):
                            break
                        name = prod.input[0]
                    state_names.add(name)
        lengths_names = {n.input[4] for n in graph.node if n.op_type in RECURRENT_OPS and len(n.input) > 4}
        for inp in graph.input:
            if inp.name in self.values:        # old exporters list initializers as inputs too
                continue
            tt = inp.type.tensor_type
            rank = len(tt.shape.dim) if tt.HasField("shape") else None
            elem = tt.elem_type
            if inp.name in state_names:
                self.values[inp.name] = V("state_in", name=inp.name, start=0, stop=None)
                continue
            if inp.name in lengths_names:
                self.values[inp.name] = V("lengths", name=inp.name)
                continue
            if self.data_input is not None:
                raise ValueError(f"ONNX graph input {inp.name!r}: a second data input (after {self.data_name!r}); "
                                 f"rnnlab models take one input x, plus lengths and initial states")
            if elem in INT_TYPES and rank == 2:
                v = V("ids", order=("a0", "a1"), name=inp.name)
            elif elem in FLOAT_TYPES and rank == 3:
                dim = tt.shape.dim[2]
                v = V("seq", order=("a0", "a1", "F"), feat=dim.dim_value if dim.HasField("dim_value") else None)
            elif elem in FLOAT_TYPES and rank == 2:
                dim = tt.shape.dim[1]
                v = V("vec", order=("N", "F"), feat=dim.dim_value if dim.HasField("dim_value") else None)
            else:
                raise ValueError(f"ONNX graph input {inp.name!r}: rnnlab reads float inputs of rank 3 (a sequence) "
                                 f"or 2, or integer token ids of rank 2; got element type {elem} and rank {rank}")
            self.data_input, self.data_name, self.input_rank = v, inp.name, rank
            self.values[inp.name] = v
        if self.data_input is None:
            raise ValueError("ONNX graph: no data input (a float sequence or integer token ids), so no RNN, LSTM, "
                             "GRU, embedding or dense operators to read")

    # ----- helpers ------------------------------------------------------------------------------
    def label(self, lab: str) -> str:
        return self.alias.get(lab, lab)

    def labels(self, order: tuple) -> tuple:
        return tuple(self.label(x) for x in order)

    def bind(self, order: tuple, want: tuple, what: str) -> None:
        """Require the axes ``order`` to be ``want``, fixing the input's unknown axes on the way."""
        got = self.labels(order)
        if len(got) != len(want):
            raise ValueError(f"{what}: expected {len(want)} axes ({', '.join(want)}), got {len(got)}")
        new = {}
        for g, w in zip(got, want):
            if g == w:
                continue
            if g in ("a0", "a1") and w in ("T", "N") and new.get(g, w) == w:
                new[g] = w
            else:
                raise ValueError(f"{what}: expected axes ({', '.join(want)}), got ({', '.join(got)})")
        self.alias.update(new)

    def const(self, name: str, what: str) -> np.ndarray:
        v = self.values.get(name)
        if v is None or v.kind != "const":
            raise ValueError(f"{what}: input {name!r} must be a constant")
        return v.array

    def ints(self, name: str, what: str) -> list:
        return [int(i) for i in np.asarray(self.const(name, what)).reshape(-1)]

    def head(self, v: V, what: str) -> None:
        """``v`` must be the output of the last layer so far: rnnlab models are a chain."""
        if v.pos != len(self.chain):
            raise ValueError(f"{what}: reads the output of layer {v.pos} of {len(self.chain)}; rnnlab reads a chain "
                             f"of layers, each reading the one before")

    def axes_arg(self, n, at: dict, what: str) -> list | None:
        if "axes" in at:
            return [int(a) for a in at["axes"]]
        if len(n.input) > 1 and n.input[1]:
            return self.ints(n.input[1], what)
        return None

    # ----- the pass -----------------------------------------------------------------------------
    def run(self) -> None:
        from onnx import numpy_helper
        for n in self.graph.node:
            what = _where(n)
            at = self.attrs(n)
            if n.op_type == "Constant":
                if "value" not in at:
                    raise ValueError(f"{what}: rnnlab reads Constant nodes with a 'value' tensor only")
                self.values[n.output[0]] = V("const", array=numpy_helper.to_array(at["value"]))
                continue
            ins = [self.values.get(i) if i else None for i in n.input]
            for i, v in zip(n.input, ins):
                if i and v is None:
                    raise ValueError(f"{what}: input {i!r} is not constant, nor made by an earlier node, nor a "
                                     f"graph input")
            outs = self.node(n, ins, at, what)
            for name, v in zip(n.output, outs):
                if name and v is not None:
                    self.values[name] = v

    def node(self, n, ins: list, at: dict, what: str) -> list:
        op = n.op_type
        data = [v for v in ins if v is not None]
        kinds = {v.kind for v in data}
        if op in RECURRENT_OPS:
            return self.recurrent(n, ins, what)
        if op in ("Shape", "Size"):
            return [V("meta")]
        if op == "ConstantOfShape":                 # zeros, or (filled otherwise) more shape arithmetic
            value = at.get("value")
            return [V("meta" if value is not None and np.any(numpy_helper_array(value) != 0) else "zero")]
        if op == "Expand":
            x = ins[0]
            if x.kind == "zero" or (x.kind == "const" and not np.any(x.array)):
                return [V("zero")]
            raise ValueError(f"{what}: rnnlab reads Expand only of zeros, as an initial state")
        if kinds <= {"const", "meta"} and op in SHAPE_OPS:
            return [V("meta")]
        if ins and ins[0] is not None and ins[0].kind == "zero" and op in SHAPE_OPS + ("Transpose", "Expand"):
            return [V("zero")]
        if op in ("Identity", "Dropout"):
            if op == "Dropout" and len(n.input) > 2 and n.input[2]:
                tm = self.values[n.input[2]]
                if tm.kind != "const" or np.any(tm.array):
                    raise ValueError(f"{what}: input training_mode {n.input[2]!r} is not a constant false; rnnlab "
                                     f"reads Dropout only as the identity it is at inference")
            return [ins[0]] + [None] * (len(n.output) - 1)
        if op == "Cast":
            if at.get("to") not in FLOAT_TYPES + INT_TYPES or ins[0].kind in ("seq", "vec", "seq4") and \
                    at.get("to") not in FLOAT_TYPES:
                raise ValueError(f"{what}: a cast to element type {at.get('to')} of data")
            return [ins[0]]
        if op == "Transpose":
            return [self.transpose(ins[0], at, what)]
        if op == "Slice" and ins[0].kind == "state_in":
            return [self.slice_state(n, ins[0], at, what)]
        if op == "Slice" and ins[0].kind == "seq":
            return [self.slice_last(n, ins[0], at, what)]
        if op == "Squeeze":
            return [self.squeeze(n, ins[0], at, what)]
        if op in ("Reshape", "Flatten"):
            return [self.reshape(n, ins[0], at, what)]
        if op == "Gather":
            return [self.gather(n, ins, at, what)]
        if op == "Concat":
            return [self.concat(ins, at, what)]
        if op in ("Gemm", "MatMul"):
            return [self.dense(n, ins, at, what)]
        if op == "Add":
            return [self.bias(n, ins, what)]
        if op in ACTIVATIONS:
            return [self.activation(n, ins[0], at, what)]
        raise ValueError(f"{what}: rnnlab has no counterpart of this operator here (its inputs are "
                         f"{[v.kind if v else None for v in ins]})")

    # ----- recurrent operators ------------------------------------------------------------------
    def recurrent(self, n, ins: list, what: str) -> list:
        x = ins[0]
        if x is None or x.kind != "seq":
            raise ValueError(f"{what}: input X must be a sequence, got {x.kind if x else 'nothing'}")
        self.head(x, what)
        self.bind(x.order, ("T", "N", "F"), f"{what}: input X")
        states = []
        for idx, label in ((5, "initial_h"), (6, "initial_c")):
            v = ins[idx] if len(ins) > idx else None
            if v is not None and not (v.kind in ("zero", "state_in") or
                                      (v.kind == "const" and not np.any(v.array))):
                raise ValueError(f"{what}: input {label} {n.input[idx]!r}: rnnlab takes zeros or a graph input as an "
                                 f"initial state, got {'non-zero constants' if v.kind == 'const' else v.kind}")
            states.append(v if v is not None and v.kind == "state_in" else None)
        self.recurrent_nodes += 1
        if len(ins) > 4 and ins[4] is not None:
            self.with_lengths += 1
            if ins[4].kind != "lengths":
                raise ValueError(f"{what}: input sequence_lens {n.input[4]!r} must be a graph input")
            if self.lengths_name not in (None, ins[4].name):
                raise ValueError(f"{what}: input sequence_lens {n.input[4]!r}, where an earlier operator reads "
                                 f"{self.lengths_name!r}; rnnlab runs every layer on one lengths")
            self.lengths_name = ins[4].name
        bare = type(n)()
        bare.CopyFrom(n)                       # initial states are resolved here, not in the layer builder
        for idx in (5, 6):
            if len(bare.input) > idx:
                bare.input[idx] = ""
        arrays = {k: v.array for k, v in self.values.items() if v.kind == "const"}
        one = self.recurrent_layer(bare, arrays, what)
        if x.feat is not None and x.feat != one.input_size:
            raise ValueError(f"{what}: W reads {one.input_size} features, its input X has {x.feat}")
        prev = self.chain[-1] if self.chain else None
        if isinstance(prev, Entry) and self._stacks(prev, n, one, states):
            prev.levels.append(one)
            prev.nodes.append(n)
            prev.h0.append(states[0])
            prev.c0.append(states[1])
            level = len(prev.levels) - 1
        else:
            self.chain.append(Entry([one], [n], [states[0]], [states[1]]))
            level = 0
        rec, pos, dirs, H = len(self.chain) - 1, len(self.chain), one.directions, one.hidden_size
        slots = (level * dirs, (level + 1) * dirs)
        outs = [V("seq4", order=("T", "K", "N", "F"), pos=pos, feat=H, rec=rec),
                V("hn", order=("K", "N", "F"), pos=pos, feat=H, rec=rec, start=slots[0], stop=slots[1]),
                V("cn", order=("K", "N", "F"), pos=pos, feat=H, rec=rec, start=slots[0], stop=slots[1])]
        return outs[:len(n.output)]

    def _stacks(self, prev: Entry, n, one: Recurrent, states: list) -> bool:
        """Whether operator ``n`` is the next level of ``prev`` (it reads prev's output, as it does here)."""
        last = prev.levels[-1]
        same = (type(last) is type(one) and last.hidden_size == one.hidden_size
                and last.directions == one.directions and one.input_size == last.output_size
                and last.config() | {"input_size": 0} == one.config() | {"input_size": 0})
        if not same:
            return False
        tag_prev, tag = (m.name.rsplit(".l", 1)[0] if m.name.startswith("rnnlab.") else None
                         for m in (prev.nodes[-1], n))
        if tag_prev is not None or tag is not None:
            return tag_prev == tag
        dirs = one.directions
        for olds, new in ((prev.h0, states[0]), (prev.c0, states[1])):
            if (olds[-1] is None) != (new is None):
                return False
            if new is not None and (new.name != olds[-1].name or new.start != len(olds) * dirs):
                return False
        return True

    # ----- glue ---------------------------------------------------------------------------------
    def transpose(self, v: V, at: dict, what: str) -> V:
        if v.kind not in ("seq", "seq4", "hn", "ids"):
            raise ValueError(f"{what}: rnnlab reads Transpose of sequences and states only, got {v.kind}")
        perm = [int(p) for p in at.get("perm", range(len(v.order))[::-1])]
        if sorted(perm) != list(range(len(v.order))):
            raise ValueError(f"{what}: perm {perm} does not fit {len(v.order)} axes")
        order = tuple(v.order[p] for p in perm)
        if v.kind == "hn" and order not in (("K", "N", "F"), ("N", "K", "F")):
            raise ValueError(f"{what}: perm {perm} of a final state (directions, N, H)")
        if v.kind == "seq" and self.label(order[-1]) != "F":
            raise ValueError(f"{what}: perm {perm} moves the feature axis of a sequence")
        return replace(v, order=order)

    def slice_state(self, n, v: V, at: dict, what: str) -> V:
        starts, ends, axes, steps = self._slice_args(n, at, what)
        if axes != [0] or steps not in (None, [1]) or v.start != 0 or v.stop is not None:
            raise ValueError(f"{what}: rnnlab reads slices of an initial state along its first axis only")
        return replace(v, start=starts[0], stop=None if ends[0] >= BIG else ends[0])

    def slice_last(self, n, v: V, at: dict, what: str) -> V:
        starts, ends, axes, steps = self._slice_args(n, at, what)
        axes = [a % 3 for a in (axes or [0])]
        if len(axes) != 1 or self.label(v.order[axes[0]]) != "T" or starts != [-1] or ends[0] < BIG \
                or steps not in (None, [1]):
            raise ValueError(f"{what}: rnnlab reads a Slice of a sequence only as its last step (start -1 to the end "
                             f"on the time axis), got starts {starts}, ends {ends}, axes {axes}")
        return replace(v, order=tuple("T1" if i == axes[0] else o for i, o in enumerate(v.order)))

    def _slice_args(self, n, at: dict, what: str):
        if "starts" in at:                     # opset 1: attributes
            return [int(i) for i in at["starts"]], [int(i) for i in at["ends"]], \
                [int(i) for i in at["axes"]] if "axes" in at else None, None
        get = [self.ints(n.input[i], what) if len(n.input) > i and n.input[i] else None for i in range(1, 5)]
        return get[0], get[1], get[2], get[3]

    def squeeze(self, n, v: V, at: dict, what: str) -> V:
        axes = self.axes_arg(n, at, what)
        if v.kind == "seq4" and self._entry(v).levels[-1].directions == 1:
            k = v.order.index("K")
            if axes is not None and [a % 4 for a in axes] == [k]:
                return replace(v, kind="seq", order=tuple(o for o in v.order if o != "K"))
        if v.kind == "seq" and "T1" in v.order and axes is not None and [a % 3 for a in axes] == [v.order.index("T1")]:
            return self.last_step(replace(v, order=tuple(o for o in v.order if o != "T1")), 1, what)
        if v.kind == "hn" and v.stop - v.start == 1 and v.order[0] == "K" and axes in (None, [0], [-3]):
            return self.final_state(v, what)
        raise ValueError(f"{what}: rnnlab reads Squeeze of a direction axis of size 1, of a last step, or of a final "
                         f"state only (axes {axes} of {v.kind} {v.order})")

    def reshape(self, n, v: V, at: dict, what: str) -> V:
        if n.op_type == "Flatten":
            shape = [0, -1] if at.get("axis", 1) == 1 else None
        else:
            shape = self.ints(n.input[1], what)
        if v.kind == "seq4" and v.order[2:] == ("K", "F") and shape is not None and len(shape) == 3 \
                and shape[:2] == [0, 0]:
            dirs = self._entry(v).levels[-1].directions
            if shape[2] in (-1, dirs * v.feat):
                return replace(v, kind="seq", order=v.order[:2] + ("F",), feat=dirs * v.feat)
        if v.kind == "hn" and v.order == ("N", "K", "F") and shape is not None and len(shape) == 2:
            width = (v.stop - v.start) * v.feat
            if shape in ([0, -1], [0, width], [-1, width]):
                return self.final_state(v, what)
        raise ValueError(f"{what}: rnnlab reads Reshape / Flatten only to merge the directions of an operator's "
                         f"output (shape {shape} of {v.kind} {v.order})")

    def concat(self, ins: list, at: dict, what: str) -> V:
        axis = int(at.get("axis", 0))
        kinds = {v.kind for v in ins}
        if kinds == {"zero"}:
            return V("zero")
        if kinds in ({"hn"}, {"cn"}) and axis in (0, -3) and len({v.rec for v in ins}) == 1 \
                and all(a.stop == b.start for a, b in zip(ins, ins[1:])) and all(v.order[0] == "K" for v in ins):
            return replace(ins[0], stop=ins[-1].stop, pos=max(v.pos for v in ins))
        if kinds == {"hslot"} and len(ins) == 2 and axis in (1, -1):
            entry = self._entry(ins[0])
            K = len(entry.levels) * 2
            if ins[0].rec == ins[1].rec and [ins[0].start, ins[1].start] == [K - 2, K - 1]:
                return self.last_step(V("vec", order=("N", "F"), pos=ins[0].pos, feat=2 * ins[0].feat), 2, what)
        raise ValueError(f"{what}: rnnlab reads Concat of shape values, of final states, or of a bidirectional "
                         f"layer's two final states only (got {[v.kind for v in ins]} on axis {axis})")

    def gather(self, n, ins: list, at: dict, what: str) -> V:
        data, idx = ins[0], ins[1]
        axis = int(at.get("axis", 0))
        if data.kind == "const" and idx.kind == "ids":          # nn.Embedding: W[ids]
            W = data.array
            if W.ndim != 2 or W.dtype.name not in ("float32", "float64") or axis != 0:
                raise ValueError(f"{what}: an embedding lookup needs a float weight of rank 2 gathered on axis 0, "
                                 f"got {W.dtype} {W.shape}, axis {axis}")
            self.head(idx, what)
            emb = Embedding(W.shape[0], W.shape[1], dtype=W.dtype.name)
            emb.params["W"] = np.ascontiguousarray(W)
            self.chain.append(emb)
            return V("seq", order=idx.order + ("F",), pos=len(self.chain), feat=W.shape[1])
        if idx.kind != "const" or np.ndim(idx.array) != 0:
            raise ValueError(f"{what}: rnnlab reads Gather with one constant index (the last step, a final state) "
                             f"or as an embedding lookup, got indices of kind {idx.kind}")
        i = int(idx.array)
        if data.kind == "seq":
            axis %= 3
            if data.order[axis] == "T1" and i in (0, -1):              # x[:, -1:][:, 0]
                i = -1
            elif self.label(data.order[axis]) != "T" or i != -1:
                raise ValueError(f"{what}: rnnlab reads Gather of a sequence only at index -1 of the time axis (the "
                                 f"last step), got index {i} on axis {axis} ({self.label(data.order[axis])})")
            return self.last_step(replace(data, order=tuple(o for k, o in enumerate(data.order) if k != axis)), 1,
                                  what)
        if data.kind == "hn" and axis in (0, -3) and data.order[0] == "K":
            size = data.stop - data.start
            if not -size <= i < size:
                raise ValueError(f"{what}: index {i} out of range for {size} final states")
            slot = data.start + i % size
            one = V("hn", order=data.order, pos=data.pos, feat=data.feat, rec=data.rec, start=slot, stop=slot + 1)
            if self._entry(data).levels[-1].directions == 1:
                return self.final_state(one, what)
            return replace(one, kind="hslot", order=("N", "F"))
        raise ValueError(f"{what}: rnnlab reads Gather of the last step or of final states only, got {data.kind}")

    # ----- layers that reduce a sequence --------------------------------------------------------
    def _entry(self, v: V) -> Entry:
        return self.chain[v.rec]

    def last_step(self, v: V, directions: int, what: str) -> V:
        self.head(v, what)
        if self.lengths_name is not None:
            raise ValueError(f"{what}: with sequence_lens {self.lengths_name!r}, the operator's output at the last step "
                             f"is zero for shorter sequences, where rnnlab's LastStep reads each sequence's last "
                             f"valid step; read the final state Y_h instead")
        if self.labels(v.order) != ("N", "F"):
            raise ValueError(f"{what}: the last step leaves axes {self.labels(v.order)}, expected (N, F)")
        self.chain.append(LastStep(directions))
        return V("vec", order=("N", "F"), pos=len(self.chain), feat=v.feat)

    def final_state(self, v: V, what: str) -> V:
        """The top level's final states of every direction, (N, directions * H): LastStep(directions)."""
        entry = self._entry(v)
        if entry.levels[-1].reverse:
            raise ValueError(f"{what}: the final state of a reverse operator is its output at t = 0; rnnlab's "
                             f"LastStep reads the last step")
        dirs, K = entry.levels[-1].directions, len(entry.levels) * entry.levels[-1].directions
        if v.rec != len(self.chain) - 1 or (v.start, v.stop) != (K - dirs, K):
            raise ValueError(f"{what}: rnnlab reads the final states of the top level of the last recurrent layer "
                             f"only (slots {K - dirs}..{K - 1} of {K}), got slots {v.start}..{v.stop - 1}")
        if self.chain[-1] is not entry:
            raise ValueError(f"{what}: a final state read after other layers")
        self.chain.append(LastStep(dirs))
        return V("vec", order=("N", "F"), pos=len(self.chain), feat=dirs * v.feat)

    # ----- dense heads --------------------------------------------------------------------------
    def dense(self, n, ins: list, at: dict, what: str) -> V:
        x = ins[0]
        if x.kind not in ("seq", "vec"):
            raise ValueError(f"{what}: rnnlab reads a dense layer of a sequence or of vectors, got {x.kind}")
        self.head(x, what)
        if self.label(x.order[-1]) != "F":
            raise ValueError(f"{what}: a dense layer on axis {x.order[-1]}, not the features")
        if n.op_type == "Gemm":
            if at.get("alpha", 1.0) != 1.0 or at.get("beta", 1.0) != 1.0 or at.get("transA", 0):
                raise ValueError(f"{what}: only alpha=1, beta=1, transA=0 make a Dense layer")
            W = self.const(n.input[1], what)
            W = W.T if at.get("transB", 0) else W
            b = self.const(n.input[2], what) if len(n.input) > 2 and n.input[2] else np.zeros(W.shape[1], W.dtype)
        else:
            W = self.const(n.input[1], f"{what}: the weight matrix")
            b = np.zeros(W.shape[-1] if W.ndim else 0, W.dtype)
        if W.ndim != 2 or (x.feat is not None and W.shape[0] != x.feat):
            raise ValueError(f"{what}: weight of shape {W.shape} does not read {x.feat} features")
        b = np.broadcast_to(b, (W.shape[1],)) if np.ndim(b) <= 1 else b
        if np.shape(b) != (W.shape[1],):
            raise ValueError(f"{what}: bias of shape {np.shape(b)}, expected ({W.shape[1]},)")
        dense = Dense(W.shape[0], W.shape[1], dtype=W.dtype.name)
        dense.params["W"] = np.ascontiguousarray(W)
        dense.params["b"] = np.ascontiguousarray(b, W.dtype)
        self.chain.append(dense)
        return replace(x, pos=len(self.chain), feat=W.shape[1])

    def bias(self, n, ins: list, what: str) -> V:
        data = [v for v in ins if v.kind != "const"]
        consts = [v for v in ins if v.kind == "const"]
        if len(data) != 1 or len(consts) != 1 or data[0].pos != len(self.chain) or \
                not isinstance(self.chain[-1], Dense) or self.chain[-1].activation != "identity":
            raise ValueError(f"{what}: rnnlab reads Add only as the bias of the dense layer before it")
        dense = self.chain[-1]
        b = consts[0].array
        if np.shape(b) not in ((), (1,), (dense.output_size,)):
            raise ValueError(f"{what}: bias of shape {np.shape(b)} for a dense layer of {dense.output_size} outputs")
        dense.params["b"] = np.ascontiguousarray(dense.params["b"] + b, dense.dtype)
        return data[0]

    def activation(self, n, v: V, at: dict, what: str) -> V:
        if v.pos != len(self.chain) or not self.chain or not isinstance(self.chain[-1], Dense):
            raise ValueError(f"{what}: rnnlab applies {n.op_type} only as a Dense layer's activation")
        dense = self.chain[-1]
        if dense.activation != "identity":
            raise ValueError(f"{what}: a second activation after a dense layer")
        if n.op_type == "Softmax" and int(at.get("axis", -1)) not in (-1, len(v.order) - 1):
            raise ValueError(f"{what}: axis {at.get('axis')}; rnnlab's softmax runs over the last axis")
        dense.activation = n.op_type.lower()
        return v

    # ----- the result ---------------------------------------------------------------------------
    def result(self) -> ImportedGraph:
        if not self.chain:
            raise ValueError("ONNX graph: no RNN, LSTM, GRU, embedding or dense operators")
        if 0 < self.with_lengths < self.recurrent_nodes:
            raise ValueError(f"ONNX graph: {self.with_lengths} of {self.recurrent_nodes} recurrent operators read "
                             f"sequence_lens; rnnlab runs every layer on the same lengths")
        out_name, out = None, None
        for o in self.graph.output:
            v = self.values.get(o.name)
            if v is None:
                raise ValueError(f"ONNX graph output {o.name!r}: not produced by any node")
            if v.kind in ("seq", "vec") and v.pos == len(self.chain):
                out_name, out = (out_name, out) if out is not None else (o.name, v)
            elif v.kind not in ("hn", "cn", "meta", "zero", "const"):
                raise ValueError(f"ONNX graph output {o.name!r}: a {v.kind} value that is not the last layer's "
                                 f"output; rnnlab's model returns that output and its final states only")
        if out is None:
            raise ValueError("ONNX graph: no graph output is the last layer's output")
        if out.kind == "seq" and self.label(out.order[-1]) != "F":
            raise ValueError(f"ONNX graph output {out_name!r}: features not on the last axis")
        layers, states = [], {}
        for i, item in enumerate(self.chain):
            if isinstance(item, Entry):
                for sname, parts in (("h", item.h0), ("c", item.c0)):
                    given = self._state_input(item, parts, sname, i)
                    if given is not None:
                        states[given] = (i, sname)
                item = stack_levels(item.levels)
            layers.append(item)
        unknown = {"a0": "N", "a1": "T"}           # no operator fixed them: batch-major, as rnnlab
        layout = [unknown.get(a, a) for a in self.labels(self.data_input.order)]
        if self.data_input.kind == "seq":
            layout[-1] = "D"
        out_layout = "".join(unknown.get(a, a) for a in self.labels(out.order))
        return ImportedGraph(make_model(layers), self.data_name, "".join(layout),
                             self.lengths_name, states, out_name, out_layout)

    def _state_input(self, item: Entry, parts: list, sname: str, i: int) -> str | None:
        if all(p is None for p in parts):
            return None
        dirs = item.levels[0].directions
        K = len(item.levels) * dirs
        names = {p.name for p in parts if p is not None}
        ok = len(names) == 1 and all(p is not None and p.start == l * dirs and p.stop in ((l + 1) * dirs, None)
                                     and (p.stop is not None or l == len(parts) - 1) for l, p in enumerate(parts))
        if not ok:
            spans = [None if p is None else (p.name, p.start, p.stop) for p in parts]
            raise ValueError(f"{_where(item.nodes[0])}: initial_{sname} of its {len(parts)} levels come from "
                             f"{spans}; rnnlab takes one state input covering levels 0..{len(parts) - 1} in order")
        name = names.pop()
        inp = next(x for x in self.graph.input if x.name == name)
        dims = inp.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value") and dims[0].dim_value != K:
            raise ValueError(f"ONNX graph input {name!r}: {dims[0].dim_value} initial states, layer {i} has {K} "
                             f"(num_layers * directions)")
        return name


def numpy_helper_array(t) -> np.ndarray:
    from onnx import numpy_helper
    return numpy_helper.to_array(t)
