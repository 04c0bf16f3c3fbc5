"""Keras 3 <-> rnnlab: SimpleRNN, LSTM, GRU (both ``reset_after`` settings), Bidirectional and Dense,
as layer or model objects and as ``.keras`` / ``.weights.h5`` files.

Keras stores per recurrent layer ``kernel`` (D, G*H), ``recurrent_kernel`` (H, G*H) and ``bias``, the
same x W + h U orientation as rnnlab, with gate blocks in the order LSTM (i, f, c, o), GRU (z, r, h).
A GRU with ``reset_after=True`` (the default) has ``bias`` of shape (2, 3H): row 0 the input bias, row 1
the recurrent bias; its candidate part is rnnlab's b_hn, the rest folds into b. ``reset_after=False``
has one (3H,) bias and is rnnlab's reset-before GRU. An LSTM's ``unit_forget_bias`` is only an
initializer; rnnlab's run-time ``forget_bias`` is folded into the bias on the way to Keras.

Models are read as a chain: InputLayer and Dropout are skipped (dropout is off at inference), a
recurrent layer with ``return_sequences=False`` becomes the rnnlab layer followed by ``LastStep``, and
Dense (or ``TimeDistributed(Dense)``, the same map on every step) acts on the last step or on every
step accordingly; an ``Embedding`` first becomes rnnlab's Embedding. ``Bidirectional`` merge modes
"sum" and "ave" become the bidirectional layer followed by a Dense of fixed weights [I; I] (or
[I; I] / 2), "mul" the layer followed by ``MergeDirections(H, "mul")`` (rnnlab.layers.merge). A ``Masking(mask_value)`` layer becomes rnnlab's Masking and
``Embedding(mask_zero=True)`` rnnlab's Embedding(mask_zero=True): the model then computes the per-step
mask from its input as Keras does and gives it to the recurrent layers after it, whose masked steps
carry the state (``forward(x, mask=...)``, rnnlab.layers.recurrent), with the outputs at masked steps
as Keras gives them (``zero_output_for_mask``: Keras' own setting for one direction, True for a
Bidirectional returning sequences). So batches padded at the front (Keras' ``pad_sequences``
default) or with masked steps anywhere give Keras' outputs. ``masking="lengths"`` instead drops the
mask layers, for batches padded at the end given to ``forward(x, lengths)``; ``masking="refuse"``
refuses them.
``go_backwards=True`` (outside Bidirectional) becomes the layer with ``direction="reverse"`` followed by
``ReverseSequence()`` (rnnlab.layers.reverse): Keras returns a backward layer's outputs in processing
order, the reverse of rnnlab's; with ``return_sequences=False`` LastStep follows and reads the state
after the first step. On a masked batch Keras reverses the whole padded time axis and passes the mask
on unreversed, and the model does the same (ReverseSequence and LastStep with a mask, rnnlab.models.
Sequential). ``recurrent_activation`` "sigmoid" or "hard_sigmoid" becomes ``gate_activation``:
Keras 3's hard_sigmoid, clip(x / 6 + 1/2, 0, 1), is "hard_sigmoid", and in a Keras 2 full-model .h5
file (tf-keras 2.x) hard_sigmoid means clip(0.2 x + 1/2, 0, 1), "hard_sigmoid_keras2".

Reading files is defensive, since a model file may come from anyone: every fault gives a
``rnnlab.errors.FormatError`` (a ``ValueError``) naming the file and the place (zip member, HDF5
dataset or link, layer). The HDF5 weights are checked before any array is read: external storage
(``dataset.external``), virtual datasets, external and soft links are refused, since they make HDF5
read other local files into the weights; a dataset must store as many bytes in the file as it
declares (no compression, no unwritten fill), all of them together at most ``MAX_KERAS_BYTES``; the
zip members are read only up to their declared size and the limits below.

Reading a ``.keras`` file needs only h5py (its ``config.json`` gives the architecture); reading a bare
``.weights.h5`` file, which holds no architecture, assumes Keras' defaults (activations, sigmoid gates,
go_backwards=False, merge_mode="concat") and needs the
recurrent layers to be of one kind followed by Dense layers. Building Keras objects (``to_keras``,
``save_model``) needs Keras 3, imported on first use with ``KERAS_BACKEND`` defaulting to "torch".
"""
from __future__ import annotations

import io
import json
import os
import re
import struct
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

from ..checks import check_path
from ..errors import FormatError, describe
from ..extras import require
from ..layers import GRU, LSTM, RNN, Dense, Dropout, Embedding, Masking, MergeDirections, Recurrent, ReverseSequence
from ..models import LastStep
from ._layout import (ORDERS, block, check_last_step, inference_layers, layers_of, make_model, new_layer, refuse_variants, reorder,
                      set_direction, stack_levels)

RNNLAB_KIND = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}
KERAS_CLASS = {v: k for k, v in RNNLAB_KIND.items()}
ACTIVATIONS = {"linear": "identity", "sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu", "softmax": "softmax"}
_TAG = re.compile(r"^rnnlab(\d+)_l(\d+)$")       # names to_keras gives the levels of a stacked layer
MAX_KERAS_BYTES = 1 << 31
"""Largest weight data a Keras file may hold: the ``model.weights.h5`` member of a .keras archive (its
size in the zip directory, which also bounds its inflation) and the sum of its datasets (2 GiB)."""
MAX_KERAS_CONFIG_BYTES = 1 << 26
"""Largest ``config.json`` member of a .keras archive (64 MiB; Keras writes kilobytes)."""
MAX_H5_OBJECTS = 100_000
"""Most groups, datasets and links walked in a Keras HDF5 file."""
SKIPPED = ("InputLayer", "Dropout", "SpatialDropout1D", "NotEqual", "Any")
MASKINGS = ("keras", "lengths", "refuse")
GATE_ACTIVATIONS = {3: {"sigmoid": "sigmoid", "hard_sigmoid": "hard_sigmoid"},
                    2: {"sigmoid": "sigmoid", "hard_sigmoid": "hard_sigmoid_keras2"}}
"""Keras ``recurrent_activation`` -> rnnlab ``gate_activation``, by the Keras major version that wrote
the file: hard_sigmoid is clip(x / 6 + 1/2, 0, 1) in Keras 3 and clip(0.2 x + 1/2, 0, 1) in Keras 2."""
MERGES = ("concat", "sum", "ave", "mul")


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = require("keras", "rnnlab.interop.keras needs Keras 3 for this: pip install 'rnnlab[keras]'")
    if int(keras.__version__.split(".")[0]) < 3:
        raise ImportError(f"rnnlab.interop.keras needs Keras 3, found {keras.__version__}")
    return keras


def _h5py():
    return require("h5py", "reading Keras files needs h5py: pip install 'rnnlab[keras]'")


class KLayer(NamedTuple):
    """One Keras layer, however it was obtained: class name, config dict, weight arrays in Keras'
    order (kernel, recurrent_kernel, bias), and for Bidirectional the backward layer's arrays."""
    cls: str
    config: dict
    weights: list
    backward: list | None = None
    backward_config: dict | None = None
    keras_version: int = 3       # 2 for a layer of a Keras 2 full-model .h5 file (tf-keras 2.x)


def _name(k: KLayer) -> str:
    return f"{k.cls} {k.config.get('name', '?')!r}"


# ----- Keras -> rnnlab ------------------------------------------------------------------------------
def _activation(k: KLayer, key: str, config: dict) -> str:
    value = config.get(key, "linear")
    if isinstance(value, dict):          # a serialized built-in, {"class_name": "function", "config": "tanh"}
        value = value.get("config", value)
    if not isinstance(value, str):
        raise ValueError(f"{_name(k)}.{key}: expected a built-in activation name, got {value!r}")
    return value


def _recurrent(k: KLayer, config: dict, weights: list, where: str) -> tuple:
    """(rnnlab kind, options, per-direction parameter dict) of one Keras SimpleRNN/LSTM/GRU."""
    cls = k.cls if k.cls != "Bidirectional" else k.config["layer"]["class_name"]
    act = _activation(k, "activation", config)
    if cls == "SimpleRNN":
        if act not in ("tanh", "relu"):
            raise ValueError(f"{where}.activation: rnnlab's RNN has 'tanh' or 'relu', got {act!r}")
        options = {"nonlinearity": act}
    else:
        rec = _activation(k, "recurrent_activation", config)
        if act != "tanh":
            raise ValueError(f"{where}.activation: rnnlab's {cls} uses 'tanh', got {act!r}")
        gates = GATE_ACTIVATIONS[k.keras_version]
        if rec not in gates:
            raise ValueError(f"{where}.recurrent_activation: rnnlab's {cls} has {sorted(gates)} (its gate_activation), "
                             f"got {rec!r}")
        options = {"reset_after": bool(config.get("reset_after", True))} if cls == "GRU" else {}
        if gates[rec] != "sigmoid":
            options["gate_activation"] = gates[rec]
    if config.get("use_bias", True):
        if len(weights) != 3:
            raise ValueError(f"{where}: expected 3 weight arrays (kernel, recurrent_kernel, bias), got {len(weights)}")
        kernel, recurrent, bias = weights
    else:
        if len(weights) != 2:
            raise ValueError(f"{where}: expected 2 weight arrays (kernel, recurrent_kernel), got {len(weights)}")
        kernel, recurrent = weights
        bias = None
    H = recurrent.shape[0]
    G = len(ORDERS["keras"][RNNLAB_KIND[cls]])
    if kernel.ndim != 2 or recurrent.shape != (H, G * H) or kernel.shape[1] != G * H:
        raise ValueError(f"{where}: kernel {kernel.shape} and recurrent_kernel {recurrent.shape} are not "
                         f"those of a Keras {cls}")
    dt = kernel.dtype
    kind = RNNLAB_KIND[cls]
    p = {"W": reorder(kernel, kind, "keras", "rnnlab", 1), "U": reorder(recurrent, kind, "keras", "rnnlab", 1)}
    if kind == "GRU" and options["reset_after"]:
        bias = np.zeros((2, 3 * H), dt) if bias is None else bias
        if bias.shape != (2, 3 * H):
            raise ValueError(f"{where}.bias: expected shape (2, {3 * H}) with reset_after=True, got {bias.shape}")
        b_in, b_rec = reorder(bias[0], kind, "keras", "rnnlab", 0), reorder(bias[1], kind, "keras", "rnnlab", 0)
        p["b"] = b_in + np.concatenate([block(b_rec, "rnnlab", kind, "rz"), np.zeros(H, dt)])
        p["b_hn"] = block(b_rec, "rnnlab", kind, "n")
    else:
        bias = np.zeros(G * H, dt) if bias is None else bias
        if bias.shape != (G * H,):
            raise ValueError(f"{where}.bias: expected shape ({G * H},), got {bias.shape}")
        p["b"] = reorder(bias, kind, "keras", "rnnlab", 0)
    return kind, kernel.shape[0], H, dt, options, p


def _check_runtime(config: dict, where: str) -> None:
    """A Bidirectional's forward layer must run forward (Keras allows go_backwards there, swapping the roles)."""
    if config.get("go_backwards", False):
        raise ValueError(f"{where}.go_backwards: rnnlab's bidirectional layer runs its first direction forward; "
                         f"got go_backwards=True on the forward layer")


def _merge(mode, H: int, dtype, where: str) -> list:
    """The layers after a bidirectional rnnlab layer (which concatenates [forward, backward]) that
    compute Keras' ``merge_mode``: none for "concat"; for "sum" and "ave" the linear map
    y = [h_fw, h_bw] W with W = [I; I] (sum) or [I; I] / 2 (ave), a Dense of fixed weights (which the
    PyTorch and ONNX exporters hold as well); for "mul" MergeDirections(H, "mul"): y = h_fw * h_bw."""
    if mode == "concat":
        return []
    if mode == "mul":
        return [MergeDirections(H, "mul")]
    if mode not in MERGES:
        raise ValueError(f"{where}.merge_mode: rnnlab reads {MERGES}; got {mode!r}")
    merge = Dense(2 * H, H, dtype=np.dtype(dtype).name)
    eye = np.eye(H, dtype=merge.dtype) * (0.5 if mode == "ave" else 1.0)
    merge.params["W"], merge.params["b"] = np.concatenate([eye, eye]), np.zeros(H, merge.dtype)
    return [merge]


def _masking(k: KLayer, masking: str, where: str) -> None:
    """A Masking layer or an Embedding with mask_zero=True makes Keras skip the masked steps (the state
    is carried through them). Read with masking="keras" they keep their mask; "lengths" drops them,
    which agrees only with masks that cover the end of each sequence; "refuse" refuses them."""
    if masking == "refuse":
        raise ValueError(f"{where}: Keras skips the masked steps of every layer below, and rnnlab's layers take "
                         f"lengths (each sequence padded at its end) with masking='lengths', so a model read "
                         f"without its mask computes other outputs for any batch padded at the front (Keras' "
                         f"pad_sequences default) or in the middle. Pass masking='keras' (the default) to keep "
                         f"the mask, or masking='lengths' to read it anyway and give forward(x, lengths) batches "
                         f"padded at the end")


def _convert(k: KLayer, masking: str = "keras") -> tuple:
    """(rnnlab layer, returns_sequences, layers to append after it) for one Keras layer."""
    where = _name(k)
    if k.cls == "TimeDistributed":
        inner = k.config.get("layer", {})
        if not isinstance(inner, dict) or inner.get("class_name") != "Dense":
            raise ValueError(f"{where}.layer: rnnlab reads TimeDistributed(Dense) (rnnlab's Dense acts on every "
                             f"step), got {inner.get('class_name') if isinstance(inner, dict) else inner!r}")
        return _convert(KLayer("Dense", inner.get("config", {}), k.weights))
    if k.cls == "Embedding":
        if k.config.get("mask_zero", False):
            _masking(k, masking, where + ".mask_zero")
        if len(k.weights) != 1 or k.weights[0].ndim != 2:
            raise ValueError(f"{where}: expected one (input_dim, output_dim) embeddings array, got "
                             f"{[w.shape for w in k.weights]}")
        (table,) = k.weights
        mask_zero = masking == "keras" and bool(k.config.get("mask_zero", False))
        emb = Embedding(table.shape[0], table.shape[1], dtype=table.dtype.name, mask_zero=mask_zero)
        emb.params["W"] = np.ascontiguousarray(table)
        return emb, None, []
    if k.cls == "Dense":
        act = _activation(k, "activation", k.config)
        if act not in ACTIVATIONS:
            raise ValueError(f"{where}.activation: rnnlab's Dense has {sorted(ACTIVATIONS)}, got {act!r}")
        kernel = k.weights[0]
        bias = k.weights[1] if len(k.weights) > 1 else np.zeros(kernel.shape[1], kernel.dtype)
        dense = Dense(kernel.shape[0], kernel.shape[1], ACTIVATIONS[act], dtype=kernel.dtype.name)
        dense.params["W"] = np.ascontiguousarray(kernel)
        dense.params["b"] = np.ascontiguousarray(bias)
        return dense, None, []
    if k.cls in RNNLAB_KIND:
        backwards = k.config.get("go_backwards", False)
        if not isinstance(backwards, bool):
            raise ValueError(f"{where}.go_backwards: expected true or false, got {backwards!r}")
        kind, D, H, dt, options, p = _recurrent(k, k.config, k.weights, where)
        zero = bool(k.config.get("zero_output_for_mask", False))          # Keras' RNN default: carry
        layer = new_layer(kind, D, H, dt, zero_output_for_mask=zero,
                          direction="reverse" if backwards else "forward", **options)
        set_direction(layer, 0, 0, p)
        return layer, bool(k.config.get("return_sequences", False)), []
    if k.cls == "Bidirectional":
        fcfg = k.config["layer"]
        bcfg = k.backward_config or {**fcfg, "config": {**fcfg["config"], "go_backwards": True}}
        if fcfg["class_name"] not in RNNLAB_KIND or bcfg["class_name"] != fcfg["class_name"]:
            raise ValueError(f"{where}.backward_layer: expected two SimpleRNN, LSTM or GRU layers of one class, "
                             f"got {fcfg['class_name']} and {bcfg['class_name']}")
        _check_runtime(fcfg["config"], f"{where}.forward_layer")
        if not bcfg["config"].get("go_backwards", True):
            raise ValueError(f"{where}.backward_layer.go_backwards: expected True, got False")
        f = _recurrent(k, fcfg["config"], k.weights, f"{where}.forward_layer")
        b = _recurrent(k, bcfg["config"], k.backward, f"{where}.backward_layer")
        if f[:5] != b[:5]:
            raise ValueError(f"{where}: forward and backward layers differ in size or options "
                             f"({f[:5]} vs {b[:5]})")
        kind, D, H, dt, options, _ = f
        # Keras' Bidirectional sets zero_output_for_mask = return_sequences on both of its layers
        zero = bool(fcfg["config"].get("return_sequences", False))
        layer = new_layer(kind, D, H, dt, bidirectional=True, zero_output_for_mask=zero, **options)
        set_direction(layer, 0, 0, f[5])
        set_direction(layer, 0, 1, b[5])
        after = _merge(k.config.get("merge_mode", "concat"), H, dt, where)
        return layer, bool(fcfg["config"].get("return_sequences", False)), after
    raise ValueError(f"{where}: rnnlab has no counterpart of this Keras layer class")


def _chain(klayers: list, where: str, masking: str = "keras"):
    """The rnnlab model of a chain of Keras layers (see the module docstring)."""
    out, sequence, tag, levels = [], True, None, []
    masked = masking == "keras" and any(k.cls == "Masking" or (k.cls == "Embedding" and k.config.get("mask_zero"))
                                        for k in klayers)
    for i, k in enumerate(klayers):
        if k.cls == "Masking":
            _masking(k, masking, f"{where}.layers[{i}] ({_name(k)})")
            if masking == "keras":
                out.append(Masking(_mask_value(k, f"{where}.layers[{i}] ({_name(k)})")))
            continue
        if k.cls in SKIPPED:
            continue
        if k.cls == "Embedding" and out:
            raise ValueError(f"{where}.layers[{i}] ({_name(k)}): an Embedding reads token ids, so it comes first")
        layer, returns_sequences, after = _convert(k, masking)
        if masked and isinstance(layer, Recurrent) and not returns_sequences and layer.directions == 1 \
                and layer.zero_output_for_mask:
            raise ValueError(f"{where}.layers[{i}] ({_name(k)}).zero_output_for_mask: with return_sequences=False "
                             f"Keras then returns zeros for a sequence whose last step is masked, where rnnlab's "
                             f"LastStep returns the output of its last valid step; refused")
        if isinstance(layer, Recurrent):
            if not sequence:
                raise ValueError(f"{where}.layers[{i}] ({_name(k)}): a recurrent layer after the sequence was "
                                 f"reduced to its last step")
            m = _TAG.match(str(k.config.get("name", "")))
            if m and out and m.group(1) == tag and int(m.group(2)) == len(levels) and isinstance(out[-1], Recurrent):
                levels.append(layer)                # a level of a stacked rnnlab layer, see to_keras
                out[-1] = stack_levels(levels)
            else:
                tag, levels = (m.group(1) if m else None), [layer]
                out.append(layer)
            if layer.reverse:                       # go_backwards: Keras' outputs in processing order
                out.append(ReverseSequence())
            if not returns_sequences:
                out.append(LastStep())
                sequence = False
            if after:
                tag, levels = None, []
                out += after
        else:
            out.append(layer)
    if not out:
        raise ValueError(f"{where}: no SimpleRNN, LSTM, GRU, Bidirectional or Dense layer found")
    return make_model(out)


def _mask_value(k: KLayer, where: str) -> float:
    value = k.config.get("mask_value", 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{where}.mask_value: expected a finite number, got {value!r}")
    return float(value)


def _numpy(w) -> np.ndarray:
    keras = _keras()
    return np.asarray(keras.ops.convert_to_numpy(w))


def _klayer(layer) -> KLayer:
    cls = type(layer).__name__
    config = layer.get_config()
    if cls == "Bidirectional":
        return KLayer(cls, config, [_numpy(w) for w in layer.forward_layer.weights],
                      [_numpy(w) for w in layer.backward_layer.weights],
                      {"class_name": type(layer.backward_layer).__name__,
                       "config": layer.backward_layer.get_config()})
    return KLayer(cls, config, [_numpy(w) for w in layer.weights])


def from_keras(obj, masking: str = "keras"):
    """An rnnlab layer or model computing what a Keras layer or model computes.

    A single SimpleRNN / LSTM / GRU / Bidirectional becomes the bare rnnlab layer (whatever its
    ``return_sequences``), or with ``go_backwards=True`` a Sequential of the reverse layer and
    ``ReverseSequence`` (Keras' output order), and a Bidirectional merging with "sum", "ave" or "mul"
    a Sequential of the layer and the merge; a Dense becomes Dense; a Sequential or a chain-shaped functional Model
    becomes a Sequential (see the module docstring). ``masking``, for a Masking layer or an
    ``Embedding(mask_zero=True)``: "keras" (default) keeps the mask with Keras' semantics (the model
    computes it from its input); "lengths" reads the model without it, for batches padded at the end
    and given to ``forward(x, lengths)``; "refuse" refuses such a model.
    """
    if masking not in MASKINGS:
        raise ValueError(f"masking: expected one of {MASKINGS}, got {masking!r}")
    if hasattr(obj, "layers") and not hasattr(obj, "cell") and type(obj).__name__ not in ("Bidirectional",
                                                                                         "TimeDistributed"):
        return _chain([_klayer(layer) for layer in obj.layers], f"{type(obj).__name__} {obj.name!r}", masking)
    layer, _, after = _convert(_klayer(obj), masking)
    if getattr(layer, "reverse", False):                    # go_backwards: Keras' outputs in processing order
        after = [ReverseSequence()] + after
    return make_model([layer] + after)


# ----- files ----------------------------------------------------------------------------------------
def _snake(cls: str) -> str:
    """Keras' name of a layer's weight group: its class name in snake case (keras.src.utils.naming)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", cls)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _vars(group) -> list:
    if group is None or "vars" not in group:
        return []
    v = group["vars"]
    return [np.asarray(v[str(i)]) for i in range(len(v))]


def _weights_of(h5, cls: str, key: str) -> tuple:
    g = h5["layers"].get(key) if "layers" in h5 else None
    if g is None:
        return [], None
    if cls == "Bidirectional":
        return _vars(g["forward_layer"].get("cell")), _vars(g["backward_layer"].get("cell"))
    if cls == "TimeDistributed":
        return _vars(g.get("layer")), None
    return _vars(g.get("cell", g)), None


def _check_h5(h5, path: str, within: str = "") -> None:
    """Walk every object of an open HDF5 file before reading any data: refuse links that are not hard
    links (external links read other files; soft links may loop), datasets with external storage or
    virtual sources (both read other local files), datasets of non-numeric dtype, and datasets
    declaring more bytes than they store in the file or than MAX_KERAS_BYTES in all."""
    h5py = _h5py()
    stack, seen, total, count = [h5], set(), 0, 0
    while stack:
        group = stack.pop()
        for key in group.keys():
            name = f"{group.name.rstrip('/')}/{key}"
            place = within + f"link {name!r}"
            count += 1
            if count > MAX_H5_OBJECTS:
                raise FormatError(path, place, f"more than MAX_H5_OBJECTS = {MAX_H5_OBJECTS} objects")
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise FormatError(path, place, f"an HDF5 external link to {link.filename!r}; links reaching "
                                               f"outside the file are refused")
            if not isinstance(link, h5py.HardLink):
                raise FormatError(path, place, f"an HDF5 {type(link).__name__}; Keras weight files hold hard "
                                               f"links only")
            obj = group[key]
            addr = h5py.h5o.get_info(obj.id).addr
            if addr in seen:
                continue
            seen.add(addr)
            if isinstance(obj, h5py.Group):
                stack.append(obj)
                continue
            if not isinstance(obj, h5py.Dataset):
                raise FormatError(path, within + f"object {name!r}", f"an HDF5 {type(obj).__name__}, expected "
                                                                     f"groups and datasets")
            where = within + f"dataset {name!r}"
            if obj.external:
                raise FormatError(path, where, f"uses HDF5 external storage in {obj.external[0][0]!r}; data "
                                               f"outside the file is refused")
            if obj.is_virtual:
                raise FormatError(path, where, "is an HDF5 virtual dataset (its data lives in other files); refused")
            if obj.dtype.kind not in "fiub":
                raise FormatError(path, where, f"dtype {obj.dtype}, expected numbers")
            nbytes = obj.dtype.itemsize
            for n in obj.shape or ():
                nbytes *= n
            stored = obj.id.get_storage_size()
            if nbytes > stored:
                raise FormatError(path, where, f"declares shape {obj.shape} ({nbytes} bytes) but stores {stored} "
                                               f"bytes in the file (compressed or unwritten data is not read)")
            total += nbytes
            if total > MAX_KERAS_BYTES:
                raise FormatError(path, where, f"datasets of more than MAX_KERAS_BYTES = {MAX_KERAS_BYTES} bytes")


def _zip_member(z: zipfile.ZipFile, name: str, limit: int, path: str) -> bytes:
    """A member of a .keras archive, refused when missing or declaring more than ``limit`` bytes, and
    read with that cap (the zip reader stops at the declared size)."""
    try:
        info = z.getinfo(name)
    except KeyError:
        raise FormatError(path, f"member {name!r}", f"missing: a .keras archive holds config.json and "
                                                    f"model.weights.h5, found {z.namelist()[:10]}") from None
    if info.file_size > limit:
        raise FormatError(path, f"member {name!r}", f"declares {info.file_size} bytes, more than the limit {limit}")
    with z.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FormatError(path, f"member {name!r}", f"inflates past the limit {limit}")
    return data


def _from_keras_file(path: str, masking: str = "keras"):
    h5py = _h5py()
    with zipfile.ZipFile(path) as z:
        raw = _zip_member(z, "config.json", MAX_KERAS_CONFIG_BYTES, path)
        weights = _zip_member(z, "model.weights.h5", MAX_KERAS_BYTES, path)
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise FormatError(path, "member 'config.json'", f"not JSON ({describe(err)})") from None
    if not isinstance(config, dict) or not isinstance(config.get("config", {}), dict):
        raise FormatError(path, "member 'config.json'", "expected a JSON object with a 'config' object")
    with h5py.File(io.BytesIO(weights), "r") as h5:
        _check_h5(h5, path, "member 'model.weights.h5' ")
        model_cfg = config.get("config", {})
        entries = model_cfg.get("layers")
        if not isinstance(entries, list):
            raise FormatError(path, "member 'config.json'", f"holds a {config.get('class_name')!r}, expected a "
                                                            f"Keras Sequential or functional model")
        used: dict[str, int] = {}
        klayers = []
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not isinstance(e.get("class_name"), str) or \
                    not isinstance(e.get("config", {}), dict):
                raise FormatError(path, f"member 'config.json' layers[{i}]", "expected an object with a "
                                                                             "'class_name' string and a 'config'")
            cls, cfg = e["class_name"], e.get("config", {})
            base = _snake(cls)
            used[base] = used.get(base, -1) + 1
            key = base if used[base] == 0 else f"{base}_{used[base]}"
            fwd, bwd = _weights_of(h5, cls, key)
            if cls in SKIPPED or cls == "Masking":
                klayers.append(KLayer(cls, cfg, []))
                continue
            if not fwd:
                raise FormatError(path, f"dataset 'layers/{key}'", f"no weights for layer {cfg.get('name')!r} ({cls})")
            bcfg = cfg.get("backward_layer") if cls == "Bidirectional" else None
            klayers.append(KLayer(cls, cfg, fwd, bwd, bcfg))
    return _chain(klayers, f"{config.get('class_name')} {model_cfg.get('name', '')!r}", masking)


def _from_weights_file(path: str, head: str, masking: str = "keras"):
    """Infer the chain from a bare .weights.h5: recurrent layers of one kind, then Dense layers
    (Dropout and the other skipped layers, which hold no weights, ignored)."""
    h5py = _h5py()
    with h5py.File(path, "r") as h5:
        _check_h5(h5, path)
        if "layers" not in h5:
            raise ValueError(f"path: {path!r} is not a Keras 3 .weights.h5 file (no 'layers' group)")
        names = list(h5["layers"].keys())

        def order(name):
            base, _, n = name.rpartition("_")
            return (base, int(n)) if n.isdigit() and base else (name, 0)

        groups: dict[str, list] = {}
        weightless = {_snake(cls) for cls in SKIPPED}      # a Dropout's group holds no arrays
        if any(order(name)[0] == "masking" for name in names):
            where = f"weights file {path!r}: group 'layers/masking' (a Masking layer)"
            _masking(KLayer("Masking", {}, []), masking, where)
            if masking == "keras":
                raise ValueError(f"{where}: a bare weights file does not record the Masking layer's mask_value "
                                 f"or place; use the .keras file, or masking='lengths' for batches padded at the end")
            weightless.add("masking")
        for name in sorted(names, key=order):
            if order(name)[0] not in weightless:
                groups.setdefault(order(name)[0], []).append(name)
        recurrent = [b for b in groups if b in ("simple_rnn", "lstm", "gru", "bidirectional")]
        unknown = sorted(set(groups) - {"simple_rnn", "lstm", "gru", "bidirectional", "dense"})
        if len(recurrent) > 1 or unknown:
            raise ValueError(f"path: {path!r} holds the weight groups {names}; a bare .weights.h5 file records no "
                             f"layer order, so rnnlab reads only recurrent layers of one kind followed by Dense. "
                             f"Use the .keras file, or load the weights into the Keras model and call from_keras")
        klayers = []
        for base in recurrent:
            for name in groups[base]:
                cls = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}.get(base, "Bidirectional")
                fwd, bwd = _weights_of(h5, cls, name)
                inner = cls
                if cls == "Bidirectional":
                    G = fwd[0].shape[1] // fwd[1].shape[0]
                    inner = {1: "SimpleRNN", 3: "GRU", 4: "LSTM"}[G]
                cfg = {"name": name, "return_sequences": True}
                if inner == "GRU":
                    cfg["reset_after"] = fwd[2].ndim == 2 if len(fwd) == 3 else True
                if len(fwd) == 2:
                    cfg["use_bias"] = False
                defaults = {"activation": "tanh", "recurrent_activation": "sigmoid"}
                if cls == "Bidirectional":
                    klayers.append(KLayer(cls, {"name": name, "merge_mode": "concat",
                                                "layer": {"class_name": inner, "config": {**defaults, **cfg}}},
                                          fwd, bwd))
                else:
                    klayers.append(KLayer(cls, {**defaults, **cfg}, fwd))
        if klayers and head == "last":
            last = klayers[-1]
            cfg = last.config["layer"]["config"] if last.cls == "Bidirectional" else last.config
            cfg["return_sequences"] = False
        for name in groups.get("dense", []):
            klayers.append(KLayer("Dense", {"name": name, "activation": "linear"}, _weights_of(h5, "Dense", name)[0]))
    return _chain(klayers, f"weights file {path!r}", masking)


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _check_chain(entries: list, path: str) -> None:
    """A functional model's layers must form a chain: each layer fed by the one listed before it
    (Keras 2 ``inbound_nodes`` [[[name, node, tensor, kwargs]]])."""
    for i, e in enumerate(entries[1:], 1):
        nodes = e.get("inbound_nodes", [])
        before = entries[i - 1].get("name", entries[i - 1].get("config", {}).get("name"))
        sources = [t[0] for node in nodes if isinstance(node, list) for t in node if isinstance(t, list) and t]
        if sources != [before]:
            raise FormatError(path, f"attribute 'model_config' layers[{i}]", f"layer {e.get('name')!r} reads "
                                                                            f"{sources}; rnnlab reads a chain of "
                                                                            f"layers, each fed by the one before")


def _from_keras2_file(h5, path: str, masking: str):
    """A Keras 2 full-model .h5 (``model.save("model.h5")`` in tf.keras 2.x): the JSON attribute
    ``model_config`` gives the layers; group ``model_weights/<layer name>`` lists its arrays in its
    attribute ``weight_names`` (a Bidirectional's forward layer's, then its backward layer's), each
    a dataset at that path inside the group. Gate orders and bias layouts are Keras 3's."""
    raw = h5.attrs["model_config"]
    raw = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    if len(raw) > MAX_KERAS_CONFIG_BYTES:
        raise FormatError(path, "attribute 'model_config'", f"more than MAX_KERAS_CONFIG_BYTES = "
                                                            f"{MAX_KERAS_CONFIG_BYTES} bytes")
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise FormatError(path, "attribute 'model_config'", f"not JSON ({describe(err)})") from None
    model_cfg = config.get("config") if isinstance(config, dict) else None
    entries = model_cfg.get("layers") if isinstance(model_cfg, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("class_name"), str)
                                                and isinstance(e.get("config", {}), dict) for e in entries):
        raise FormatError(path, "attribute 'model_config'", "expected a Keras Sequential or functional model "
                                                            "with a list of layers, each with class_name and config")
    if "model_weights" not in h5:
        raise FormatError(path, "group 'model_weights'", "missing: a Keras 2 model file holds its weights there")
    if config.get("class_name") != "Sequential":
        _check_chain(entries, path)
    weights = h5["model_weights"]
    klayers = []
    for i, e in enumerate(entries):
        cls, cfg = e["class_name"], e.get("config", {})
        name = cfg.get("name", e.get("name"))
        arrays, names = [], []
        if isinstance(name, str) and name in weights:
            group = weights[name]
            names = [_text(w) for w in group.attrs.get("weight_names", [])]
            for w in names:
                if w not in group:
                    raise FormatError(path, f"group 'model_weights/{name}'", f"lists weight {w!r}, which it lacks")
                arrays.append(np.asarray(group[w]))
        if cls == "Bidirectional":
            fwd = [a for a, w in zip(arrays, names) if "/forward_" in w]
            bwd = [a for a, w in zip(arrays, names) if "/backward_" in w]
            klayers.append(KLayer(cls, cfg, fwd, bwd, cfg.get("backward_layer"), keras_version=2))
        elif cls in SKIPPED or cls == "Masking" or arrays:
            klayers.append(KLayer(cls, cfg, arrays, keras_version=2))
        else:
            raise FormatError(path, f"group 'model_weights/{name}'", f"no weights for layer {name!r} ({cls})")
    return _chain(klayers, f"{config.get('class_name')} {model_cfg.get('name', '')!r}", masking)


def load_model(path, head: str = "last", masking: str = "keras"):
    """An rnnlab model from a Keras 3 ``.keras`` file (needs only h5py), a Keras 2 full-model ``.h5``
    file (``model.save("model.h5")`` in tf.keras 2.x, also needing only h5py), or from a bare Keras 3
    ``.weights.h5`` file (default activations assumed; ``head``: "last" or "each" says whether the
    Dense layers read the last step or every step), e.g.
    ``rnnlab.interop.keras.load_model("model.keras")``. ``masking``: see ``from_keras``; by default a
    Masking layer or ``Embedding(mask_zero=True)`` keeps its mask, with Keras' semantics."""
    if head not in ("last", "each"):
        raise ValueError(f"head: expected 'last' or 'each', got {head!r}")
    if masking not in MASKINGS:
        raise ValueError(f"masking: expected one of {MASKINGS}, got {masking!r}")
    path = check_path("path", path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: no file at {path!r}")
    if not path.endswith((".keras", ".h5")):
        raise ValueError(f"path: expected a .keras or .weights.h5 file, got {path!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: {path!r} is not a file")
    try:
        if path.endswith(".keras"):
            if not zipfile.is_zipfile(path):
                raise FormatError(path, "", "not a Keras 3 .keras archive (a zip file)")
            return _from_keras_file(path, masking)
        h5py = _h5py()
        with h5py.File(path, "r") as h5:
            if "model_config" in h5.attrs:
                _check_h5(h5, path)
                return _from_keras2_file(h5, path, masking)
            if "layer_names" in h5.attrs:
                raise FormatError(path, "", "a Keras 2 weights-only file (save_weights): it holds no architecture; "
                                            "rnnlab reads Keras 2 files saved whole, model.save('model.h5')")
        return _from_weights_file(path, head, masking)
    except FormatError:
        raise
    except ValueError as err:                        # the converters' messages name the layer and field
        raise FormatError(path, "", str(err)) from None
    except (KeyError, IndexError, TypeError, AttributeError, ZeroDivisionError, OverflowError, RecursionError,
            OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, struct.error, zlib.error, RuntimeError,
            NotImplementedError) as err:             # h5py raises OSError, KeyError, RuntimeError on bad files
        raise FormatError(path, "", f"not a readable Keras file ({describe(err)})") from None


# ----- rnnlab -> Keras ------------------------------------------------------------------------------
def keras_weights(layer: Recurrent, l: int = 0, d: int = 0) -> list:
    """The Keras arrays [kernel, recurrent_kernel, bias] of one (layer, direction) of ``layer``."""
    refuse_variants(layer, "Keras", holds=("recurrent_dropout", "gate_activation"))   # to_keras passes them on
    _keras_gates(layer)
    p = layer.direction_params(l, d)
    H = layer.hidden_size
    kind = layer.kind
    kernel, recurrent = reorder(p["W"], kind, "rnnlab", "keras", 1), reorder(p["U"], kind, "rnnlab", "keras", 1)
    if isinstance(layer, GRU) and layer.reset_after:
        rec_bias = np.concatenate([np.zeros(2 * H, layer.dtype), p["b_hn"]])
        bias = np.stack([reorder(p["b"], kind, "rnnlab", "keras", 0), reorder(rec_bias, kind, "rnnlab", "keras", 0)])
    else:
        b = p["b"].copy()
        if isinstance(layer, LSTM):
            block(b, "rnnlab", kind, "f")[...] += layer.forget_bias     # rnnlab's run-time forget bias, folded
        bias = reorder(b, kind, "rnnlab", "keras", 0)
    return [kernel, recurrent, bias]


def _keras_gates(layer: Recurrent) -> dict:
    """Keras options for ``layer``'s gate_activation: none for sigmoid, recurrent_activation="hard_sigmoid"
    for Keras 3's; Keras 2's hard sigmoid (slope 0.2) is not one of Keras 3's activations."""
    gate = getattr(layer, "gate_activation", "sigmoid")
    if gate == "sigmoid":
        return {}
    if gate != "hard_sigmoid":
        raise ValueError(f"layer.gate_activation: Keras 3 has no counterpart of {gate!r} (clip(0.2 x + 1/2, 0, 1), "
                         f"Keras 2's hard_sigmoid; Keras 3's hard_sigmoid is clip(x / 6 + 1/2, 0, 1)); got {layer!r}")
    return {"recurrent_activation": "hard_sigmoid"}


def _after(live: list, k: int, cls) -> bool:
    """Whether live layer k is an instance of ``cls`` (False past the end)."""
    return k < len(live) and isinstance(live[k][1], cls)


def to_keras(model):
    """A ``keras.Sequential`` computing what ``model`` computes, in its dtype (needs Keras 3).

    A stacked rnnlab layer becomes one Keras layer per level, named ``rnnlab<i>_l<level>`` so that it
    reads back as one layer; ``LastStep`` becomes ``return_sequences=False`` on the recurrent layer
    before it; ``Dropout`` becomes a Keras Dropout of the same rate, which like rnnlab's is the
    identity at inference (reading the model back skips it); ``Masking`` becomes Keras' Masking. Feed
    ragged batches to it with a mask (``model(x, mask=...)``) or a Masking layer in front.

    What ``from_keras`` reads back, the other way: an Embedding first becomes Keras' Embedding (int32
    ids, its ``mask_zero``; ``padding_idx`` only freezes a row in training, so the lookup, all Keras
    stores, is the same); a ``gate_activation`` "hard_sigmoid" becomes
    ``recurrent_activation="hard_sigmoid"``; a bidirectional layer followed by ``MergeDirections``
    (after LastStep or not) becomes ``Bidirectional(merge_mode=mode)``; a reverse layer followed by
    ``ReverseSequence`` becomes ``go_backwards=True`` (a stacked one: level 0 go_backwards, the levels
    above it forward, since each reads the level below in processing order; named
    ``rnnlab<i>_r<level>``, so they read back as a chain of one-level layers computing the same).
    Anything else is refused naming the layer.
    """
    from ..saving import check_model_params
    check_model_params(model)           # weights that no longer fit the model: refused, nothing written
    keras = _keras()
    layers = layers_of(model)
    live = inference_layers(model, reverse=True)
    masked = isinstance(live[0][1], Masking) or (isinstance(live[0][1], Embedding) and live[0][1].mask_zero)
    first = live[1][1] if isinstance(live[0][1], Masking) and len(live) > 1 else live[0][1]   # Masking keeps the width
    if not isinstance(first, (Recurrent, Dense, Embedding)):
        raise ValueError(f"model.layers[{live[0][0]}]: expected an Embedding, a recurrent or a Dense layer, got "
                         f"{type(first).__name__}")
    dt = first.dtype.name
    if isinstance(first, Embedding):
        out = [keras.Input((None,), dtype="int32")]
    else:
        out = [keras.Input((None, first.input_size) if isinstance(first, Recurrent) else (first.input_size,), dtype=dt)]
    fill = []
    place = {i: k for k, (i, _) in enumerate(live)}
    for i, layer in enumerate(layers):
        if isinstance(layer, Dropout):
            # elementwise, so it commutes with a LastStep after it: a recurrent layer before
            # Dropout, LastStep still ends with return_sequences=False
            out.append(keras.layers.Dropout(layer.rate, dtype=dt))
            continue
        if isinstance(layer, Masking):
            if i != live[0][0]:
                raise ValueError(f"model.layers[{i}]: rnnlab exports Masking as the first layer only")
            out.append(keras.layers.Masking(layer.mask_value, dtype=dt))
            continue
        k = place[i]
        prev = live[k - 1][1] if k > 0 else None
        if isinstance(layer, Embedding):
            if k != 0:
                raise ValueError(f"model.layers[{i}]: an Embedding reads token ids, so Keras takes it first only")
            ke = keras.layers.Embedding(layer.num_embeddings, layer.embedding_dim, mask_zero=layer.mask_zero, dtype=dt)
            out.append(ke)
            fill.append((ke, [layer.params["W"]]))
            continue
        if isinstance(layer, ReverseSequence):
            if not (isinstance(prev, Recurrent) and prev.reverse):
                raise ValueError(f"model.layers[{i}]: Keras has no ReverseSequence layer; it expresses one only right "
                                 f"after a reverse layer, as that layer's go_backwards=True")
            continue
        if isinstance(layer, MergeDirections):
            rec = live[k - 2][1] if isinstance(prev, LastStep) and k > 1 else prev
            if not (isinstance(rec, Recurrent) and rec.bidirectional and layer.size == rec.hidden_size):
                raise ValueError(f"model.layers[{i}]: Keras merges directions only inside Bidirectional (merge_mode), "
                                 f"so {layer!r} must follow a bidirectional layer of hidden_size {layer.size} (or its "
                                 f"LastStep); got it after {prev!r}")
            continue
        if isinstance(layer, LastStep):
            rec = live[k - 2][1] if isinstance(prev, ReverseSequence) and k > 1 else prev
            if not isinstance(rec, Recurrent):
                raise ValueError(f"model.layers[{i}]: Keras expresses LastStep only right after a recurrent layer")
            if rec.reverse:              # [reverse, ReverseSequence, LastStep]: the state after reading x[:, 0]
                if layer.directions != 1:
                    raise ValueError(f"model.layers[{i}]: after a reverse layer and ReverseSequence, LastStep reads "
                                     f"one direction; got LastStep(directions={layer.directions})")
            else:
                check_last_step(i, layer, rec)
            continue
        if isinstance(layer, Dense):
            act = {v: name for name, v in ACTIVATIONS.items()}.get(layer.activation, "linear")   # identity, linear
            kd = keras.layers.Dense(layer.output_size, activation=act, dtype=dt)
            out.append(kd)
            fill.append((kd, [layer.params["W"], layer.params["b"]]))
            continue
        cls = getattr(keras.layers, KERAS_CLASS[layer.kind])
        opts = _keras_gates(layer)
        if isinstance(layer, RNN):
            opts["activation"] = layer.nonlinearity
        if isinstance(layer, GRU):
            opts["reset_after"] = layer.reset_after
        if layer.reg.recurrent_dropout:                  # Keras' recurrent_dropout: one mask per gate block
            opts["recurrent_dropout"] = layer.reg.recurrent_dropout
        if layer.zero_output_for_mask and not layer.bidirectional:
            opts["zero_output_for_mask"] = True
        j = k + 1                                        # the live layer after this one and its ReverseSequence
        if layer.reverse:
            if not _after(live, k + 1, ReverseSequence):
                raise ValueError(f"model.layers[{i}].direction: Keras' go_backwards=True returns its outputs in "
                                 f"processing order, so a reverse layer exports only followed by ReverseSequence(); "
                                 f"got {layer!r} followed by {kinds_of_live(live, k + 1)}")
            j = k + 2
        last = _after(live, j, LastStep)
        merge = "concat"
        if layer.bidirectional:
            m = j + 1 if last else j
            if _after(live, m, MergeDirections):
                merge = live[m][1].mode
        for l in range(layer.num_layers):
            seq = l < layer.num_layers - 1 or not last
            top = l == layer.num_layers - 1
            if masked and layer.bidirectional and seq and not layer.zero_output_for_mask:
                raise ValueError(f"model.layers[{i}].zero_output_for_mask: Keras' Bidirectional returning sequences "
                                 f"gives zeros at masked steps (zero_output_for_mask=True); got {layer!r}")
            if layer.bidirectional:
                kr = keras.layers.Bidirectional(cls(layer.hidden_size, return_sequences=seq, dtype=dt, **opts),
                                                merge_mode=merge if top else "concat", dtype=dt,
                                                name=f"rnnlab{i}_l{l}")
                fill.append((kr, keras_weights(layer, l, 0) + keras_weights(layer, l, 1)))
            else:
                name = f"rnnlab{i}_r{l}" if layer.reverse else f"rnnlab{i}_l{l}"
                kr = cls(layer.hidden_size, return_sequences=seq, dtype=dt, name=name,
                         go_backwards=layer.reverse and l == 0, **opts)
                fill.append((kr, keras_weights(layer, l, 0)))
            out.append(kr)
    kmodel = keras.Sequential(out)
    for kl, weights in fill:
        kl.set_weights([np.asarray(w, dt) for w in weights])
    return kmodel


def kinds_of_live(live: list, k: int) -> str:
    return type(live[k][1]).__name__ if k < len(live) else "nothing"


def save_model(model, path) -> None:
    """Write ``to_keras(model)`` as a ``.keras`` file (architecture and weights) or a ``.weights.h5``,
    atomically (a temporary file beside ``path``, renamed over it), creating its folder as
    ``rnnlab.save`` does. Raises ValueError naming ``path`` for a name without either ending or not a
    path, IsADirectoryError when ``path`` is a folder and NotADirectoryError when a part of its folder
    is a file, each naming ``path``, before Keras is imported."""
    from ..saving import create_tmp
    path = check_path("path", path)
    if not path.endswith((".keras", ".weights.h5")):
        raise ValueError(f"path: expected a name ending in .keras or .weights.h5, got {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"path: {path!r} is a folder; expected the path of a file")
    folder = os.path.dirname(os.path.abspath(path))
    above = folder
    while not os.path.exists(above):                          # the nearest part of the folder that exists
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        raise NotADirectoryError(f"path: cannot write {path!r}: {above!r} is a file, not a folder")
    kmodel = to_keras(model)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = create_tmp(folder, os.path.basename(path))      # the same ending: Keras checks it
    os.close(fd)
    try:
        kmodel.save(tmp) if path.endswith(".keras") else kmodel.save_weights(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
