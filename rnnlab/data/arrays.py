"""A Task from the user's own arrays: what ``rnnlab.fit`` and ``rnnlab train --data`` train on.

Shape letters: N sequences, T time steps (the longest), D input features, K targets per step or per
sequence.

Inputs ``x``, one of:
    float array (N, T, D)          with optional ``lengths`` (N,) of valid steps (the rest is padding)
    float array (N, T)             a single feature: read as (N, T, 1)
    list of N float arrays (T_i, D) (or (T_i,)): padded with zeros to (N, T, D), lengths T_i
    integer array (N, T)           token ids, for a model whose first layer is an Embedding
    list of N integer arrays (T_i,) token ids of different lengths, padded with 0

Targets ``y`` and the task kind they give (rnnlab.data.dataset):
    integer (N,)                   classify            one class id per sequence
    float (N,) or (N, K)           regression          one real vector per sequence ((N,) is K = 1)
    integer (N, T), or a list of N integer arrays (T_i,)
                                   classify_steps      one class id per step
    0/1 (N, T, K), or a list of N arrays (T_i, K)
                                   multilabel_steps    K independent labels per step
``kind`` overrides the inference (e.g. integer targets read as regression values).

Validation: ``validation_data`` (x, y) or (x, y, lengths) in the same forms, or ``validation_split``,
a fraction of the rows drawn once from ``seed`` (``split_rows`` says which); the rest trains.
Batches are cut to their longest sequence (``PaddedDataset``), so a few long sequences do not make
every batch long.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..checks import given
from ..errors import FormatError
from .dataset import KINDS, ArrayDataset, Batch, Task, step_mask


class Inputs(NamedTuple):
    x: np.ndarray                    # (N, T, D) float or (N, T) int64 token ids
    lengths: np.ndarray | None       # (N,) int64, None when every sequence has T steps
    ragged: bool                     # given as a list of sequences

    @property
    def ids(self) -> bool:
        return self.x.dtype.kind in "iu"


class PaddedDataset(ArrayDataset):
    """An ArrayDataset whose batches are cut to their longest sequence: padding beyond it changes
    nothing (padded steps carry the state unchanged and the loss does not count them)."""

    def __init__(self, x, y, lengths=None, per_step: bool = False):
        super().__init__(x, y, lengths)
        self.per_step = per_step              # y has a time axis to cut with x's

    def take(self, idx) -> Batch:
        if self.lengths is None:
            return super().take(idx)
        lengths = self.lengths[idx]
        T = int(lengths.max())
        y = self.y[idx][:, :T] if self.per_step else self.y[idx]
        return Batch(self.x[idx][:, :T], y, lengths, step_mask(lengths, len(idx), T))


MAX_CLASSES = 1 << 20
"""Largest class id + 1 accepted in y (a head of C outputs is built for ids 0 .. C-1; a larger id is a
data error, not a head of millions of outputs)."""


def first_bad(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def check_finite(name: str, arr: np.ndarray) -> None:
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        where = first_bad(~np.isfinite(arr))
        raise ValueError(f"{name}: expected finite values, got {arr[where]} at index {where}")


def pad(name: str, seqs, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of arrays (T_i, ...) with equal trailing shapes -> zero-padded (N, T, ...), lengths (N,)."""
    tail = seqs[0].shape[1:]
    for i, s in enumerate(seqs):
        if s.shape[1:] != tail:
            raise ValueError(f"{name}[{i}]: expected shape (T_i{''.join(', ' + str(d) for d in tail)}) like "
                             f"{name}[0], got {s.shape}")
    lengths = np.array([len(s) for s in seqs], np.int64)
    out = np.zeros((len(seqs), int(lengths.max())) + tail, dtype)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out, lengths


def as_list(name: str, value) -> list:
    if len(value) == 0:
        raise ValueError(f"{name}: expected at least one sequence, got an empty list")
    return [np.asarray(s) for s in value]


def as_inputs(x, lengths=None, name: str = "x", lengths_name: str = "lengths") -> Inputs:
    """Check and normalise the inputs (see the module docstring); errors name ``name`` and the index."""
    if isinstance(x, (list, tuple)) or (isinstance(x, np.ndarray) and x.dtype == object):
        if lengths is not None:
            raise ValueError(f"{lengths_name}: a list of sequences carries its own lengths; pass "
                             f"{lengths_name} only with a padded array {name}")
        seqs = as_list(name, x)
        ids = seqs[0].dtype.kind in "iu"
        for i, s in enumerate(seqs):
            if s.dtype.kind not in ("iu" if ids else "f"):
                want = "integer token ids like" if ids else "floats like"
                raise ValueError(f"{name}[{i}]: expected {want} {name}[0], got dtype {s.dtype}")
            if s.ndim not in ((1,) if ids else (1, 2)):
                want = "(T_i,) token ids" if ids else "(T_i, D) or (T_i,)"
                raise ValueError(f"{name}[{i}]: expected shape {want}, got {s.shape}")
            if len(s) == 0:
                raise ValueError(f"{name}[{i}]: expected at least one time step, got an empty sequence")
        if not ids:
            seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
            seqs = [s.astype(np.float32) if s.dtype != np.float64 else s for s in seqs]
        arr, lens = pad(name, seqs, np.int64 if ids else seqs[0].dtype)
        check_values(name, arr, lens)
        return Inputs(arr, lens, True)
    arr = np.asarray(x)
    if arr.dtype.kind in "iu":
        if arr.ndim != 2:
            raise ValueError(f"{name}: expected token ids of shape (N, T), got shape {arr.shape} of "
                             f"{arr.dtype}; features are floats (N, T, D): cast them with x.astype('float32')")
        arr = arr.astype(np.int64, copy=False)
    elif arr.dtype.kind == "f":
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3:
            raise ValueError(f"{name}: expected a float array (N, T, D) or (N, T), got shape {arr.shape}")
        if arr.shape[2] == 0:
            raise ValueError(f"{name}: expected at least one feature per step, got shape {arr.shape}")
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float32)
    else:
        raise ValueError(f"{name}: expected floats (N, T, D) or integer token ids (N, T), got {given(x, arr)}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name}: expected at least one sequence of at least one step, got shape {arr.shape}")
    lens = None if lengths is None else as_lengths(lengths_name, lengths, arr.shape[0], arr.shape[1], name)
    if lens is not None and (lens < arr.shape[1]).any():
        arr = arr.copy()
        arr[padding(lens, arr.shape[1])] = 0          # whatever fills the padding is never read
    check_values(name, arr, lens)
    return Inputs(arr, lens, False)


def as_lengths(name: str, lengths, N: int, T: int, x_name: str) -> np.ndarray:
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected integers, got dtype {arr.dtype}")
    if arr.shape != (N,):
        raise ValueError(f"{name}: expected shape ({N},), one per sequence of {x_name}, got {arr.shape}")
    bad = (arr < 1) | (arr > T)
    if bad.any():
        i = first_bad(bad)[0]
        raise ValueError(f"{name}: expected values in [1, {T}] (the time steps of {x_name}), "
                         f"got {int(arr[i])} at index {i}")
    return arr.astype(np.int64)


def padding(lengths: np.ndarray, T: int) -> np.ndarray:
    """(N, T) True at the steps past each sequence's length."""
    return np.arange(T)[None, :] >= lengths[:, None]


def check_values(name: str, arr: np.ndarray, lengths) -> None:
    """Finite features, or non-negative ids (the model's Embedding checks the upper bound)."""
    check_finite(name, arr)
    if arr.dtype.kind in "iu" and (arr < 0).any():
        where = first_bad(arr < 0)
        raise ValueError(f"{name}: expected token ids >= 0, got {int(arr[where])} at index {where}")


def check_not_one_hot(name: str, y: np.ndarray, T: int) -> None:
    """ValueError naming ``name`` for one-hot targets (N, C), C >= 2 (Keras' form: 0s and 1s, one 1 a
    row), which would otherwise be read as regression targets (floats) or as class ids per step
    (integers); rnnlab takes the class ids. Integer (N, T) rows with one 1 each are class ids per
    step, which they can be, unless C differs from T."""
    if y.ndim != 2 or y.shape[1] < 2 or y.dtype.kind not in "iubf" or (y.dtype.kind != "f" and y.shape[1] == T):
        return
    if np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all():
        raise ValueError(f"{name}: shape {y.shape} of 0s and 1s with one 1 per row looks one-hot (Keras' form); "
                         f"rnnlab takes class ids: pass {name}.argmax(1) (or loss='mse' to fit these numbers as "
                         f"regression targets)")


def infer_kind(y: np.ndarray) -> str:
    """The task kind the targets' dtype and rank say (module docstring)."""
    if y.ndim == 1:
        return "classify" if y.dtype.kind in "iub" else "regression"
    if y.ndim == 2:
        return "classify_steps" if y.dtype.kind in "iub" else "regression"
    if y.ndim == 3:
        return "multilabel_steps"
    raise ValueError(f"y: cannot tell the task from shape {y.shape}; expected class ids (N,), real targets "
                     "(N,) or (N, K), class ids per step (N, T), or 0/1 labels per step (N, T, K)")


def as_targets(y, inputs: Inputs, kind: str | None = None, name: str = "y") -> tuple[np.ndarray, str]:
    """(targets, kind): ``y`` checked against ``inputs`` and normalised to the kind's dtype and shape."""
    N, T = inputs.x.shape[:2]
    if isinstance(y, (list, tuple)) and len(y) and np.ndim(y[0]) >= 1 and inputs.ragged:
        seqs = as_list(name, y)
        for i, (s, n) in enumerate(zip(seqs, inputs.lengths)):
            if len(s) != n:
                raise ValueError(f"{name}[{i}]: expected {n} steps like x[{i}], got {len(s)}")
        if len(seqs) != N:
            raise ValueError(f"{name}: expected {N} target sequences (one per sequence of x), got {len(seqs)}")
        y = pad(name, seqs, np.result_type(*[s.dtype for s in seqs]))[0]
    y = np.asarray(y)
    if y.ndim == 0 or len(y) != N:
        got = "a scalar" if y.ndim == 0 else f"{len(y)}"
        raise ValueError(f"{name}: expected {N} targets (one per sequence of x), got {got}")
    if y.dtype.kind not in "iubf":
        raise ValueError(f"{name}: expected numbers, got dtype {y.dtype}")
    if kind is None:
        check_not_one_hot(name, y, T)
        kind = infer_kind(y)
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    if kind in ("classify_steps", "multilabel_steps") and y.ndim >= 2 and y.shape[1] == T \
            and inputs.lengths is not None:
        y = y.copy()
        y[padding(inputs.lengths, T)] = 0             # padded steps' targets are never counted
    check_finite(name, y)
    if kind == "regression":
        y = y[:, None] if y.ndim == 1 else y
        if y.ndim != 2:
            raise ValueError(f"{name}: regression expects targets (N,) or (N, K), got shape {y.shape}")
        return y.astype(inputs.x.dtype if inputs.x.dtype.kind == "f" else np.float32), kind
    if kind in ("classify", "classify_steps"):
        want = (N,) if kind == "classify" else (N, T)
        if kind == "classify" and y.ndim == 2:
            check_not_one_hot(name, y, T)                # one-hot rows where class ids go: say so
        if y.shape != want:
            if y.ndim == 2 and y.shape == (N, 1):
                raise ValueError(f"{name}: class ids of shape {y.shape}: one per sequence is (N,) = ({N},) "
                                 f"(pass {name}.ravel()), one per step (N, T) = {(N, T)}")
            what = "one class id per sequence" if kind == "classify" else "one class id per step"
            raise ValueError(f"{name}: expected {what}, shape {want}, got {y.shape}")
        if y.dtype.kind == "f" and not (y == np.round(y)).all():
            where = first_bad(y != np.round(y))
            raise ValueError(f"{name}: expected integer class ids, got {y[where]} at index {where}")
        if (y < 0).any():
            where = first_bad(y < 0)
            raise ValueError(f"{name}: expected class ids >= 0, got {int(y[where])} at index {where}")
        if (y >= MAX_CLASSES).any():
            where = first_bad(y >= MAX_CLASSES)
            raise ValueError(f"{name}: expected class ids 0 .. C-1 below MAX_CLASSES = {MAX_CLASSES:,}, got "
                             f"{int(y[where]):,} at index {where}")
        return y.astype(np.int64), kind
    if y.ndim != 3 or y.shape[:2] != (N, T):
        raise ValueError(f"{name}: multilabel_steps expects 0/1 labels of shape ({N}, {T}, K), got {y.shape}")
    off = (y != 0) & (y != 1)
    if off.any():
        where = first_bad(off)
        raise ValueError(f"{name}: expected labels 0 or 1, got {y[where]} at index {where}")
    return y.astype(np.float32), kind


def split_rows(n: int, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows) of ``n``: round(fraction n) rows drawn without replacement by a
    generator seeded with ``seed``, both in increasing order."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ValueError(f"validation_split: expected a fraction in (0, 1), got {fraction!r}")
    k = int(round(fraction * n))
    if k == 0 or k == n:
        part = "validation" if k == 0 else "training"
        raise ValueError(f"validation_split: {fraction} of {n} sequences leaves the {part} split empty")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[k:]), np.sort(order[:k])


def dataset(inputs: Inputs, y: np.ndarray, kind: str, rows=None) -> PaddedDataset:
    x, lengths = inputs.x, inputs.lengths
    if rows is not None:
        x, y, lengths = x[rows], y[rows], None if lengths is None else lengths[rows]
    return PaddedDataset(x, y, lengths, per_step=kind not in ("regression", "classify"))


def output_size(y: np.ndarray, kind: str) -> int:
    """C, the head's outputs the targets need: classes (max id + 1), or the target's last dimension."""
    return int(y.max()) + 1 if kind.startswith("classify") else int(y.shape[-1])


def task_from_arrays(x, y, lengths=None, *, kind: str | None = None, validation_data=None,
                     validation_split: float | None = None, seed: int = 0, name: str = "arrays") -> Task:
    """A Task whose train split is (x, y) and whose valid split is ``validation_data`` or the
    ``validation_split`` rows (``split_rows(N, validation_split, seed)``); without either, the
    training data itself is the valid split. The test split is the valid split.

    ``task.input_size`` is D, or for token ids the vocabulary size V = largest id + 1. ``task.meta``
    holds what a model file keeps: the kind of inputs ("features" or "ids"), that size, and the
    validation rows' count. Raises ValueError naming the argument and the offending index."""
    if validation_data is not None and validation_split is not None:
        raise ValueError("validation_split: give validation_data or validation_split, not both")
    inputs = as_inputs(x, lengths)
    y, kind = as_targets(y, inputs, kind)
    C = output_size(y, kind)
    train = dataset(inputs, y, kind)
    valid = train
    if validation_split is not None:
        train_rows, valid_rows = split_rows(len(y), validation_split, seed)
        train, valid = dataset(inputs, y, kind, train_rows), dataset(inputs, y, kind, valid_rows)
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data: expected a pair (x, y) or a triple (x, y, lengths), got "
                             f"{type(validation_data).__name__}"
                             + (f" of {len(validation_data)}" if isinstance(validation_data, (tuple, list)) else ""))
        vx, vy, vl = (*validation_data, None)[:3]
        vin = as_inputs(vx, vl, "validation_data[0]", "validation_data[2]")
        if vin.ids != inputs.ids or (not inputs.ids and vin.x.shape[2] != inputs.x.shape[2]):
            D = inputs.x.shape[2]
            what = "token ids" if inputs.ids else f"{D} feature{'s' * (D != 1)} per step"
            if not inputs.ids and np.ndim(x) == 2:
                what += f"; x of shape {np.shape(x)} (N, T) is read as one feature per step"
            raise ValueError(f"validation_data[0]: expected inputs like x ({what}), got dtype {vin.x.dtype} "
                             f"shape {np.shape(vx) if isinstance(vx, np.ndarray) else vin.x.shape}")
        vy, _ = as_targets(vy, vin, kind, "validation_data[1]")
        tail = 1 if kind == "regression" else 2
        if vy.shape[tail:] != y.shape[tail:]:
            raise ValueError(f"validation_data[1]: expected targets with trailing shape {y.shape[tail:]} "
                             f"like y, got shape {vy.shape}")
        if kind.startswith("classify"):
            C = max(C, output_size(vy, kind))
        valid = dataset(vin, vy, kind)
    # token ids: the input size is the vocabulary the ids need, V = the largest id + 1
    D = max(int(inputs.x.max()), int(valid.x.max())) + 1 if inputs.ids else int(inputs.x.shape[2])
    meta = {"inputs": "ids" if inputs.ids else "features", "input_size": D, "valid_size": len(valid)}
    if kind == "multilabel_steps":
        meta["string_accuracy"] = True
    return Task(name, kind, D, C, train, valid, valid, meta)


def read_npz(path, flag: str = "--data", others: list | None = None) -> tuple:
    """(x, y, lengths) from an .npz file holding ``x``, ``y`` and optionally ``lengths`` (no pickle:
    ragged sequences are stored padded, with ``lengths``); y is None when the file has none. ``others``:
    a list that receives the names of the file's other keys, which are not read (a misspelt 'lenghts').

    Read as rnnlab.saving reads models: each member's .npy header is checked before its array is
    allocated and no Python object is ever unpickled. Raises ``FileNotFoundError`` when there is no
    file, ValueError naming ``flag`` when ``path`` is a folder, and ``rnnlab.errors.FormatError``
    naming the file, ``flag`` and what was expected for any other file that is not such an .npz
    (empty, truncated, text, a single .npy array, a member of Python objects, no key 'x')."""
    import os
    import zipfile
    import zlib

    from ..errors import FormatError, describe
    from ..saving import MAX_NPZ_BYTES, _member
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{flag}: {path!r} is a folder; expected an .npz file with keys 'x' and 'y' "
                         "(np.savez(path, x=x, y=y))")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{flag}: no file at {path!r}")
    want = "expected an .npz file with keys 'x', 'y' and optionally 'lengths' (np.savez(path, x=x, y=y))"
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise FormatError(path, "", f"{flag}: holds a single .npy array; {want}")
    arrays, budget = {}, MAX_NPZ_BYTES
    try:
        with zipfile.ZipFile(path) as z:
            members = {i.filename[:-4]: i for i in z.infolist() if i.filename.endswith(".npy") and not i.is_dir()}
            if "__rnnlab__" in members or "__state__" in members:
                what = "a run's checkpoint" if "__state__" in members else "a saved rnnlab model"
                raise FormatError(path, "", f"{flag}: is {what}, not data; {want}")
            if "x" not in members:
                raise FormatError(path, "", f"{flag}: has no key 'x' (keys: {sorted(members)}); {want}")
            if others is not None:
                others.extend(sorted(set(members) - {"x", "y", "lengths"}))
            for key in ("x", "y", "lengths"):
                if key in members:
                    try:
                        arrays[key] = _member(z, members[key], path, budget)
                    except FormatError as err:
                        if "Python objects" not in err.message:
                            raise
                        raise FormatError(path, err.place, f"{flag}: holds Python objects, which are not "
                                          "loaded; store ragged sequences padded, with their 'lengths'") from None
                    budget -= arrays[key].nbytes
    except FormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
            RuntimeError, zlib.error) as err:                  # not a zip (empty, text), truncated, bad CRC
        raise FormatError(path, "", f"{flag}: not a readable .npz file ({describe(err)}); {want}") from None
    return tuple(arrays.get(key) for key in ("x", "y", "lengths"))


def npz_task(data, valid_data=None, valid_split: float = 0.1, seed: int = 0) -> Task:
    """``task_from_arrays`` on the .npz file ``data`` (see ``read_npz``), validated on the file
    ``valid_data`` or on ``valid_split`` of its rows; errors name the flag and the file."""
    unread = {"--data": [], "--valid": []}
    x, y, lengths = read_npz(data, "--data", unread["--data"])
    if y is None:
        raise FormatError(data, "", "--data: has no key 'y' (the targets); expected an .npz file with keys 'x', 'y' "
                                    "and optionally 'lengths' (np.savez(path, x=x, y=y))")
    validation = None
    if valid_data is not None:
        vx, vy, vl = read_npz(valid_data, "--valid", unread["--valid"])
        if vy is None:
            raise FormatError(valid_data, "", "--valid: has no key 'y' (the targets); expected an .npz file with keys "
                                              "'x', 'y' and optionally 'lengths' (np.savez(path, x=x, y=y))")
        validation = (vx, vy, vl)
    try:
        task = task_from_arrays(x, y, lengths, validation_data=validation,
                                validation_split=None if validation else valid_split, seed=seed,
                                name="data")
    except ValueError as err:
        if str(err).startswith("validation_split:"):              # the command's flag for it
            raise ValueError("--valid-split:" + str(err)[len("validation_split:"):]) from err
        flag, file = ("--valid", valid_data) if str(err).startswith("validation_data") else ("--data", data)
        raise ValueError(f"{flag} {str(file)!r}: {as_file_keys(str(err))}") from err
    if task.kind.startswith("classify") and validation is not None:
        C = int(task.train.y.max()) + 1                 # the classes --data's targets give the model
        if (task.valid.y >= C).any():
            where = first_bad(task.valid.y >= C)
            raise ValueError(f"--valid {str(valid_data)!r}: key 'y': class id {int(task.valid.y[where])} at index "
                             f"{where} is above --data's classes (0 .. {C - 1}), and the model has one output per "
                             f"class of --data's y; drop those rows from --valid, or add examples of the class to "
                             f"--data")
        task.output_size = C
    if task.kind.startswith("classify") and np.unique(task.train.y).size < 2:
        raise ValueError(f"--data {str(data)!r}: key 'y': class ids of a single class "
                         f"({int(task.train.y.flat[0])}) in the training rows; classification needs at least 2 "
                         "classes (for regression store y as floats)")
    task.meta["data"] = str(data)
    task.notes.extend(read_notes(task, y, str(data), None if valid_data is None else str(valid_data),
                                 None if validation is None else validation[1]))
    for flag, keys in unread.items():
        if keys:
            task.notes.append(unread_note(flag, data if flag == "--data" else valid_data, keys))
    return task


def unread_note(flag: str, path, keys: list) -> str:
    """The notice for an .npz file's keys that ``read_npz`` does not read (a misspelt 'lenghts')."""
    return (f"{flag} {str(path)!r}: key{'s' * (len(keys) > 1)} {', '.join(map(repr, keys))} not read (the keys read "
            f"are 'x', 'y' and 'lengths')")


def as_file_keys(message: str) -> str:
    """An error of ``task_from_arrays`` in the words of an .npz file's reader: its leading argument name
    (x, y, lengths, validation_data[0] / [1] / [2]) as the file's key ("key 'x'")."""
    for python, key in (("validation_data[0]", "x"), ("validation_data[1]", "y"), ("validation_data[2]", "lengths"),
                        ("x", "x"), ("y", "y"), ("lengths", "lengths")):
        if message.startswith(python + ":") or message.startswith(python + "["):
            message = f"key {key!r}" + message[len(python):]
            one_hot = f"pass {python}.argmax(1) (or loss='mse' to fit these numbers as regression targets)"
            return message.replace(one_hot, "store y.argmax(1) as the file's 'y'")   # no loss= in a command
    return message


WHOLE_FLOAT_CLASSES = 20
"""Float targets (N,) of whole numbers with at most this many distinct values: ``read_notes`` says they
were read as regression targets, as they are likely class ids stored as floats."""


def read_notes(task: Task, y: np.ndarray, data: str, valid_data: str | None, valid_y=None) -> list[str]:
    """What ``rnnlab train --data`` says on stderr about a reading that may not be the one meant:
    float targets (N,), (N, 1) or (N, T) that are all whole numbers with few distinct values, read as regression
    targets (class ids stored as floats, e.g. 0.0 / 1.0, which a classifier wants as integers); and
    class ids of the --valid file that --data's targets never hold (the head gets outputs for them,
    which training never teaches); a --valid file whose targets (``valid_y``) are of the other kind,
    integers against floats (read as --data's are); a --valid file that is the --data file."""
    import os
    notes = []
    if valid_data is not None and os.path.exists(valid_data) and os.path.samefile(valid_data, data):
        notes.append(f"--valid {valid_data!r} is the --data file: the kept parameters are chosen on the training data, "
                     f"and the test numbers are those of the training data")
    if valid_y is not None and (np.asarray(valid_y).dtype.kind == "f") != (np.asarray(y).dtype.kind == "f"):
        kinds = {True: "floats", False: "integers"}
        notes.append(f"--valid {valid_data!r}: key 'y' holds {kinds[np.asarray(valid_y).dtype.kind == 'f']}, --data's "
                     f"{kinds[np.asarray(y).dtype.kind == 'f']}; both are read as --data's are ({task.kind})")
    if task.kind == "regression" and np.ndim(y) in (1, 2) and y.dtype.kind == "f":
        values = np.unique(y)
        if len(values) <= WHOLE_FLOAT_CLASSES and (values == np.round(values)).all():
            shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
            fix = "y.astype(int)" if values[0] >= 0 else "(y - y.min()).astype(int): class ids start at 0"
            notes.append(f"--data {data!r}: key 'y' holds floats that are all whole numbers ({len(values)} "
                         f"distinct: {shown}); they are read as regression targets (mean squared error); to "
                         f"train a classifier, store them as integer class ids ({fix})")
    if task.kind.startswith("classify"):
        seen = np.unique(task.train.y)
        if task.output_size > max(2 * len(seen), 64):
            notes.append(f"--data {data!r}: key 'y': class ids go up to {task.output_size - 1} but only {len(seen)} "
                         f"distinct ones occur; the model gets {task.output_size} class outputs, one per id up to "
                         f"the largest (renumber the classes 0 .. {len(seen) - 1} if the ids are labels)")
    if valid_data is not None and task.kind.startswith("classify"):
        unseen = np.setdiff1d(np.unique(task.valid.y), np.unique(task.train.y))
        if len(unseen):
            shown = ", ".join(str(int(c)) for c in unseen[:6]) + (", ..." if len(unseen) > 6 else "")
            ids = "class ids" if len(unseen) > 1 else "class id"
            notes.append(f"--valid {valid_data!r}: {ids} {shown} of its y never occur{'s' * (len(unseen) == 1)} in "
                         f"--data's y; the model has {task.output_size} class outputs, and training never teaches "
                         f"the ones it does not see")
    return notes
