"""Bad flags of ``rnnlab train``, ``rnnlab compare`` and ``rnnlab train --task sst``: each one ends in
exit status 2 and one error line, without a traceback, that names the flag as the user typed it.
Every case fails before any training or data loading starts."""
import pytest

from rnnlab.cli import main

SEQ = ["train", "--task", "adding", "--quiet"]
SST = ["train", "--task", "sst", "--quiet"]
CMP = ["compare", "--epochs", "1", "--seeds", "1", "--jobs", "1"]

# (extra arguments, the flag the message must name)
TRAIN_CASES = [
    *[(["--lr", v], "--lr") for v in ("inf", "-inf", "nan", "0", "-1", "1e400", "abc")],
    *[(["--optimizer", "sgd", "--momentum", v], "--momentum") for v in ("nan", "inf", "-0.1", "1", "1.5")],
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum"),
    (["--momentum", "0.5"], "--momentum"),                      # the default optimizer is Adam
    *[(["--weight-decay", v], "--weight-decay") for v in ("inf", "nan", "-1")],
    *[(["--clip", v], "--clip") for v in ("inf", "nan", "-1")],
    *[(["--forget-bias", v], "--forget-bias") for v in ("nan", "inf", "-inf")],
    *[(["--max-minutes", v], "--max-minutes") for v in ("nan", "inf", "-1")],
    *[(["--dropout", v], "--dropout") for v in ("nan", "inf", "1", "-0.1", "1.5")],
    *[(["--hidden", v], "--hidden") for v in ("0", "-5", "1.5", "abc", "100000")],
    *[(["--layers", v], "--layers") for v in ("0", "-1")],
    *[(["--epochs", v], "--epochs") for v in ("0", "-3", "2.5")],
    *[(["--batch-size", v], "--batch-size") for v in ("0", "-1", "2.5")],
    *[(["--T", v], "--T") for v in ("0", "-5", "1000000000", "1e9")],
    *[(["--train-size", v], "--train-size") for v in ("0", "-5", "x")],
    (["--patience", "-1"], "--patience"),
    (["--checkpoint-every", "-1"], "--checkpoint-every"),
    (["--seed", "-1"], "--seed"),
    (["--model", "transformer"], "--model"),
    (["--optimizer", "lbfgs"], "--optimizer"),
    (["--schedule", "linear"], "--schedule"),
    (["--select", "f1"], "--select"),
    (["--init", "he"], "--init"),
    # flags the task would ignore
    (["--seq-len", "50"], "--seq-len"),
    (["--random-offset"], "--random-offset"),
    (["--text", "some.txt"], "--text"),
    (["--data-dir", "data"], "--data-dir"),
    (["--l2", "0.1"], "--l2"),
    (["--binary"], "--binary"),
    (["--lowercase"], "--lowercase"),
    (["--embed-dim", "8"], "--embed-dim"),
    (["--emb-lr", "0.1"], "--emb-lr"),
    (["--tree-schedule", "node"], "--tree-schedule"),
    (["--max-train", "5"], "--max-train"),
    (["--nonlinearity", "identity"], "--nonlinearity"),
]
TEXT_CASES = [
    *[(["--seq-len", v], "--seq-len") for v in ("0", "-1")],
    (["--T", "50"], "--T"),
    (["--train-size", "50"], "--train-size"),
    (["--seq-len", "100000000", "--batch-size", "100000"], "--seq-len"),
]
RESUME_CASES = [
    (["--resume"], "--out"),
    (["--resume", "--out", "{tmp}", "--overwrite"], "--overwrite"),
    (["--resume", "--out", "{tmp}", "--lr", "0.1"], "--lr"),
    (["--resume", "--out", "{tmp}", "--hidden", "8"], "--hidden"),
    (["--resume", "--out", "{tmp}", "--task", "copy"], "--task"),
    (["--resume", "--out", "{tmp}", "--epochs", "0"], "--epochs"),
    (["--resume", "--out", "{tmp}", "--max-minutes", "nan"], "--max-minutes"),
]
SST_CASES = [
    # sizes whose parameters alone exceed any machine's memory: refused before anything is allocated
    (["--model", "treelstm", "--hidden", "100000"], "--hidden"),
    (["--model", "recursive", "--hidden", "10000000"], "--hidden"),
    (["--model", "childsum", "--embed-dim", "1000000000"], "--embed-dim"),
    *[(["--max-train", v], "--max-train") for v in ("0", "-5")],
    *[([f, "0"], f) for f in ("--hidden", "--epochs", "--batch-size", "--embed-dim")],
    *[(["--lr", v], "--lr") for v in ("inf", "nan", "0", "-1")],
    *[(["--emb-lr", v], "--emb-lr") for v in ("inf", "0")],
    *[(["--l2", v], "--l2") for v in ("-1", "inf", "nan")],
    *[(["--clip", v], "--clip") for v in ("-1", "nan")],
    *[(["--dropout", v], "--dropout") for v in ("1", "nan", "-0.5")],
    *[(["--max-minutes", v], "--max-minutes") for v in ("nan", "-1")],
    (["--seed", "-1"], "--seed"),
    (["--layers", "2"], "--layers"),
    (["--model", "lstm"], "--model"),
    (["--tree-schedule", "tree"], "--tree-schedule"),
    *[(["--model", "childsum-recursive", "--nonlinearity", v], "--nonlinearity") for v in ("relu", "Tanh", "")],
    *[(["--model", m, "--nonlinearity", "identity"], "--nonlinearity") for m in ("treelstm", "childsum")],
    (["--nonlinearity", "identity"], "--nonlinearity"),                  # the default model is the Tree-LSTM
    (["--patience", "-1"], "--patience"),
    # flags the tree trainer does not read
    *[([f, v], f) for f, v in (("--T", "5"), ("--train-size", "5"), ("--momentum", "0.9"),
                              ("--weight-decay", "0.1"), ("--schedule", "cosine"),
                              ("--forget-bias", "1"), ("--select", "accuracy"), ("--seq-len", "5"),
                              ("--text", "a.txt"), ("--checkpoint-every", "5"), ("--init", "torch"))],
    (["--random-offset"], "--random-offset"),
    (["--bidirectional"], "--bidirectional"),
]
COMPARE_CASES = [
    *[(["--models", v], "--models") for v in (",", "", " ", "lstm,lstm", "lstm,transformer", "LSTM", "lstm,,gru")],
    *[(["--seeds", v], "--seeds") for v in ("0", "-1", "1001", "x")],
    *[(["--jobs", v], "--jobs") for v in ("0", "-2", "1000")],
    *[(["--lr", v], "--lr") for v in ("inf", "nan", "0")],
    (["--hidden", "0"], "--hidden"),
    (["--hidden", "100000"], "--hidden"),
    (["--T", "0"], "--T"),
    (["--T", "1000000000"], "--T"),
    (["--train-size", "0"], "--train-size"),
    (["--epochs", "0"], "--epochs"),
    (["--dropout", "1"], "--dropout"),
    (["--clip", "nan"], "--clip"),
    (["--weight-decay", "-1"], "--weight-decay"),
    (["--forget-bias", "inf"], "--forget-bias"),
    (["--max-minutes", "nan"], "--max-minutes"),
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum"),
    (["--task", "sst"], "--task"),
]


def fails_naming(argv, flag, capsys):
    """Run the command; it must exit with 2 and print one error line naming ``flag``, no traceback."""
    try:
        code = main(argv)
    except SystemExit as exit:           # argparse: a value of the wrong type or not among the choices
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith(f"rnnlab {argv[0]}: error:")]
    assert len(errors) == 1, err
    assert flag in errors[0], errors[0]
    if not err.startswith("usage:"):      # our own checks print the error line and nothing else
        assert err.count("\n") == 1, err
    return errors[0]


@pytest.mark.parametrize("extra, flag", TRAIN_CASES, ids=[" ".join(c[0]) for c in TRAIN_CASES])
def test_train_bad_flag(extra, flag, tmp_path, capsys):
    fails_naming(SEQ + extra + ["--out", str(tmp_path / "run")], flag, capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra, flag", TEXT_CASES, ids=[" ".join(c[0]) for c in TEXT_CASES])
def test_train_text_bad_flag(extra, flag, tmp_path, capsys):
    fails_naming(["train", "--task", "text", "--quiet", "--out", str(tmp_path / "run")] + extra, flag, capsys)


@pytest.mark.parametrize("extra, flag", RESUME_CASES, ids=[" ".join(c[0]) for c in RESUME_CASES])
def test_train_resume_bad_flag(extra, flag, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(SEQ + ["--T", "5", "--train-size", "32", "--hidden", "4", "--epochs", "1", "--batch-size", "32",
                       "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    fails_naming(["train", "--quiet"] + [a.replace("{tmp}", str(out)) for a in extra], flag, capsys)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before          # the run is untouched


@pytest.mark.parametrize("extra, flag", SST_CASES, ids=[" ".join(c[0]) for c in SST_CASES])
def test_sst_bad_flag(extra, flag, tmp_path, capsys):
    fails_naming(SST + extra + ["--out", str(tmp_path / "run"), "--data-dir", str(tmp_path / "none")], flag, capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra, flag", COMPARE_CASES, ids=[" ".join(c[0]) or "empty" for c in COMPARE_CASES])
def test_compare_bad_flag(extra, flag, tmp_path, capsys):
    fails_naming(CMP + extra + ["--out", str(tmp_path / "cmp")], flag, capsys)
    assert not (tmp_path / "cmp").exists()


def test_the_corpus_has_at_least_100_cases():
    assert len(TRAIN_CASES + TEXT_CASES + RESUME_CASES + SST_CASES + COMPARE_CASES) >= 100
