"""A/B of rnnlab.engine.threads on the grid's rows: the default (serial) against RNNLAB_THREADS=2
(two directions or two batch halves at once), each against torch.nn, timed as in bench_rnn.py. The
NumPy cells (RNNLAB_ENGINE=numpy): a layer the compiled engine computes runs in turn either way.

    python benchmarks/ab_threads.py                    # rows run as two batch halves
    python benchmarks/ab_threads.py --rows pairs       # bidirectional rows (two directions at once)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_rnn  # noqa: E402
from bench_rnn import GAP_S, INNER, SHAPES, make_pair  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rnnlab.engine import threads  # noqa: E402
from rnnlab.memory import keep_freed_memory  # noqa: E402


def median_ms(f, reps=4):
    f()
    times = []
    for _ in range(reps):
        time.sleep(GAP_S)
        for _ in range(INNER):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main(argv=None):
    keep_freed_memory()                  # freed memory kept for reuse (RNNLAB_MALLOC=0: off)
    os.environ["RNNLAB_ENGINE"] = "numpy"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", choices=("halves", "pairs"), default="halves")
    args = ap.parse_args(argv)
    torch.set_num_threads(bench_rnn.blas_threads())
    print(bench_rnn.load_line())
    print("kind | L | bi | T,N,D,H | train serial/torch | train threads/torch | infer serial/torch | infer threads/torch")
    for shape in SHAPES:
        T, N, D, H = shape
        for kind in ("RNN", "LSTM", "GRU"):
            for layers in (1, 2):
                for bi in (False, True):
                    os.environ["RNNLAB_THREADS"] = "2"
                    halves = not bi and threads.shard_batch(N, H)
                    if (args.rows == "halves" and not halves) or (args.rows == "pairs" and not bi):
                        continue
                    tm, rm = make_pair(kind, layers, bi, D, H)
                    rng = np.random.default_rng(1)
                    x = rng.standard_normal((N, T, D)).astype(np.float32)
                    dy = rng.standard_normal((N, T, rm.output_size)).astype(np.float32)
                    xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)

                    def r_train():
                        y, s, cache = rm.forward(x)
                        rm.backward(dy, None, cache)

                    def t_train():
                        tm.zero_grad(set_to_none=True)
                        y, _ = tm(xt.detach().requires_grad_(True))
                        torch.autograd.backward(y, dyt)

                    def t_infer():
                        with torch.no_grad():
                            tm(xt)
                    tt, ti = median_ms(t_train), median_ms(t_infer)
                    cells = []
                    for flag in ("1", "2"):
                        os.environ["RNNLAB_THREADS"] = flag
                        cells.append((median_ms(r_train) / tt, median_ms(lambda: rm.infer(x)) / ti))
                    os.environ["RNNLAB_THREADS"] = "1"
                    print(f"{kind} | {layers} | {'bi' if bi else 'uni'} | {','.join(map(str, shape))} | "
                          f"{cells[0][0]:.2f} | {cells[1][0]:.2f} | {cells[0][1]:.2f} | {cells[1][1]:.2f}",
                          flush=True)
    print(bench_rnn.load_line())


if __name__ == "__main__":
    main()
