"""Streaming at batch 1: rnnlab's ``step`` against PyTorch calling its nn.LSTM one step at a time, and
rnnlab's whole-sequence forward against onnxruntime running the same model exported by
``rnnlab.interop.onnx``.

    python benchmarks/bench_stream.py                # LSTM, (T, D, H) = (100, 64, 256) and (200, 40, 128)
    python benchmarks/bench_stream.py --cells LSTM GRU RNN --reps 30

Per shape, float32, batch N = 1, the same weights on every side (rnnlab's layer made from the torch
module by ``rnnlab.interop.torch.from_torch``):

    step      rnnlab:  y_t, state = layer.step(x[:, t], state)                for t = 0 .. T-1
              torch:   y_t, state = module(x[:, t:t+1], state) under no_grad    (nn.LSTM, batch_first)
    sequence  rnnlab:  layer.infer(x)
              onnxruntime: session.run on the exported graph, intra-op threads 2

Each repetition times one whole stream (T steps) or one whole sequence for every contender in turn,
so that load drifts hit all alike, each after a pause of ``--gap`` seconds and one untimed call (so
that no contender shares the cores with another's still-spinning BLAS or OpenMP threads); the table
shows the minimum over the repetitions (the machine is shared, and the minimum is the run least
disturbed by others), per step in microseconds, and the ratio rnnlab / peer (< 1: rnnlab is faster).
Before timing it checks that all sides agree.
Freed memory is kept for reuse (``rnnlab.memory.keep_freed_memory``), as in every benchmark.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402

from rnnlab.interop.onnx import to_onnx  # noqa: E402
from rnnlab.interop.torch import from_torch  # noqa: E402
from rnnlab.memory import keep_freed_memory  # noqa: E402

SHAPES = [(100, 64, 256), (200, 40, 128)]     # (T, D, H) at batch 1
THREADS = 2
MODULES = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}


def contenders(kind: str, T: int, D: int, H: int):
    """{name: callable running one whole stream or sequence}, and the outputs each produced."""
    import onnxruntime as ort
    torch.manual_seed(0)
    module = MODULES[kind](D, H, batch_first=True).eval()
    layer = from_torch(module)
    x = np.random.default_rng(0).standard_normal((1, T, D)).astype(np.float32)
    xt = torch.from_numpy(x)
    steps_x = [np.ascontiguousarray(x[:, t]) for t in range(T)]
    steps_xt = [xt[:, t:t + 1].contiguous() for t in range(T)]
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(to_onnx(layer).SerializeToString(), options, providers=["CPUExecutionProvider"])
    feed = {"x": x, "lengths": np.full(1, T, np.int32)}

    def rnnlab_step():
        state = layer.initial_state(1)
        for x_t in steps_x:
            y_t, state = layer.step(x_t, state)
        return y_t

    def torch_step():
        state = None
        with torch.no_grad():
            for x_t in steps_xt:
                y_t, state = module(x_t, state)
        return y_t[:, 0].numpy()

    def rnnlab_sequence():
        return layer.infer(x)[0][:, -1]

    def onnx_sequence():
        return session.run(["y"], feed)[0][:, -1]

    runs = {"rnnlab step": rnnlab_step, "torch step": torch_step,
            "rnnlab sequence": rnnlab_sequence, "onnxruntime sequence": onnx_sequence}
    outs = {name: f() for name, f in runs.items()}
    ref = outs["torch step"]
    for name, y in outs.items():
        err = float(np.abs(y - ref).max())
        if err > 1e-4:
            raise RuntimeError(f"{kind} {T, D, H}: {name} differs from torch by {err:.2e}")
    return runs


def main(argv=None) -> int:
    keep_freed_memory()                  # freed memory kept for reuse (RNNLAB_MALLOC=0: off)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", nargs="+", choices=sorted(MODULES), default=["LSTM"])
    ap.add_argument("--reps", type=int, default=20, help="timed repetitions per contender (default 20)")
    ap.add_argument("--gap", type=float, default=0.2, help="seconds of pause before each timed run (default 0.2)")
    args = ap.parse_args(argv)
    torch.set_num_threads(THREADS)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"NumPy {np.__version__}, threads {THREADS}, float32, batch 1, min of {args.reps} interleaved runs "
          f"({args.gap} s pause before each), "
          f"load average {os.getloadavg()[0]:.2f}")
    print("\n| cell | T, D, H | rnnlab step (us/step) | torch step (us/step) | ratio | "
          "rnnlab sequence (us/step) | onnxruntime sequence (us/step) | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in args.cells:
        for T, D, H in SHAPES:
            runs = contenders(kind, T, D, H)
            best = {name: float("inf") for name in runs}
            for _ in range(args.reps):
                for name, f in runs.items():
                    time.sleep(args.gap)
                    f()
                    t0 = time.perf_counter()
                    f()
                    best[name] = min(best[name], time.perf_counter() - t0)
            us = {name: 1e6 * s / T for name, s in best.items()}
            print(f"| {kind} | {T}, {D}, {H} | {us['rnnlab step']:.1f} | {us['torch step']:.1f} | "
                  f"{us['rnnlab step'] / us['torch step']:.2f} | {us['rnnlab sequence']:.1f} | "
                  f"{us['onnxruntime sequence']:.1f} | {us['rnnlab sequence'] / us['onnxruntime sequence']:.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
