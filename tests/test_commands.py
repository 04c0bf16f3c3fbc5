"""Command-line smoke tests on tiny budgets: train, evaluate, sample, compare, gradflow, and the
delegation of --task sst."""
import json
import sys
import types

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.layers import Dropout
from rnnlab.saving import load

TINY = ["--T", "6", "--train-size", "64", "--hidden", "5", "--batch-size", "32", "--quiet"]


def test_train_evaluate_resume_and_metrics_json(tmp_path, capsys):
    out, m1, m2 = tmp_path / "run", tmp_path / "train.json", tmp_path / "eval.json"
    assert main(["train", "--task", "adding", "--model", "gru", "--epochs", "1", "--out", str(out),
                 "--metrics-json", str(m1), *TINY]) == 0
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--metrics-json", str(m1), "--quiet"]) == 0
    final = json.load(open(m1))
    assert final["epochs"] == 2 and final["model"] == "gru" and "test_loss" in final
    assert final["baseline_mse"] == pytest.approx(1 / 6)
    assert main(["evaluate", str(out / "model.npz"), "--metrics-json", str(m2)]) == 0
    assert json.load(open(m2))["test_loss"] == pytest.approx(final["test_loss"])
    assert main(["evaluate", str(out / "model.npz"), "--streams", "2"]) == 2     # text only
    assert "--task text, got 'adding'" in capsys.readouterr().err
    assert main(["evaluate", str(out / "checkpoint.npz"), "--split", "valid"]) == 0      # the last parameters
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["valid_loss"] == pytest.approx(json.loads(open(out / "metrics.jsonl").readlines()[-1])["valid_loss"])


def test_model_argument_is_named_when_missing_or_a_checkpoint(tmp_path, capsys):
    """The positional model argument of predict, evaluate and sample: a missing file or a folder is
    named 'model'; predict (like sample) refuses a run's checkpoint, pointing at model.npz."""
    out = tmp_path / "run"
    assert main(["train", "--task", "adding", "--model", "rnn", "--epochs", "1", "--out", str(out), *TINY]) == 0
    data = tmp_path / "x.npz"
    np.savez(data, x=np.zeros((2, 6, 2), np.float32))
    capsys.readouterr()
    for argv in (["predict", str(tmp_path / "nope.npz"), "--data", str(data), "--out", str(tmp_path / "p.csv")],
                 ["evaluate", str(tmp_path / "nope.npz")], ["sample", str(tmp_path), "--prime", "a"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"rnnlab {argv[0]}: error: model: no file at {argv[1]!r}" in err, err
    assert main(["predict", str(out / "checkpoint.npz"), "--data", str(data), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "model: " in err and "is a run's training checkpoint" in err and "model.npz" in err
    assert not (tmp_path / "p.csv").exists()
    assert main(["predict", str(out / "model.npz"), "--data", str(data), "--out", str(tmp_path / "p.csv")]) == 0


def test_classification_metrics_json_has_accuracy(tmp_path):
    path = tmp_path / "m.json"
    assert main(["train", "--task", "order", "--T", "10", "--train-size", "64", "--hidden", "4",
                 "--epochs", "1", "--quiet", "--metrics-json", str(path)]) == 0
    assert 0 <= json.load(open(path))["test_accuracy"] <= 1


def test_sample_from_a_char_model(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("to be or not to be " * 30)
    out = tmp_path / "char"
    assert main(["train", "--task", "text", "--text", str(corpus), "--seq-len", "16", "--hidden", "8",
                 "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["sample", str(out / "model.npz"), "--prime", "to ", "--length", "40"]) == 0
    text = capsys.readouterr().out.rstrip("\n")
    assert text.startswith("to ") and len(text) == 43 and set(text) <= set("tobe rn")
    assert main(["sample", str(out / "model.npz"), "--prime", "xyz"]) == 2
    assert "--prime: characters ['x', 'y', 'z'] are not in the model's vocabulary" in capsys.readouterr().err
    assert main(["sample", str(out / "checkpoint.npz"), "--prime", "to "]) == 2
    err = capsys.readouterr().err
    assert "is a run's training checkpoint" in err and "model.npz" in err
    assert main(["evaluate", str(out / "model.npz"), "--split", "valid", "--streams", "2"]) == 0
    carried = json.loads(capsys.readouterr().out)
    assert carried["streams"] == 2 and 0 < carried["valid_loss"] < 10
    assert main(["evaluate", str(out / "model.npz"), "--streams", "-1"]) == 2
    assert "--streams" in capsys.readouterr().err


def test_compare_writes_table_and_plot_or_says_what_is_missing(tmp_path, capsys, monkeypatch):
    args = ["compare", "--seeds", "1", "--jobs", "1", "--epochs", "1", "--out", str(tmp_path), *TINY]
    monkeypatch.setitem(sys.modules, "matplotlib", None)            # as if the plot extra were missing
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "rnnlab[plot]" in text
    table = (tmp_path / "compare.md").read_text()
    for name in ("| RNN |", "| LSTM |", "| GRU |", "sequences to solve"):
        assert name in table
    assert len(json.load(open(tmp_path / "compare.json"))["runs"]) == 3


def test_compare_plot_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    assert main(["compare", "--models", "rnn,gru", "--seeds", "1", "--jobs", "1", "--epochs", "1",
                 "--out", str(tmp_path), *TINY]) == 0
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_with_dropout_trains_models_with_dropout_layers(tmp_path):
    assert main(["compare", "--models", "gru", "--seeds", "1", "--jobs", "1", "--epochs", "1", "--dropout", "0.3",
                 "--layers", "2", "--out", str(tmp_path), *TINY]) == 0
    model = load(tmp_path / "runs" / "gru-seed0" / "model.npz")
    assert [type(layer).__name__ for layer in model.layers] == ["GRU", "Dropout", "GRU", "LastStep", "Dropout", "Dense"]
    assert all(layer.rate == 0.3 for layer in model.layers if isinstance(layer, Dropout))


def test_gradflow_table(tmp_path, capsys):
    assert main(["gradflow", "--jobs", "1", "--epochs", "1", "--batch", "8", "--out", str(tmp_path), *TINY]) == 0
    curves = json.load(open(tmp_path / "gradflow.json"))
    assert set(curves) == {f"{m} {w}" for m in ("RNN", "LSTM", "GRU") for w in ("init", "trained")}
    assert all(len(v) == 5 and all(x > 0 for x in v) for v in curves.values())
    assert "| steps back k |" in (tmp_path / "gradflow.md").read_text()


def test_sst_is_delegated_to_the_tree_module(monkeypatch):
    seen = {}
    fake = types.ModuleType("rnnlab.trees.train")
    fake.run = lambda args: seen.update(vars(args)) or 0
    monkeypatch.setitem(sys.modules, "rnnlab.trees.train", fake)
    trees = sys.modules.get("rnnlab.trees") or types.ModuleType("rnnlab.trees")
    monkeypatch.setitem(sys.modules, "rnnlab.trees", trees)
    monkeypatch.setattr(trees, "train", fake, raising=False)
    assert main(["train", "--task", "sst", "--model", "treelstm", "--epochs", "1"]) == 0
    assert seen["task"] == "sst" and seen["model"] == "treelstm" and seen["epochs"] == 1
    assert seen["hidden"] is None and seen["lr"] is None      # unset: the tree trainer's defaults apply


def test_sst_without_the_tree_module_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "rnnlab.trees.train", None)
    monkeypatch.setitem(sys.modules, "rnnlab.trees", None)
    assert main(["train", "--task", "sst"]) == 2
    assert "rnnlab.trees.train" in capsys.readouterr().err


def test_bad_options_fail_with_a_message(tmp_path, capsys):
    assert main(["train", "--hidden", "0", "--quiet"]) == 2
    assert "hidden" in capsys.readouterr().err
    assert main(["train", "--model", "treelstm", "--quiet"]) == 2      # a tree cell on a sequence task
    assert "model" in capsys.readouterr().err
    assert main(["train", "--resume", "--quiet"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "none.npz")]) == 2


def test_train_task_sst_reaches_the_tree_models(tmp_path):
    """`rnnlab train --task sst` parses the tree options and trains a tree model on the treebank."""
    from rnnlab.trees import data as tree_data
    try:
        tree_data.sst_dir(None)
    except FileNotFoundError:
        pytest.skip("no ../shared/data/sst beside the repository")
    out = tmp_path / "sst"
    code = main(["train", "--task", "sst", "--model", "recursive", "--max-train", "50", "--epochs", "1",
                 "--hidden", "8", "--lowercase", "--binary", "--out", str(out),
                 "--metrics-json", str(tmp_path / "m.json")])
    assert code == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["model"] == "recursive" and metrics["settings"]["binary"] is True
    assert metrics["settings"]["max_train"] == 50 and metrics["settings"]["hidden"] == 8
    assert 0.0 <= metrics["test_root_accuracy"] <= 1.0


def test_gradflow_two_layers_has_a_curve_per_layer(tmp_path):
    assert main(["gradflow", "--jobs", "1", "--epochs", "1", "--batch", "8", "--layers", "2",
                 "--out", str(tmp_path), *TINY]) == 0
    curves = json.load(open(tmp_path / "gradflow.json"))
    assert set(curves) == {f"{m} {w} layer {l}" for m in ("RNN", "LSTM", "GRU")
                           for w in ("init", "trained") for l in (1, 2)}
    assert all(len(v) == 5 and all(x > 0 for x in v) for v in curves.values())
    assert "per layer" in (tmp_path / "gradflow.md").read_text()


def test_train_bidirectional_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "bi"
    assert main(["train", "--task", "adding", "--model", "lstm", "--bidirectional", "--epochs", "1",
                 "--out", str(out), *TINY]) == 0
    model = load(out / "model.npz")
    assert model.layers[0].bidirectional and model.layers[1].directions == 2
    assert main(["gradflow", "--bidirectional", "--out", str(tmp_path / "gf"), *TINY]) == 2
    assert "--bidirectional: gradflow follows the gradient back in time" in capsys.readouterr().err


def test_a_run_checks_its_data_files_on_resume_and_evaluate(tmp_path, capsys):
    """A --data run records its files' size and SHA-256: --resume and rnnlab evaluate refuse, naming
    the flag, when a file is gone or holds other bytes, and go on once the original is back."""
    rng = np.random.default_rng(0)
    train, valid, out = tmp_path / "train.npz", tmp_path / "valid.npz", tmp_path / "run"
    np.savez(train, x=rng.random((64, 6, 2)).astype(np.float32), y=np.arange(64) % 2)
    np.savez(valid, x=rng.random((20, 6, 2)).astype(np.float32), y=np.arange(20) % 2)
    assert main(["train", "--data", str(train), "--valid", str(valid), "--hidden", "4", "--epochs", "1",
                 "--out", str(out), "--quiet"]) == 0
    original = valid.read_bytes()
    x = rng.random((20, 6, 2)).astype(np.float32)
    np.savez(valid, x=x, y=np.arange(20) % 2)                       # same size, other values
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz")]) == 2
    assert f"--valid: {str(valid)!r} has changed since the run read it (the same size" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 2
    assert "--resume reads the run's own data" in capsys.readouterr().err
    valid.unlink()
    assert main(["evaluate", str(out / "checkpoint.npz")]) == 2
    assert f"--valid: the run read {str(valid)!r}, which is no longer there" in capsys.readouterr().err
    valid.write_bytes(original)
    assert main(["evaluate", str(out / "model.npz")]) == 0
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 0


def test_predict_never_writes_over_its_inputs(tmp_path, capsys):
    """rnnlab predict --out naming the --csv file (or the model) is refused before anything is written:
    the forecasts replaced the series they came from."""
    series = tmp_path / "s.csv"
    series.write_text("v\n" + "\n".join(str(np.sin(i / 3)) for i in range(120)) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--csv", str(series), "--target", "v", "--window", "5", "--hidden", "4", "--epochs", "1",
                 "--out", str(out), "--quiet"]) == 0
    before = series.read_text()
    capsys.readouterr()
    assert main(["predict", str(out / "model.npz"), "--csv", str(series), "--out", str(series)]) == 2
    assert f"--out: {str(series)!r} is the --csv file" in capsys.readouterr().err
    assert series.read_text() == before
    assert main(["predict", str(out / "model.npz"), "--csv", str(series), "--out", str(tmp_path / "f.csv")]) == 0


def test_a_damaged_record_of_data_files_is_named(tmp_path):
    """A run's record of its files (Config.files) that is not sizes and SHA-256s: a FormatError naming
    the file it was read from; a recorded file now a folder: named by its flag."""
    from rnnlab.errors import FormatError
    from rnnlab.train import Config, confirm_files
    data = tmp_path / "d.npz"
    data.write_bytes(b"12345")
    for files in ([1, 2], "abc", {"data": {}}, {"data": {"bytes": True, "sha256": "x"}}, {"other": {"bytes": 5}},
                  [], "", 0, False):                               # only None means "recorded nothing"
        cfg = Config(task="data", data=str(data))
        cfg.files = files
        with pytest.raises(FormatError, match="config 'files'"):
            confirm_files(cfg, "rnnlab evaluate", "model.npz")
    cfg = Config(task="data", data=str(data))
    cfg.files = {"data": {"bytes": 5, "sha256": "0" * 64}}
    with pytest.raises(ValueError, match=r"^--data: .* has changed since the run read it \(the same size"):
        confirm_files(cfg, "rnnlab evaluate", "model.npz")
    data.unlink()
    data.mkdir()
    with pytest.raises(ValueError, match=r"^--data: the run read the file .* now not a regular file"):
        confirm_files(cfg, "--resume", "checkpoint.npz")


def test_a_text_run_refuses_to_resume_on_changed_text(tmp_path, capsys):
    """--task text records its --text file too: --resume refuses changed text (evaluate confirms it its
    own way, and --text PATH scores the model on another file)."""
    corpus, out = tmp_path / "c.txt", tmp_path / "run"
    corpus.write_text("to be or not to be that is the question " * 40)
    assert main(["train", "--task", "text", "--text", str(corpus), "--seq-len", "16", "--hidden", "8",
                 "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    corpus.write_text(corpus.read_text().replace("question", "questino"))
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 2
    assert f"--text: {str(corpus)!r} has changed since the run read it" in capsys.readouterr().err
    assert main(["evaluate", str(out / "model.npz"), "--text", str(corpus)]) == 0


def test_a_huge_layer_count_is_refused_at_once(capsys):
    """The command's memory check counts the stack in closed form: 2**64 layers are refused at once (a
    loop over the layers never finished)."""
    assert main(["train", "--layers", str(2 ** 64), "--hidden", "4", "--epochs", "1", "--quiet"]) == 2
    assert "needs at least" in capsys.readouterr().err


def test_predict_does_not_write_into_the_folder_it_reads(tmp_path, capsys):
    """rnnlab predict --text-classes DIR --out DIR/... (or the folder itself) is refused: the output
    would land among the texts it classifies."""
    for c, words in (("pos", "good great fine"), ("neg", "bad awful poor")):
        (tmp_path / "tc" / c).mkdir(parents=True)
        for i in range(6):
            (tmp_path / "tc" / c / f"{i}.txt").write_text(words)
    out = tmp_path / "run"
    assert main(["train", "--text-classes", str(tmp_path / "tc"), "--hidden", "4", "--epochs", "1",
                 "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    inside = tmp_path / "tc" / "pos" / "x.csv"
    assert main(["predict", str(out / "model.npz"), "--text-classes", str(tmp_path / "tc"), "--out", str(inside)]) == 2
    assert "is inside the --text-classes folder" in capsys.readouterr().err and not inside.exists()
    assert main(["predict", str(out / "model.npz"), "--text-classes", str(tmp_path / "tc"),
                 "--out", str(tmp_path / "c.csv")]) == 0


def test_train_says_how_it_read_float_class_ids_and_classes_only_in_valid(tmp_path, capsys):
    """rnnlab train --data reads float targets as regression values: where they are all whole numbers
    with few distinct values (class ids stored as floats) it says so on stderr, naming the file and
    the fix; a class id that only the --valid file holds is said too (the head has an output for it
    that training never teaches). --quiet says nothing; real-valued targets and a valid file of the
    training classes get no notice."""
    rng = np.random.default_rng(0)
    x = rng.random((40, 5, 2)).astype(np.float32)
    floats, ints, valid = tmp_path / "f.npz", tmp_path / "i.npz", tmp_path / "v.npz"
    np.savez(floats, x=x, y=(np.arange(40) % 2).astype(np.float32))
    np.savez(ints, x=x, y=np.arange(40) % 2 * 2)                          # classes 0 and 2
    yv = np.arange(12) % 2 * 2
    yv[3] = 1
    np.savez(valid, x=x[:12], y=yv)
    common = ["--hidden", "4", "--epochs", "1"]
    assert main(["train", "--data", str(floats), *common]) == 0
    err = capsys.readouterr().err
    assert (f"rnnlab train: --data {str(floats)!r}: key 'y' holds floats that are all whole numbers (2 distinct: "
            f"0, 1); they are read as regression targets (mean squared error); to train a classifier, store them "
            f"as integer class ids (y.astype(int))") in err
    assert main(["train", "--data", str(floats), *common, "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["train", "--data", str(ints), "--valid", str(valid), *common]) == 0
    err = capsys.readouterr().err
    assert (f"--valid {str(valid)!r}: class id 1 of its y never occurs in --data's y; the model has 3 class "
            f"outputs") in err and "whole numbers" not in err
    yv[3] = 3                                                                    # above --data's classes: refused
    np.savez(valid, x=x[:12], y=yv)
    assert main(["train", "--data", str(ints), "--valid", str(valid), *common]) == 2
    assert (f"--valid {str(valid)!r}: key 'y': class id 3 at index (3,) is above --data's classes (0 .. 2), and the "
            f"model has one output per class of --data's y") in capsys.readouterr().err
    np.savez(floats, x=x, y=rng.standard_normal(40).astype(np.float32))          # real values
    np.savez(valid, x=x[:12], y=np.arange(12) % 2 * 2)                           # the training classes
    assert main(["train", "--data", str(floats), *common]) == 0
    assert main(["train", "--data", str(ints), "--valid", str(valid), *common]) == 0
    err = capsys.readouterr().err
    assert "whole numbers" not in err and "never occur" not in err and "--valid" not in err
    assert main(["train", "--data", str(ints), "--valid", str(ints), *common]) == 0
    assert f"--valid {str(ints)!r} is the --data file: the kept parameters are chosen on the training data" in \
        capsys.readouterr().err
    np.savez(valid, x=x[:12], y=(np.arange(12) % 2 * 2).astype(np.float32))
    assert main(["train", "--data", str(ints), "--valid", str(valid), *common]) == 0
    assert f"--valid {str(valid)!r}: key 'y' holds floats, --data's integers; both are read as --data's are " \
           f"(classify)" in capsys.readouterr().err


def test_read_notes_counts_distinct_whole_floats_and_unseen_classes():
    """The float-class-id notice needs every value whole and at most WHOLE_FLOAT_CLASSES of them; the
    unseen-class notice lists the ids (several: plural), only for classification."""
    from rnnlab.data.arrays import WHOLE_FLOAT_CLASSES, read_notes, task_from_arrays
    x = np.zeros((60, 3, 1), np.float32)
    few = (np.arange(60) % WHOLE_FLOAT_CLASSES).astype(np.float64)
    assert len(read_notes(task_from_arrays(x, few), few, "d", None)) == 1
    many = (np.arange(60) % (WHOLE_FLOAT_CLASSES + 1)).astype(np.float64)
    assert read_notes(task_from_arrays(x, many), many, "d", None) == []
    halves = few + 0.5
    assert read_notes(task_from_arrays(x, halves), halves, "d", None) == []
    sparse = np.where(np.arange(60) % 2 == 0, 0, 500)                          # ids 0 and 500 alone
    (note,) = read_notes(task_from_arrays(x, sparse), sparse, "d", None)
    assert "class ids go up to 500 but only 2 distinct ones occur; the model gets 501 class outputs" in note
    (note,) = read_notes(task_from_arrays(x, few - 1), few - 1, "d", None)     # -1 .. 18
    assert note.endswith("store them as integer class ids ((y - y.min()).astype(int): class ids start at 0)")
    for shaped in (few[:, None], np.tile(few[:, None], (1, 3))):              # (N, 1) and per step (N, T)
        assert len(read_notes(task_from_arrays(x, shaped), shaped, "d", None)) == 1
    y = np.arange(60) % 2
    vy = np.array([0, 1, 3, 4, 4, 1])
    task = task_from_arrays(x, y, validation_data=(x[:6], vy))
    (note,) = read_notes(task, y, "d", "v")
    assert "class ids 3, 4 of its y never occur in --data's y; the model has 5 class outputs" in note


def test_predict_names_a_data_file_given_as_the_model(tmp_path, capsys):
    """A data file (x, y) where the model goes: the error lists its keys and says it is data."""
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((2, 3, 1), np.float32), y=np.zeros(2, np.int64))
    assert main(["predict", str(data), "--data", str(data), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "without the rnnlab header '__rnnlab__' (its keys: 'x', 'y'); it looks like a data file (a key 'x')" in err
    assert not (tmp_path / "p.csv").exists()


def test_a_valid_file_unlike_2d_x_says_how_x_was_read(tmp_path, capsys):
    """--data's x of shape (N, T) is one feature per step; a --valid file of 3 features is refused,
    and the error says how x was read."""
    data, valid = tmp_path / "d.npz", tmp_path / "v.npz"
    np.savez(data, x=np.zeros((8, 4), np.float32), y=np.arange(8) % 2)
    np.savez(valid, x=np.zeros((8, 4, 3), np.float32), y=np.arange(8) % 2)
    assert main(["train", "--data", str(data), "--valid", str(valid), "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"--valid {str(valid)!r}: key 'x': expected inputs like x (1 feature per step; x of shape (8, 4) (N, T) is " \
           f"read as one feature per step), got dtype float32 shape (8, 4, 3)" in err


def test_evaluate_scores_a_saved_model_on_another_data_file(tmp_path, capsys):
    """rnnlab evaluate MODEL --data FILE: the metrics rnnlab.evaluate gives on that file, as the model was
    trained (float whole-number ids of a classifier are class ids); a file the model cannot read, a
    checkpoint, flags of the split modes and a text model are refused, naming the flag."""
    import rnnlab
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 6, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.int64)
    train, test, out = tmp_path / "train.npz", tmp_path / "test.npz", tmp_path / "run"
    np.savez(train, x=x[:40], y=y[:40])
    np.savez(test, x=x[40:], y=y[40:].astype(np.float32))
    assert main(["train", "--data", str(train), "--hidden", "4", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    model = str(out / "model.npz")
    assert main(["evaluate", model, "--data", str(test), "--metrics-json", str(tmp_path / "m.json")]) == 0
    got = json.loads(capsys.readouterr().out)
    want = rnnlab.evaluate(load(model), x[40:], y[40:])
    assert got == {"model": model, "data": str(test), **want} == json.loads((tmp_path / "m.json").read_text())
    wide = tmp_path / "wide.npz"
    np.savez(wide, x=np.zeros((3, 6, 5), np.float32), y=np.zeros(3, np.int64))
    for args, words in ((["--data", str(wide)], f"--data {str(wide)!r}: key 'x': expected 2 features per step"),
                        (["--data", str(test), "--split", "valid"], "--split: not with --data"),
                        (["--data", str(test), "--data-dir", str(tmp_path)], "--data-dir: not with --data"),
                        (["--data", str(tmp_path / "none.npz")], "--data: no file at")):
        assert main(["evaluate", model, *args]) == 2
        assert words in capsys.readouterr().err
    assert main(["evaluate", str(out / "checkpoint.npz"), "--data", str(test)]) == 2
    assert "is a run's checkpoint; --data scores a saved model, such as the run's model.npz" in capsys.readouterr().err


def test_gradcheck_torch_without_torch_says_only_what_is_missing(capsys, monkeypatch):
    """rnnlab gradcheck --torch where torch is not installed: one error line naming the extra, and no
    table header printed before it."""
    monkeypatch.setitem(sys.modules, "torch", None)                  # as if the torch extra were missing
    assert main(["gradcheck", "--torch"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "pip install 'rnnlab[torch]'" in err


def test_a_csv_model_is_not_scored_or_run_on_raw_arrays(tmp_path, capsys):
    """A --csv model reads standardized windows: evaluate --data and predict --data refuse it, pointing at
    predict --csv (they scored raw arrays in standardized units, and predict wrote standardized
    forecasts, without a word)."""
    series = tmp_path / "s.csv"
    series.write_text("v\n" + "\n".join(str(1000 + 100 * np.sin(i / 5)) for i in range(120)) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--csv", str(series), "--target", "v", "--window", "5", "--hidden", "4", "--epochs", "1",
                 "--out", str(out), "--quiet"]) == 0
    data = tmp_path / "w.npz"
    np.savez(data, x=np.full((4, 5, 1), 1000.0, np.float32), y=np.full(4, 1000.0, np.float32))
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--data", str(data)]) == 2
    assert "was trained with --csv: it reads windows of the CSV's columns standardized" in capsys.readouterr().err
    assert main(["predict", str(out / "model.npz"), "--data", str(data), "--out", str(tmp_path / "p.csv")]) == 2
    assert "give the new rows with --csv FILE" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_metrics_json_is_checked_first_and_named(tmp_path, capsys):
    """--metrics-json that is a folder, or under a file, is refused naming the flag before training or
    scoring; a path the system cannot write is named by the flag too (not by a temporary name)."""
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((8, 3, 1), np.float32), y=np.arange(8) % 2)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--hidden", "2", "--epochs", "1", "--out", str(run), "--quiet",
                 "--metrics-json", str(tmp_path)]) == 2
    assert f"--metrics-json: expected a file path, got {str(tmp_path)!r} (a folder)" in capsys.readouterr().err
    assert not run.exists()                                            # refused before the run began
    assert main(["train", "--data", str(data), "--hidden", "2", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    for path, words in ((str(data / "m.json"), f"{str(data)!r} is a file, not a folder"),
                        (str(run / "model.npz"), "--metrics-json: expected a file name ending in .json, got"),
                        (str(data), "--metrics-json: expected a file name ending in .json, got"),
                        ("/proc/rnnlab-test.json", "--metrics-json: cannot write '/proc/rnnlab-test.json' (")):
        assert main(["evaluate", str(run / "model.npz"), "--data", str(data), "--metrics-json", path]) == 2
        assert words in capsys.readouterr().err
    assert main(["evaluate", str(run / "model.npz"), "--data", str(data)]) == 0           # nothing was replaced
    capsys.readouterr()
    assert main(["evaluate", str(run / "model.npz"), "--data", str(data), "--metrics-json", "/proc/m.json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--metrics-json: cannot write '/proc/m.json' (" in err          # before scoring


def test_one_hot_targets_in_a_data_file_get_the_commands_advice(tmp_path, capsys):
    """One-hot y in an .npz: the command's error points at storing y.argmax(1), not at fit's loss=."""
    data = tmp_path / "oh.npz"
    np.savez(data, x=np.zeros((6, 4, 2), np.float32), y=np.eye(2)[np.arange(6) % 2])
    assert main(["train", "--data", str(data), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "key 'y': shape (6, 2) of 0s and 1s with one 1 per row looks one-hot (Keras' form); rnnlab takes " \
           "class ids: store y.argmax(1) as the file's 'y'" in err and "loss=" not in err


def test_metrics_json_never_replaces_or_adds_to_what_a_run_reads_or_keeps(tmp_path, capsys):
    """--metrics-json is refused where writing it would replace a data file the run recorded (on
    --resume and evaluate, where no flag names it), a file of the run folder, or add a file to the
    --text-classes folder; and in a missing folder that cannot be made, before any work."""
    corpus = tmp_path / "corpus.json"                                 # a text corpus that happens to end in .json
    corpus.write_text("the quick brown fox jumps over the lazy dog\n" * 40)
    run = tmp_path / "run"
    assert main(["train", "--task", "text", "--text", str(corpus), "--hidden", "4", "--epochs", "1", "--seq-len", "10",
                 "--out", str(run), "--quiet"]) == 0
    kept = corpus.read_bytes()
    capsys.readouterr()
    for argv in (["evaluate", str(run / "model.npz")], ["train", "--out", str(run), "--resume", "--epochs", "2"]):
        assert main([*argv, "--metrics-json", str(corpus), "--quiet"] if argv[0] == "train"
                    else [*argv, "--metrics-json", str(corpus)]) == 2
        assert f"--metrics-json: {str(corpus)!r} is the run's --text file" in capsys.readouterr().err
    assert corpus.read_bytes() == kept
    assert main(["evaluate", str(run / "model.npz"), "--metrics-json", str(run / "metrics.json")]) == 2
    assert f"is a file of the run in {str(run)!r}" in capsys.readouterr().err
    folder = tmp_path / "tc"
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        for i in range(12):
            (folder / c / f"{i}.txt").write_text(f"{c} {i}\n")
    assert main(["train", "--text-classes", str(folder), "--epochs", "1", "--hidden", "2", "--quiet",
                 "--metrics-json", str(folder / "a" / "m.json")]) == 2
    assert "is inside the run's --text-classes folder" in capsys.readouterr().err
    assert not (folder / "a" / "m.json").exists()
    assert main(["evaluate", str(run / "model.npz"), "--metrics-json", "/proc/rnnlab-new/m.json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--metrics-json: cannot write '/proc/rnnlab-new/m.json'" in err


def test_a_run_made_by_fit_points_the_command_at_what_it_can_do(tmp_path, capsys):
    """rnnlab evaluate / train --resume on a run folder that rnnlab.fit made (its arrays are not kept):
    a message naming --data or fit(resume=True), not the task list."""
    import rnnlab
    from rnnlab.models import LastStep, Sequential
    out = tmp_path / "fa"
    x, y = np.zeros((8, 3, 2), np.float32), np.arange(8) % 2
    rnnlab.fit(Sequential([rnnlab.LSTM(2, 3), LastStep(), rnnlab.Dense(3, 2)]), x, y, out=str(out), epochs=1,
               progress=False)
    assert main(["evaluate", str(out / "model.npz")]) == 2
    assert "was trained by rnnlab.fit on arrays, which its run does not keep; score it on a file with --data" in \
        capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume"]) == 2
    assert "resume it with rnnlab.fit(model, x, y, out=..., resume=True)" in capsys.readouterr().err
    data = tmp_path / "d.npz"
    np.savez(data, x=x, y=y)
    assert main(["evaluate", str(out / "model.npz"), "--data", str(data)]) == 0


def test_evaluate_data_with_one_hot_targets_gets_the_argmax_advice(tmp_path, capsys):
    data, out = tmp_path / "d.npz", tmp_path / "run"
    x, y = np.zeros((8, 3, 2), np.float32), np.arange(8) % 2
    np.savez(data, x=x, y=y)
    assert main(["train", "--data", str(data), "--hidden", "2", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    np.savez(data, x=x, y=np.eye(2)[y])
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--data", str(data)]) == 2
    assert "looks one-hot (Keras' form); rnnlab takes class ids: store y.argmax(1) as the file's 'y'" in \
        capsys.readouterr().err


def test_outputs_never_replace_a_runs_files_or_its_recorded_data(tmp_path, capsys):
    """predict --out is refused on the data file the model's run recorded (not named on the command
    line) and where it cannot be written (before predicting); --metrics-json on another run's files."""
    series = tmp_path / "s.csv"
    series.write_text("v\n" + "\n".join(str(np.sin(i / 3)) for i in range(80)) + "\n")
    run, other = tmp_path / "run", tmp_path / "other"
    for out in (run, other):
        assert main(["train", "--csv", str(series), "--target", "v", "--window", "5", "--hidden", "2", "--epochs", "1",
                     "--out", str(out), "--quiet"]) == 0
    new = tmp_path / "new.csv"
    new.write_text(series.read_text())
    kept = series.read_bytes(), (other / "metrics.json").read_bytes()
    capsys.readouterr()
    assert main(["predict", str(run / "model.npz"), "--csv", str(new), "--out", str(series)]) == 2
    assert f"--out: {str(series)!r} is the run's --csv file" in capsys.readouterr().err
    assert main(["predict", str(run / "model.npz"), "--csv", str(new), "--out", "/proc/rnnlab-p.csv"]) == 2
    assert "--out: cannot write '/proc/rnnlab-p.csv' (" in capsys.readouterr().err
    assert main(["evaluate", str(run / "model.npz"), "--csv", str(new), "--metrics-json",
                 str(other / "metrics.json")]) == 2
    assert f"is a file of the run in {str(other)!r}" in capsys.readouterr().err
    assert main(["predict", str(run / "model.npz"), "--csv", str(new), "--out", str(other / "p.csv")]) == 2
    assert f"is inside the run folder {str(other)!r}, which holds the run's own files only" in capsys.readouterr().err
    assert not (other / "p.csv").exists()
    assert (series.read_bytes(), (other / "metrics.json").read_bytes()) == kept


def test_data_flags_name_what_they_were_given(tmp_path, capsys):
    """--data given a model or a checkpoint says what the file is; x without features, and a split
    of one row, are named by the key and by --valid-split."""
    data, run = tmp_path / "d.npz", tmp_path / "run"
    np.savez(data, x=np.zeros((8, 3, 2), np.float32), y=np.arange(8) % 2)
    assert main(["train", "--data", str(data), "--hidden", "2", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    for given, words in ((run / "model.npz", "--data: is a saved rnnlab model, not data"),
                         (run / "checkpoint.npz", "--data: is a run's checkpoint, not data")):
        assert main(["train", "--data", str(given), "--quiet"]) == 2
        assert words in capsys.readouterr().err
    np.savez(data, x=np.zeros((8, 3, 0), np.float32), y=np.arange(8) % 2)
    assert main(["train", "--data", str(data), "--quiet"]) == 2
    assert "key 'x': expected at least one feature per step, got shape (8, 3, 0)" in capsys.readouterr().err
    np.savez(data, x=np.zeros((1, 3, 2), np.float32), y=np.array([0]))
    assert main(["train", "--data", str(data), "--quiet"]) == 2
    assert "--valid-split: 0.1 of 1 sequences leaves the validation split empty" in capsys.readouterr().err


def test_a_misspelt_key_in_a_data_file_is_said(tmp_path, capsys):
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((8, 3, 2), np.float32), y=np.arange(8) % 2, lenghts=np.full(8, 2))
    assert main(["train", "--data", str(data), "--hidden", "2", "--epochs", "1"]) == 0
    assert f"--data {str(data)!r}: key 'lenghts' not read (the keys read are 'x', 'y' and 'lengths')" in \
        capsys.readouterr().err


def test_a_resume_with_nothing_to_train_leaves_the_run_as_it_is(tmp_path, capsys):
    """--resume on a finished run whose epochs are reached prints its metrics and rewrites nothing (it
    rewrote model.npz with the smaller --epochs in its recorded config, and metrics.json's seconds)."""
    data, run = tmp_path / "d.npz", tmp_path / "run"
    np.savez(data, x=np.zeros((8, 3, 2), np.float32), y=np.arange(8) % 2)
    assert main(["train", "--data", str(data), "--hidden", "2", "--epochs", "2", "--out", str(run), "--quiet"]) == 0
    first = json.loads(capsys.readouterr().out)
    kept = {f: (run / f).read_bytes() for f in ("model.npz", "metrics.json", "checkpoint.npz", "metrics.jsonl")}
    for more in (["--epochs", "1"], ["--epochs", "2"], []):
        assert main(["train", "--out", str(run), "--resume", *more]) == 0
        assert json.loads(capsys.readouterr().out) == first
        assert {f: (run / f).read_bytes() for f in kept} == kept
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"]) == 0   # more: it trains
    assert json.loads(capsys.readouterr().out)["epochs"] == 3


def test_evaluate_and_predict_say_which_keys_they_do_not_read(tmp_path, capsys):
    data, run = tmp_path / "d.npz", tmp_path / "run"
    np.savez(data, x=np.zeros((20, 3, 2), np.float32), y=np.arange(20) % 2)
    assert main(["train", "--data", str(data), "--hidden", "2", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    np.savez(data, x=np.zeros((20, 3, 2), np.float32), y=np.arange(20) % 2, lenghts=np.full(20, 2))
    capsys.readouterr()
    for argv in (["evaluate", str(run / "model.npz"), "--data", str(data)],
                 ["predict", str(run / "model.npz"), "--data", str(data), "--out", str(tmp_path / "p.csv")]):
        assert main(argv) == 0
        assert f"rnnlab {argv[0]}: --data {str(data)!r}: key 'lenghts' not read" in capsys.readouterr().err


def test_a_data_flag_with_resume_gets_the_resume_message(tmp_path, capsys):
    """--valid with --resume on a --data run: the resume's message (it said --valid needs --data)."""
    data, run = tmp_path / "d.npz", tmp_path / "run"
    np.savez(data, x=np.zeros((20, 3, 2), np.float32), y=np.arange(20) % 2)
    assert main(["train", "--data", str(data), "--hidden", "2", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--valid", str(data)]) == 2
    assert "--valid: --resume continues with the checkpoint's configuration; only --epochs and --max-minutes may " \
           "change" in capsys.readouterr().err
