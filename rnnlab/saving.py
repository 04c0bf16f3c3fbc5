"""Save and load parameters plus configuration as ``.npz`` (no pickle), written atomically.

File layout: one array per parameter, named ``param/<key>``, and ``__rnnlab__``, a 0-d string array
holding JSON: {"format": "rnnlab", "version": 1, "model": <spec>, "meta": {...}}.
"""
from __future__ import annotations

import json
import os
import secrets
import warnings
import zipfile
import zlib

import numpy as np

from .checks import check_path
from .errors import FormatError, describe
from .models import build, spec_of

FORMAT_VERSION = 1
TMP_PREFIX = ".tmp-"      # temporary files of atomic_write, beside their target


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it over ``path``: a
    crash mid-write leaves the previous file intact (and a ``.tmp-*`` file, which the run folder
    removes on its next start). The file gets mode ``0666 & ~umask``, as ``open`` would give it.
    Raises IsADirectoryError when ``path`` is a folder and NotADirectoryError when a part of its
    folder is a file, each naming the path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {path!r}: it is a folder; expected the path of a file")
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(f"cannot write {path!r}: {folder!r} is not a folder (a part of it is a file)") \
            from None
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


def check_model_params(model, suffix: str = "") -> None:
    """ValueError naming ``model`` and the parameter (by the model's key) when a layer's weights no longer
    fit it: ``check_params`` (another shape, a list, None, an extra or missing key), a dtype other than
    the layer's (an export would mix float32 and float64: onnxruntime refuses such a graph), values that
    are not finite (training never saves those). ``suffix`` ends the message (save: "; nothing was
    written")."""
    if hasattr(model, "check_params"):
        try:
            model.check_params()
        except ValueError as err:
            raise ValueError(f"model: {err}{suffix}") from None
    layers = getattr(model, "layers", None)
    for i, layer in enumerate(layers if layers is not None else [model]):
        dtype = getattr(layer, "dtype", None)
        for name, v in getattr(layer, "params", {}).items():
            key = f"{i}.{name}" if layers is not None else name
            if dtype is not None and isinstance(v, np.ndarray) and v.dtype != dtype:
                raise ValueError(f"model: params[{key!r}] is {v.dtype} in a {np.dtype(dtype).name} layer; cast it "
                                 f"(astype({np.dtype(dtype).name!r})){suffix}")
            if isinstance(v, np.ndarray) and v.dtype.kind == "f" and not np.isfinite(v).all():
                where = tuple(int(j) for j in np.argwhere(~np.isfinite(v))[0])
                raise ValueError(f"model: params[{key!r}] holds {v[where]} at index {where}; expected finite "
                                 f"weights{suffix}")


def save(path, model, meta: dict | None = None) -> None:
    """Write ``model``'s parameters and architecture to ``path`` (.npz). ``meta``: None or a dict of
    JSON values. Raises ValueError naming ``path``, ``model`` or ``meta`` for a bad argument."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path: expected a file path (str or os.PathLike), got {type(path).__name__}; "
                         f"the call is save(path, model, meta=None)")
    if meta is not None and not isinstance(meta, dict):
        raise ValueError(f"meta: expected None or a dict of JSON values, got {type(meta).__name__}")
    check_model_params(model, "; nothing was written")
    header = {"format": "rnnlab", "version": FORMAT_VERSION, "model": spec_of(model), "meta": meta or {}}
    try:
        json.dumps(header)
    except (TypeError, ValueError) as err:
        raise ValueError(f"meta: expected JSON values (str, number, bool, None, list, dict): {err}") from err
    arrays = {f"param/{k}": v for k, v in model.params.items()}
    arrays["__rnnlab__"] = np.array(json.dumps(header))
    atomic_write(path, lambda f: np.savez(f, **arrays))


MAX_NPZ_BYTES = 1 << 31
"""Largest array data an .npz file may declare, all members together (2 GiB; rnnlab's models take
megabytes). Each member's .npy header (shape, dtype) is checked against the member's size in the zip
directory and this limit before its array is allocated, and the zip reader never inflates a member
past its declared size, so a small file cannot drive a huge allocation."""


def _member(z: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, budget: int) -> np.ndarray:
    """One .npy member, its header checked before anything is allocated; never unpickles."""
    from numpy.lib import format as npy
    key = f"key {info.filename[:-4]!r}"
    with z.open(info) as fp:
        try:
            version = npy.read_magic(fp)
            with warnings.catch_warnings():                    # numpy warns while it retries Python 2 headers
                warnings.simplefilter("ignore")
                shape, fortran, dtype = (npy.read_array_header_1_0 if version == (1, 0)
                                         else npy.read_array_header_2_0)(fp)
        except Exception as err:                               # ValueError, SyntaxError, tokenize.TokenError, ...
            raise FormatError(path, key, f"not a .npy array header ({describe(err)})") from None
        if dtype.hasobject:
            raise FormatError(path, key, f"dtype {dtype} holds Python objects (a pickle); rnnlab files hold "
                                         f"plain numeric and string arrays only")
        nbytes = dtype.itemsize
        for n in shape:
            nbytes *= n                                            # Python ints: no overflow
        stored = info.file_size - fp.tell()
        if nbytes != stored:
            raise FormatError(path, key, f"header declares shape {shape} of {dtype} ({nbytes} bytes), but the "
                                         f"member holds {stored} bytes")
        if nbytes > budget:
            raise FormatError(path, key, f"arrays of more than MAX_NPZ_BYTES = {MAX_NPZ_BYTES} bytes in all")
        data = fp.read(nbytes)
    if len(data) != nbytes:
        raise FormatError(path, key, f"truncated: {len(data)} of {nbytes} bytes")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C").copy()


def read_npz(path, header_key: str, what: str):
    """(header dict, other arrays) of an .npz file written with a JSON header under ``header_key``;
    ``what`` names the expected content in the errors.

    Raises ``FileNotFoundError`` when there is no file and ``rnnlab.errors.FormatError`` naming the
    file and the key when it is not a zip of .npy arrays, a member is truncated, corrupt, holds Python
    objects (no pickle is ever loaded) or declares more than ``MAX_NPZ_BYTES``, or the header is
    missing or not a JSON object."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no {what} file at {path!r}")
    arrays, budget = {}, MAX_NPZ_BYTES
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy") or info.is_dir():
                    raise FormatError(path, f"member {info.filename!r}", "expected only .npy arrays in an .npz file")
                arrays[info.filename[:-4]] = _member(z, info, path, budget)
                budget -= arrays[info.filename[:-4]].nbytes
    except FormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
            RuntimeError, zlib.error) as err:                  # BadZipFile: not a zip, truncated, bad CRC
        raise FormatError(path, "", f"not a readable .npz file ({describe(err)})") from err
    if header_key not in arrays:
        keys = ", ".join(repr(k) for k in sorted(arrays)[:8]) + (", ..." if len(arrays) > 8 else "")
        data = "x" in arrays and not any(k.startswith("param/") for k in arrays)
        raise FormatError(path, f"key {header_key!r}", f"missing: an .npz file without the {what} header "
                                                        f"{header_key!r} (its keys: {keys or 'none'})"
                          + ("; it looks like a data file (a key 'x'), not a file rnnlab saved" if data else ""))
    raw = arrays.pop(header_key)
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise FormatError(path, f"key {header_key!r}", f"expected a 0-d string array holding JSON, got "
                                                        f"{raw.dtype} of shape {raw.shape}")
    try:
        header = json.loads(str(raw))
    except (ValueError, RecursionError) as err:
        raise FormatError(path, f"key {header_key!r}", f"not JSON ({describe(err)})") from None
    if not isinstance(header, dict):
        raise FormatError(path, f"key {header_key!r}", f"expected a JSON object, got {type(header).__name__}")
    return header, arrays


def _read(path):
    path = check_path("path", path)
    header, arrays = read_npz(path, "__rnnlab__", "rnnlab")
    if header.get("format") != "rnnlab" or header.get("version") != FORMAT_VERSION:
        raise FormatError(path, "key '__rnnlab__'", f"has header {header.get('format')!r} version "
                                                    f"{header.get('version')!r}, expected 'rnnlab' version "
                                                    f"{FORMAT_VERSION}")
    if not isinstance(header.get("meta", {}), dict):
        raise FormatError(path, "key '__rnnlab__' meta", f"expected a JSON object, got {header['meta']!r:.80}")
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    return header, params


def assign_params(model, params: dict, path) -> None:
    """Copy ``params`` (read from ``path``) into ``model``'s arrays; a ``FormatError`` naming the key
    unless every key, shape and dtype kind matches."""
    path = os.fspath(path)
    own = model.params
    missing, extra = sorted(set(own) - set(params)), sorted(set(params) - set(own))
    if missing or extra:
        raise FormatError(path, "parameters", f"parameters of {path!r} do not match the model: "
                                              f"missing {missing}, unexpected {extra}")
    for k, v in params.items():
        if v.shape != own[k].shape:
            raise FormatError(path, f"key 'param/{k}'", f"parameter {k!r} has shape {v.shape} in {path!r}, "
                                                         f"but the model expects {own[k].shape}")
        if v.dtype.kind not in "fiu":
            raise FormatError(path, f"key 'param/{k}'", f"parameter {k!r} has dtype {v.dtype}, expected numbers")
    for k, v in params.items():
        own[k][...] = v


def load_params(model, path) -> dict:
    """Copy the parameters saved at ``path`` into ``model``; every key and shape must match.
    Returns the file's ``meta`` dict. Raises ``FileNotFoundError`` or ``rnnlab.errors.FormatError``."""
    header, params = _read(path)
    assign_params(model, params, path)
    return header.get("meta", {})


_RECURRENT = ("RNN", "LSTM", "GRU")


def min_params(spec) -> int:
    """A lower bound on the parameter count ``build(spec)`` allocates, computed without allocating:
    x W + h U in every level and direction of a recurrent layer (one gate), W of a Dense layer. Sizes
    that are not integers count 0 (``build`` refuses them)."""
    total, stack = 0, [spec]
    while stack:
        s = stack.pop()
        if not isinstance(s, dict):
            continue
        if s.get("kind") == "Sequential" and isinstance(s.get("layers"), list):
            stack.extend(s["layers"])
            continue
        c = s.get("config")
        if not isinstance(c, dict):
            continue
        size = {k: v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0
                for k, v in c.items() if k in ("input_size", "hidden_size", "output_size", "num_layers")}
        if s.get("kind") in _RECURRENT:
            I, H, L = size.get("input_size", 0), size.get("hidden_size", 0), size.get("num_layers", 1)
            dirs = 2 if c.get("bidirectional") is True else 1
            total += dirs * (I * H + H * H) + max(L - 1, 0) * dirs * (dirs * H * H + H * H)
        elif s.get("kind") == "Dense":
            total += size.get("input_size", 0) * size.get("output_size", 0)
    return total


def load(path):
    """Rebuild the model saved at ``path``, with its parameters.

    The architecture in the header is checked against the arrays in the file (their count first, then
    every key and shape) before it is built, so a header claiming a larger model than its arrays is
    refused without allocating it. Raises ``FileNotFoundError`` or ``rnnlab.errors.FormatError``, or
    ValueError naming ``path`` when it is not a path."""
    path = check_path("path", path)
    header, params = _read(path)
    stored = sum(int(v.size) for v in params.values())
    try:
        needed = min_params(header.get("model"))
    except RecursionError:                                     # pragma: no cover - json nests less deeply
        needed = stored + 1
    if needed > stored:
        raise FormatError(path, "key '__rnnlab__' model", f"the architecture needs at least {needed} parameters, "
                                                          f"but the file holds {stored}")
    try:
        model = build(header.get("model"))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as err:
        raise FormatError(path, "key '__rnnlab__' model", f"not an rnnlab architecture ({describe(err)})") from None
    assign_params(model, params, path)
    return model


def read_meta(path) -> dict:
    """The ``meta`` dict saved with a model. Raises ``FileNotFoundError`` or ``rnnlab.errors.FormatError``."""
    return _read(path)[0].get("meta", {})
