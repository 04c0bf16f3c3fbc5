"""Micro-benchmarks behind the notes in BENCHMARKS.md that the grid (bench_rnn.py) does not measure.

    python benchmarks/micro.py gemm        # the per-step product as h U against U^T h^T, one thread
    python benchmarks/micro.py faults      # page faults and time per LSTM call, kept memory on / off
    python benchmarks/micro.py model-step  # a Sequential([LSTM, Dense]) training step under four settings
    python benchmarks/micro.py all --quick # every part on small sizes (a smoke run)

``faults`` and ``model-step`` start one subprocess per setting, because both settings
(``RNNLAB_MALLOC``, ``OPENBLAS_THREAD_TIMEOUT``) only act if set before NumPy is imported. Times are
medians; run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_STEP_SHAPES = [(28, 64, 28, 128, True), (50, 32, 64, 256, True), (200, 64, 64, 256, True),
                     (50, 128, 128, 512, False), (100, 64, 65, 512, False)]   # T, N, D, H, bidirectional
SETTINGS = {"default": {}, "RNNLAB_THREADS=2": {"RNNLAB_THREADS": "2"},
            "OPENBLAS_THREAD_TIMEOUT=4": {"OPENBLAS_THREAD_TIMEOUT": "4"},
            "both": {"RNNLAB_THREADS": "2", "OPENBLAS_THREAD_TIMEOUT": "4"}}


def median_s(f, reps: int, gap: float = 0.0) -> float:
    f()
    times = []
    for _ in range(reps):
        if gap:
            time.sleep(gap)
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gemm(quick: bool) -> None:
    """GFLOP/s of one step's recurrent product on one BLAS thread: gates (N, G H) = h (N, H) U (H, G H),
    as rnnlab computes it, against gates^T (G H, N) = U^T (G H, H) h^T (H, N), with both operands
    already stored in the layout each product wants (C-contiguous)."""
    import numpy as np
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(0)
    print("G | H | N | h U GFLOP/s | U^T h^T GFLOP/s | ratio")
    with threadpool_limits(1, "blas"):
        for H in ((128, 256) if quick else (128, 256, 512)):
            for N in ((32, 64) if quick else (32, 64, 128)):
                G = 4
                h = rng.standard_normal((N, H)).astype(np.float32)
                U = rng.standard_normal((H, G * H)).astype(np.float32)
                hT, UT = np.ascontiguousarray(h.T), np.ascontiguousarray(U.T)
                out, outT = np.empty((N, G * H), np.float32), np.empty((G * H, N), np.float32)
                reps = 50 if quick else 400
                a = median_s(lambda: np.matmul(h, U, out=out), reps)
                b = median_s(lambda: np.matmul(UT, hT, out=outT), reps)
                flops = 2 * N * H * G * H
                print(f"{G} | {H} | {N} | {flops / a / 1e9:.0f} | {flops / b / 1e9:.0f} | {a / b:.2f}", flush=True)


def child(kind: str, args: dict) -> dict:
    """Run ``micro.py --child kind`` with ``args`` in a fresh interpreter and environment."""
    env = {**os.environ, **args.pop("env")}
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", kind, json.dumps(args)],
                         env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"child {kind} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def faults_child(args: dict) -> dict:
    import resource
    import numpy as np
    from threadpoolctl import threadpool_limits
    from rnnlab.layers import LSTM
    T, N, D, H = args["shape"]
    layer = LSTM(D, H, seed=0)
    x = np.random.default_rng(1).standard_normal((N, T, D)).astype(np.float32)
    with threadpool_limits(1, "blas"):
        for _ in range(3):
            layer.infer(x)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        calls = args["calls"]
        for _ in range(calls):
            layer.infer(x)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls
        seconds = median_s(lambda: layer.infer(x), calls)
    return {"faults": faults, "ms": 1e3 * seconds}


def faults(quick: bool) -> None:
    """Minor page faults per call and ms per call of one LSTM inference, one BLAS thread, with freed
    memory kept (rnnlab.engine.memory, the default) and returned to the kernel (RNNLAB_MALLOC=0)."""
    shape = (28, 64, 28, 128)
    print(f"LSTM inference T,N,D,H = {shape}, one thread | page faults per call | ms per call")
    for name, env in (("kept (default)", {}), ("returned (RNNLAB_MALLOC=0)", {"RNNLAB_MALLOC": "0"})):
        r = child("faults", {"env": env, "shape": shape, "calls": 20 if quick else 200})
        print(f"{name} | {r['faults']:.0f} | {r['ms']:.2f}", flush=True)


def model_step_child(args: dict) -> dict:
    import numpy as np
    from rnnlab.layers import LSTM, Dense
    from rnnlab.models import Sequential
    T, N, D, H, bi = args["shape"]
    model = Sequential([LSTM(D, H, bidirectional=bi, seed=0), Dense((2 if bi else 1) * H, 10, seed=1)])
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    dy = rng.standard_normal((N, T, 10)).astype(np.float32)

    def step():
        y, cache = model.forward(x)
        model.backward(dy, cache)
    return {"ms": 1e3 * median_s(step, args["reps"], gap=0.2)}


def model_step(quick: bool) -> None:
    """ms per training step (forward and backward) of Sequential([LSTM, Dense(10) on every step]) in
    four settings: rnnlab's default, its threads on, OpenBLAS's idle workers told to sleep at once,
    and both. Each setting runs in its own process; each timed step follows a 0.2 s pause."""
    shapes = MODEL_STEP_SHAPES[:1] if quick else MODEL_STEP_SHAPES
    print("T,N,D,H | bi | " + " | ".join(SETTINGS) + " (ms per step)")
    for shape in shapes:
        cells = [child("model-step", {"env": env, "shape": shape, "reps": 3 if quick else 15})["ms"]
                 for env in SETTINGS.values()]
        print(f"{','.join(map(str, shape[:4]))} | {'bi' if shape[4] else 'uni'} | "
              + " | ".join(f"{c:.1f}" for c in cells), flush=True)


PARTS = {"gemm": gemm, "faults": faults, "model-step": model_step}
CHILDREN = {"faults": faults_child, "model-step": model_step_child}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        print(json.dumps(CHILDREN[argv[1]](json.loads(argv[2]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("part", choices=[*PARTS, "all"])
    ap.add_argument("--quick", action="store_true", help="small sizes and few repetitions (a smoke run)")
    args = ap.parse_args(argv)
    print(f"load average (1, 5, 15 min): {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for name, part in PARTS.items():
        if args.part in (name, "all"):
            print(f"\n## {name}\n{inspect.cleandoc(part.__doc__)}\n")
            part(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
