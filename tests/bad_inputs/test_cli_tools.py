"""Bad flags of ``rnnlab gradflow``, ``gradcheck``, ``sample``, ``evaluate``, ``summary``, ``convert``
and ``sst``: each exits with status 2 and one line on stderr that names the flag (or the layer spec)
as the user typed it, says what was expected, and shows no traceback. Flags are checked before any
file is read or any work starts, so the model paths below need not exist."""
import pytest

from rnnlab.cli import main

CASES = [
    # (argv, what the message names)
    ("gradflow --batch 0", "--batch"),
    ("gradflow --batch -5", "--batch"),
    ("gradflow --jobs 0", "--jobs"),
    ("gradcheck --eps 0", "--eps"),
    ("gradcheck --eps -1", "--eps"),
    ("gradcheck --eps nan", "--eps"),
    ("gradcheck --eps inf", "--eps"),
    ("gradcheck --eps 0.5", "--eps"),
    ("gradcheck --max-checks 0", "--max-checks"),
    ("gradcheck --max-checks -3", "--max-checks"),
    ("gradcheck --torch --eps 0", "--eps"),
    ("sample m.npz --temperature nan", "--temperature"),
    ("sample m.npz --temperature inf", "--temperature"),
    ("sample m.npz --temperature -1", "--temperature"),
    ("sample m.npz --length -1", "--length"),
    ("sample m.npz --seed -1", "--seed"),
    ("sample m.npz --prime=", "--prime"),
    ("evaluate m.npz --batch-size 0", "--batch-size"),
    ("evaluate m.npz --batch-size -1", "--batch-size"),
    ("evaluate m.npz --streams -1", "--streams"),
    ("summary lstm:0:5", "layer spec 'lstm:0:5'"),
    ("summary lstm:5:0", "layer spec 'lstm:5:0'"),
    ("summary lstm:5:x", "layer spec 'lstm:5:x'"),
    ("summary lstm:5", "layer spec 'lstm:5'"),
    ("summary conv:5:5", "layer spec 'conv:5:5'"),
    ("summary lstm:5:5:layers=0", "layer spec 'lstm:5:5:layers=0'"),
    ("summary lstm:5:5:layers=two", "layer spec 'lstm:5:5:layers=two'"),
    ("summary lstm:5:5:forget_bias=nan", "layer spec 'lstm:5:5:forget_bias=nan'"),
    ("summary lstm:5:5:forget_bias=inf", "layer spec 'lstm:5:5:forget_bias=inf'"),
    ("summary gru:5:5:reset_after=maybe", "layer spec 'gru:5:5:reset_after=maybe'"),
    ("summary rnn:5:5:nonlinearity=sigmoid", "layer spec 'rnn:5:5:nonlinearity=sigmoid'"),
    ("summary dense:5:5:gelu", "layer spec 'dense:5:5:gelu'"),
    ("summary lstm:5:5:colour=red", "layer spec 'lstm:5:5:colour=red'"),
    ("summary lstm:5:100000", "layer spec 'lstm:5:100000'"),
    ("summary lstm:5:5:layers=100000000", "layer spec 'lstm:5:5:layers=100000000'"),
    ("summary --mlp 5,0,3", "--mlp"),
    ("summary --mlp 5,x", "--mlp"),
    ("summary --mlp 5", "--mlp"),
    ("summary --mlp 100000,100000", "--mlp"),
    ("summary", "expected exactly one of"),
    ("convert m.npz m.xyz", "target"),
    ("convert missing.npz m.onnx", "source"),
    ("sst m.npz", "model"),
    ("sst m.npz a --html m.npz", "--html: expected a file name ending in .html"),
    ("sst m.npz a --svg run/train.log", "--svg: expected a file name ending in .svg"),
    ("sst m.npz a --html tree.svg", "--html: expected a file name ending in .html"),
    ("sst m.npz a --svg tree.html", "--svg: expected a file name ending in .svg"),
    ("sst m.npz --tree=", "--tree: expected a bracketed tree"),
    ("viz activations m.npz --text t.txt --html t.txt", "--html: expected a file name ending in .html"),
    ("viz activations m.npz --text t.txt --html m.npz", "--html: expected a file name ending in .html"),
]


@pytest.mark.parametrize("argv,names", CASES, ids=[c[0] for c in CASES])
def test_bad_flag_is_one_line_naming_it(argv, names, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv.split(" ")) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    command = argv.split(" ")[0]
    assert lines[0].startswith(f"rnnlab {command}: error: {names}"), lines[0]
    assert list(tmp_path.iterdir()) == []                      # nothing written


ARGPARSE = [
    ("gradcheck --eps abc", "--eps"),
    ("gradcheck --max-checks 1.5", "--max-checks"),
    ("gradflow --batch ten", "--batch"),
    ("sample m.npz --length 1e3", "--length"),
    ("sample m.npz --temperature hot", "--temperature"),
    ("evaluate m.npz --split dev", "--split"),
    ("evaluate m.npz --streams x", "--streams"),
    ("convert a.npz b.pt --head middle", "--head"),
]


@pytest.mark.parametrize("argv,flag", ARGPARSE, ids=[c[0] for c in ARGPARSE])
def test_unparseable_flag_is_refused_by_argparse_naming_it(argv, flag, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv.split(" "))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "Traceback" not in err, err


def test_gradcheck_eps_within_range_runs_and_passes(capsys):
    """The largest step accepted still measures the backward, not the difference's error, on a layer
    whose gradient is exact: the limit is not a refusal of working values."""
    from rnnlab import Dense
    from rnnlab.gradcheck import MAX_EPS, gradcheck
    report = gradcheck(Dense(4, 3, "identity", seed=0), eps=MAX_EPS)
    assert report.worst <= 1e-6


def test_convert_refuses_its_source_as_target_and_flags_for_other_formats(tmp_path, capsys):
    from rnnlab.cli import main
    from rnnlab.saving import save
    import rnnlab
    from rnnlab.models import LastStep, Sequential
    src = tmp_path / "m.npz"
    save(src, Sequential([rnnlab.LSTM(2, 3, seed=0), LastStep(), rnnlab.Dense(3, 1, seed=1)]))
    before = src.read_bytes()
    for argv, words in ([str(src), str(src)], "is the source file"), \
                       ([str(src), str(tmp_path / "x.npz"), "--head", "each"], "--head: applies to"), \
                       ([str(src), str(tmp_path / "x.npz"), "--masking", "lengths"], "--masking: applies to"):
        assert main(["convert", *argv]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    assert src.read_bytes() == before and not (tmp_path / "x.npz").exists()


def test_an_output_path_under_a_file_or_onto_a_folder_is_one_line(tmp_path, capsys):
    from rnnlab.cli import main
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    for out, words in ((tmp_path / "file" / "sub", "Not a directory"), ):
        assert main(["train", "--T", "5", "--train-size", "32", "--epochs", "1", "--quiet", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1 and "Traceback" not in err, err
    from rnnlab.saving import save
    import rnnlab
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save(tmp_path / "folder", rnnlab.LSTM(2, 3))
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        save(tmp_path / "file" / "m.npz", rnnlab.LSTM(2, 3))


def test_evaluate_scores_another_text_with_the_models_vocabulary(tmp_path, capsys):
    from rnnlab.cli import main
    text = "".join("abcde fgh\n"[(7 * i * i + 3 * i) % 10] for i in range(3000))
    (tmp_path / "t.txt").write_text(text)
    (tmp_path / "t2.txt").write_text(text.replace("e", "\u20ac"))
    out = str(tmp_path / "run")
    assert main(["train", "--task", "text", "--text", str(tmp_path / "t.txt"), "--hidden", "8", "--epochs", "1",
                 "--seq-len", "20", "--quiet", "--out", out]) == 0
    capsys.readouterr()
    assert main(["evaluate", out + "/model.npz", "--text", str(tmp_path / "t2.txt")]) == 2
    err = capsys.readouterr().err
    assert "t2.txt:1:" in err and "not in the model's vocabulary" in err, err


def test_convert_a_tf1_prefix_twice_and_refuses_a_target_that_is_one_of_its_files(tmp_path, capsys):
    """A TF1 checkpoint prefix names no file: the target is compared with its .index, .meta and
    .data shards, and converting onto an existing target replaces it."""
    import shutil
    from pathlib import Path
    fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "tf1"
    for f in fixtures.glob("cell_clip.ckpt.*"):
        shutil.copy(f, tmp_path / f.name)
    prefix, target = str(tmp_path / "cell_clip.ckpt"), str(tmp_path / "cc.npz")
    for _ in range(2):
        assert main(["convert", prefix, target]) == 0, capsys.readouterr().err
    assert "cell_clip.ckpt (tf1) -> " in capsys.readouterr().out
    index = (tmp_path / "cell_clip.ckpt.index").read_bytes()
    (tmp_path / "alias.npz").symlink_to(tmp_path / "cell_clip.ckpt.index")
    assert main(["convert", prefix, str(tmp_path / "alias.npz")]) == 2
    err = capsys.readouterr().err
    assert "target: " in err and "is the source file" in err and err.count("\n") == 1, err
    assert (tmp_path / "cell_clip.ckpt.index").read_bytes() == index


def test_convert_to_a_keras_target_that_is_a_folder_names_target(tmp_path, capsys):
    pytest.importorskip("h5py")
    import rnnlab
    from rnnlab.models import LastStep, Sequential
    from rnnlab.saving import save
    save(tmp_path / "m.npz", Sequential([rnnlab.LSTM(2, 3, seed=0), LastStep(), rnnlab.Dense(3, 1, seed=1)]))
    (tmp_path / "d.keras").mkdir()
    assert main(["convert", str(tmp_path / "m.npz"), str(tmp_path / "d.keras")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnlab convert: error: target: ") and "is a folder" in err and err.count("\n") == 1, err
    assert list((tmp_path / "d.keras").iterdir()) == []


ENVIRONMENT = [
    ("RNNLAB_ENGINE_THREADS", "0"),
    ("RNNLAB_ENGINE_THREADS", "-1"),
    ("RNNLAB_ENGINE_THREADS", "x"),
    ("RNNLAB_ENGINE", "fast"),
]


@pytest.mark.parametrize("name,value", ENVIRONMENT, ids=[f"{n}={v}" for n, v in ENVIRONMENT])
def test_bad_engine_variable_is_named_before_any_file(name, value, capsys, tmp_path, monkeypatch):
    """A bad RNNLAB_ENGINE or RNNLAB_ENGINE_THREADS is refused by name before the command reads a file
    (evaluate blamed its --data file for it: "--data 'd.npz': RNNLAB_ENGINE_THREADS: ...")."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    assert main(["evaluate", "m.npz", "--data", "d.npz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rnnlab evaluate: error: {name}: expected") and err.count("\n") == 1, err
