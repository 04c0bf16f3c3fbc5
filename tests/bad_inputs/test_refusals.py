"""Inputs that used to be accepted or blamed on the wrong argument: each is refused with a message
naming the argument as the user wrote it (the CLI flag, the file and key, the Python argument)."""
import numpy as np
import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.errors import FormatError
from rnnlab.models import LastStep, Sequential


def cli_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 4, 3)).astype("float32")
    np.savez(tmp_path / "good.npz", x=x, y=np.arange(30) % 2)
    np.savez(tmp_path / "onecls.npz", x=x, y=np.zeros(30, int))
    y = np.arange(30) % 2
    y[7] = 10**12
    np.savez(tmp_path / "bigid.npz", x=x, y=y)
    np.savez(tmp_path / "wide.npz", x=np.zeros((5, 4, 7), "float32"))
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "text.npz").write_text("x,y\n1,2\n")
    np.save(tmp_path / "single.npz", x)                       # np.save: a .npy under an .npz name
    (tmp_path / "single.npz.npy").rename(tmp_path / "single.npz")
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.mark.parametrize("name", ["empty.npz", "text.npz", "single.npz"])
def test_malformed_npz_is_a_format_error(name, files):
    from rnnlab.data.arrays import read_npz
    with pytest.raises(FormatError) as err:
        read_npz(files / name, "--data")
    assert str(files / name) in str(err.value) and "--data" in str(err.value)
    assert "expected an .npz file" in str(err.value) and "pickle" not in str(err.value)


def test_data_folder_says_folder(files, capsys):
    err = cli_error(["train", "--data", str(files / "folder"), "--quiet"], capsys)
    assert "--data" in err and "is a folder" in err


def test_one_class_data_refused(files, capsys):
    err = cli_error(["train", "--data", str(files / "onecls.npz"), "--quiet", "--out", str(files / "r")], capsys)
    assert "onecls.npz" in err and "key 'y'" in err and "2 classes" in err
    assert not (files / "r").exists()


def test_one_class_y_with_a_wide_head_trains_and_a_one_output_head_is_refused():
    x = np.random.default_rng(0).standard_normal((8, 4, 3)).astype("float32")
    model = Sequential([rnnlab.LSTM(3, 4, seed=0), LastStep(), rnnlab.Dense(4, 3)])
    assert rnnlab.fit(model, x, np.zeros(8, int), epochs=1, progress=False).kind == "classify"
    with pytest.raises(ValueError, match="^y: .*at least 2 outputs"):
        rnnlab.fit(Sequential([rnnlab.LSTM(3, 4), LastStep(), rnnlab.Dense(4, 1)]), x, np.zeros(8, int),
                   epochs=1, progress=False)


def test_huge_class_id_named_before_the_memory_check(files, capsys):
    err = cli_error(["train", "--data", str(files / "bigid.npz"), "--quiet"], capsys)
    assert "key 'y':" in err and "(7,)" in err and "--hidden" not in err


def test_valid_and_valid_split_together_refused(files, capsys):
    err = cli_error(["train", "--data", str(files / "good.npz"), "--valid", str(files / "good.npz"),
                     "--valid-split", "0.2", "--quiet", "--out", str(files / "r")], capsys)
    assert "--valid-split" in err and "not both" in err


def test_empty_out_refused(capsys):
    err = cli_error(["train", "--out", "", "--quiet"], capsys)
    assert "--out" in err


def test_resume_without_out_names_resume(capsys):
    assert "--resume: needs --out" in cli_error(["train", "--resume", "--task", "adding"], capsys)


def test_huge_batch_blames_batch_size(capsys):
    err = cli_error(["train", "--batch-size", "999999999", "--T", "5", "--train-size", "10", "--quiet"], capsys)
    assert "error: --batch-size:" in err


def test_seq_len_longer_than_text_names_the_flag(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("hello world " * 100)
    err = cli_error(["train", "--task", "text", "--text", str(tmp_path / "t.txt"), "--seq-len", "100000",
                     "--hidden", "4", "--quiet"], capsys)
    assert "error: --seq-len:" in err


def test_predict_wrong_feature_size_names_data(files, capsys):
    assert main(["train", "--data", str(files / "good.npz"), "--epochs", "1", "--hidden", "4", "--quiet",
                 "--out", str(files / "r")]) == 0
    capsys.readouterr()
    err = cli_error(["predict", str(files / "r" / "model.npz"), "--data", str(files / "wide.npz"),
                     "--out", str(files / "p.csv")], capsys)
    assert "error: --data" in err and "key 'x'" in err


def test_predict_csv_of_class_ids_has_a_header(files, capsys):
    assert main(["train", "--data", str(files / "good.npz"), "--epochs", "1", "--hidden", "4", "--quiet",
                 "--out", str(files / "r")]) == 0
    assert main(["predict", str(files / "r" / "model.npz"), "--data", str(files / "good.npz"),
                 "--out", str(files / "p.csv")]) == 0
    lines = (files / "p.csv").read_text().splitlines()
    assert lines[0] == "index,class" and len(lines) == 31 and lines[1].startswith("0,")
    assert main(["predict", str(files / "r" / "model.npz"), "--data", str(files / "good.npz"),
                 "--out", str(files / "p.npy")]) == 0
    assert np.load(files / "p.npy").shape == (30,)


def test_fit_bare_layer_float_labels_and_callbacks():
    x = np.random.default_rng(0).standard_normal((4, 5, 3)).astype("float32")
    y = np.array([0, 1, 0, 1])
    model = Sequential([rnnlab.LSTM(3, 8, seed=0), LastStep(), rnnlab.Dense(8, 2)])
    with pytest.raises(ValueError, match="^model: fit needs a model with a head"):
        rnnlab.fit(rnnlab.LSTM(3, 2), x, y, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"^y: float values are read as regression.*astype\(int\)"):
        rnnlab.fit(model, x, y.astype(float), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"^callbacks\[0\]"):
        rnnlab.fit(model, x, y, callbacks=[1], epochs=1, progress=False)


def test_sequential_checks_adjacent_sizes():
    with pytest.raises(ValueError, match=r"^layers\[2\]: .* size 4, but layers\[0\] gives 8"):
        Sequential([rnnlab.LSTM(3, 8), LastStep(), rnnlab.Dense(4, 2)])
    Sequential([rnnlab.LSTM(3, 8, proj_size=4, bidirectional=True), LastStep(), rnnlab.Dense(8, 2)])


def test_proj_size_below_hidden(capsys):
    for p in (4, 5):
        with pytest.raises(ValueError, match="^proj_size: .*below hidden_size 4"):
            rnnlab.LSTM(3, 4, proj_size=p)
    assert rnnlab.LSTM(3, 4, proj_size=3).proj_size == 3
    assert "--proj-size" in cli_error(["train", "--hidden", "8", "--proj-size", "8", "--quiet"], capsys)


@pytest.mark.parametrize("option,value", [("layer_norm", True), ("input_forget", True), ("gate_clip", 1.0),
                                          ("zoneout", 0.1)])
def test_tf1_export_names_the_lstm_option_lstmcell_lacks(option, value, tmp_path, capsys):
    from rnnlab.interop import tf1
    from rnnlab.saving import save
    layer = rnnlab.LSTM(3, 4, peepholes=True, proj_size=2, cell_clip=1.0, seed=0, **{option: value})
    for call in (lambda: tf1.save_checkpoint(layer, tmp_path / "m.ckpt"), lambda: tf1.cell_arguments(layer),
                 lambda: tf1.to_variables(Sequential([layer, LastStep(), rnnlab.Dense(2, 2)]))):
        with pytest.raises(ValueError, match=rf"^layer\.{option}: TF1's LSTMCell has no counterpart of the LSTM "
                                             rf"option {option}, got {option}="):
            call()
    assert list(tmp_path.iterdir()) == []
    save(tmp_path / "m.npz", layer)
    assert f"layer.{option}: TF1's LSTMCell" in cli_error(["convert", str(tmp_path / "m.npz"),
                                                           str(tmp_path / "m.ckpt")], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]            # no partial checkpoint


def test_tf1_checkpoint_with_proj_clip_or_unequal_clips_is_refused_naming_it(tmp_path, capsys):
    import os
    fixtures = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "tf1")
    err = cli_error(["convert", os.path.join(fixtures, "proj_clip.ckpt"), str(tmp_path / "p.npz")], capsys)
    assert "proj_clip.ckpt.meta: cell 'rnn/lstm_cell': LSTMCell(proj_clip=0.3)" in err
    err = cli_error(["convert", os.path.join(fixtures, "gru.ckpt"), str(tmp_path / "g.npz"), "--cell-clip", "1"],
                    capsys)
    assert "--cell-clip: " in err and "GRU cells, which have no cell clip" in err
    err = cli_error(["convert", os.path.join(fixtures, "variants.ckpt"), str(tmp_path / "v.npz"), "--cell-clip",
                     "-1"], capsys)
    assert "--cell-clip: " in err
    assert list(tmp_path.iterdir()) == []
