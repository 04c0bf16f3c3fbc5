"""TensorFlow 1 cells <-> rnnlab, from and to their variables given as NumPy arrays (for example read
from a checkpoint with ``tf.train.load_checkpoint(path).get_tensor(name)``). TensorFlow is never
imported: the layouts below are those of the TF1 sources, and the tests check them against the cells'
equations written out in NumPy, not against TensorFlow itself.

``BasicLSTMCell`` and ``LSTMCell`` hold one ``kernel`` (D+P, 4H), rows [x; h], and one ``bias``
(4H,), column blocks in the order (i, j, f, o), with j the candidate; the cell's ``forget_bias``
(1.0 by default) is a constructor argument added at run time. ``LSTMCell(use_peepholes=True)`` adds
the diagonal weights ``w_i_diag``, ``w_f_diag``, ``w_o_diag`` (H,), ``num_proj=P`` the
``projection/kernel`` (H, P), and ``cell_clip=x`` (a constructor argument, no variable) clips c_t
(TF1's rnn_cell_impl.LSTMCell.call, written out; [.] marks what each option adds):

    i, j, f, o = split([x_t, m_{t-1}] kernel + bias, 4)
    c_t = sigmoid(f + forget_bias [+ w_f_diag * c_{t-1}]) * c_{t-1}
          + sigmoid(i [+ w_i_diag * c_{t-1}]) * tanh(j)
    [c_t = clip(c_t, -cell_clip, cell_clip)]
    m_t = sigmoid(o [+ w_o_diag * c_t]) * tanh(c_t)
    [m_t = m_t projection/kernel]                  state tuple (c, m): c first; P = H without num_proj

which is rnnlab's LSTM (rnnlab.layers.lstm_variants) with the same run-time ``forget_bias``,
``peepholes=True`` (p = [w_i_diag, w_f_diag, w_o_diag]: c_{t-1} into i and f, c_t, after the clip,
into o), ``proj_size=P`` (W_hr = projection/kernel) and ``cell_clip``; h_t = m_t. ``LSTMCell``'s
``proj_clip`` (a clip of m_t after the projection) has no rnnlab counterpart and is refused where it
is seen (the .meta graph); rnnlab's ``gate_clip``, ``input_forget`` and ``layer_norm`` have no TF1
counterpart and are refused on export. ``GRUCell`` holds ``gates/kernel``
(D+H, 2H) in the order (r, u), ``gates/bias``, ``candidate/kernel`` (D+H, H), ``candidate/bias``:

    r, u = split(sigmoid([x_t, h_{t-1}] gates/kernel + gates/bias), 2)
    c = tanh([x_t, r * h_{t-1}] candidate/kernel + candidate/bias)
    h_t = u * h_{t-1} + (1 - u) * c

which is rnnlab's reset-before GRU (``reset_after=False``) with z = u. ``BasicRNNCell``:
h_t = tanh([x_t, h_{t-1}] kernel + bias).

Whole checkpoints: ``from_variables`` reads the variable names TF1 gives these cells under
``dynamic_rnn`` ("rnn/lstm_cell/kernel"), ``MultiRNNCell`` ("rnn/multi_rnn_cell/cell_1/lstm_cell/kernel")
and ``stack_bidirectional_dynamic_rnn`` (".../cell_0/bidirectional_rnn/fw/lstm_cell/kernel");
``to_variables`` writes them, for one layer or a whole model: its recurrent layers' levels are the
cells in order, Dropout is left out (the identity at inference, and no variable), and a Dense head
gets the names of ``tf.layers.dense`` ("dense/kernel", (D, O) as in rnnlab, "dense/bias"). Cells are
identified by their full scope; variables holding more than one RNN (an encoder's and a decoder's)
are refused with the scopes found (see ``from_variables``).

Checkpoint files: ``load_checkpoint("model.ckpt")`` reads a ``tf.compat.v1.train.Saver`` checkpoint
(the .index and .data-* files, through rnnlab.interop.tf_bundle, without TensorFlow) and builds the
model, its LSTM ``forget_bias`` and ``cell_clip`` read from the .meta graph; ``save_checkpoint``
writes one. These are
tested against checkpoints and outputs made by TensorFlow 2.21 (tests/fixtures/tf1).
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from ..checks import check_float_array, check_path, check_real
from ..layers import GRU, LSTM, RNN, Dense, Recurrent
from ..models import LastStep
from ._layout import block, float_dtype, inference_layers, kinds_of, new_layer, refuse_variants, reorder, set_direction



def _split_rows(kernel: np.ndarray, H: int, name: str) -> tuple:
    """(W, U): the x rows and the h rows of a TF1 kernel [x; h]."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 2 or kernel.shape[0] <= H:
        raise ValueError(f"{name}: expected a kernel of shape (D + {H}, *) with rows [x; h], got {kernel.shape}")
    return kernel[:-H], kernel[-H:]


PEEPHOLES = ("w_i_diag", "w_f_diag", "w_o_diag")     # rnnlab's p blocks (i, f, o), in that order


def lstm_from_tf1(kernel, bias, forget_bias: float = 1.0, w_i_diag=None, w_f_diag=None, w_o_diag=None,
                  projection=None, cell_clip: float | None = None) -> LSTM:
    """An rnnlab LSTM computing what a TF1 BasicLSTMCell / LSTMCell with these variables computes.

    kernel (D + P, 4H), bias (4H,); ``w_i_diag``, ``w_f_diag``, ``w_o_diag`` (H,): all three
    (``use_peepholes=True``) or none; ``projection`` (H, P): the cell's ``projection/kernel``
    (``num_proj=P``, P below H as rnnlab's proj_size), or None; ``forget_bias`` and ``cell_clip``
    (x > 0 or None): the cell's constructor arguments. float64 if any array is, else float32.
    Raises ValueError naming the argument whose shape or value does not fit."""
    kernel, bias = check_float_array("kernel", kernel), check_float_array("bias", bias)
    forget_bias = check_real("forget_bias", forget_bias)
    if cell_clip is not None:
        cell_clip = check_real("cell_clip", cell_clip, low=0, low_open=True)
    if kernel.ndim != 2 or kernel.shape[1] % 4:
        raise ValueError(f"kernel: expected shape (D + H, 4H), got {kernel.shape}")
    H = kernel.shape[1] // 4
    if bias.shape != (4 * H,):
        raise ValueError(f"bias: expected shape ({4 * H},) to match kernel {kernel.shape}, got {bias.shape}")
    given = {name: a for name, a in zip(PEEPHOLES, (w_i_diag, w_f_diag, w_o_diag)) if a is not None}
    if given and len(given) < 3:
        raise ValueError(f"{', '.join(PEEPHOLES)}: expected all three (LSTMCell(use_peepholes=True)) or none, "
                         f"got {' and '.join(given)} only")
    diags = [check_float_array(name, a) for name, a in given.items()]
    for name, a in zip(given, diags):
        if a.shape != (H,):
            raise ValueError(f"{name}: expected shape ({H},) to match kernel {kernel.shape}, got {a.shape}")
    P = 0
    if projection is not None:
        projection = check_float_array("projection", projection)
        if projection.ndim != 2 or projection.shape[0] != H:
            raise ValueError(f"projection: expected shape ({H}, P) to match kernel {kernel.shape}, "
                             f"got {projection.shape}")
        P = projection.shape[1]
        if not 0 < P < H:
            raise ValueError(f"projection: expected num_proj below num_units (rnnlab's proj_size, like "
                             f"PyTorch's, is below hidden_size), got LSTMCell(num_units={H}, num_proj={P})")
    W, U = _split_rows(kernel, P or H, "kernel")
    arrays = [kernel, bias, *diags] + ([projection] if P else [])
    layer = new_layer("LSTM", W.shape[0], H, float_dtype(*arrays), forget_bias=forget_bias,
                      peepholes=bool(diags), proj_size=P, cell_clip=cell_clip)
    p = {"W": reorder(W, "LSTM", "tf1", "rnnlab", 1), "U": reorder(U, "LSTM", "tf1", "rnnlab", 1),
         "b": reorder(bias, "LSTM", "tf1", "rnnlab", 0)}
    if diags:
        p["p"] = np.concatenate(diags)                                   # (p_i, p_f, p_o)
    if P:
        p["W_hr"] = projection                                          # h_t = m_t W_hr
    set_direction(layer, 0, 0, p)
    return layer


def cell_arguments(layer: LSTM) -> dict:
    """The constructor arguments of the TF1 ``LSTMCell`` that computes what ``layer`` computes (the
    options that are no variables): ``tf.compat.v1.nn.rnn_cell.LSTMCell(**cell_arguments(layer))``.
    Raises ValueError naming an option TF1's LSTMCell has no counterpart of."""
    if not isinstance(layer, LSTM):
        raise ValueError(f"layer: expected an rnnlab LSTM, got {type(layer).__name__}")
    refuse_variants(layer, "TF1's LSTMCell", holds=("proj_size", "peepholes", "cell_clip"))
    return {"num_units": layer.hidden_size, "use_peepholes": layer.peepholes, "num_proj": layer.proj_size or None,
            "cell_clip": layer.cell_clip, "forget_bias": layer.forget_bias}


def gru_from_tf1(gates_kernel, gates_bias, candidate_kernel, candidate_bias) -> GRU:
    """An rnnlab reset-before GRU computing what a TF1 GRUCell with these variables computes."""
    gk, gb = check_float_array("gates_kernel", gates_kernel), check_float_array("gates_bias", gates_bias)
    ck = check_float_array("candidate_kernel", candidate_kernel)
    cb = check_float_array("candidate_bias", candidate_bias)
    if ck.ndim != 2:
        raise ValueError(f"candidate_kernel: expected shape (D + H, H), got {ck.shape}")
    H = ck.shape[1]
    if gk.shape != (ck.shape[0], 2 * H) or gb.shape != (2 * H,) or cb.shape != (H,):
        raise ValueError(f"gates_kernel {gk.shape}, gates_bias {gb.shape}, candidate_bias {cb.shape}: expected "
                         f"{(ck.shape[0], 2 * H)}, {(2 * H,)}, {(H,)} to match candidate_kernel {ck.shape}")
    gW, gU = _split_rows(gk, H, "gates_kernel")
    cW, cU = _split_rows(ck, H, "candidate_kernel")
    layer = new_layer("GRU", gW.shape[0], H, float_dtype(gk, gb, ck, cb), reset_after=False)
    set_direction(layer, 0, 0, {"W": np.concatenate([gW, cW], 1), "U": np.concatenate([gU, cU], 1),
                                "b": np.concatenate([gb, cb])})     # (r, u) + candidate = rnnlab (r, z, n)
    return layer


def rnn_from_tf1(kernel, bias) -> RNN:
    """An rnnlab tanh RNN computing what a TF1 BasicRNNCell with these variables computes."""
    kernel, bias = check_float_array("kernel", kernel), check_float_array("bias", bias)
    H = bias.shape[0] if bias.ndim == 1 else -1
    if kernel.ndim != 2 or kernel.shape[1] != H:
        raise ValueError(f"kernel {kernel.shape}, bias {bias.shape}: expected (D + H, H) and (H,)")
    W, U = _split_rows(kernel, H, "kernel")
    layer = new_layer("RNN", W.shape[0], H, float_dtype(kernel, bias))
    set_direction(layer, 0, 0, {"W": W, "U": U, "b": bias})
    return layer


CONSTRUCTOR = ("forget_bias", "cell_clip")     # to_tf1's keys that are cell arguments, not variables


def to_tf1(layer: Recurrent, l: int = 0, d: int = 0) -> dict:
    """The TF1 cell variables of one (layer, direction) of ``layer``, keyed as the cell names them:
    LSTM {"kernel", "bias"}, with peepholes {"w_i_diag", "w_f_diag", "w_o_diag"}, with proj_size
    {"projection/kernel"} (and the layer's ``forget_bias``, and its ``cell_clip`` when set, to pass to
    the cell's constructor under those keys: see ``cell_arguments``), GRU {"gates/kernel",
    "gates/bias", "candidate/kernel", "candidate/bias"}, RNN {"kernel", "bias"}. Raises ValueError
    naming an option TF1's cells cannot hold (gate_clip, input_forget, layer_norm, regularizers)."""
    if not isinstance(layer, Recurrent):
        raise ValueError(f"layer: expected an rnnlab RNN, LSTM or GRU, got {type(layer).__name__}")
    if isinstance(layer, LSTM):
        refuse_variants(layer, "TF1's LSTMCell", holds=("proj_size", "peepholes", "cell_clip"))
    else:
        refuse_variants(layer, f"TF1's {'GRUCell' if isinstance(layer, GRU) else 'BasicRNNCell'}")
    p = layer.direction_params(l, d)
    if isinstance(layer, LSTM):
        out = {"kernel": reorder(np.concatenate([p["W"], p["U"]]), "LSTM", "rnnlab", "tf1", 1),
               "bias": reorder(p["b"], "LSTM", "rnnlab", "tf1", 0)}
        if layer.peepholes:
            out.update(zip(PEEPHOLES, (np.ascontiguousarray(part) for part in np.split(p["p"], 3))))
        if layer.proj_size:
            out["projection/kernel"] = p["W_hr"].copy()
        out["forget_bias"] = layer.forget_bias
        if layer.cell_clip is not None:
            out["cell_clip"] = layer.cell_clip
        return out
    if isinstance(layer, GRU):
        if layer.reset_after:
            raise ValueError("layer.reset_after: TF1's GRUCell computes the reset-before form; "
                             "got reset_after=True (use GRU(..., reset_after=False))")
        k = np.concatenate([p["W"], p["U"]])
        return {"gates/kernel": np.ascontiguousarray(block(k, "tf1", "GRU", "rz", 1)),
                "gates/bias": block(p["b"], "tf1", "GRU", "rz").copy(),
                "candidate/kernel": np.ascontiguousarray(block(k, "tf1", "GRU", "n", 1)),
                "candidate/bias": block(p["b"], "tf1", "GRU", "n").copy()}
    if layer.nonlinearity != "tanh":
        raise ValueError(f"layer.nonlinearity: TF1's BasicRNNCell uses tanh by default, got "
                         f"{layer.nonlinearity!r}; pass activation=tf.nn.relu to the cell and use the arrays")
    return {"kernel": np.concatenate([p["W"], p["U"]]), "bias": p["b"].copy()}


# ----- whole checkpoints ----------------------------------------------------------------------------
CELL_KINDS = {"lstm_cell": "LSTM", "basic_lstm_cell": "LSTM", "gru_cell": "GRU", "basic_rnn_cell": "RNN"}
_OUTPUT_INDEX = re.compile(r":\d+$")       # "rnn/lstm_cell/kernel:0", a tensor's name in the graph
_STACK_INDEX = re.compile(r"cell_(\d+)")   # MultiRNNCell's cell_k, stack_bidirectional_dynamic_rnn's cell_k


class _Cell(NamedTuple):
    scope: str           # full scope of the cell, e.g. "encoder/rnn/multi_rnn_cell/cell_1/lstm_cell"
    template: str        # the scope above the cell, each cell_k written cell_* and fw / bw written {fw,bw}
    outer: tuple         # stack indices before the direction (the layer)
    inner: tuple         # stack indices after the direction (a MultiRNNCell inside one direction)
    direction: int | None
    kind: str


def _parse(name: str):
    """The _Cell and the leaf ("kernel", "gates/kernel") of a TF1 cell variable's name, or None."""
    parts = _OUTPUT_INDEX.sub("", name).split("/")
    c = next((k for k, part in enumerate(parts[:-1]) if part in CELL_KINDS), None)
    if c is None:
        return None
    template, outer, inner, direction = [], [], [], None
    for part in parts[:c]:
        m = _STACK_INDEX.fullmatch(part)
        if m:
            (outer if direction is None else inner).append(int(m.group(1)))
            template.append("cell_*")
        elif part in ("fw", "bw"):
            if direction is not None:
                raise ValueError(f"variables[{name!r}]: two fw/bw scopes in one name; from_variables reads one "
                                 f"bidirectional RNN, not one nested in another")
            direction = int(part == "bw")
            template.append("{fw,bw}")
        else:
            template.append(part)
    cell = _Cell("/".join(parts[:c + 1]), "/".join(template), tuple(outer), tuple(inner), direction,
                 CELL_KINDS[parts[c]])
    return cell, "/".join(parts[c + 1:])


def from_variables(variables: dict, forget_bias: float = 1.0, cell_clip: float | None = None) -> Recurrent:
    """One rnnlab layer from a dict of TF1 variable names -> arrays (names with or without the
    tensor suffix ":0"). Cells are identified by their full scope, and the variables must hold one
    RNN's cells: a single cell ("rnn/lstm_cell/kernel"), a MultiRNNCell stack
    ("rnn/multi_rnn_cell/cell_<k>/..."), the fw and bw cells of ``bidirectional_dynamic_rnn``
    ("bidirectional_rnn/fw/lstm_cell/...") or of ``stack_bidirectional_dynamic_rnn``
    (".../cell_<k>/bidirectional_rnn/fw/..."), under any enclosing scope ("encoder/..."). Variables of
    other kinds (dense, embeddings, optimizer slots) are left out.

    Raises ValueError, listing the cell scopes found, for what one rnnlab layer cannot hold: cells
    under different scopes (an encoder's and a decoder's: pass the variables under one scope), a
    MultiRNNCell of more than one level inside each direction of a bidirectional RNN (TF1 runs each
    direction's stack separately; rnnlab, like stack_bidirectional_dynamic_rnn, feeds both
    directions' outputs to the next level), nested stacks, a missing or repeated (layer, direction),
    cells of different kinds, cells of which some have peepholes or a projection (or a projection of
    another width) and others not.
    LSTMCell's peepholes ("w_i_diag", "w_f_diag", "w_o_diag") and projection ("projection/kernel") are
    variables, read with the cell's; ``forget_bias`` and ``cell_clip`` (x > 0, or None: no clip) are
    the LSTM cells' constructor arguments, which checkpoints do not store."""
    if not isinstance(variables, Mapping):
        raise ValueError(f"variables: expected a dict of TF1 variable names -> arrays, got {type(variables).__name__}")
    forget_bias = check_real("forget_bias", forget_bias)
    if cell_clip is not None:
        cell_clip = check_real("cell_clip", cell_clip, low=0, low_open=True)
    cells: dict[_Cell, dict] = {}
    for name, value in variables.items():
        if not isinstance(name, str):
            raise ValueError(f"variables: expected variable names (str) as keys, got {type(name).__name__} {name!r}")
        parsed = _parse(name)
        if parsed is None:
            continue
        cell, leaf = parsed
        leaves = cells.setdefault(cell, {})
        if leaf in leaves:
            raise ValueError(f"variables[{name!r}]: {cell.scope}/{leaf} is given twice (with and without ':0')")
        leaves[leaf] = value
    if not cells:
        raise ValueError(f"variables: expected TF1 lstm_cell, basic_lstm_cell, gru_cell or basic_rnn_cell "
                         f"variables, got none among {sorted(map(str, variables))[:8]}")
    scopes = sorted(c.scope for c in cells)
    templates = sorted({c.template for c in cells})
    if len(templates) > 1:
        split = [scope.split("/") for scope in scopes]
        k = next((k for k in range(len(split[0])) if len({tuple(p[:k + 1]) for p in split}) > 1), 0)
        raise ValueError(f"variables: expected the cells of one RNN (one cell, a MultiRNNCell, or the fw/bw cells "
                         f"of one bidirectional RNN), got cells of more than one RNN, under scopes {scopes}: pass "
                         f"the variables under one scope, e.g. those whose names start with "
                         f"{'/'.join(split[0][:k + 1]) + '/'!r}")
    for c in cells:
        if any(c.inner):
            raise ValueError(f"variables: {c.scope}: a MultiRNNCell of several levels inside each direction of a "
                             f"bidirectional RNN runs each direction's stack separately; rnnlab, like "
                             f"stack_bidirectional_dynamic_rnn, feeds both directions' outputs to the next level "
                             f"(cell scopes found: {scopes})")
        if len(c.outer) > 1:
            raise ValueError(f"variables: {c.scope}: nested stacks (cell_<k> inside cell_<k>) are not one rnnlab "
                             f"layer (cell scopes found: {scopes})")
    kinds = {c.kind for c in cells}
    if len(kinds) > 1:
        raise ValueError(f"variables: cells of different kinds {sorted(kinds)} (scopes {scopes}); rnnlab layers "
                         f"hold one kind")
    bidirectional = any(c.direction is not None for c in cells)
    placed: dict[tuple, _Cell] = {}
    for c in cells:
        key = (c.outer[0] if c.outer else 0, c.direction or 0)
        if key in placed:
            raise ValueError(f"variables: cells {placed[key].scope!r} and {c.scope!r} are both layer {key[0]} "
                             f"direction {key[1]}")
        placed[key] = c
    num_layers, directions = 1 + max(k[0] for k in placed), 2 if bidirectional else 1
    missing = [(l, d) for l in range(num_layers) for d in range(directions) if (l, d) not in placed]
    if missing:
        raise ValueError(f"variables: no cell for (layer, direction) {missing}; cell scopes found: {scopes}")
    kind = kinds.pop()
    parts = {}
    for (l, d), c in sorted(placed.items()):
        v = cells[c]
        try:
            if kind == "GRU":
                one = gru_from_tf1(v["gates/kernel"], v["gates/bias"], v["candidate/kernel"], v["candidate/bias"])
            elif kind == "LSTM":
                one = lstm_from_tf1(v["kernel"], v["bias"], forget_bias, *(v.get(n) for n in PEEPHOLES),
                                    projection=v.get("projection/kernel"), cell_clip=cell_clip)
            else:
                one = rnn_from_tf1(v["kernel"], v["bias"])
        except KeyError as err:
            raise ValueError(f"variables: cell {c.scope!r} (layer {l}, direction {d}) lacks "
                             f"{c.scope}/{err.args[0]}") from err
        except ValueError as err:
            raise ValueError(f"variables: cell {c.scope!r}: {err}") from err
        parts[l, d] = one
    first = parts[0, 0]
    options = {"GRU": {"reset_after": False}, "RNN": {}}.get(kind)
    if kind == "LSTM":                        # peepholes and projection: seen in each cell's variables
        options = {"forget_bias": forget_bias, "peepholes": first.peepholes, "proj_size": first.proj_size,
                   "cell_clip": cell_clip}
        for (l, d), one in parts.items():
            if (one.peepholes, one.proj_size) != (first.peepholes, first.proj_size):
                raise ValueError(f"variables: expected cells with the same options (those of one rnnlab layer), "
                                 f"got cell {placed[l, d].scope!r} with peepholes={one.peepholes}, proj_size="
                                 f"{one.proj_size}, cell {placed[0, 0].scope!r} with peepholes={first.peepholes}, "
                                 f"proj_size={first.proj_size} (cell scopes found: {scopes})")
    layer = new_layer(first.kind, first.input_size, first.hidden_size, first.dtype, num_layers=num_layers,
                      bidirectional=directions == 2, **options)
    for (l, d), one in parts.items():
        try:
            set_direction(layer, l, d, one.direction_params(0, 0))
        except ValueError as err:
            raise ValueError(f"variables: cell {placed[l, d].scope!r} does not fit the stack: {err}") from err
    return layer


def _split_model(model) -> tuple:
    """(recurrent layers, Dense layers) of a model TF1 variables can hold: after leaving out Dropout,
    recurrent layers in a row, all of one direction count, optionally LastStep, then Dense layers."""
    live = inference_layers(model)
    n = next((k for k, (_, layer) in enumerate(live) if not isinstance(layer, Recurrent)), len(live))
    recs, rest = [layer for _, layer in live[:n]], [layer for _, layer in live[n:]]
    rest = rest[1:] if rest and isinstance(rest[0], LastStep) else rest
    if not recs or not all(isinstance(layer, Dense) for layer in rest):
        raise ValueError(f"model: TF1 variables hold recurrent layers in a row (Dropout is left out), optionally "
                         f"then LastStep, then Dense layers (tf.layers.dense); got layers {kinds_of(model)}")
    for j, layer in live[1:n]:
        if layer.bidirectional != recs[0].bidirectional:
            raise ValueError(f"model.layers[{j}]: TF1 stacks unidirectional cells (MultiRNNCell) or bidirectional "
                             f"ones (stack_bidirectional_dynamic_rnn), not both; model.layers[{live[0][0]}] has "
                             f"bidirectional={recs[0].bidirectional}, model.layers[{j}] {layer.bidirectional} "
                             f"(layers {kinds_of(model)})")
    return recs, rest


def to_variables(model, scope: str | None = None, lstm_cell: str = "lstm_cell") -> dict:
    """TF1 variable names -> arrays for a recurrent layer or a model, the names ``dynamic_rnn`` with a
    cell or MultiRNNCell (scope "rnn") or ``stack_bidirectional_dynamic_rnn`` (scope
    "stack_bidirectional_rnn") would create. In a model, the levels of its recurrent layers are the
    cells cell_0, cell_1, ... in order, Dropout is left out, and its Dense layers are ``dense``,
    ``dense_1``, ... (``tf.layers.dense``). Not variables: LSTM ``forget_bias`` and ``cell_clip``
    (build the cells with ``LSTMCell(**cell_arguments(layer))``) and a Dense's activation."""
    from ..saving import check_model_params
    check_model_params(model)           # weights that no longer fit the model: refused, nothing written
    recs, denses = ([model], []) if isinstance(model, Recurrent) else _split_model(model)
    cells = [(layer, l) for layer in recs for l in range(layer.num_layers)]
    out = {}
    for k, (layer, l) in enumerate(cells):
        cell = {"LSTM": lstm_cell, "GRU": "gru_cell", "RNN": "basic_rnn_cell"}[layer.kind]
        for d in range(layer.directions):
            if layer.bidirectional:
                path = f"{scope or 'stack_bidirectional_rnn'}/cell_{k}/bidirectional_rnn/{'bw' if d else 'fw'}/{cell}"
            elif len(cells) > 1:
                path = f"{scope or 'rnn'}/multi_rnn_cell/cell_{k}/{cell}"
            else:
                path = f"{scope or 'rnn'}/{cell}"
            for name, value in to_tf1(layer, l, d).items():
                if name not in CONSTRUCTOR:
                    out[f"{path}/{name}"] = value
    for k, dense in enumerate(denses):
        name = "dense" if k == 0 else f"dense_{k}"
        out[f"{name}/kernel"], out[f"{name}/bias"] = dense.params["W"].copy(), dense.params["b"].copy()
    return out


# ----- checkpoint files -----------------------------------------------------------------------------
_LEAVES = {"LSTM": ("kernel", "bias", *PEEPHOLES, "projection/kernel"),
           "GRU": ("gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias"), "RNN": ("kernel", "bias")}
_DENSE = re.compile(r"dense(?:_(\d+))?/(kernel|bias)")     # tf.layers.dense: dense, dense_1, ...
HEADS = ("last", "each")


def _is_subsequence(short: list, long: list) -> bool:
    it = iter(long)
    return all(part in it for part in short)


class _Constants(NamedTuple):
    """What a cell's graph holds beyond its variables: sets of the values found in its scope."""
    forget_bias: set
    cell_clip: set
    proj_clip: set


def _scalar(node) -> float | None:
    """The value of a scalar Const node, else None. A value that is a float32 is given as the shortest
    decimal that is the same float32 (0.8, not 0.800000011920929): the argument the model's code gave."""
    if node is None or node.op != "Const" or node.value is None or node.value.size != 1:
        return None
    value = float(node.value.reshape(-1)[0])
    return float(str(np.float32(value))) if float(np.float32(value)) == value else value


def _cell_constants(meta: str, cells: list) -> dict:
    """{cell: _Constants} read from the graph of ``meta``.

    forget_bias: the scalar constant that BasicLSTMCell (``sigmoid(add(f, Const))``) and LSTMCell
    (``sigmoid(f + forget_bias [+ w_f_diag * c_{t-1}])``) add to the forget gate, i.e. a Sigmoid of an
    Add/AddV2 one of whose inputs is a scalar Const or an Add/AddV2 with one. cell_clip and proj_clip:
    ``clip_by_value(v, -x, x)`` is Maximum(Minimum(v, Const x), Const -x); it clips the projection
    (proj_clip) when v is a MatMul (m_t projection/kernel), else the cell state (cell_clip). The ops of
    a cell under dynamic_rnn carry the loop's scopes ("rnn/while/lstm_cell/add",
    "bidirectional_rnn/fw/fw/while/...") where its variables have "rnn/lstm_cell"; a cell matches an
    op scope that starts and ends as its own and holds its parts in order."""
    from .tf_bundle import read_graph
    nodes = read_graph(meta)
    by_name = {n.name: n for n in nodes}
    found = []                                  # (op scope parts, field, value)

    def in_cell(n):
        parts = n.name.split("/")[:-1]
        return parts if parts and parts[-1] in CELL_KINDS else None

    for n in nodes:
        parts = in_cell(n)
        if parts is None or not n.inputs:
            continue
        if n.op == "Sigmoid":
            adds = [by_name.get(n.inputs[0])]
            adds += [by_name.get(i) for i in (adds[0].inputs if adds[0] is not None else ())]
            for add in adds:
                if add is not None and add.op in ("Add", "AddV2"):
                    found += [(parts, "forget_bias", v) for v in map(_scalar, map(by_name.get, add.inputs))
                              if v is not None]
        elif n.op == "Maximum" and len(n.inputs) == 2:
            low, minimum = _scalar(by_name.get(n.inputs[1])), by_name.get(n.inputs[0])
            if low is None or minimum is None or minimum.op != "Minimum" or len(minimum.inputs) != 2:
                continue
            high, value = _scalar(by_name.get(minimum.inputs[1])), by_name.get(minimum.inputs[0])
            if high is not None and high == -low and high > 0:
                field = "proj_clip" if value is not None and value.op == "MatMul" else "cell_clip"
                found.append((parts, field, high))
    out = {}
    for c in cells:
        own = c.scope.split("/")
        mine = [(field, v) for parts, field, v in found
                if parts[0] == own[0] and parts[-1] == own[-1] and _is_subsequence(own, parts)]
        out[c] = _Constants(*({v for f, v in mine if f == field} for field in _Constants._fields))
    return out


def _cells(path: str, names: list) -> dict:
    """{cell: {leaf: variable name}} of the RNN cell variables among ``names`` (the checkpoint's at
    ``path``, named in errors)."""
    from ..errors import FormatError
    cells: dict[_Cell, dict] = {}
    for name in names:
        try:
            parsed = _parse(name)
        except ValueError as err:
            raise FormatError(path, f"tensor {name!r}", str(err).split(": ", 1)[-1]) from None
        if parsed is None:
            continue
        cell, leaf = parsed
        if leaf in _LEAVES[cell.kind]:
            cells.setdefault(cell, {})[leaf] = name
    return cells


def _scope_options(cells) -> list[str]:
    """The shortest scopes that tell the RNNs of ``cells`` apart ('encoder', 'decoder'): what to pass
    as ``scope``; the top scope of a single RNN."""
    groups: dict[str, list] = {}
    for c in cells:
        groups.setdefault(c.template, []).append(c)
    split = [min(group, key=lambda c: c.scope).scope.split("/") for group in groups.values()]
    k = next((k for k in range(min(map(len, split))) if len({tuple(p[:k + 1]) for p in split}) > 1), 0)
    return sorted({"/".join(p[:k + 1]) for p in split})


def load_checkpoint(prefix, scope: str | None = None, forget_bias: float | None = None, head: str = "last",
                    cell_clip: float | None = None):
    """An rnnlab model from a TensorFlow 1 checkpoint (``tf.compat.v1.train.Saver``), read without
    TensorFlow (rnnlab.interop.tf_bundle): ``prefix`` is the checkpoint prefix ("model.ckpt", as
    given to ``Saver.save``) or any of its files (.index, .data-0000k-of-0000n, .meta); several
    shards are read, each tensor's CRC-32C checked.

    The RNN is found by the cells' variable names as ``from_variables`` reads them (single cells,
    MultiRNNCell levels, bidirectional fw/bw). ``scope``: read only the variables under this scope
    ("decoder" reads "decoder/..."); needed when the checkpoint holds several RNNs, such as an encoder
    and a decoder (the error lists the scopes found). Optimizer slots ("kernel/Adam") and other
    variables are left out. A ``tf.layers.dense`` layer beside the RNN ("dense/kernel", under
    ``scope`` if given) becomes the head: ``head="last"`` (default) reads each sequence's final h,
    every direction's (``Sequential([rnn, LastStep(), Dense])``: TF1 code feeding ``state.h``,
    ``outputs[:, -1]`` on full-length batches, or concat(fw h, bw h)); ``head="each"`` reads every step
    (``Sequential([rnn, Dense])``). The dense layer's activation is not in the checkpoint: it is
    taken as the identity (logits).

    ``forget_bias`` (LSTM cells only) is a constructor argument that TensorFlow adds at run time and
    never saves with the variables. When None, it is read from the ``prefix.meta`` graph beside the
    checkpoint (the constant added to each cell's forget gate); without a .meta it must be given.
    Cells of different forget_bias are folded into one layer's (the difference goes into the forget
    gate's bias).

    LSTMCell's peepholes and projection are variables, read with the cell's. Its ``cell_clip`` is,
    like forget_bias, a constructor argument: when None, it is read from the .meta graph (the
    constant of the clip of c_t; none found: no clip); given, it is used in place of the graph's.
    Without a .meta, c_t is not clipped unless ``cell_clip`` is given (the error asking for
    forget_bias says so). Cells clipping at different values are refused (one rnnlab layer has one
    cell_clip), and so is ``LSTMCell(proj_clip=x)``, seen in the .meta whenever there is one (rnnlab
    has no clip of the projection); a checkpoint without a .meta does not show a proj_clip.

    Raises FileNotFoundError (no .index or a missing shard), rnnlab.errors.FormatError naming the
    file and the tensor or block on a malformed checkpoint or one whose cells rnnlab cannot hold,
    and ValueError naming ``scope``, ``forget_bias`` or ``cell_clip`` when they are needed."""
    from ..errors import FormatError
    from ..models import Sequential
    from .tf_bundle import Bundle
    prefix = check_path("prefix", prefix)
    if head not in HEADS:
        raise ValueError(f"head: expected one of {HEADS}, got {head!r}")
    if forget_bias is not None:
        forget_bias = check_real("forget_bias", forget_bias)
    if cell_clip is not None:
        cell_clip = check_real("cell_clip", cell_clip, low=0, low_open=True)
    bundle = Bundle(prefix)
    path, names = bundle.path, sorted(bundle.entries)
    if scope is not None:
        if not isinstance(scope, str) or not scope.strip("/"):
            raise ValueError(f"scope: expected a variable scope such as 'encoder', got {scope!r}")
        scope = scope.strip("/")
        everywhere, names = _cells(path, names), [n for n in names if n.startswith(scope + "/")]
        cells = _cells(path, names)
        if not cells and everywhere:
            raise ValueError(f"scope: expected a scope holding RNN cells, one of {_scope_options(everywhere)} "
                             f"({path} holds cells under scopes {sorted(c.scope for c in everywhere)}), got "
                             f"{scope!r}, under which it holds none")
    else:
        cells = _cells(path, names)
    if not cells:
        raise FormatError(path, "", f"no TF1 RNN cell variables (lstm_cell, basic_lstm_cell, gru_cell, "
                                    f"basic_rnn_cell) in the checkpoint; it holds {sorted(bundle.entries)[:12]}")
    by_rnn: dict[str, list] = {}
    for c in cells:
        by_rnn.setdefault(c.template, []).append(c)
    if len(by_rnn) > 1:
        options = _scope_options(cells)
        raise ValueError(f"scope: {path} holds the cells of {len(by_rnn)} RNNs, under scopes "
                         f"{sorted(c.scope for c in cells)}; pass scope= one of {options} "
                         f"(scope={scope!r} was given)")
    kinds = {c.kind for c in cells}
    if cell_clip is not None and kinds != {"LSTM"}:
        raise ValueError(f"cell_clip: {path} holds {'/'.join(sorted(kinds))} cells, which have no cell clip "
                         f"(LSTMCell's); got cell_clip={cell_clip}")
    fb: dict = {}
    if kinds == {"LSTM"}:
        meta = bundle.prefix + ".meta"
        if forget_bias is None and not os.path.isfile(meta):
            raise ValueError(f"forget_bias: {path} holds LSTM cells, whose forget_bias (added to the forget "
                             f"gate at run time, sigmoid(f + forget_bias)) TensorFlow does not save in "
                             f"checkpoints, and there is no graph {meta!r} to read it from; pass forget_bias= "
                             f"as the model's code gave it to BasicLSTMCell / LSTMCell (1.0 by default), "
                             f"and cell_clip= if it gave LSTMCell one (not given, c_t is not clipped)")
        found = _cell_constants(meta, list(cells)) if os.path.isfile(meta) else {}
        for c, k in found.items():
            if k.proj_clip:
                raise FormatError(meta, f"cell {c.scope!r}", f"LSTMCell(proj_clip={sorted(k.proj_clip)[0]}) clips "
                                                            f"the projection m_t projection/kernel; rnnlab's LSTM has "
                                                            f"no proj_clip (its cell_clip clips c_t)")
            if forget_bias is None and len(k.forget_bias) != 1:
                what = "no constant" if not k.forget_bias else f"constants {sorted(k.forget_bias)}"
                raise ValueError(f"forget_bias: {meta}: found {what} added to the forget gate of cell {c.scope!r} "
                                 f"(a Sigmoid of an Add with a scalar Const in its scope); pass forget_bias= as "
                                 f"the model's code gave it to the cell (BasicLSTMCell's default is 1.0)")
        fb = {c: forget_bias if forget_bias is not None else found[c].forget_bias.copy().pop() for c in cells}
        if cell_clip is None and found:
            clips = {c.scope: sorted(k.cell_clip) for c, k in found.items()}
            if any(len(v) > 1 for v in clips.values()) or len({tuple(v) for v in clips.values()}) > 1:
                raise ValueError(f"cell_clip: {meta}: the cells clip c_t at {clips} ([]: no clip); an rnnlab "
                                 f"layer has one cell_clip: pass cell_clip= to read them all with one")
            cell_clip = (next(iter(clips.values())) or [None])[0]
    first = fb[min(cells, key=lambda c: (c.outer, c.direction or 0))] if fb else 1.0    # layer 0's
    variables = {}
    for c, leaves in cells.items():
        for leaf, name in leaves.items():
            a = bundle.read(name)
            if c in fb and leaf == "bias" and fb[c] != first and a.ndim == 1 and a.size % 4 == 0:
                a = a.copy()
                block(a, "tf1", "LSTM", "f")[...] += a.dtype.type(fb[c] - first)
            variables[name] = a
    try:
        layer = from_variables(variables, forget_bias=first, cell_clip=cell_clip)
    except ValueError as err:
        raise FormatError(path, f"scope {scope!r}" if scope else "", str(err).removeprefix("variables: ")) from None
    dense = {}
    for name in names:
        m = _DENSE.fullmatch(name[len(scope) + 1:] if scope else name)
        if m:
            dense.setdefault(int(m.group(1) or 0), {})[m.group(2)] = name
    if not dense:
        return layer
    if len(dense) > 1:
        raise FormatError(path, "", f"dense layers {sorted(v['kernel'] for v in dense.values() if 'kernel' in v)}: "
                                    f"rnnlab reads one dense head from a checkpoint (the activations between dense "
                                    f"layers live in the graph, not the checkpoint); read the arrays with "
                                    f"rnnlab.interop.tf_bundle.read_checkpoint and build the model")
    (parts,) = dense.values()
    if set(parts) != {"kernel", "bias"}:
        raise FormatError(path, f"tensor {sorted(parts.values())[0]!r}", "a dense layer needs kernel and bias")
    W, b = bundle.read(parts["kernel"]), bundle.read(parts["bias"])
    width = layer.h_size * layer.directions
    if W.ndim != 2 or W.shape[0] != width or b.shape != (W.shape[1],):
        raise FormatError(path, f"tensor {parts['kernel']!r}", f"dense kernel {W.shape} and bias {b.shape}: "
                                                              f"expected ({width}, O) and (O,) after {layer!r}")
    out = Dense(W.shape[0], W.shape[1], dtype=float_dtype(W, b).name)
    out.params["W"], out.params["b"] = np.ascontiguousarray(W, out.dtype), np.ascontiguousarray(b, out.dtype)
    return Sequential([layer, LastStep(), out] if head == "last" else [layer, out])


def save_checkpoint(model, prefix, scope: str | None = None, lstm_cell: str = "lstm_cell") -> None:
    """Write ``model`` as a TensorFlow 1 checkpoint ``prefix``.index + ``prefix``.data-00000-of-00001,
    the variables named as ``to_variables`` names them, which ``tf.compat.v1.train.Saver().restore``
    loads into the graph those names describe (cells built with ``LSTMCell(**cell_arguments(layer))``:
    forget_bias and cell_clip are no variables) and ``tf.train.load_checkpoint(prefix)`` reads. No
    .meta graph is written: read it back with ``load_checkpoint(prefix, forget_bias=..., cell_clip=...)``.
    Raises ValueError naming an option TF1's cells have no counterpart of (``to_tf1``)."""
    from .tf_bundle import prefix_of, write_checkpoint
    write_checkpoint(prefix_of(prefix), to_variables(model, scope=scope, lstm_cell=lstm_cell))
