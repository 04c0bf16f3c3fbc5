"""rnnlab.engine.threads (both directions of a bidirectional layer at once) and
rnnlab.memory (freed memory kept for reuse, when switched on): same results, errors kept, fewer page faults."""
import json
import subprocess
import sys
import threading

import numpy as np
import pytest

import rnnlab
from rnnlab import memory
from rnnlab.engine import threads

from conftest import rel_err

needs_threads = pytest.mark.skipif(not threads.available(), reason="threadpoolctl missing or one core")


@pytest.fixture
def threads_on(monkeypatch):
    monkeypatch.setenv("RNNLAB_THREADS", "2")


@needs_threads
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_parallel_directions_equal_serial(kind, dtype, monkeypatch):
    layer = getattr(rnnlab, kind)(5, 7, num_layers=2, bidirectional=True, dtype=dtype, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 9, 5)).astype(dtype)
    dy = rng.standard_normal((6, 9, 14)).astype(dtype)
    lengths = np.array([9, 3, 9, 1, 5, 9])
    out = {}
    for flag in ("1", "2"):                       # 1: one direction after the other (the default)
        monkeypatch.setenv("RNNLAB_THREADS", flag)
        assert threads.enabled() == (flag == "2")   # "2" really runs the directions on two threads
        for ragged in (None, lengths):
            y, state, cache = layer.forward(x, lengths=ragged)
            dx, ds0, grads = layer.backward(dy, None, cache)
            out[flag, ragged is None] = [y, dx, *np.atleast_1d(state), *grads.values()]
    tol = 1e-6 if dtype == "float32" else 1e-13
    for ragged in (True, False):
        for a, b in zip(out["1", ragged], out["2", ragged]):
            assert rel_err(a, b) <= tol


def test_off_by_default(monkeypatch):
    monkeypatch.delenv("RNNLAB_THREADS", raising=False)
    assert not threads.enabled()
    assert threads.run_pair(threading.get_ident, threading.get_ident) == (threading.get_ident(),) * 2


@needs_threads
def test_run_pair_runs_both_on_two_threads(threads_on):
    seen = []
    a, b = threads.run_pair(lambda: seen.append(threading.get_ident()) or "a",
                            lambda: seen.append(threading.get_ident()) or "b")
    assert (a, b) == ("a", "b")
    assert len(set(seen)) == 2                    # the second ran on the pool's thread


@needs_threads
def test_run_pair_nested_runs_in_turn(threads_on):
    inner = []
    def nested():
        inner.append(threads.run_pair(lambda: threading.get_ident(), lambda: threading.get_ident()))
        return "outer"
    assert threads.run_pair(nested, lambda: "other") == ("outer", "other")
    assert inner[0][0] == inner[0][1]             # the lock was held: both ran on the same thread


@pytest.mark.parametrize("which", ["first", "second"])
def test_run_pair_errors_propagate_and_release(which, threads_on):
    def boom():
        raise ValueError("boom")
    tasks = (boom, lambda: 1) if which == "first" else (lambda: 1, boom)
    with pytest.raises(ValueError, match="boom"):
        threads.run_pair(*tasks)
    assert threads.run_pair(lambda: 1, lambda: 2) == (1, 2)       # the lock is free again
    assert not threads._lock.locked()


FAULTS = """
import json, resource, numpy as np, rnnlab
from rnnlab import memory
memory.keep_freed_memory()
layer = rnnlab.LSTM(28, 128, bidirectional=True, seed=0)
x = np.random.default_rng(0).standard_normal((64, 28, 28)).astype(np.float32)
for _ in range(3):
    layer.forward(x)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    layer.forward(x)
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"faults": (after - before) / 10, "applied": memory.applied}))
"""


def _faults(env_value):
    env = {"RNNLAB_MALLOC": env_value, "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(memory.glibc() is None, reason="glibc only")
def test_kept_memory_avoids_page_faults():
    """One small bidirectional LSTM forward allocates ~13 MB (its output, states and caches); with
    glibc's defaults their pages are returned and faulted in again on every call (3,000+ faults);
    kept, they are reused. (Whether the defaults return them depends on the sizes: glibc keeps freed
    memory up to twice its largest freed block, so a unidirectional layer of this size gets by.)"""
    off, on = _faults("0"), _faults("1")
    assert off["applied"] is False and on["applied"] is True
    assert on["faults"] < off["faults"] / 2, (on, off)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_halves_equal_whole_batch(kind, dtype, monkeypatch):
    """A unidirectional stack run as two batch halves at once (thresholds lowered so that a small
    layer qualifies) gives the whole batch's outputs, states and gradients, ragged or not."""
    monkeypatch.setattr(threads, "SHARD_MIN_ROWS", 2)
    monkeypatch.setattr(threads, "SHARD_MIN_HIDDEN", 1)
    layer = getattr(rnnlab, kind)(5, 7, num_layers=2, dtype=dtype, seed=0)
    rng = np.random.default_rng(1)
    N, T = 7, 6
    x = rng.standard_normal((N, T, 5)).astype(dtype)
    dy = rng.standard_normal((N, T, 7)).astype(dtype)
    parts = [rng.standard_normal((2, N, 7)).astype(dtype) for _ in layer.state_names]
    s0 = tuple(parts) if kind == "LSTM" else parts[0]
    ds = tuple(p * 0.5 for p in parts) if kind == "LSTM" else parts[0] * 0.5
    lengths = np.array([6, 2, 6, 1, 4, 6, 3])
    flat = lambda s: list(s) if isinstance(s, tuple) else [s]  # noqa: E731
    out = {}
    for flag in ("1", "2"):
        monkeypatch.setenv("RNNLAB_THREADS", flag)
        assert threads.enabled() == (flag == "2")   # "2" really runs the directions on two threads
        for ragged in (None, lengths):
            y, state, cache = layer.forward(x, s0, lengths=ragged)
            sharded = type(cache).__name__ == "ShardedCache"
            assert sharded == (flag == "2" and threads.enabled() and not layer._in_engine(x))
            dx, ds0, grads = layer.backward(dy, ds, cache)
            out[flag, ragged is None] = [y, dx, *flat(state), *flat(ds0), *grads.values()]
    tol = 1e-5 if dtype == "float32" else 1e-12
    for ragged in (True, False):
        for a, b in zip(out["1", ragged], out["2", ragged]):
            assert a.shape == b.shape and rel_err(a, b) <= tol


@needs_threads
def test_run_pair_tasks_run_compiled_loops_on_one_thread(threads_on, monkeypatch):
    """Inside run_pair each task has one core: the engine's calls there use one thread, not
    RNNLAB_ENGINE_THREADS (two tasks of two threads each would put three or four on two cores)."""
    from rnnlab import engine
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "2")
    assert engine.num_threads() == 2
    assert threads.run_pair(engine.num_threads, engine.num_threads) == (1, 1)
    assert engine.num_threads() == 2                          # restored on this thread
    assert threads.run_pair(lambda: 0, engine.num_threads) == (0, 1)   # and on the pool's


@needs_threads
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_engine_layers_run_directions_in_turn(dtype, threads_on, monkeypatch):
    """With RNNLAB_THREADS=2 the NumPy cells' directions go to run_pair; a layer the engine computes
    runs them in turn (the engine splits each call over its own threads), with the same results."""
    from rnnlab import engine
    from rnnlab.layers import recurrent
    pairs = []
    real = recurrent.run_pair
    monkeypatch.setattr(recurrent, "run_pair", lambda a, b: pairs.append(1) or real(a, b))
    layer = rnnlab.LSTM(5, 7, bidirectional=True, dtype=dtype, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 6, 5)).astype(dtype)
    y, state, cache = layer.forward(x)
    dx, ds0, grads = layer.backward(np.ones_like(y), None, cache)
    compiled = dtype == "float32" and engine.active() != "numpy"
    assert len(pairs) == (0 if compiled else 2)               # forward and backward
    monkeypatch.setenv("RNNLAB_THREADS", "1")
    y1, _, cache1 = layer.forward(x)
    dx1, _, grads1 = layer.backward(np.ones_like(y1), None, cache1)
    assert np.array_equal(y, y1) and np.array_equal(dx, dx1)
    assert all(np.array_equal(grads[k], grads1[k]) for k in grads)


def test_engine_threads_shared_among_local_mpi_processes(monkeypatch):
    """Under an MPI launcher the default engine threads are the usable cores divided among the job's
    processes on this machine (at least 1); RNNLAB_ENGINE_THREADS still decides when set."""
    from rnnlab import engine
    monkeypatch.delenv("RNNLAB_ENGINE_THREADS", raising=False)
    for name in engine.LOCAL_SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(engine.os, "sched_getaffinity", lambda pid: set(range(6)))
    assert engine.processes_here() == 1 and engine.num_threads() == 6
    for name, local, want in (("MPI_LOCALNRANKS", "2", 3), ("OMPI_COMM_WORLD_LOCAL_SIZE", "4", 1),
                              ("MV2_COMM_WORLD_LOCAL_SIZE", "12", 1), ("MPI_LOCALNRANKS", "0", 6),
                              ("MPI_LOCALNRANKS", "two", 6)):
        monkeypatch.setenv(name, local)
        assert engine.num_threads() == want, (name, local)
        monkeypatch.delenv(name)
    monkeypatch.setenv("MPI_LOCALNRANKS", "3")
    monkeypatch.setenv("RNNLAB_ENGINE_THREADS", "5")
    assert engine.num_threads() == 5


@needs_threads
def test_run_pair_passes_the_callers_context(threads_on):
    """engine.inference() (a context variable) holds in both of run_pair's tasks, the pool's too."""
    from rnnlab import engine
    with engine.inference():
        assert threads.run_pair(engine.inference_mode, engine.inference_mode) == (True, True)
    assert threads.run_pair(engine.inference_mode, engine.inference_mode) == (False, False)


@needs_threads
@pytest.mark.parametrize("options", [{"proj_size": 3, "recurrent_dropout": 0.3},
                                     {"layer_norm": True, "recurrent_dropout": 0.3}])
def test_eval_mode_layers_the_engine_computes_run_in_turn(options, threads_on, monkeypatch):
    """Options that run NumPy in training (recurrent dropout beside proj_size or layer_norm) run
    compiled in evaluation mode, where no dropout is drawn: there the directions run in turn too."""
    from rnnlab import engine
    from rnnlab.layers import recurrent
    if engine.active() == "numpy":
        pytest.skip("the compiled engine is not built")
    pairs = []
    real = recurrent.run_pair
    monkeypatch.setattr(recurrent, "run_pair", lambda a, b: pairs.append(1) or real(a, b))
    layer = rnnlab.LSTM(4, 6, bidirectional=True, seed=0, **options)
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)
    layer.eval().infer(x)
    assert pairs == []
    layer.train().forward(x)
    assert pairs == [1]                                       # training: the NumPy cells, paired


def test_non_ascii_digits_in_the_mpi_variables_are_ignored(monkeypatch):
    from rnnlab import engine
    monkeypatch.delenv("RNNLAB_ENGINE_THREADS", raising=False)
    monkeypatch.setattr(engine.os, "sched_getaffinity", lambda pid: set(range(4)))
    for value in ("\u00b2", "\u0663", "\uff12"):                      # superscript 2, Arabic-Indic 3, fullwidth 2
        monkeypatch.setenv("MPI_LOCALNRANKS", value)
        assert engine.processes_here() == 1 and engine.num_threads() == 4


def test_a_bad_rnnlab_threads_is_refused_by_name(monkeypatch):
    for value in ("0", "x", "-1", "99", "2.0"):
        monkeypatch.setenv("RNNLAB_THREADS", value)
        with pytest.raises(ValueError, match=f"^RNNLAB_THREADS: expected 1 or 2, got {value!r}"):
            threads.enabled()
    monkeypatch.setenv("RNNLAB_THREADS", " 1 ")
    assert not threads.enabled()


def test_the_command_refuses_a_bad_rnnlab_threads(monkeypatch, capsys):
    from rnnlab.cli import main
    monkeypatch.setenv("RNNLAB_THREADS", "x")
    assert main(["info"]) == 2
    assert capsys.readouterr().err.strip() == "rnnlab info: error: RNNLAB_THREADS: expected 1 or 2, got 'x'"
