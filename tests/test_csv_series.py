"""rnnlab.data.csv_series and ``rnnlab train --csv`` / ``rnnlab predict --csv``: windows, horizon and
standardization against a hand-computed series, a split by time whose validation and test values never
reach the training statistics, predictions in the column's units, and bad files named with their line."""
import os
import re

import numpy as np
import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.data import csv_series
from rnnlab.saving import load, read_meta


def write_csv(path, columns: dict, extra_lines=()):
    names = list(columns)
    rows = zip(*columns.values())
    text = ",".join(names) + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)
    path.write_text(text + "".join(extra_lines))
    return path


def test_windows_horizon_and_standardization_by_hand(tmp_path):
    # v = 1 .. 10, w = 10 v; a date column beside them is never read
    path = write_csv(tmp_path / "s.csv", {"date": [f"2000-{m:02d}" for m in range(1, 11)],
                                          "v": list(range(1, 11)), "w": [10 * k for k in range(1, 11)]})
    s = csv_series.load(path, "v", window=3, horizon=2, features="w,v", valid_split=0.2, test_split=0.2)
    # 10 rows: training part rows 0-5 (v = 1..6), validation rows 6-7, test rows 8-9
    assert s.meta["rows"] == [6, 2, 2]
    # training statistics of v over 1..6: mean 3.5, population std sqrt(35/12); of w ten times those
    sd = np.sqrt(35 / 12)
    np.testing.assert_allclose(s.meta["mean"], [35.0, 3.5])
    np.testing.assert_allclose(s.meta["std"], [10 * sd, sd])
    assert s.meta["target_mean"] == pytest.approx(3.5) and s.meta["target_std"] == pytest.approx(sd)
    z = lambda v: (np.asarray(v, np.float64) - 3.5) / sd           # noqa: E731  both columns standardize alike
    # a window ends at row r (rows r-2 .. r), its target is v at row r + 2; windows end at rows 2 .. 7
    x, y = s.train
    np.testing.assert_allclose(x[:, :, 1], z([[1, 2, 3], [2, 3, 4]]), rtol=1e-6)     # targets at rows 4, 5
    np.testing.assert_allclose(x[:, :, 0], x[:, :, 1], rtol=1e-6)                     # w: same standard scores
    np.testing.assert_allclose(y[:, 0], z([5, 6]), rtol=1e-6)
    np.testing.assert_allclose(s.valid[0][:, :, 1], z([[3, 4, 5], [4, 5, 6]]), rtol=1e-6)   # reaches back
    np.testing.assert_allclose(s.valid[1][:, 0], z([7, 8]), rtol=1e-6)
    np.testing.assert_allclose(s.test[1][:, 0], z([9, 10]), rtol=1e-6)
    np.testing.assert_allclose(s.inverse(s.test[1][:, 0]), [9, 10], rtol=1e-6)
    # the file line of each target: the header is line 1, row r is line r + 2
    assert [list(part) for part in s.lines] == [[6, 7], [8, 9], [10, 11]]
    assert s.train[0].dtype == np.float32 and s.train[0].shape == (2, 3, 2) and s.train[1].shape == (2, 1)


def test_windows_equal_a_loop():
    rng = np.random.default_rng(0)
    values, target = rng.standard_normal((30, 2)), rng.standard_normal(30)
    x, y = csv_series.windows(values, target, window=7, horizon=3)
    assert x.shape == (21, 7, 2)
    for m in range(21):
        np.testing.assert_array_equal(x[m], values[m:m + 7])
        assert y[m] == target[m + 6 + 3]
    assert csv_series.windows(values, target, window=29, horizon=2)[0].shape == (0, 29, 2)


def test_validation_and_test_values_never_move_the_training_part(tmp_path):
    rng = np.random.default_rng(1)
    v = rng.standard_normal(200).cumsum()
    a = csv_series.load(write_csv(tmp_path / "a.csv", {"v": v}), "v", window=10, horizon=3,
                        valid_split=0.15, test_split=0.15)
    changed = v.copy()
    changed[170:] = 1000 + 50 * rng.standard_normal(30)            # the test part's 30 rows only
    changed[140:170] *= -7                                          # and the validation part's
    b = csv_series.load(write_csv(tmp_path / "b.csv", {"v": changed}), "v", window=10, horizon=3,
                        valid_split=0.15, test_split=0.15)
    assert a.meta["rows"] == b.meta["rows"] == [140, 30, 30]
    for k in ("mean", "std", "target_mean", "target_std"):
        assert a.meta[k] == b.meta[k]
    np.testing.assert_array_equal(a.train[0], b.train[0])
    np.testing.assert_array_equal(a.train[1], b.train[1])
    assert not np.array_equal(a.test[1], b.test[1])                 # the change did reach the test part
    # the training statistics are those of the first 140 rows, whatever follows them
    assert a.meta["target_mean"] == pytest.approx(v[:140].mean())
    assert a.meta["target_std"] == pytest.approx(v[:140].std())


def sine_csv(path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return write_csv(path, {"t": t, "y": np.round(20 + 5 * np.sin(t / 6) + 0.2 * rng.standard_normal(n), 4)})


def test_fit_on_a_series_learns(tmp_path):
    s = csv_series.load(sine_csv(tmp_path / "s.csv"), "y", window=12)
    model = rnnlab.models.Sequential([rnnlab.LSTM(1, 16, seed=0), rnnlab.models.LastStep(),
                                      rnnlab.Dense(16, 1, seed=1)])
    rnnlab.fit(model, *s.train, validation_data=s.valid, epochs=8, lr=0.01, batch_size=16, progress=False)
    mse = rnnlab.evaluate(model, *s.test)["loss"]
    assert mse < 0.1 * np.mean((s.test[1] - s.test[1].mean()) ** 2)    # far below predicting the mean


ARGS = ["--window", "12", "--hidden", "8", "--epochs", "2", "--lr", "0.01", "--batch-size", "32", "--quiet"]


def test_cli_train_and_predict_reproduce_the_preprocessing(tmp_path):
    path = sine_csv(tmp_path / "s.csv", n=150)
    run = str(tmp_path / "run")
    assert main(["train", "--csv", str(path), "--target", "y", "--horizon", "2", *ARGS, "--out", run]) == 0
    meta = read_meta(os.path.join(run, "model.npz"))
    assert meta["config"]["task"] == "csv" and meta["task"]["kind"] == "regression"
    kept = meta["task"]["csv"]
    assert kept["features"] == ["y"] and kept["window"] == 12 and kept["horizon"] == 2
    series = csv_series.load(path, "y", window=12, horizon=2)
    assert kept["mean"] == series.meta["mean"] and kept["target_std"] == series.meta["target_std"]
    model = load(os.path.join(run, "model.npz"))
    out = tmp_path / "p.csv"
    assert main(["predict", os.path.join(run, "model.npz"), "--csv", str(path), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "line,forecast" and len(lines) == 1 + 150 - 12 + 1   # every window, the last ones too
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    np.testing.assert_array_equal(table[:, 0], np.arange(13, 152))       # the line of each window's last row
    # the test windows' forecasts: their targets' lines less the horizon, in the column's units
    rows = np.searchsorted(table[:, 0], series.lines[2] - 2)
    expected = series.inverse(model.forward(series.test[0])[0][:, 0])
    np.testing.assert_allclose(table[rows, 1], expected, rtol=1e-6)
    assert main(["predict", os.path.join(run, "model.npz"), "--csv", str(path), "--out", str(tmp_path / "p.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), table[:, 1], rtol=1e-7)


def test_cli_predict_bad_inputs_are_named(tmp_path, capsys):
    path = sine_csv(tmp_path / "s.csv", n=100)
    run = str(tmp_path / "run")
    assert main(["train", "--csv", str(path), "--target", "y", *ARGS, "--epochs", "1", "--out", run]) == 0
    model = os.path.join(run, "model.npz")
    write_csv(tmp_path / "short.csv", {"y": [1, 2, 3, 4, 5]})
    write_csv(tmp_path / "other.csv", {"z": list(range(20))})
    texts = tmp_path / "texts"
    texts.mkdir()
    cases = [
        (["--csv", str(tmp_path / "short.csv")], r"--csv: '.*short.csv' has 5 rows, fewer than the model's window of 12"),
        (["--csv", str(tmp_path / "other.csv")], r"other.csv:1: no column 'y'"),
        (["--csv", str(path), "--proba"], r"--proba: needs a classifier"),
        (["--text-classes", str(texts)], r"--text-classes: '.*model.npz' was not trained with --text-classes"),
        ([], r"give one of --data, --csv, --text-classes"),
    ]
    capsys.readouterr()
    for argv, message in cases:
        assert main(["predict", model, *argv, "--out", str(tmp_path / "p.csv")]) == 2, argv
        err = capsys.readouterr().err
        assert re.search(message, err), (argv, err)
    assert not (tmp_path / "p.csv").exists()


def test_cli_bad_inputs_are_named(tmp_path, capsys):
    good = sine_csv(tmp_path / "good.csv", n=60)
    write_csv(tmp_path / "word.csv", {"y": [1, 2, "abc", 4]})
    write_csv(tmp_path / "gap.csv", {"x": [1, 2, 3], "y": [1, "", 3]})
    write_csv(tmp_path / "nan.csv", {"y": [1.0, 2.0, "nan", 4.0]})
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("y\n")
    n = 60
    write_csv(tmp_path / "flat.csv", {"y": [3.5] * 48 + list(range(12))})           # constant over the training rows
    write_csv(tmp_path / "flatx.csv", {"x": [0] * 50 + [1] * 10, "y": np.sin(np.arange(n))})
    rows = "".join(f"{d},{v}\n" for d, v in enumerate(np.sin(np.arange(n))))
    (tmp_path / "short.csv").write_text("day,sales,price\n" + rows)                  # 2 fields, header 3
    (tmp_path / "long.csv").write_text("day,sales\n" + rows.replace("\n", ",9\n", 1) + rows)
    lines = rows.splitlines(keepends=True)
    (tmp_path / "blank.csv").write_text("day,sales\n" + "".join(lines[:20]) + "\n" + "".join(lines[20:]))
    (tmp_path / "commas.csv").write_text("day,sales\n" + "".join(lines[:20]) + ",\n" + "".join(lines[20:]))
    (tmp_path / "twice.csv").write_text("day,sales,sales\n" + rows.replace("\n", ",1\n"))
    cases = [
        (["--csv", str(tmp_path / "flat.csv"), "--target", "y", "--window", "5"],
         r"flat.csv: column 'y' \(--target\) is constant, 3.5, over the 48 rows of the training part \(lines 2-49\)"),
        (["--csv", str(tmp_path / "flatx.csv"), "--target", "y", "--features", "x,y", "--window", "5"],
         r"flatx.csv: column 'x' \(--features\) is constant, 0, over the 48 rows"),
        (["--csv", str(tmp_path / "short.csv"), "--target", "sales"], r"short.csv:2: expected 3 fields as in the header, got 2"),
        (["--csv", str(tmp_path / "long.csv"), "--target", "sales"], r"long.csv:2: expected 2 fields as in the header, got 3"),
        (["--csv", str(tmp_path / "blank.csv"), "--target", "sales"], r"blank.csv:22: a blank line between rows"),
        (["--csv", str(tmp_path / "commas.csv"), "--target", "sales"], r"commas.csv:22: a blank line between rows"),
        (["--csv", str(tmp_path / "twice.csv"), "--target", "day"], r"twice.csv:1: column 'sales' is named twice"),
        (["--csv", str(tmp_path / "none.csv"), "--target", "y"], r"--csv: no file at"),
        (["--csv", str(good), "--target", "z"], r"good.csv:1: no column 'z' \(named by --target\); the header names \['t', 'y'\]"),
        (["--csv", str(good), "--target", "y", "--features", "t,q"], r"good.csv:1: no column 'q' \(named by --features\)"),
        (["--csv", str(tmp_path / "word.csv"), "--target", "y"],
         r"word.csv:4: column 'y': expected a number, got 'abc'"),
        (["--csv", str(tmp_path / "gap.csv"), "--target", "y"], r"gap.csv:3: column 'y': expected a number, got an empty cell"),
        (["--csv", str(tmp_path / "nan.csv"), "--target", "y"], r"nan.csv:4: column 'y': expected a finite number, got 'nan'"),
        (["--csv", str(tmp_path / "empty.csv"), "--target", "y"], r"--csv: '.*empty.csv' is empty"),
        (["--csv", str(tmp_path / "header.csv"), "--target", "y"], r"--csv: '.*header.csv' has a header but no rows"),
        (["--csv", str(good), "--target", "y", "--window", "60"],
         r"--window: a window of 60 rows and --horizon 1 need 61 rows in the training part, which has 48"),
        (["--csv", str(good)], r"--target: needed with --csv"),
        (["--csv", str(good), "--target", "y", "--window", "0"], r"--window: expected an integer >= 1, got 0"),
        (["--csv", str(good), "--target", "y", "--valid-split", "0.5", "--test-split", "0.5"],
         r"--test-split: 0.5 with --valid-split 0.5 leaves no training part"),
        (["--csv", str(good), "--target", "y", "--features", "y,y"], r"--features: expected distinct column names"),
        (["--csv", str(good), "--target", "y", "--tokens", "words"], r"--tokens: needs --text-classes"),
        (["--csv", str(good), "--target", "y", "--task", "adding"], r"--csv: replaces --task"),
        (["--csv", str(good), "--target", "y", "--data", "x.npz"], r"give one of --data, --csv, --text-classes"),
        (["--task", "adding", "--window", "5"], r"--window: needs --csv \(your own data\), got --task adding"),
    ]
    for argv, message in cases:
        assert main(["train", *argv, "--quiet"]) == 2, argv
        err = capsys.readouterr().err
        assert re.search(message, err), (argv, err)


def test_predict_refuses_a_model_not_trained_on_a_series(tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((20, 4, 1)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=(x.sum((1, 2)) > 0).astype(np.int64))
    run = str(tmp_path / "run")
    assert main(["train", "--data", str(tmp_path / "d.npz"), "--hidden", "4", "--epochs", "1", "--quiet",
                 "--out", run]) == 0
    write_csv(tmp_path / "s.csv", {"y": [1, 2, 3]})
    assert main(["predict", os.path.join(run, "model.npz"), "--csv", str(tmp_path / "s.csv"),
                 "--out", str(tmp_path / "p.csv")]) == 2
    assert re.search(r"--csv: '.*model.npz' was not trained with --csv", capsys.readouterr().err)


def test_cli_resume_is_exact(tmp_path, monkeypatch):
    path = sine_csv(tmp_path / "s.csv", n=120)
    full, part = str(tmp_path / "full"), str(tmp_path / "part")
    argv = ["train", "--csv", str(path), "--target", "y", *ARGS]
    assert main([*argv, "--epochs", "3", "--out", full]) == 0
    assert main([*argv, "--epochs", "1", "--out", part]) == 0
    monkeypatch.chdir(tmp_path / "part")                            # the checkpoint holds absolute paths
    assert main(["train", "--out", part, "--resume", "--epochs", "3", "--quiet"]) == 0
    a, b = load(os.path.join(full, "model.npz")), load(os.path.join(part, "model.npz"))
    for k, v in a.params.items():
        np.testing.assert_array_equal(b.params[k], v)


def test_blank_lines_may_end_the_file(tmp_path):
    path = write_csv(tmp_path / "s.csv", {"y": np.round(np.sin(np.arange(40)), 4)}, extra_lines=["\n", "  \n", "\n"])
    s = csv_series.load(path, "y", window=5)
    assert s.meta["rows"] == [32, 4, 4] and s.lines[2][-1] == 41                 # line 41: the last row


def test_evaluate_scores_a_csv_model_on_a_csv_file(tmp_path, capsys):
    """rnnlab evaluate MODEL --csv FILE: every window of the file with its target, standardized with the
    training statistics (scored_windows: on the training file, the run's three splits in time order),
    scored as rnnlab.evaluate scores them; a model not trained with --csv and an .npz are refused."""
    import json
    import rnnlab
    from rnnlab.cli import main
    from rnnlab.data import csv_series
    from rnnlab.saving import load, read_meta
    path = tmp_path / "s.csv"
    path.write_text("v,w\n" + "\n".join(f"{1000 + 100 * np.sin(i / 5):.4f},{i % 7}" for i in range(150)) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--csv", str(path), "--target", "v", "--features", "v,w", "--window", "6", "--horizon", "2",
                 "--hidden", "4", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    meta = read_meta(out / "model.npz")["task"]["csv"]
    series = csv_series.load(path, "v", 6, 2, features="v,w")
    x, y = csv_series.scored_windows(path, meta)
    assert np.array_equal(x, np.concatenate([s[0] for s in (series.train, series.valid, series.test)]))
    assert np.array_equal(y, np.concatenate([s[1] for s in (series.train, series.valid, series.test)]))
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--csv", str(path)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == {"model": str(out / "model.npz"), "csv": str(path),
                   **rnnlab.evaluate(load(out / "model.npz"), x, y, loss="mse")}
    short = tmp_path / "short.csv"
    short.write_text("v,w\n" + "\n".join(f"{i},{i}" for i in range(7)) + "\n")
    assert main(["evaluate", str(out / "model.npz"), "--csv", str(short)]) == 2
    assert "has 7 rows, fewer than the model's window of 6 plus its horizon of 2" in capsys.readouterr().err
