"""The rnnlab command's argument errors are one line naming the command and the flag (argparse's
own: a value of the wrong type, a choice it does not offer, a flag the command does not have), with
exit status 2 and nothing on stdout, like the errors the commands raise themselves."""
import pytest

from rnnlab.cli import main


@pytest.mark.parametrize("argv,start,names", [
    (["train", "--hidden", "abc"], "rnnlab train: error: argument --hidden: invalid int value: 'abc'", "--hidden"),
    (["train", "--lr", "fast"], "rnnlab train: error: argument --lr: invalid float value: 'fast'", "--lr"),
    (["train", "--task", "nosuchtask"], "rnnlab train: error: argument --task: invalid choice: 'nosuchtask'",
     "--task"),
    (["info", "--bogus"], "rnnlab info: error: unrecognized arguments: --bogus", "--bogus"),
    (["summary", "lstm:2:3", "--bogus"], "rnnlab summary: error: unrecognized arguments: --bogus", "--bogus"),
    (["nosuchcommand"], "rnnlab: error: argument COMMAND: invalid choice: 'nosuchcommand'", "nosuchcommand"),
    (["--bogus", "info"], "rnnlab: error: unrecognized arguments: --bogus", "--bogus"),
    (["evaluate", "m.npz", "--metrics", "f.json"], "rnnlab evaluate: error: unrecognized arguments: --metrics f.json",
     "--metrics"),                                               # not taken as --metrics-json
    (["train", "--hid", "4"], "rnnlab train: error: unrecognized arguments: --hid 4", "--hid"),
    (["data", "fetch", "fashion-mnist", "--bogus"], "rnnlab data fetch: error: unrecognized arguments: --bogus",
     "--bogus"),
])
def test_argument_errors_are_one_line(argv, start, names, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    assert exit_.value.code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(start) and names in lines[0], lines[0]
    assert lines[0].endswith(f"see {start.split(':')[0]} --help")


def test_python_m_rnnlab_runs_the_command():
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "rnnlab", "--bogus"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("rnnlab: error: unrecognized arguments: --bogus")


@pytest.mark.parametrize("argv,line", [
    (["train", "--data", "", "--epochs", "1"], "rnnlab train: error: --data: expected a file path, got ''"),
    (["train", "--csv", "", "--target", "v"], "rnnlab train: error: --csv: expected a file path, got ''"),
    (["train", "--text-classes", " "], "rnnlab train: error: --text-classes: expected a folder path, got ' '"),
    (["predict", "m.npz", "--data", "", "--out", "p.csv"], "rnnlab predict: error: --data: expected a path, got ''"),
])
def test_an_empty_path_is_named_by_its_flag(argv, line, capsys):
    """An empty path flag is refused by name (--data '' read the current folder: a raw IsADirectoryError;
    predict said no source was given; --csv '' blamed --target)."""
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == line
