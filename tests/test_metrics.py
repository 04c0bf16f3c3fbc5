"""Split metrics: ``evaluate_stream`` (state carried across the chunks of a text) against the same
text read by one forward pass, and against ``evaluate`` when nothing is carried."""
import numpy as np
import pytest

from rnnlab.data import text
from rnnlab.losses import softmax_cross_entropy
from rnnlab.metrics import evaluate, evaluate_stream
from rnnlab.train import Config, build_model


@pytest.fixture(scope="module")
def char_task(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "t.txt"
    rng = np.random.default_rng(0)
    path.write_text("".join(rng.choice(list("abcde \n"), size=2000)))
    return text.task(path, seq_len=7)


@pytest.mark.parametrize("layers,dropout", [(2, 0.0), (2, 0.3)])
def test_one_stream_is_the_whole_text_in_one_pass(char_task, layers, dropout):
    cfg = Config(task="text", model="lstm", hidden=6, layers=layers, dropout=dropout, dtype="float64")
    model = build_model(char_task, cfg)
    valid = char_task.valid                                   # 28 chunks of 7 characters
    got = evaluate_stream(model, valid, char_task.kind, streams=1)
    x = valid.take(np.arange(len(valid)))
    out, _ = model.forward(x.x.reshape(1, -1, x.x.shape[-1]))  # one sequence of all the characters
    loss, _ = softmax_cross_entropy(out, x.y.reshape(1, -1))
    assert got["loss"] == pytest.approx(loss, rel=1e-12)
    cold = evaluate(model, valid, char_task.kind)["loss"]
    assert abs(cold - got["loss"]) > 1e-6                     # carrying the state changes the numbers


@pytest.mark.parametrize("streams", [3, 5])
def test_streams_read_contiguous_runs_with_a_short_last_one(char_task, streams):
    cfg = Config(task="text", model="gru", hidden=5, dtype="float64")
    model = build_model(char_task, cfg)
    valid, n = char_task.valid, len(char_task.valid)
    per = -(-n // streams)
    total = count = 0.0
    for start in range(0, n, per):                            # each run alone, as one long sequence
        x = valid.take(np.arange(start, min(start + per, n)))
        out, _ = model.forward(x.x.reshape(1, -1, x.x.shape[-1]))
        total += softmax_cross_entropy(out, x.y.reshape(1, -1))[0] * x.y.size
        count += x.y.size
    assert evaluate_stream(model, valid, char_task.kind, streams)["loss"] == pytest.approx(total / count, rel=1e-12)
    every = evaluate_stream(model, valid, char_task.kind, streams=n)       # runs of one chunk: nothing carried
    assert every["loss"] == pytest.approx(evaluate(model, valid, char_task.kind)["loss"], rel=1e-12)


def test_stream_bad_input(char_task):
    model = build_model(char_task, Config(task="text", hidden=4))
    with pytest.raises(ValueError, match="streams: expected a positive integer, got 0"):
        evaluate_stream(model, char_task.valid, char_task.kind, 0)
    with pytest.raises(ValueError, match="kind: .*per-step task.*'classify'"):
        evaluate_stream(model, char_task.valid, "classify", 2)


def test_empty_split_is_a_clear_error(char_task):
    model = build_model(char_task, Config(task="text", hidden=4))
    valid = char_task.valid
    empty = type(valid)(valid.x[:0], valid.y[:0], encode=getattr(valid, "encode", None))
    for evaluate_split in (lambda: evaluate(model, empty, char_task.kind),
                           lambda: evaluate_stream(model, empty, char_task.kind, 2)):
        with pytest.raises(ValueError, match="dataset: expected at least one sequence to evaluate, got none"):
            evaluate_split()
