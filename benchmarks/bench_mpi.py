"""Data-parallel training throughput: sequences per second of the training steps (rnnlab.train's
run_epoch: forward, loss, backward, Allreduce, clip, Adam) for 1 process x 2 threads, 1 x 1 and
2 processes x 1 thread (``mpiexec -n 2``), on a small and a large LSTM shape, with the share of the
step time that rank 0 spends inside Allreduce (waiting for the slower rank included).

    python benchmarks/bench_mpi.py                   # both shapes, the three layouts, a Markdown table
    python benchmarks/bench_mpi.py --shapes small --repeats 3

Threads: RNNLAB_ENGINE_THREADS is the layout's thread count (the compiled loops' threads per call;
2 processes x 1 thread use each core once) and BLAS is single-threaded in every run
(OMP_NUM_THREADS=1 ...): a 2-thread BLAS on these small matrices spins more than it computes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = {   # name: Config fields (adding problem, LSTM); steps timed after one warm-up step
    "small": dict(hidden=32, T=50, batch_size=64, steps=60),
    "large": dict(hidden=256, T=100, batch_size=128, steps=12),
}
LAYOUTS = (("1 process x 2 threads", 1, 2), ("1 process x 1 thread", 1, 1), ("2 processes x 1 thread", 2, 1))


def worker(shape: str) -> None:
    """One rank: time run_epoch over ``steps`` batches after a warm-up epoch of one batch; rank 0
    prints {"seconds", "sequences", "allreduce_seconds", "parameters"} as JSON."""
    from rnnlab.train import Config, run_epoch, start
    from rnnlab.training.distributed import world
    s = SHAPES[shape]
    w = world()
    cfg = Config(task="adding", model="lstm", hidden=s["hidden"], T=s["T"], batch_size=s["batch_size"],
                 train_size=s["batch_size"] * s["steps"], epochs=2)
    run = start(cfg, None, False, world=w)
    run_epoch(run, False, 1)                                # warm-up: one step of epoch 1
    run.state.epoch, run.state.batch = 1, 0
    w.barrier()
    a0, t0 = w.allreduce_seconds, time.perf_counter()
    run_epoch(run, False, None)
    seconds = time.perf_counter() - t0
    if w.is_root:
        print(json.dumps({"seconds": seconds, "sequences": s["batch_size"] * s["steps"],
                          "allreduce_seconds": w.allreduce_seconds - a0,
                          "parameters": sum(v.size for v in run.model.params.values())}))


def measure(shape: str, processes: int, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "RNNLAB_ENGINE_THREADS": str(threads), **{k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                                      "MKL_NUM_THREADS")}}
    env.pop("RNNLAB_THREADS", None)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", shape]
    if processes > 1:
        here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        cmd = [here if os.access(here, os.X_OK) else shutil.which("mpiexec"), "-n", str(processes)] + cmd
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="small,large")
    p.add_argument("--repeats", type=int, default=3, help="runs per cell; the table shows the best")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.worker)
    print("| shape | layout | sequences/s | Allreduce share of the step time | bytes per Allreduce |")
    print("|---|---|---|---|---|")
    for shape in args.shapes.split(","):
        s = SHAPES[shape]
        for name, processes, threads in LAYOUTS:
            runs = [measure(shape, processes, threads) for _ in range(args.repeats)]
            best = min(runs, key=lambda r: r["seconds"])
            share = f"{100 * best['allreduce_seconds'] / best['seconds']:.1f}%" if processes > 1 else "-"
            print(f"| LSTM H={s['hidden']} T={s['T']} batch {s['batch_size']} | {name} | "
                  f"{best['sequences'] / best['seconds']:,.0f} (median "
                  f"{statistics.median(r['sequences'] / r['seconds'] for r in runs):,.0f}) | {share} | "
                  f"{4 * (best['parameters'] + 2):,} |", flush=True)


if __name__ == "__main__":
    main()
