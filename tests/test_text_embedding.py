"""rnnlab train --task text --embed-dim E: an Embedding reads character ids in place of one-hot vectors;
the model trains, resumes, evaluates and samples like the one-hot model."""
import json

import numpy as np

from rnnlab.cli import main
from rnnlab.data import load_task
from rnnlab.layers import Embedding, LSTM
from rnnlab.saving import load


def test_text_task_gives_ids_when_asked(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcab" * 40)
    one_hot = next(load_task("text", text_path=corpus, seq_len=8).train.batches(4, 0, 0))
    ids = next(load_task("text", text_path=corpus, seq_len=8, as_ids=True).train.batches(4, 0, 0))
    assert one_hot.x.shape == (4, 8, 3) and ids.x.shape == (4, 8) and ids.x.dtype.kind == "i"
    np.testing.assert_array_equal(one_hot.x.argmax(-1), ids.x)
    assert load_task("text", text_path=corpus, seq_len=8, as_ids=True).meta["inputs"] == "ids"


def test_train_sample_and_evaluate_with_embed_dim(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("to be or not to be " * 30)
    out = tmp_path / "char"
    assert main(["train", "--task", "text", "--text", str(corpus), "--seq-len", "16", "--hidden", "8",
                 "--embed-dim", "5", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    model = load(out / "model.npz")
    assert isinstance(model.layers[0], Embedding) and model.layers[0].embedding_dim == 5
    assert isinstance(model.layers[1], LSTM) and model.layers[1].input_size == 5
    capsys.readouterr()
    assert main(["sample", str(out / "model.npz"), "--prime", "to ", "--length", "40"]) == 0
    text = capsys.readouterr().out.rstrip("\n")
    assert text.startswith("to ") and len(text) == 43 and set(text) <= set("tobe rn")
    metrics = tmp_path / "m.json"
    assert main(["evaluate", str(out / "model.npz"), "--metrics-json", str(metrics)]) == 0
    assert np.isfinite(json.loads(metrics.read_text())["test_loss"])
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 0
    assert main(["train", "--task", "adding", "--embed-dim", "5", "--out", str(tmp_path / "x")]) == 2
    assert "--embed-dim" in capsys.readouterr().err
