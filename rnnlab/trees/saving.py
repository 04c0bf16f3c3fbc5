"""Save and load tree models as ``.npz``: one array per parameter ``param/<key>`` and a JSON header
``__rnnlab_tree__`` = {"format": "rnnlab-tree", "version": 1, "model": config, "vocab": [words],
"lowercase": bool, "meta": {...}}. Training checkpoints add the optimizers' state as ``opt/<name>/<slot>/<key>``.
Written atomically (``rnnlab.saving.atomic_write``), read without pickle.
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..saving import atomic_write, read_npz
from .model import TreeModel, TreeModelConfig
from .vocab import Vocabulary

FORMAT, VERSION, HEADER = "rnnlab-tree", 1, "__rnnlab_tree__"


def save_model(path, model: TreeModel, vocab: Vocabulary, meta: dict | None = None,
               optimizers: dict | None = None) -> None:
    header = {"format": FORMAT, "version": VERSION, "model": model.to_dict(), "vocab": vocab.words,
              "lowercase": vocab.lowercase, "meta": meta or {}}
    arrays = {f"param/{k}": v for k, v in model.params.items()}
    for name, opt in (optimizers or {}).items():
        arrays.update({f"opt/{name}/{k}": v for k, v in opt.state_dict().items()})
    arrays[HEADER] = np.array(json.dumps(header))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read(path):
    """(header, params, optimizer states {name: state dict}) of a saved tree model."""
    path = os.fspath(path)
    header, arrays = read_npz(path, HEADER, "tree model")
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(f"path: {path!r} has format {header.get('format')!r} version {header.get('version')!r}, "
                         f"expected {FORMAT!r} version {VERSION}")
    params = {k[6:]: v for k, v in arrays.items() if k.startswith("param/")}
    opts: dict = {}
    for k, v in arrays.items():
        if k.startswith("opt/"):
            name, key = k[4:].split("/", 1)
            opts.setdefault(name, {})[key] = v
    return header, params, opts


def load_model(path):
    """(model, vocab, meta) saved at ``path``."""
    header, params, _ = read(path)
    model = TreeModel(TreeModelConfig(**header["model"]))
    missing, extra = sorted(set(model.params) - set(params)), sorted(set(params) - set(model.params))
    if missing or extra:
        raise ValueError(f"path: parameters of {path!r} do not match the model: missing {missing}, unexpected {extra}")
    for k, v in params.items():
        if v.shape != model.params[k].shape:
            raise ValueError(f"path: parameter {k!r} has shape {v.shape}, the model expects {model.params[k].shape}")
        model.params[k] = v.astype(model.params[k].dtype)
    return model, Vocabulary(header["vocab"], header.get("lowercase", False)), header.get("meta", {})
