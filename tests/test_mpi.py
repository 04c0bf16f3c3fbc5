"""Data-parallel training over MPI (rnnlab.training.distributed) equals one process.

The MPI runs are ``mpiexec -n N`` subprocesses (the mpiexec beside this Python first: the ``mpich``
wheel's); 3 processes on this machine's 2 cores run oversubscribed. Parameters after several steps
equal those of one process with the same global batch to rounding: each rank sums the gradients of
its rows, then the Allreduce sums the ranks, so the floating-point additions are grouped differently
(float64 relative difference <= 1e-12, float32 <= 1e-5), never bit for bit.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import _require, rel_err
from rnnlab.data.dataset import Batch
from rnnlab.layers import Dropout
from rnnlab.train import Config, read_checkpoint, train
from rnnlab.training.distributed import RowsOfDraws, Shard, World, launched_size, shard_rows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "mpi_worker.py")
SMALL = dict(task="adding", T=8, train_size=40, batch_size=10, hidden=6, epochs=2, dtype="float64")


def mpiexec() -> str:
    """The mpiexec of this Python's environment (the mpich wheel), else the system's; a skip (a failure
    in CI, RNNLAB_REQUIRE_TORCH=1) when mpi4py or mpiexec is missing."""
    _require("mpi4py")
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = here if os.access(here, os.X_OK) else shutil.which("mpiexec")
    if not found:
        if os.environ.get("RNNLAB_REQUIRE_TORCH") == "1":
            pytest.fail("mpiexec not found beside the Python or on PATH (pip install 'rnnlab[mpi]')")
        pytest.skip("mpiexec not found beside the Python or on PATH (pip install 'rnnlab[mpi]')")
    return found


def env(tag: str = "") -> dict:
    """The ranks' environment: this checkout importable, one engine thread each, no launcher variables
    inherited from a surrounding MPI job."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_", "MV2_", "HYDRA_"))}
    e.update(PYTHONPATH=ROOT + os.pathsep + e.get("PYTHONPATH", ""), RNNLAB_THREADS="1", RNNLAB_TEST_JOB=tag)
    return e


def run_ranks(n: int, job: dict, tmp_path, name: str, timeout: float = 60) -> subprocess.CompletedProcess:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(job))
    return subprocess.run([mpiexec(), "-n", str(n), sys.executable, WORKER, str(path)], env=env(str(tmp_path)),
                          capture_output=True, text=True, timeout=timeout)


def parallel_params(n: int, config: dict, tmp_path, name: str, **job) -> dict:
    out = tmp_path / f"{name}.npz"
    done = run_ranks(n, {"config": config, "params": str(out), **job}, tmp_path, name)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as f:
        assert int(f["size"]) == n
        return {k: f[k] for k in f.files}


def assert_close(params: dict, reference: dict, tol: float) -> None:
    for k, v in reference.items():
        assert rel_err(params[f"param/{k}"], v) <= tol, (k, rel_err(params[f"param/{k}"], v))


def test_launched_size_reads_the_launchers_variables():
    assert launched_size({}) == 1
    assert launched_size({"PMI_SIZE": "4", "PMI_RANK": "1"}) == 4                  # MPICH, Intel MPI
    assert launched_size({"OMPI_COMM_WORLD_SIZE": "3"}) == 3                        # Open MPI
    assert launched_size({"PMI_SIZE": ""}) == 1


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11])
def test_shards_cover_every_row_once(n):
    batch = Batch(np.arange(n * 2.0).reshape(n, 2, 1), np.arange(n), np.full(n, 2), np.ones((n, 2), np.float32))
    for size in (1, 2, 3, 4):
        parts = []
        for rank in range(size):
            w = World()
            w.rank, w.size = rank, size
            parts.append(w.shard(batch))
        counted = [p for p in parts if p.counted]
        np.testing.assert_array_equal(np.concatenate([p.batch.x for p in counted]), batch.x)
        np.testing.assert_array_equal(np.concatenate([p.batch.mask for p in counted]), batch.mask)
        sizes = [p.hi - p.lo for p in counted]
        assert max(sizes) - min(sizes) <= 1
        assert len(counted) == min(n, size) and all(p.rows == n for p in parts)
        for p in parts:
            if not p.counted:                    # fewer rows than ranks: row 0, weight 0
                assert (p.lo, p.hi) == (0, 1) and len(p.batch.x) == 1


def test_each_rank_draws_its_rows_of_the_full_batch_mask():
    x = np.ones((7, 5, 4))
    whole = Dropout(0.4, seed=3).train()
    expected, _ = whole.forward(x)
    for size in (2, 3):
        for rank in range(size):
            lo, hi = shard_rows(7, rank, size)
            layer = Dropout(0.4, seed=3).train()

            class Model:
                layers = [layer]
            with Shard(None, 7, lo, hi).dropout_draws(Model):
                assert isinstance(layer.rng, RowsOfDraws)
                y, _ = layer.forward(x[lo:hi])
            np.testing.assert_array_equal(y, expected[lo:hi])
            assert layer.rng.bit_generator.state == whole.rng.bit_generator.state   # the streams stay in step


def test_one_process_never_imports_mpi4py(tmp_path):
    code = ("import sys; from rnnlab.train import Config, train; "
            "train(Config(task='adding', T=5, train_size=8, batch_size=4, hidden=3, epochs=1), echo=lambda *a: 0); "
            "assert 'mpi4py' not in sys.modules, 'mpi4py imported'")
    done = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


CASES = {   # name: (processes, Config fields)
    "lstm": (2, dict(SMALL, model="lstm")),
    "gru-3-ranks": (3, dict(SMALL, model="gru")),
    "bidirectional-dropout": (2, dict(SMALL, model="lstm", layers=2, bidirectional=True, dropout=0.3)),
    # 3 ranks over batches of 10 and a last batch of 1 row (two ranks hold none of it)
    "bidirectional-dropout-3-ranks": (3, dict(SMALL, model="gru", layers=2, bidirectional=True, dropout=0.3,
                                               train_size=41, optimizer="sgd", momentum=0.9, clip=0.5)),
    # per-step targets with lengths and masks (the Reber grammar: multilabel, padded batches)
    "reber-masked-steps": (2, dict(task="reber", train_size=30, batch_size=10, hidden=5, epochs=2, model="lstm",
                                   layers=2, dropout=0.2, dtype="float64")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_data_parallel_training_equals_one_process(tmp_path, name):
    n, config = CASES[name]
    alone = train(Config(**config), progress=False, echo=lambda *a: None)
    together = parallel_params(n, config, tmp_path, name)
    assert_close(together, alone["model"].params, 1e-12)
    for split in ("valid", "test"):                  # metrics reduced over the ranks
        for k, v in alone[split].items():
            assert abs(float(together[f"{split}/{k}"]) - v) <= 1e-12 * max(1, abs(v)), (split, k)


def test_the_command_line_runs_data_parallel_in_float32_and_prints_once(tmp_path):
    args = ["train", "--task", "adding", "--T", "8", "--train-size", "48", "--batch-size", "12", "--hidden", "8",
            "--layers", "2", "--dropout", "0.25", "--model", "gru", "--epochs", "2", "--quiet"]
    done = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "rnnlab.cli", *args, "--out",
                           str(tmp_path / "run")], env=env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(done.stdout.strip().splitlines()) == 1            # rank 0's final metrics line only
    header, arrays = read_checkpoint(tmp_path / "run" / "checkpoint.npz")
    cfg = Config.from_dict(header["config"])
    alone = train(cfg, progress=False, echo=lambda *a: None)
    for k, v in alone["model"].params.items():
        assert rel_err(arrays[f"param/{k}"], v) <= 1e-5, k
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [4, 8]    # written once, by rank 0


def test_resume_with_another_number_of_processes(tmp_path):
    config = dict(SMALL, model="lstm", layers=2, dropout=0.3, epochs=3, train_size=30)
    out = str(tmp_path / "run")
    part = run_ranks(2, {"config": config, "out": out, "stop_after_steps": 4}, tmp_path, "part")   # mid-epoch 2
    assert part.returncode == 0, part.stderr[-3000:]
    assert json.loads(json.dumps(read_checkpoint(os.path.join(out, "checkpoint.npz"))[0]["state"]))["step"] == 4
    rest = parallel_params(3, config, tmp_path, "rest", out=out, resume=True)
    alone = train(Config(**config), progress=False, echo=lambda *a: None)
    assert int(rest["step"]) == alone["steps"] == 9
    assert_close(rest, alone["model"].params, 1e-12)


def test_an_exception_on_one_rank_ends_the_job_naming_it(tmp_path):
    config = dict(SMALL, model="gru", checkpoint_every=1, epochs=1)
    out = str(tmp_path / "run")
    started = time.monotonic()
    done = run_ranks(2, {"config": config, "out": out, "fail": {"rank": 1, "step": 3}}, tmp_path, "fail")
    assert time.monotonic() - started < 30
    assert done.returncode != 0
    assert "error on rank 1 of 2 processes: RuntimeError: injected failure in backward call 3" in done.stderr
    header, _ = read_checkpoint(os.path.join(out, "checkpoint.npz"))      # whole: step 2's, or step 1's when the
    assert header["state"]["step"] in (1, 2)                             # abort came while rank 0 wrote step 2's
    wait_until_released(out)
    resumed = train(Config(**config), out=out, resume=True, progress=False, echo=lambda *a: None)
    alone = train(Config(**config), progress=False, echo=lambda *a: None)
    for k, v in alone["model"].params.items():
        assert rel_err(resumed["model"].params[k], v) <= 1e-12, k


def wait_until_released(out, seconds: float = 20) -> None:
    """Wait for the run folder's lock holder (rank 0) to be gone: mpiexec may return a moment before
    the launcher's SIGKILL has ended every rank of an aborted job."""
    holder = os.path.join(out, ".lock.holder")
    deadline = time.monotonic() + seconds
    while os.path.exists(holder):
        try:
            pid = json.loads(open(holder).read())["pid"]
            os.kill(pid, 0)
        except (OSError, ValueError, KeyError):
            return
        assert time.monotonic() < deadline, f"rank 0 (pid {pid}) still runs {seconds} s after the job ended"
        time.sleep(0.05)


def rank_pid(tag: str, rank: int) -> int | None:
    """The pid of rank ``rank`` of the job whose environment holds RNNLAB_TEST_JOB=tag."""
    want = {f"RNNLAB_TEST_JOB={tag}".encode(), f"PMI_RANK={rank}".encode()}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if want <= set(f.read().split(b"\0")):
                    return int(pid)
        except OSError:
            continue
    return None


def test_a_killed_rank_ends_the_job_and_the_run_resumes(tmp_path):
    if not os.path.isdir("/proc"):
        pytest.skip("finding a rank's pid reads /proc (Linux)")
    config = dict(SMALL, model="lstm", checkpoint_every=1, epochs=10_000, train_size=20)
    out = tmp_path / "run"
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"config": config, "out": str(out)}))
    job = subprocess.Popen([mpiexec(), "-n", "2", sys.executable, WORKER, str(path)], env=env(str(tmp_path)),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (out / "metrics.jsonl").exists() or not (out / "metrics.jsonl").read_text():
            assert job.poll() is None and time.monotonic() < deadline, "the run did not reach its first epoch"
            time.sleep(0.05)
        pid = rank_pid(str(tmp_path), 1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        stdout, stderr = job.communicate(timeout=30)
        assert time.monotonic() - killed < 30
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert job.returncode != 0
    said = stdout + stderr                      # mpich's launcher names the process that died, and its signal
    assert f"PID {pid} " in said and "signal 9" in said, said[-2000:]
    header, _ = read_checkpoint(out / "checkpoint.npz")                 # whole, whatever moment the kill hit
    wait_until_released(out)
    epochs = header["state"]["epoch"] + 1
    resumed = parallel_params(3, dict(config, epochs=epochs), tmp_path, "resumed", out=str(out), resume=True)
    alone = train(Config(**dict(config, epochs=epochs)), progress=False, echo=lambda *a: None)
    assert int(resumed["step"]) == alone["steps"]
    assert_close(resumed, alone["model"].params, 1e-12)



TREES = ["(4 (3 (2 a) (4 great)) (3 (2 fun) (2 film)))", "(3 (2 the) (3 (3 good) (2 story)))",
         "(0 (1 (2 a) (0 awful)) (1 (2 dull) (2 film)))", "(1 (2 the) (1 (1 bad) (2 story)))",
         "(4 (4 great) (3 (2 the) (4 film)))", "(0 (0 awful) (1 (2 the) (1 film)))", "(3 (3 good) (2 fun))",
         "(1 (1 bad) (1 dull))", "(2 (2 the) (2 film))", "(2 (2 a) (2 (2 long) (2 story)))"]


@pytest.mark.parametrize("cell,n", [("treelstm", 2), ("childsum", 3)])
def test_tree_training_over_mpi_equals_one_process(tmp_path, cell, n):
    from rnnlab.trees.saving import read
    from rnnlab.trees.train import TreeConfig, train as train_trees
    data = tmp_path / "sst"
    data.mkdir()
    for split, lines in (("train", TREES), ("dev", TREES[:4]), ("test", TREES[4:])):
        (data / f"{split}.txt").write_text("\n".join(lines) + "\n")
    # 10 trees in minibatches of 4: 4, 4 and 2 trees, so with 3 ranks one holds none of the last
    tree = dict(model=cell, hidden=6, embed_dim=5, epochs=2, batch_size=4, dropout=0.3, clip=1.0, seed=1)
    train_trees(TreeConfig(**tree), out=tmp_path / "alone", data_dir=str(data), echo=lambda *a: None)
    done = run_ranks(n, {"tree": tree, "out": str(tmp_path / "together"), "data_dir": str(data)}, tmp_path, "trees")
    assert done.returncode == 0, done.stderr[-3000:]
    _, alone, alone_opt = read(tmp_path / "alone" / "last.npz")
    _, together, _ = read(tmp_path / "together" / "last.npz")
    assert alone.keys() == together.keys() and "E" in alone
    for k, v in alone.items():
        assert rel_err(together[k], v) <= 1e-5, (k, rel_err(together[k], v))
    assert json.loads((tmp_path / "together" / "metrics.json").read_text())["history"][0]["trees"] == 10


def test_compare_spreads_its_runs_over_the_processes(tmp_path):
    args = ["compare", "--task", "adding", "--T", "6", "--train-size", "32", "--hidden", "4", "--epochs", "1",
            "--seeds", "2", "--models", "lstm,gru"]
    done = subprocess.run([mpiexec(), "-n", "3", sys.executable, "-m", "rnnlab.cli", *args, "--out",
                           str(tmp_path / "mpi")], env=env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1 and "3 MPI processes" in done.stdout
    alone = subprocess.run([sys.executable, "-m", "rnnlab.cli", *args, "--jobs", "1", "--out", str(tmp_path / "one")],
                           env=env(), capture_output=True, text=True, timeout=60)
    assert alone.returncode == 0, alone.stderr[-3000:]
    runs = [json.loads((tmp_path / d / "compare.json").read_text())["runs"] for d in ("mpi", "one")]
    key = lambda r: (r["model"], r["seed"], r["test_loss"], r["valid_loss"])      # noqa: E731
    assert [key(r) for r in runs[0]] == [key(r) for r in runs[1]]                   # each run in one process: equal
