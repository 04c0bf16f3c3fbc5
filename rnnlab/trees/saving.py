"""Save and load tree models as ``.npz``: one array per parameter ``param/<key>`` and a JSON header
``__rnnlab_tree__`` = {"format": "rnnlab-tree", "version": 1, "model": config, "vocab": [words],
"lowercase": bool, "meta": {...}}. Training checkpoints add the optimizers' state as ``opt/<name>/<slot>/<key>``.
Written atomically (``rnnlab.saving.atomic_write``), read without pickle.
"""
from __future__ import annotations

import os

from ..checks import check_path
from ..errors import FormatError, describe
from ..saving import read_npz
from ..training.checkpoint import write_npz
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
    write_npz(path, HEADER, header, arrays)


def read(path):
    """(header, params, optimizer states {name: state dict}) of a saved tree model. Raises
    ``FileNotFoundError`` or ``rnnlab.errors.FormatError`` naming the file and the key."""
    path = os.fspath(path)
    header, arrays = read_npz(path, HEADER, "tree model")
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise FormatError(path, f"key {HEADER!r}", f"has format {header.get('format')!r} version "
                                                    f"{header.get('version')!r}, expected {FORMAT!r} version {VERSION}")
    for key, kind in (("model", dict), ("vocab", list), ("meta", dict)):
        if not isinstance(header.get(key, kind()), kind):
            raise FormatError(path, f"key {HEADER!r} {key}", f"expected a JSON {kind.__name__}, got "
                                                             f"{type(header[key]).__name__}")
    params = {k[6:]: v for k, v in arrays.items() if k.startswith("param/")}
    opts: dict = {}
    for k, v in arrays.items():
        if k.startswith("opt/"):
            if "/" not in k[4:]:
                raise FormatError(path, f"key {k!r}", "expected opt/<optimizer>/<slot>")
            name, key = k[4:].split("/", 1)
            opts.setdefault(name, {})[key] = v
    return header, params, opts


def load_model(path):
    """(model, vocab, meta) saved at ``path``. The configuration is checked against the arrays in the
    file (the embedding and classifier sizes) before the model is built. Raises ``FileNotFoundError``
    or ``rnnlab.errors.FormatError`` naming the file and the key, or ValueError naming ``path`` when it
    is not a path."""
    path = check_path("path", path)
    header, params, _ = read(path)
    where = f"key {HEADER!r} model"
    try:
        config = TreeModelConfig(**header.get("model", {})).check()
    except (TypeError, ValueError) as err:
        raise FormatError(path, where, f"not a tree model configuration ({describe(err)})") from None
    stored = sum(int(v.size) for v in params.values())
    needed = config.vocab_size * config.embed_dim + config.hidden * config.classes
    if needed > stored:
        raise FormatError(path, where, f"the configuration needs at least {needed} parameters (E and Ws), but the "
                                       f"file holds {stored}")
    model = TreeModel(config)
    missing, extra = sorted(set(model.params) - set(params)), sorted(set(params) - set(model.params))
    if missing or extra:
        raise FormatError(path, "parameters", f"parameters of {path!r} do not match the model: missing {missing}, "
                                              f"unexpected {extra}")
    for k, v in params.items():
        if v.shape != model.params[k].shape or v.dtype.kind not in "fiu":
            raise FormatError(path, f"key 'param/{k}'", f"parameter {k!r} has shape {v.shape} and dtype {v.dtype}, "
                                                         f"the model expects {model.params[k].shape} numbers")
        model.params[k] = v.astype(model.params[k].dtype)
    try:
        vocab = Vocabulary(header.get("vocab", []), header.get("lowercase", False))
    except (TypeError, ValueError) as err:
        raise FormatError(path, f"key {HEADER!r} vocab", describe(err)) from None
    if len(vocab) != config.vocab_size or not all(isinstance(w, str) for w in vocab.words):
        raise FormatError(path, f"key {HEADER!r} vocab", f"expected {config.vocab_size} words (the rows of E), "
                                                         f"got {len(vocab)}")
    meta = header.get("meta", {})
    return model, vocab, meta
