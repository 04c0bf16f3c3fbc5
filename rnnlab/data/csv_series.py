"""A time series in a CSV file as a forecasting task: a window of past rows -> the target later on.

    rnnlab train --csv sunspots.csv --target SUNACTIVITY --window 20 --horizon 1 --out runs/sun
    series = rnnlab.data.csv_series.load("sunspots.csv", "SUNACTIVITY", window=20)
    rnnlab.fit(model, *series.train, validation_data=series.valid)

Shape letters: n rows of the file (time order), W window, D feature columns, M windows.

File: a header line naming the columns, then one row per time step, oldest first. Only the target
and feature columns are read (a date column may sit beside them); each of their cells must be a
finite number. Features default to the target column alone (a univariate series).

Windows: the window ending at row r has inputs x = rows r-W+1 .. r of the feature columns (W, D),
and target y = the target column at row r + horizon. Rows r = W-1 .. n-1-horizon end a window.

Split by time, never at random, on the row of each window's target: with n_valid = round(valid_split n)
and n_test = round(test_split n), the first n - n_valid - n_test rows are the training part, the next
n_valid the validation part, the last n_test the test part. A window belongs to the part that holds
its target; a validation or test window's inputs may reach back into earlier rows (the past a
forecaster has), never forward. Every training window, inputs and target, lies in the training part.

Standardization, with statistics of the training part only (no value of the validation or test part
moves them): each feature column z = (v - mean) / std, and the target likewise with its column's
training mean and std (a target or feature column constant over the training part is refused). Predictions are mapped back to the column's
units by v = z std + mean. ``Series.meta`` holds all of it (columns, window, horizon, means, stds),
and a model file trained on the series keeps it, so ``rnnlab predict --csv`` repeats it exactly.

Errors name the file, the line and the column (a missing or twice-named column, a cell that is not
a finite number, a row with more or fewer fields than the header, a blank line between rows, an
empty file), or the argument as given (``window``, or ``--window`` from the command line).
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass

import numpy as np

from ..checks import check_int, check_real
from .arrays import as_inputs, dataset
from .dataset import Task

PYTHON_NAMES = {k: k for k in ("csv", "target", "features", "window", "horizon", "valid_split", "test_split")}


def read_columns(path, columns: list[str], name: str = "path", asked: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(values (n, len(columns)) float64, lines (n,)): the named columns of the CSV file ``path``, each
    row with the file line it came from. Blank lines may end the file, not separate rows. Raises
    FileNotFoundError, or ValueError naming the file, the line and the column of a missing column, a
    column named twice, a row whose field count differs from the header's, a blank line between rows
    or a cell that is not a finite number; ``asked`` maps a column to the argument that named it (a
    missing column's error names that argument too)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{name}: no file at {path!r}")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise ValueError(f"{name}: {path!r} is empty; expected a header line naming the columns, "
                                 "then one row per time step")
            header = [h.strip() for h in header]
            twice = sorted({h for h in header if h and header.count(h) > 1})
            if twice:
                raise ValueError(f"{path}:1: column {twice[0]!r} is named twice in the header {header}; "
                                 "expected distinct column names")
            where = []
            for c in columns:
                if c not in header:
                    by = f" (named by {asked[c]})" if asked and c in asked else ""
                    raise ValueError(f"{path}:1: no column {c!r}{by}; the header names {header}")
                where.append(header.index(c))
            values, lines, blank = [], [], None
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    blank = blank or reader.line_num            # fine at the end of the file only
                    continue
                if blank is not None:
                    raise ValueError(f"{path}:{blank}: a blank line between rows of the series; expected one "
                                     "row per time step (a missing step would shift every later one)")
                if len(row) != len(header):
                    raise ValueError(f"{path}:{reader.line_num}: expected {len(header)} fields as in the "
                                     f"header, got {len(row)}")
                values.append([cell_value(path, reader.line_num, row, j, c) for j, c in zip(where, columns)])
                lines.append(reader.line_num)
        except (UnicodeDecodeError, csv.Error) as err:
            raise ValueError(f"{path}:{reader.line_num + 1}: not a readable UTF-8 CSV file ({err})") from err
    if not values:
        raise ValueError(f"{name}: {path!r} has a header but no rows of values")
    return np.array(values, np.float64).reshape(len(values), len(columns)), np.array(lines, np.int64)


def cell_value(path: str, line: int, row: list, j: int, column: str) -> float:
    cell = row[j].strip() if j < len(row) else ""
    try:
        v = float(cell)
    except ValueError:
        got = "an empty cell" if not cell else repr(cell)
        raise ValueError(f"{path}:{line}: column {column!r}: expected a number, got {got}") from None
    if not math.isfinite(v):
        raise ValueError(f"{path}:{line}: column {column!r}: expected a finite number, got {cell!r} "
                         "(fill or drop missing values before training)")
    return v


def windows(values: np.ndarray, target: np.ndarray, window: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """All windows of a series, in time order (module docstring): x (M, W, D) with x[m] = values[m : m+W],
    y (M,) with y[m] = target[m + W - 1 + horizon]; M = n - W - horizon + 1 (0 when the series is too
    short). ``values`` (n, D) or (n,), ``target`` (n,)."""
    values = np.asarray(values)
    values = values[:, None] if values.ndim == 1 else values
    M = max(len(values) - window - horizon + 1, 0)
    x = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)[:M]   # (M, D, W)
    return np.ascontiguousarray(x.transpose(0, 2, 1)), np.asarray(target)[window - 1 + horizon:][:M]


def split_sizes(n: int, valid_split: float, test_split: float) -> tuple[int, int, int]:
    """(n_train, n_valid, n_test) rows of the time split."""
    n_valid, n_test = int(round(valid_split * n)), int(round(test_split * n))
    return n - n_valid - n_test, n_valid, n_test


def statistics(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation (population, ddof 0); std 1 for a constant column."""
    mean, std = rows.mean(0), rows.std(0)
    return mean, np.where(std > 0, std, 1.0)


@dataclass
class Series:
    """A CSV series cut into standardized windows (module docstring).

    train, valid, test  (x (M, W, D) float32, y (M, 1) float32), standardized
    lines               (train, valid, test): the file line of each window's target
    meta                what ``predict`` needs: csv, target, features, window, horizon, mean, std,
                        target_mean, target_std (lists of floats), split sizes
    """
    train: tuple
    valid: tuple
    test: tuple
    lines: tuple
    meta: dict

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Standardized targets or predictions back in the target column's units."""
        return unstandardize(z, self.meta)


def unstandardize(z, meta: dict) -> np.ndarray:
    return np.asarray(z, np.float64) * meta["target_std"] + meta["target_mean"]


def parse_features(features, target: str, name: str = "features") -> list[str]:
    """Feature columns from a list or a comma-separated string; default [target]."""
    if features is None:
        return [target]
    cols = [c.strip() for c in features.split(",")] if isinstance(features, str) else list(features)
    if not cols or any(not isinstance(c, str) or not c for c in cols) or len(set(cols)) < len(cols):
        raise ValueError(f"{name}: expected distinct column names, comma-separated, got {features!r}")
    return cols


def load(path, target: str, window: int = 50, horizon: int = 1, features=None, valid_split: float = 0.1,
         test_split: float = 0.1, names: dict | None = None) -> Series:
    """The CSV file ``path`` as standardized windows split by time (module docstring).

    ``target``: the column to forecast; ``features``: the input columns (list or "a,b"; default the
    target); ``window`` W >= 1 rows per input; ``horizon`` >= 1 rows ahead; ``valid_split`` and
    ``test_split``: fractions of the rows, the last ones, for validation and test. ``names`` maps
    these arguments to the names errors use (the command line passes its flags).

    Raises FileNotFoundError, or ValueError naming the argument, or the file, line and column."""
    n_ = {**PYTHON_NAMES, **(names or {})}
    if not isinstance(target, str) or not target:
        raise ValueError(f"{n_['target']}: expected a column name, got {target!r}")
    check_int(n_["window"], window, 1)
    check_int(n_["horizon"], horizon, 1)
    check_real(n_["valid_split"], valid_split, 0, 1, low_open=True, high_open=True)
    check_real(n_["test_split"], test_split, 0, 1, low_open=True, high_open=True)
    cols = parse_features(features, target, n_["features"])
    needed = cols + ([target] if target not in cols else [])
    asked = {**{c: n_["features"] for c in cols}, target: n_["target"]}
    values, lines = read_columns(path, needed, n_["csv"], asked)
    n = len(values)
    n_train, n_valid, n_test = split_sizes(n, valid_split, test_split)
    if window + horizon > n_train:
        raise ValueError(f"{n_['window']}: a window of {window} rows and {n_['horizon']} {horizon} need "
                         f"{window + horizon} rows in the training part, which has {n_train} of the "
                         f"{n} rows of {os.fspath(path)!r} (the rest: {n_valid} validation, {n_test} test)")
    for k, size in (("valid_split", n_valid), ("test_split", n_test)):
        if size == 0:
            raise ValueError(f"{n_[k]}: {valid_split if k == 'valid_split' else test_split} of {n} rows "
                             "leaves that part empty")
    train_rows = values[:n_train]
    for j, c in enumerate(needed):
        if train_rows[:, j].min() == train_rows[:, j].max():
            role = n_["target"] if c == target else n_["features"]
            raise ValueError(f"{os.fspath(path)}: column {c!r} ({role}) is constant, {train_rows[0, j]:g}, over "
                             f"the {n_train} rows of the training part (lines {lines[0]}-{lines[n_train - 1]}); "
                             "expected a column that varies (a constant one cannot be standardized)")
    mean, std = statistics(train_rows)                             # the training part only
    z = (values - mean) / std
    t = needed.index(target)
    x, y = windows(z[:, :len(cols)], z[:, t], window, horizon)
    target_rows = np.arange(window - 1 + horizon, n)               # the row of each window's target
    parts = np.searchsorted([n_train, n_train + n_valid], target_rows, side="right")   # 0 train, 1 valid, 2 test
    split = tuple((x[parts == p].astype(np.float32), y[parts == p, None].astype(np.float32)) for p in range(3))
    meta = {"csv": os.path.abspath(os.fspath(path)), "target": target, "features": cols, "window": window,
            "horizon": horizon, "mean": mean[:len(cols)].tolist(), "std": std[:len(cols)].tolist(),
            "target_mean": float(mean[t]), "target_std": float(std[t]), "rows": [n_train, n_valid, n_test]}
    return Series(*split, tuple(lines[target_rows[parts == p]] for p in range(3)), meta)


def csv_task(path, target: str, window: int = 50, horizon: int = 1, features=None, valid_split: float = 0.1,
             test_split: float = 0.1, names: dict | None = None) -> Task:
    """``load`` as a regression Task for the training loop; ``task.meta["csv"]`` is ``Series.meta``
    (kept in the model file)."""
    s = load(path, target, window, horizon, features, valid_split, test_split, names)
    train, valid, test = (dataset(as_inputs(x), y, "regression") for x, y in (s.train, s.valid, s.test))
    meta = {"inputs": "features", "input_size": len(s.meta["features"]), "valid_size": len(valid),
            "csv": s.meta}
    return Task("csv", "regression", len(s.meta["features"]), 1, train, valid, test, meta)


def forecast_inputs(path, meta: dict, name: str = "--csv") -> tuple[np.ndarray, np.ndarray]:
    """(x (M, W, D) float32, lines (M,)): every window of the CSV file ``path`` (the one a model was
    trained on, or new rows with the same columns), standardized with the training statistics in
    ``meta`` (``Series.meta``); ``lines`` gives the file line of each window's last row. The target
    column is read only when it is a feature. A forecast for window m is the target ``horizon`` rows
    after ``lines[m]``."""
    values, lines = read_columns(path, meta["features"], name)
    W = meta["window"]
    if len(values) < W:
        raise ValueError(f"{name}: {os.fspath(path)!r} has {len(values)} rows, fewer than the model's "
                         f"window of {W}")
    z = (values - np.array(meta["mean"])) / np.array(meta["std"])
    x = np.lib.stride_tricks.sliding_window_view(z, W, axis=0).transpose(0, 2, 1)   # (M, W, D)
    return np.ascontiguousarray(x, np.float32), lines[W - 1:]


def scored_windows(path, meta: dict, name: str = "--csv") -> tuple[np.ndarray, np.ndarray]:
    """(x (M, W, D), y (M, 1)) float32: every window of the CSV file ``path`` with its target, the target
    column ``horizon`` rows after the window's last row, both standardized with the training statistics
    in ``meta`` (``Series.meta``), as a run's own splits are: the data ``rnnlab evaluate --csv`` scores a
    model on. ValueError naming ``name`` for a file with fewer than window + horizon rows."""
    features, target = list(meta["features"]), meta["target"]
    columns = features + [target] * (target not in features)
    values, _ = read_columns(path, columns, name)
    W, horizon = meta["window"], meta["horizon"]
    if len(values) < W + horizon:
        raise ValueError(f"{name}: {os.fspath(path)!r} has {len(values)} rows, fewer than the model's window of {W} "
                         f"plus its horizon of {horizon}")
    z = (values[:, :len(features)] - np.array(meta["mean"])) / np.array(meta["std"])
    t = (values[:, columns.index(target)] - meta["target_mean"]) / meta["target_std"]
    x, y = windows(z, t, W, horizon)
    return x.astype(np.float32), y[:, None].astype(np.float32)


__all__ = ["Series", "csv_task", "forecast_inputs", "load", "read_columns", "scored_windows", "windows"]
