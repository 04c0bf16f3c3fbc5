"""The LSTM variant flags of ``rnnlab train``: a run builds, trains and saves the layer with them; a
flag given to another model, or a bad value, fails naming the flag as typed."""
import pytest

import rnnlab.saving
from rnnlab.cli import main


def test_train_with_lstm_variant_flags(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--task", "adding", "--T", "8", "--train-size", "128", "--epochs", "1", "--hidden", "6",
                 "--model", "lstm", "--layers", "2", "--proj-size", "3", "--peepholes", "--layer-norm",
                 "--cell-clip", "3", "--gate-clip", "5", "--input-forget", "--out", str(out), "--quiet"]) == 0
    model = rnnlab.saving.load(out / "model.npz")
    lstm = model.layers[0]
    assert (lstm.proj_size, lstm.peepholes, lstm.layer_norm, lstm.cell_clip, lstm.gate_clip, lstm.input_forget) == \
        (3, True, True, 3.0, 5.0, True)
    assert lstm.params["l1.W"].shape == (3, 24) and model.layers[-1].params["W"].shape == (3, 1)


@pytest.mark.parametrize("argv, message", [
    (["--model", "gru", "--peepholes"], "--peepholes: an LSTM option"),
    (["--model", "rnn", "--proj-size", "2"], "--proj-size: an LSTM option"),
    (["--model", "lstm", "--cell-clip", "-1"], "--cell-clip"),
    (["--model", "lstm", "--proj-size", "-2"], "--proj-size")])
def test_bad_variant_flags_name_the_flag(argv, message, tmp_path, capsys):
    assert main(["train", "--task", "adding", "--epochs", "1", "--out", str(tmp_path / "r")] + argv) == 2
    assert message in capsys.readouterr().err
