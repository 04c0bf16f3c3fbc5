"""Test RMSE of a model trained with ``rnnlab train --csv``, in the target column's units, against the
naive forecast that the target stays at its last observed value.

    python examples/forecast_rmse.py runs/sunspots/model.npz

The test windows are rebuilt from the model file's record (the CSV file, columns, window, horizon,
training statistics, split fractions; rnnlab.data.csv_series): forecast for the window ending at row
r is the model's output mapped back to units; the naive forecast is the target at row r; both are
compared with the target at row r + horizon.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

import rnnlab
from rnnlab.data import csv_series
from rnnlab.saving import load, read_meta


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model.npz of a run trained with --csv")
    args = parser.parse_args(argv)
    meta = read_meta(args.model)
    kept, cfg = meta["task"]["csv"], meta["config"]
    series = csv_series.load(kept["csv"], kept["target"], kept["window"], kept["horizon"], kept["features"],
                             cfg["valid_split"], cfg["test_split"])
    model = load(args.model)
    x, y = series.test
    truth = series.inverse(y[:, 0])
    forecast = series.inverse(rnnlab.predict(model, x)[:, 0])
    values, lines = csv_series.read_columns(kept["csv"], [kept["target"]])
    row_of_line = {int(n): r for r, n in enumerate(lines)}
    last = np.array([values[row_of_line[int(n)] - kept["horizon"], 0] for n in series.lines[2]])
    rmse = lambda a: float(np.sqrt(np.mean((a - truth) ** 2)))           # noqa: E731
    out = {"test_windows": len(truth), "test_rmse": rmse(forecast), "naive_last_value_rmse": rmse(last),
           "test_mean_rmse": rmse(np.full_like(truth, kept["target_mean"]))}
    out["ratio_to_naive"] = out["test_rmse"] / out["naive_last_value_rmse"]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
