"""PyTorch <-> rnnlab: torch.nn.RNN, LSTM and GRU layers, and whole models of one such layer plus an
nn.Linear head, as modules, state_dicts or saved ``.pt`` files.

PyTorch stores, per layer k and direction (suffix ``_reverse``):
    weight_ih_l{k} (G*H, D), weight_hh_l{k} (G*H, H), bias_ih_l{k} (G*H,), bias_hh_l{k} (G*H,)
with gate blocks in the order LSTM (i, f, g, o), GRU (r, z, n). rnnlab stores the transposes,
W (D, G*H) and U (H, G*H), LSTM blocks in the order (i, f, o, g), and one bias b, since
x W + b_ih + h U + b_hh only ever uses b_ih + b_hh. The exception is the GRU's candidate, where
PyTorch computes r * (h U_n + b_hn): b_hn stays separate in rnnlab's ``b_hn``. An LSTM with
``proj_size`` P has ``weight_hr_l{k}`` (P, H), rnnlab's ``W_hr`` (H, P) transposed, and
``weight_hh_l{k}`` of shape (4H, P). The other LSTM variant options (peepholes, cell_clip,
gate_clip, input_forget, layer_norm) have no place in PyTorch: exporting such a layer is refused naming the option.

A whole model is a recurrent module plus an optional nn.Linear head, in rnnlab
``Sequential([layer, LastStep(), Dense])`` (``head="last"``: the head reads the top layer's final h of
every direction, i.e. ``torch.cat(list(h_n[-directions:]), 1)``, which is ``out[:, -1]`` for a
unidirectional batch of full-length sequences) or ``Sequential([layer, Dense])`` (``head="each"``: the
head reads every step's output). A state_dict does not say which; ``head`` does. Files written by
``save_model`` hold a plain state_dict with keys ``rnn.*`` and ``head.*``.

Dropout: export writes the inference graph. rnnlab Dropout layers are the identity there and are
left out, and recurrent layers in a row (a model trained with ``--dropout`` and several layers:
``LSTM, Dropout, LSTM, ...``) become the levels of one torch module, which needs them to share kind,
hidden size and direction; set the torch module's ``dropout`` to train it further. On import, an
nn.Dropout (no parameters) and a module's ``dropout`` are likewise the identity and ignored.

An ``nn.Embedding`` in front (token ids in, ``padding_idx`` and ``sparse`` kept) is an rnnlab
``Embedding`` first in the Sequential; in a state_dict it is the 2-D ``<name>.weight`` without bias
stored before the recurrent module (as a module registered first stores it), and ``padding_idx``,
which a state_dict does not record, is an argument. Files written by ``save_model`` hold it as
``embedding.weight``.

This module does not import torch until a function needs it.
"""
from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Mapping

import numpy as np

from ..errors import FormatError, describe
from ..extras import require
from ..layers import GRU, LSTM, RNN, Dense, Embedding, Recurrent
from ..models import LastStep
from ._layout import (block, check_last_step, inference_layers, kinds_of, make_model, new_layer, refuse_variants,
                      reorder, set_direction)

KINDS = {1: "RNN", 3: "GRU", 4: "LSTM"}      # gate blocks G -> kind
HEADS = ("last", "each")


def _torch():
    return require("torch", "rnnlab.interop.torch needs PyTorch: pip install 'rnnlab[torch]'")


def _kind_of(module) -> str:
    name = type(module).__name__
    if name not in ("RNN", "LSTM", "GRU"):
        raise ValueError(f"module: expected a torch.nn.RNN, LSTM or GRU, got {name}")
    return name


def _numpy(value, name: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.name not in ("float32", "float64"):
        raise ValueError(f"state_dict[{name!r}]: expected float32 or float64 weights, got {arr.dtype}")
    return arr


def _layer_from_arrays(sd: dict, kind: str | None = None, nonlinearity: str = "tanh",
                       where: str = "state_dict") -> Recurrent:
    """An rnnlab layer from PyTorch-named arrays without prefix (weight_ih_l0, ...)."""
    if "weight_ih_l0" not in sd or "weight_hh_l0" not in sd:
        raise ValueError(f"{where}: expected the keys weight_ih_l0 and weight_hh_l0 of a torch RNN, LSTM or GRU, "
                         f"got {sorted(sd)}")
    w_ih, w_hh = sd["weight_ih_l0"], sd["weight_hh_l0"]
    w_hr = sd.get("weight_hr_l0")
    if w_hr is not None and (w_hr.ndim != 2 or w_hr.shape[0] != w_hh.shape[1]):
        raise ValueError(f"{where}['weight_hr_l0']: expected the projection of shape (proj_size, hidden_size) "
                         f"with proj_size {w_hh.shape[1]} (the width weight_hh_l0 reads), got {w_hr.shape}")
    H = w_hh.shape[1] if w_hr is None else w_hr.shape[1]
    proj_size = 0 if w_hr is None else w_hr.shape[0]
    G, rem = divmod(w_ih.shape[0], H)
    if rem or G not in KINDS or (kind is not None and KINDS[G] != kind):
        raise ValueError(f"{where}['weight_ih_l0']: shape {w_ih.shape} with hidden size {H} is not a torch "
                         f"{kind or 'RNN, LSTM or GRU'} weight")
    kind = KINDS[G]
    if proj_size and kind != "LSTM":
        raise ValueError(f"{where}['weight_hr_l0']: only an LSTM has a projection, got a torch {kind} weight")
    num_layers = 1 + max(int(k.split("_l")[1].split("_")[0]) for k in sd if k.startswith("weight_ih_l"))
    bidirectional = "weight_ih_l0_reverse" in sd
    dtype = w_ih.dtype
    options = {"RNN": {"nonlinearity": nonlinearity}, "GRU": {"reset_after": True},
               "LSTM": {"proj_size": proj_size} if proj_size else {}}[kind]
    layer = new_layer(kind, w_ih.shape[1], H, dtype, num_layers=num_layers, bidirectional=bidirectional,
                      **options)
    expected = set()
    for l in range(layer.num_layers):
        for d in range(layer.directions):
            s = f"_l{l}" + ("_reverse" if d else "")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh") + (("weight_hr",) if proj_size else ()):
                expected.add(name + s)
            if "weight_ih" + s not in sd:
                raise ValueError(f"{where}: missing {'weight_ih' + s!r} of layer {l}")
            w_ih, w_hh = sd["weight_ih" + s], sd["weight_hh" + s]
            b_ih = sd.get("bias_ih" + s, np.zeros(G * H, dtype))
            b_hh = sd.get("bias_hh" + s, np.zeros(G * H, dtype))
            if kind == "LSTM":
                p = {"W": reorder(w_ih.T, kind, "torch", "rnnlab", 1), "U": reorder(w_hh.T, kind, "torch", "rnnlab", 1),
                     "b": reorder(b_ih + b_hh, kind, "torch", "rnnlab", 0)}
                if proj_size:
                    if "weight_hr" + s not in sd:
                        raise ValueError(f"{where}: missing {'weight_hr' + s!r} of layer {l} (proj_size {proj_size})")
                    p["W_hr"] = sd["weight_hr" + s].T
            elif kind == "GRU":
                p = {"W": w_ih.T, "U": w_hh.T,
                     "b": b_ih + np.concatenate([block(b_hh, "torch", kind, "rz"), np.zeros(H, dtype)]),
                     "b_hn": block(b_hh, "torch", kind, "n")}
            else:
                p = {"W": w_ih.T, "U": w_hh.T, "b": b_ih + b_hh}
            set_direction(layer, l, d, p)
    extra = sorted(set(sd) - expected)
    if extra:
        raise ValueError(f"{where}: unexpected keys {extra} for a {num_layers}-layer torch {kind}")
    return layer


def from_torch(module):
    """An rnnlab layer computing exactly what ``module`` computes (input always batch-major): a torch
    RNN, LSTM or GRU, or an ``nn.Embedding`` (its ``padding_idx`` and ``sparse`` kept)."""
    if type(module).__name__ == "Embedding":
        return _embedding(_numpy(module.weight, "weight"), module.padding_idx, bool(module.sparse), "module")
    kind = _kind_of(module)
    sd = {k: _numpy(v, k) for k, v in module.state_dict().items()}
    return _layer_from_arrays(sd, kind, getattr(module, "nonlinearity", "tanh"), where=f"{kind} module")


def _embedding(W: np.ndarray, padding_idx, sparse: bool, where: str) -> Embedding:
    if W.ndim != 2:
        raise ValueError(f"{where}: expected an nn.Embedding weight of rank 2 (num_embeddings, embedding_dim), "
                         f"got shape {W.shape}")
    emb = Embedding(W.shape[0], W.shape[1], dtype=W.dtype.name, padding_idx=padding_idx, sparse=sparse)
    emb.params["W"] = np.ascontiguousarray(W)            # the padding row as stored (zero unless changed)
    return emb


def embedding_to_torch(emb: Embedding):
    """An ``nn.Embedding`` holding ``emb``'s table, with its ``padding_idx`` and ``sparse``."""
    torch = _torch()
    if not isinstance(emb, Embedding):
        raise ValueError(f"emb: expected an rnnlab Embedding, got {type(emb).__name__}")
    module = torch.nn.Embedding(emb.num_embeddings, emb.embedding_dim, padding_idx=emb.padding_idx,
                                sparse=emb.sparse).to(getattr(torch, emb.dtype.name))
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(emb.params["W"]))
    return module


def to_state_dict(layer: Recurrent, arrays: dict | None = None, fold_forget_bias: bool | None = None) -> dict:
    """PyTorch-named NumPy arrays that make a torch module compute what ``layer`` computes.

    A linear re-layout of ``arrays`` (default ``layer.params``), so it also maps ``grads`` to the
    gradients torch would report for ``weight_*`` (the torch bias gradients of b_ih and b_hh are
    then both the rnnlab ``b`` gradient's re-layout; here b goes to ``bias_ih`` and ``bias_hh`` is zero
    except for the GRU's b_hn). An LSTM's ``forget_bias`` has no place in PyTorch, so by default it is
    added to ``bias_ih``'s forget block when ``arrays`` is the layer's own parameters
    (``fold_forget_bias``; never for gradients).
    """
    if not isinstance(layer, Recurrent):
        raise ValueError(f"layer: expected an rnnlab RNN, LSTM or GRU, got {type(layer).__name__}")
    if isinstance(layer, GRU) and not layer.reset_after:
        raise ValueError("layer.reset_after: PyTorch's GRU computes the reset-after form only; "
                         "got reset_after=False")
    refuse_variants(layer, "PyTorch", holds=("proj_size", "peepholes", "cell_clip", "gate_clip", "input_forget",
                                             "layer_norm") if isinstance(layer, LSTM) else ())
    if isinstance(layer, LSTM):
        for option in ("peepholes", "cell_clip", "gate_clip", "input_forget", "layer_norm"):
            if getattr(layer, option):
                raise ValueError(f"layer.{option}: PyTorch's LSTM has no {option}; got {option}="
                                 f"{getattr(layer, option)!r} (of the LSTM variants it holds proj_size only)")
        if layer.proj_size >= layer.hidden_size:
            raise ValueError(f"layer.proj_size: PyTorch's LSTM needs proj_size < hidden_size ({layer.hidden_size}), "
                             f"got {layer.proj_size}")
    if fold_forget_bias is None:
        fold_forget_bias = arrays is None
    arrays = layer.params if arrays is None else arrays
    missing = sorted(set(layer.params) - set(arrays))
    if missing:
        raise ValueError(f"arrays: expected the keys of layer.params, missing {missing}")
    H = layer.hidden_size
    out = {}
    for l in range(layer.num_layers):
        for d in range(layer.directions):
            p = layer.direction_params(l, d, arrays)
            s = f"_l{l}" + ("_reverse" if d else "")
            if isinstance(layer, LSTM):
                b_ih = reorder(p["b"], "LSTM", "rnnlab", "torch", 0)
                if fold_forget_bias:
                    block(b_ih, "torch", "LSTM", "f")[...] += layer.forget_bias
                out["weight_ih" + s] = reorder(p["W"], "LSTM", "rnnlab", "torch", 1).T
                out["weight_hh" + s] = reorder(p["U"], "LSTM", "rnnlab", "torch", 1).T
                out["bias_ih" + s], out["bias_hh" + s] = b_ih, np.zeros_like(b_ih)
                if layer.proj_size:
                    out["weight_hr" + s] = p["W_hr"].T
            elif isinstance(layer, GRU):
                out["weight_ih" + s], out["weight_hh" + s] = p["W"].T, p["U"].T
                out["bias_ih" + s] = p["b"].copy()
                out["bias_hh" + s] = np.concatenate([np.zeros(2 * H, p["b"].dtype), p["b_hn"]])
            else:
                out["weight_ih" + s], out["weight_hh" + s] = p["W"].T, p["U"].T
                out["bias_ih" + s], out["bias_hh" + s] = p["b"].copy(), np.zeros_like(p["b"])
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


# ----- whole models ---------------------------------------------------------------------------------
def from_state_dict(state_dict: Mapping, head: str = "last", nonlinearity: str = "tanh",
                    padding_idx: int | None = None):
    """An rnnlab model from the state_dict of one torch RNN/LSTM/GRU (keys ``<prefix>weight_ih_l0``, ...),
    optionally one nn.Embedding before it (``<prefix>weight`` stored before the recurrent keys) and
    one nn.Linear (``<prefix>weight``, ``<prefix>bias``); values are tensors or arrays.

    ``head``: "last" (the Linear reads the final h) or "each" (it reads every step); ``nonlinearity``:
    an nn.RNN's, and ``padding_idx`` an nn.Embedding's, which a state_dict does not record. Returns the
    layer alone when there is nothing else.
    """
    if head not in HEADS:
        raise ValueError(f"head: expected one of {HEADS}, got {head!r}")
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"state_dict: expected a mapping of names to tensors, got {type(state_dict).__name__}")
    sd = {str(k): _numpy(v, k) for k, v in state_dict.items()}
    prefixes = sorted({k[:-len("weight_ih_l0")] for k in sd if k.endswith("weight_ih_l0")})
    if len(prefixes) != 1:
        raise ValueError(f"state_dict: expected exactly one recurrent module (a key ending in 'weight_ih_l0'), "
                         f"found {len(prefixes)}: {prefixes}")
    rp = prefixes[0]
    names = ("weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l", "weight_hr_l")
    rec = {k[len(rp):]: v for k, v in sd.items() if k.startswith(rp) and k[len(rp):].startswith(names)}
    layer = _layer_from_arrays(rec, None, nonlinearity, where=f"state_dict[{rp + '*'!r}]")
    rest = {k: v for k, v in sd.items() if not (k.startswith(rp) and k[len(rp):] in rec)}
    emb, keys = [], list(sd)
    first_rec = min(keys.index(rp + k) for k in rec)
    for k in [k for k in rest if k.endswith("weight") and keys.index(k) < first_rec]:
        if k[:-len("weight")] + "bias" not in rest and rest[k].ndim == 2 and rest[k].shape[1] == layer.input_size:
            emb.append(_embedding(rest.pop(k), padding_idx, False, f"state_dict[{k!r}]"))
    if padding_idx is not None and not emb:
        raise ValueError(f"padding_idx: given {padding_idx}, but the state_dict holds no nn.Embedding weight "
                         f"before the recurrent module")
    if not rest:
        return make_model(emb + [layer])
    heads = sorted({k[:-len("weight")] for k in rest if k.endswith("weight")})
    if len(heads) != 1 or set(rest) - {heads[0] + "weight", heads[0] + "bias"}:
        raise ValueError(f"state_dict: expected besides the recurrent module at most one nn.Linear "
                         f"('<name>.weight', '<name>.bias'), got keys {sorted(rest)}")
    hp = heads[0]
    w = rest[hp + "weight"]
    if w.ndim != 2 or w.shape[1] != layer.output_size:
        raise ValueError(f"state_dict[{hp + 'weight'!r}]: expected an nn.Linear weight of shape (*, "
                         f"{layer.output_size}) reading the recurrent output, got {w.shape}")
    dense = Dense(w.shape[1], w.shape[0], dtype=layer.dtype)
    dense.params["W"] = np.ascontiguousarray(w.T, layer.dtype)
    dense.params["b"] = np.ascontiguousarray(rest.get(hp + "bias", np.zeros(w.shape[0])), layer.dtype)
    return make_model(emb + ([layer, LastStep(), dense] if head == "last" else [layer, dense]))


def _from_module(module, head: str):
    """A torch module that is, or holds, exactly one RNN/LSTM/GRU and at most one nn.Linear."""
    if type(module).__name__ in ("RNN", "LSTM", "GRU"):
        return from_torch(module)
    rec, lin, emb, other = [], [], [], []
    for name, m in module.named_modules():
        kind = type(m).__name__
        if kind in ("RNN", "LSTM", "GRU"):
            rec.append((name, m))
        elif kind == "Linear":
            lin.append((name, m))
        elif kind == "Embedding":
            emb.append((name, m))
        elif any(True for _ in m.parameters(recurse=False)):
            other.append(f"{name} ({kind})")
    if len(rec) != 1 or len(lin) > 1 or len(emb) > 1 or other:
        raise ValueError(f"module: expected at most one nn.Embedding, then one torch RNN/LSTM/GRU and at most one "
                         f"nn.Linear, got {[n for n, _ in emb]} Embedding, {[n for n, _ in rec]} recurrent, "
                         f"{[n for n, _ in lin]} Linear, other parameters in {other}")
    _kind_of(rec[0][1])
    sd = module.state_dict()
    if emb:                                   # the embedding first, whatever the registration order
        e = emb[0][0] + "."
        sd = {**{k: v for k, v in sd.items() if k.startswith(e)}, **{k: v for k, v in sd.items() if not k.startswith(e)}}
    model = from_state_dict(sd, head, getattr(rec[0][1], "nonlinearity", "tanh"),
                            emb[0][1].padding_idx if emb else None)
    if emb and emb[0][1].sparse:
        model.layers[0].sparse = True
    return model


MAX_TORCH_BYTES = 1 << 31
"""Largest .pt file read: its size, and for the zip format the sizes its members declare (2 GiB)."""


def load_model(source, head: str = "last", nonlinearity: str = "tanh", weights_only: bool = True,
               padding_idx: int | None = None):
    """An rnnlab model from a ``.pt`` file, a state_dict, or a torch module: one RNN/LSTM/GRU and an
    optional nn.Linear head, e.g. ``rnnlab.interop.torch.load_model("model.pt")``.

    A file may hold a state_dict (``torch.save(model.state_dict(), path)``), a dict with a
    ``"state_dict"`` entry, or, with ``weights_only=False`` and only for files you trust (it unpickles
    code), a whole module. By default files are read with ``torch.load(weights_only=True)``, which
    unpickles tensors and containers only. Raises ``FileNotFoundError`` when there is no file and
    ``rnnlab.errors.FormatError`` naming the file (and the key) when it cannot be read or does not hold
    one recurrent module and at most one Linear; a file, or zip members, over ``MAX_TORCH_BYTES``
    are refused before reading.
    """
    if head not in HEADS:
        raise ValueError(f"head: expected one of {HEADS}, got {head!r}")
    if not isinstance(source, (str, os.PathLike)):
        return _load_object(source, head, nonlinearity, padding_idx)
    path = os.fspath(source)
    if not os.path.exists(path):
        raise FileNotFoundError(f"source: no file at {path!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"source: {path!r} is not a file")
    torch = _torch()
    try:
        declared = os.path.getsize(path)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                declared = max(declared, sum(i.file_size for i in z.infolist()))
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, NotImplementedError, RuntimeError,
            EOFError, OverflowError) as err:
        raise FormatError(path, "", f"not a torch file loadable with weights_only={weights_only} "
                                    f"({describe(err)})") from None
    if declared > MAX_TORCH_BYTES:
        raise FormatError(path, "", f"declares {declared} bytes, more than MAX_TORCH_BYTES = {MAX_TORCH_BYTES}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, ... for foreign files
        raise FormatError(path, "", f"not a torch file loadable with weights_only={weights_only} "
                                    f"({describe(err)})") from None
    try:
        return _load_object(obj, head, nonlinearity, padding_idx)
    except FormatError:
        raise
    except ValueError as err:             # from_state_dict's messages name the key
        raise FormatError(path, "", str(err)) from None
    except (KeyError, IndexError, TypeError, AttributeError, ZeroDivisionError, OverflowError,
            RecursionError, RuntimeError) as err:
        raise FormatError(path, "", f"not a state_dict rnnlab reads ({describe(err)})") from None


def _load_object(source, head: str, nonlinearity: str, padding_idx=None):
    if isinstance(source, Mapping) and isinstance(source.get("state_dict"), Mapping):
        source = source["state_dict"]
    if isinstance(source, Mapping):
        return from_state_dict(source, head, nonlinearity, padding_idx)
    if hasattr(source, "state_dict") and hasattr(source, "named_modules"):
        return _from_module(source, head)
    raise ValueError(f"source: expected a .pt path, a state_dict or a torch module, got {type(source).__name__}")


def _split_model(model):
    """(recurrent layers, head Dense or None, head mode) of an rnnlab model PyTorch can express: the
    layers after leaving out Dropout are recurrent layers that stack into one torch module, optionally
    then LastStep, then one Dense (nn.Linear)."""
    live = inference_layers(model)
    emb = live[0][1] if isinstance(live[0][1], Embedding) else None
    if emb is not None and emb.mask_zero:
        raise ValueError(f"model.layers[{live[0][0]}].mask_zero: PyTorch's recurrent modules take no per-step "
                         f"masks; got {emb!r}")
    live = live[1:] if emb is not None else live
    if not live:
        raise ValueError(f"model: PyTorch holds an Embedding before one RNN/LSTM/GRU; got layers {kinds_of(model)}")
    n = next((k for k, (_, layer) in enumerate(live) if not isinstance(layer, Recurrent)), len(live))
    rest = [type(layer).__name__ for _, layer in live[n:]]
    if n == 0 or rest not in ([], ["Dense"], ["LastStep", "Dense"]):
        raise ValueError(f"model: PyTorch holds one RNN/LSTM/GRU (recurrent layers in a row become its levels, "
                         f"Dropout is left out), optionally then LastStep, then one Dense (nn.Linear); got layers "
                         f"{kinds_of(model)}")
    (i0, first), recs = live[0], [layer for _, layer in live[:n]]
    for (_, prev), (j, layer) in zip(live[:n - 1], live[1:n]):
        same = (type(layer) is type(first) and layer.hidden_size == first.hidden_size
                and layer.bidirectional == first.bidirectional and layer.input_size == prev.output_size
                and getattr(layer, "nonlinearity", None) == getattr(first, "nonlinearity", None)
                and getattr(layer, "proj_size", 0) == getattr(first, "proj_size", 0))
        if not same:
            raise ValueError(f"model.layers[{j}]: recurrent layers in a row become the levels of one torch module, "
                             f"which needs one kind, hidden size, direction and nonlinearity, each level reading "
                             f"the one below; model.layers[{i0}] is {first!r}, model.layers[{j}] is {layer!r} "
                             f"(layers {kinds_of(model)})")
    if "LastStep" in rest:
        check_last_step(live[n][0], live[n][1], recs[-1])
    j, dense = live[-1] if isinstance(live[-1][1], Dense) else (None, None)
    if dense is not None and dense.activation not in ("identity", "linear"):
        raise ValueError(f"model.layers[{j}].activation: nn.Linear has no activation, got "
                         f"{dense.activation!r}; apply it to the torch output yourself")
    return recs, dense, "last" if "LastStep" in rest else "each", emb


def _levels_state_dict(recs: list) -> dict:
    """``to_state_dict`` of recurrent layers stacked in order: layer k's level l is torch level
    l + (levels of the layers before k)."""
    out, below = {}, 0
    for layer in recs:
        for k, v in to_state_dict(layer).items():
            out[re.sub(r"_l(\d+)", lambda m: f"_l{int(m.group(1)) + below}", k)] = v
        below += layer.num_layers
    return out


def model_state_dict(model, rnn: str = "rnn", head: str = "head", embedding: str = "embedding") -> dict:
    """PyTorch-named NumPy arrays of an rnnlab model: ``embedding.weight`` (a model that starts with an
    Embedding), ``rnn.weight_ih_l0``, ..., ``head.weight``, ``head.bias`` (the prefixes are the attribute
    names of the torch module that will load them)."""
    from ..saving import check_model_params
    check_model_params(model)           # weights that no longer fit the model: refused, nothing written
    recs, dense, _, emb = _split_model(model)
    out = {} if emb is None else {f"{embedding}.weight": emb.params["W"].copy()}
    out.update({f"{rnn}.{k}": v for k, v in _levels_state_dict(recs).items()})
    if dense is not None:
        out[f"{head}.weight"] = np.ascontiguousarray(dense.params["W"].T)
        out[f"{head}.bias"] = dense.params["b"].copy()
    return out


def to_torch(model):
    """(rnn, head): a batch-first torch RNN/LSTM/GRU and an nn.Linear (or None) holding ``model``'s
    weights, in the model's dtype. Dropout layers are left out (``rnn.dropout`` is 0)."""
    from ..saving import check_model_params
    check_model_params(model)           # weights that no longer fit the model: refused, nothing written
    torch = _torch()
    recs, dense, _, emb = _split_model(model)
    if emb is not None:
        raise ValueError("model.layers[0]: to_torch returns (rnn, head); convert the Embedding with "
                         "embedding_to_torch(model.layers[0]) and the rest with to_torch(Sequential(model.layers[1:]))")
    sd = _levels_state_dict(recs)                  # fails early for what torch cannot hold
    layer = recs[0]
    cls = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[layer.kind]
    kw = {"nonlinearity": layer.nonlinearity} if isinstance(layer, RNN) else {}
    if getattr(layer, "proj_size", 0):
        kw["proj_size"] = layer.proj_size
    dt = getattr(torch, layer.dtype.name)
    rnn = cls(layer.input_size, layer.hidden_size, num_layers=sum(r.num_layers for r in recs),
              bidirectional=layer.bidirectional, batch_first=True, **kw).to(dt)
    rnn.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    lin = None
    if dense is not None:
        lin = torch.nn.Linear(dense.input_size, dense.output_size).to(dt)
        lin.load_state_dict({"weight": torch.from_numpy(np.ascontiguousarray(dense.params["W"].T)),
                             "bias": torch.from_numpy(dense.params["b"].copy())})
    return rnn, lin


def save_model(model, path, rnn: str = "rnn", head: str = "head") -> None:
    """Write ``model_state_dict(model)`` as tensors with ``torch.save``: a module with attributes
    ``rnn`` and ``head`` loads it with ``load_state_dict(torch.load(path))``."""
    torch = _torch()
    from ..saving import atomic_write
    sd = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in model_state_dict(model, rnn, head).items()}
    atomic_write(path, lambda f: torch.save(sd, f))
