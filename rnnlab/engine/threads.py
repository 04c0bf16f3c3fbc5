"""Run the two directions of a bidirectional layer at the same time, one core and one BLAS thread each.

The forward and the reverse direction of a layer share nothing until their outputs are joined, so
they can run concurrently. On a machine with few cores this beats giving every per-step matrix
product all the cores: a product of shape (N, H) x (H, 4H) with N = 32..128 rows is too small for
BLAS to split well (OpenBLAS on 2 threads ran such products at 1.2-1.8x its single-thread rate,
measured in BENCHMARKS.md), and each split costs a synchronisation per step, while two directions on
one thread each run at 2x with no synchronisation at all.

Python threads are enough: NumPy's matrix products and ufuncs and the compiled engine's loops (called
through ctypes) release the GIL while they work. While the two directions run, NumPy's BLAS is limited
to one thread with threadpoolctl (process-wide, restored afterwards), and so is any compiled loop the
tasks call (``rnnlab.engine.single_threaded``).

For the NumPy cells only: a layer whose cells run in the compiled engine runs its directions and rows
in turn, as the engine splits each call over its own threads (``RNNLAB_ENGINE_THREADS``). Measured
in one process, alternating (LSTM, float32): the two directions at once with one engine thread each
took 1.00-1.10x the time of running them in turn on two engine threads (1.7x on the smallest shape,
where the two Python threads wait for each other's GIL), and with two engine threads each 1.04-1.42x
(three threads on two cores).

Opt-in: used when ``RNNLAB_THREADS=2`` is set, threadpoolctl is installed (extra ``fast``), the
machine has at least two cores and a BLAS library was found; otherwise the directions and rows run
one after the other. Outputs, states and dx are identical either way (each direction's and row's
arithmetic is unchanged); the weight gradients of a batch run as two halves are the sum of the
halves' sums, so they round differently (float64: about 1e-15 relative).

Why opt-in: timed alone (``benchmarks/ab_threads.py``) a layer gains 5-25%, but inside a model whose
other layers call BLAS on two threads (a Dense head) it lost 7-60%: after each two-thread call,
OpenBLAS's idle worker keeps spinning on the second core for up to ~0.1 s, and the second direction
or half then shares its core with it. It pays where BLAS stays single-threaded around the layer
(e.g. ``OPENBLAS_NUM_THREADS=1``) or the layer runs alone.
"""
from __future__ import annotations

import contextvars
import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

_lock = threading.Lock()
_state: dict = {}


def _controller():
    """threadpoolctl's controller over the BLAS libraries loaded now (None if unavailable)."""
    if "controller" not in _state:
        controller = None
        if importlib.util.find_spec("threadpoolctl") is not None:
            from threadpoolctl import ThreadpoolController
            import numpy  # noqa: F401  (its BLAS must be loaded for the controller to see it)
            controller = ThreadpoolController().select(user_api="blas")
            if not controller.lib_controllers:
                controller = None
        _state["controller"] = controller
    return _state["controller"]


def available() -> bool:
    """Whether two tasks could run concurrently here: two cores, threadpoolctl and a BLAS library."""
    return (os.cpu_count() or 1) >= 2 and _controller() is not None


def enabled() -> bool:
    """Whether two tasks run concurrently: ``RNNLAB_THREADS=2`` and ``available()``. ValueError naming
    RNNLAB_THREADS for a value other than 1 or 2 (or unset)."""
    value = os.environ.get("RNNLAB_THREADS", "").strip()
    if value not in ("", "1", "2"):
        raise ValueError(f"RNNLAB_THREADS: expected 1 or 2, got {value!r}")
    return value == "2" and available()


SHARD_MIN_ROWS, SHARD_MIN_HIDDEN = 64, 256


def shard_batch(N: int, H: int) -> bool:
    """Whether a unidirectional layer's batch of N rows should run as two halves at once.

    The rows of a batch never interact, so each half can run the whole layer on its own core with
    single-threaded BLAS, without any synchronisation per step. Measured (BENCHMARKS.md) it pays
    from N >= 64 rows and H >= 256 units; below, the halves' per-step products are too small."""
    return enabled() and N >= SHARD_MIN_ROWS and H >= SHARD_MIN_HIDDEN


def _pool() -> ThreadPoolExecutor:
    if "pool" not in _state:
        _state["pool"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnnlab")
    return _state["pool"]


def _alone(task):
    """task() with the compiled loops on this thread only (its pair runs on the other core)."""
    from . import single_threaded
    with single_threaded():
        return task()


def run_pair(first, second):
    """(first(), second()): concurrently, with single-threaded BLAS, when ``enabled()``; else in turn.

    Only one pair runs at a time (a lock), so nested or concurrent callers fall back to running
    in turn rather than oversubscribing the cores.
    """
    if not enabled() or not _lock.acquire(blocking=False):
        return first(), second()
    try:
        with _controller().limit(limits=1):
            future = _pool().submit(contextvars.copy_context().run, _alone, second)   # inference() etc.
            try:
                a = _alone(first)
            finally:
                wait([future])                  # never leave with the other direction running
            return a, future.result()
    finally:
        _lock.release()
