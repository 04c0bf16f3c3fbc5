"""Save and load parameters plus configuration as ``.npz`` (no pickle), written atomically.

File layout: one array per parameter, named ``param/<key>``, and ``__rnnlab__``, a 0-d string array
holding JSON: {"format": "rnnlab", "version": 1, "model": <spec>, "meta": {...}}.
"""
from __future__ import annotations

import json
import os
import secrets
import zipfile

import numpy as np

from .models import build, spec_of

FORMAT_VERSION = 1
TMP_PREFIX = ".tmp-"      # temporary files of atomic_write, beside their target


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it over ``path``: a
    crash mid-write leaves the previous file intact (and a ``.tmp-*`` file, which the run folder
    removes on its next start). The file gets mode ``0666 & ~umask``, as ``open`` would give it."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = create_tmp(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def create_tmp(folder: str, name: str) -> tuple[int, str]:
    """(fd, path) of a new file ``.tmp-<random>-<name>`` in ``folder``, opened for writing. Created with
    mode 0666 so that the umask applies, unlike ``tempfile.mkstemp`` (always 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = os.path.join(folder, f"{TMP_PREFIX}{secrets.token_hex(6)}-{name}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def save(path, model, meta: dict | None = None) -> None:
    """Write ``model``'s parameters and architecture to ``path`` (.npz). ``meta``: None or a dict of
    JSON values. Raises ValueError naming ``path``, ``model`` or ``meta`` for a bad argument."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path: expected a file path (str or os.PathLike), got {type(path).__name__}; "
                         f"the call is save(path, model, meta=None)")
    if meta is not None and not isinstance(meta, dict):
        raise ValueError(f"meta: expected None or a dict of JSON values, got {type(meta).__name__}")
    header = {"format": "rnnlab", "version": FORMAT_VERSION, "model": spec_of(model), "meta": meta or {}}
    try:
        json.dumps(header)
    except (TypeError, ValueError) as err:
        raise ValueError(f"meta: expected JSON values (str, number, bool, None, list, dict): {err}") from err
    arrays = {f"param/{k}": v for k, v in model.params.items()}
    arrays["__rnnlab__"] = np.array(json.dumps(header))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read_npz(path, header_key: str, what: str):
    """(header dict, other arrays) of an .npz file written with a JSON header under ``header_key``;
    ``what`` names the expected content in the errors."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no {what} file at {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise ValueError(f"path: {path!r} is not a readable .npz file ({err})") from err
    if header_key not in arrays:
        raise ValueError(f"path: {path!r} is an .npz file without the {what} header {header_key!r}")
    return json.loads(str(arrays.pop(header_key))), arrays


def _read(path):
    header, arrays = read_npz(path, "__rnnlab__", "rnnlab")
    if header.get("format") != "rnnlab" or header.get("version") != FORMAT_VERSION:
        raise ValueError(f"path: {os.fspath(path)!r} has header {header.get('format')!r} version "
                         f"{header.get('version')!r}, expected 'rnnlab' version {FORMAT_VERSION}")
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    return header, params


def load_params(model, path) -> dict:
    """Copy the parameters saved at ``path`` into ``model``; every key and shape must match.
    Returns the file's ``meta`` dict."""
    path = os.fspath(path)
    header, params = _read(path)
    own = model.params
    missing, extra = sorted(set(own) - set(params)), sorted(set(params) - set(own))
    if missing or extra:
        raise ValueError(f"path: parameters of {path!r} do not match the model: "
                         f"missing {missing}, unexpected {extra}")
    for k, v in params.items():
        if v.shape != own[k].shape:
            raise ValueError(f"path: parameter {k!r} has shape {v.shape} in {path!r}, "
                             f"but the model expects {own[k].shape}")
    for k, v in params.items():
        own[k][...] = v
    return header.get("meta", {})


def load(path):
    """Rebuild the model saved at ``path``, with its parameters."""
    header, _ = _read(path)
    model = build(header["model"])
    load_params(model, path)
    return model


def read_meta(path) -> dict:
    return _read(path)[0].get("meta", {})
