"""Argument checks at the library's boundary: a bad argument fails here, with a message that
names it, says what was expected and what came (STYLE.md, principle 10)."""
from __future__ import annotations

import os

import numpy as np

FLOAT_DTYPES = ("float32", "float64")


def check_dtype_name(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype: expected one of {FLOAT_DTYPES}, got {dtype!r}") from err
    if dt.name not in FLOAT_DTYPES:
        raise ValueError(f"dtype: expected one of {FLOAT_DTYPES}, got {dt.name!r}")
    return dt


def check_positive_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def check_param_arrays(params: dict, shapes: dict, sizes: str) -> None:
    """ValueError naming the first of a layer's parameters (as its ``params`` keys it) that is no
    longer a float32 or float64 array of the shape in ``shapes`` (the shapes the layer was built with): a
    weight replaced by one of another shape, a list, None or an integer array, or deleted, would
    otherwise fail inside the math under other names, or run and compute something else. ``sizes``:
    the layer's constructor sizes, for the message."""
    if shapes and len(params) != len(shapes):
        extra = sorted(set(params) - set(shapes))
        if extra:
            raise ValueError(f"params[{extra[0]!r}]: not a parameter of this layer (its keys: "
                             f"{', '.join(map(repr, shapes))}); a save would write a model that cannot be loaded")
    for name, shape in shapes.items():
        v = params.get(name)
        if not (isinstance(v, np.ndarray) and v.dtype in (np.float32, np.float64) and v.shape == shape):
            got = (f"{v.dtype} of shape {v.shape}" if isinstance(v, np.ndarray) else
                   "nothing (the key is missing)" if name not in params else type(v).__name__)
            raise ValueError(f"params[{name!r}]: expected a float32 or float64 array of shape {shape} ({sizes}), "
                             f"got {got}")


def check_seed(name: str, value) -> int | None:
    """None (fresh entropy) or an integer >= 0, the seed of a NumPy Generator."""
    if value is None:
        return None
    return check_int(name, value, low=0)


def _range_text(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def check_real(name: str, value, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number (a Python or NumPy int or float, never a bool or a string) within
    [low, high] (an end excluded when ``low_open`` / ``high_open``), returned as a float.
    Raises ValueError naming ``name`` (as every check here does, for a wrong type too)."""
    want = f"a finite number{_range_text(low, high, low_open, high_open)}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected {want}, got {type(value).__name__} {value!r}")
    v = float(value)
    if not (np.isfinite(v) and (low is None or (v > low if low_open else v >= low))
            and (high is None or (v < high if high_open else v <= high))):
        raise ValueError(f"{name}: expected {want}, got {value!r}")
    return v


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """An integer (Python or NumPy, never a bool) within [low, high], returned as an int. Raises
    ValueError naming ``name``."""
    want = f"an integer{_range_text(low, high, False, False)}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected {want}, got {type(value).__name__} {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}: expected {want}, got {value!r}")
    return int(value)


class Owner:
    """Which layer object a forward's cache belongs to: backward refuses another layer's cache (it
    holds that layer's inputs, outputs and weights). Each layer gets its own on its first forward; a
    copy of a layer gets its own, and a layer copied or pickled together with its caches keeps them
    its own (the copied caches point to the copy's)."""
    __slots__ = ("__weakref__",)


def owner_of(layer) -> Owner:
    """The layer's Owner, made on first use."""
    return layer.__dict__.setdefault("_owner", Owner())


def given(value, arr: np.ndarray) -> str:
    """How an error names what came for an array argument: "None", or the dtype of its array."""
    return "None" if value is None else f"dtype {arr.dtype}"


def check_float_array(name: str, value, ndim: int | None = None, last: int | None = None,
                      shape: tuple | None = None, dtype: np.dtype | None = None) -> np.ndarray:
    """Return ``value`` as a finite floating array of the expected rank / shape, cast to ``dtype``.

    ``shape`` entries may be None (any size). Raises ValueError naming ``name``.
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "f":
        raise ValueError(f"{name}: expected a floating-point array (float32 or float64), got {given(value, arr)}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got {arr.ndim} (shape {arr.shape})")
    if last is not None and arr.shape[-1] != last:
        raise ValueError(f"{name}: expected last dimension {last}, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(e is not None and e != a for e, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("*" if e is None else str(e) for e in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name}: expected finite values, got {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr


def check_lengths(lengths, batch: int, time: int) -> np.ndarray | None:
    """Lengths of a padded batch: integers with 1 <= length <= time, one per sequence."""
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and arr.size and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"lengths: expected integers, got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"lengths: expected shape ({batch},) to match the batch of x, got {arr.shape}")
    if arr.size and (arr.min() < 1 or arr.max() > time):
        bad = int(arr[(arr < 1) | (arr > time)][0])
        raise ValueError(f"lengths: expected values in [1, {time}] (time steps of x), got {bad}")
    return arr.astype(np.int64)


def flag(name: str) -> str:
    """The command-line flag of a parameter, as the user types it: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def check_path(name: str, value) -> str:
    """``value`` of argument ``name`` as a file path str; a ValueError for anything but a str or an
    os.PathLike (an int, None, a model passed where the path goes)."""
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{name}: expected a file path (str or os.PathLike), got {type(value).__name__}")
    return os.fspath(value)
