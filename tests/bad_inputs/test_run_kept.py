"""A refused ``rnnlab train`` keeps what was there: with --overwrite the previous run stays whole when
the new one's data, memory check or model fails, and a new --out folder is not left behind holding
only the lock."""
import numpy as np
import pytest

from rnnlab.cli import main

FAST = ["--hidden", "4", "--epochs", "1", "--batch-size", "16", "--quiet"]


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5, 3)).astype("float32")
    np.savez(tmp_path / "good.npz", x=x, y=(x[:, :, 0].sum(1) > 0).astype(int))
    x[3, 2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.zeros(40, int))
    with open(tmp_path / "sales.csv", "w") as f:
        f.write("day,sales\n" + "".join(f"{i},{np.sin(i / 5):.3f}\n" for i in range(200)))
    return tmp_path


def bad_args(d):
    return {"nan data": ["--data", str(d / "nan.npz")],
            "memory": ["--data", str(d / "good.npz"), "--hidden", "100000"],
            "csv target": ["--csv", str(d / "sales.csv"), "--target", "nosuch"]}


@pytest.mark.parametrize("case", ["nan data", "memory", "csv target"])
def test_overwrite_refused_keeps_the_previous_run(case, data, capsys):
    out = data / "run"
    assert main(["train", "--data", str(data / "good.npz"), *FAST, "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "model.npz" in before
    capsys.readouterr()
    argv = ["train", *FAST, *bad_args(data)[case], "--out", str(out), "--overwrite"]
    assert main(argv) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("case", ["nan data", "memory", "csv target"])
def test_refused_run_leaves_no_new_folder(case, data, capsys):
    out = data / "new"
    assert main(["train", *FAST, *bad_args(data)[case], "--out", str(out)]) == 2
    assert not out.exists()


def test_overwrite_that_starts_replaces_the_run(data, capsys):
    out = data / "run"
    assert main(["train", "--data", str(data / "good.npz"), *FAST, "--out", str(out)]) == 0
    (out / "metrics.jsonl").write_text('{"epoch": 99}\n')
    assert main(["train", "--data", str(data / "good.npz"), *FAST, "--out", str(out), "--overwrite"]) == 0
    assert '"epoch": 99' not in (out / "metrics.jsonl").read_text()
