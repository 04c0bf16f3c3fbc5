"""LSTM variant options against the plain LSTM, one option at a time, side by side in one process.

    python benchmarks/bench_variants.py                    # both shapes, every option (about 2 minutes)
    python benchmarks/bench_variants.py --quick            # the small shape, fewer repetitions
    python benchmarks/bench_variants.py --markdown VARIANTS_TABLE.md
    python benchmarks/bench_variants.py --kind GRU         # the GRU's options (or RNN's) instead

For each shape (T, N, D, H; one layer, one direction, float32) it times the plain cell and the cell
with each option alone, alternating them within each repetition (the order rotates, so that load
drifts hit every side alike), in blocks of 3 calls after a pause (so that no side shares its cores
with another's still-spinning threads):

    train:  y, s, cache = m.forward(x); m.backward(dy, None, cache)     (dx included)
    infer:  m.infer(x)

It reports medians and the ratio variant / plain (1.00: as fast as the plain layer). Training runs in
training mode (``m.train()``: the regularizers draw their masks each call), inference in evaluation
mode, where weight drop and recurrent dropout are off (the plain cell) and zoneout takes its
expectation. The column "path" says which loop ran the call: "compiled" (rnnlab.engine) or "NumPy"
(the step functions of rnnlab.layers.lstm_variants, gru_variants, rnn), read from the forward's cache.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import rnnlab  # noqa: E402
from rnnlab import engine  # noqa: E402
from rnnlab.layers.gru_variants import GRUVCache  # noqa: E402
from rnnlab.layers.lstm_variants import LSTMVCache  # noqa: E402
from rnnlab.layers.rnn import RNNVCache  # noqa: E402
from rnnlab.memory import keep_freed_memory  # noqa: E402

SHAPES = [(28, 64, 28, 128), (50, 32, 64, 256)]      # (T, N, D, H), as in bench_rnn.py
QUICK_SHAPES = [(28, 64, 28, 128)]
GAP_S = 0.1            # pause before each block of timed calls
INNER = 3              # timed calls per block


def variants(kind: str, H: int) -> dict:
    """Option name -> the cell's keyword arguments; "plain" first."""
    regs = {"zoneout": {"zoneout": 0.1}, "weight_drop": {"weight_drop": 0.3},
            "recurrent_dropout": {"recurrent_dropout": 0.3}}
    if kind == "GRU":
        return {"plain": {}, **regs, "layer_norm": {"layer_norm": True},
                "gate_activation": {"gate_activation": "hard_sigmoid"}}
    if kind == "RNN":
        return {"plain": {}, **regs, "nonlinearity": {"nonlinearity": "identity"}}
    return {"plain": {}, "peepholes": {"peepholes": True}, "cell_clip": {"cell_clip": 3.0},
            "input_forget": {"input_forget": True}, "weight_drop": {"weight_drop": 0.3},
            "zoneout": {"zoneout": 0.1}, "proj_size": {"proj_size": H // 2}, "layer_norm": {"layer_norm": True},
            "gate_clip": {"gate_clip": 3.0}, "gate_activation": {"gate_activation": "hard_sigmoid"},
            "recurrent_dropout": {"recurrent_dropout": 0.3}}


def path(layer, x) -> str:
    """Which loop runs this layer's forward in its current mode: "compiled" or "NumPy"."""
    _, _, cache = layer.forward(x)
    return "NumPy" if isinstance(cache.directions[0].cell, (LSTMVCache, GRUVCache, RNNVCache)) else "compiled"


def time_shape(kind, shape, reps: int):
    """{variant: {"train": median s, "infer": median s, "path": (train path, infer path)}}."""
    T, N, D, H = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    layers = {name: getattr(rnnlab, kind)(D, H, seed=0, **kw) for name, kw in variants(kind, H).items()}
    dys = {name: rng.standard_normal((N, T, m.output_size)).astype(np.float32) for name, m in layers.items()}

    def train(name):
        m = layers[name].train()
        _, _, cache = m.forward(x)
        m.backward(dys[name], None, cache)

    def infer(name):
        layers[name].eval().infer(x)

    out = {name: {"path": (path(m.train(), x), path(m.eval(), x))} for name, m in layers.items()}
    names = list(layers)
    for mode, fn in (("train", train), ("infer", infer)):
        for name in names:                                   # warm-up: allocations, first-call paths
            fn(name)
        acc = {name: [] for name in names}
        for rep in range(reps):                              # rotate the order: drifts hit every side
            for k in range(len(names)):
                name = names[(k + rep) % len(names)]
                time.sleep(GAP_S)
                for _ in range(INNER):
                    t0 = time.perf_counter()
                    fn(name)
                    acc[name].append(time.perf_counter() - t0)
        for name in names:
            out[name][mode] = statistics.median(acc[name])
    return out


def load_line() -> str:
    try:
        return "load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average: unavailable"


def write_atomically(path_: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path_))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".bench_variants.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path_)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    keep_freed_memory()                  # freed memory kept for reuse (RNNLAB_MALLOC=0: off)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the small shape only, 3 repetitions")
    ap.add_argument("--reps", type=int, default=7, help="repetitions of each block (default 7)")
    ap.add_argument("--markdown", metavar="PATH", help="write the table as Markdown to PATH")
    ap.add_argument("--kind", choices=("LSTM", "GRU", "RNN"), default="LSTM", help="the cell (default LSTM)")
    args = ap.parse_args(argv)
    if args.reps < 1:
        ap.error(f"--reps: expected a positive whole number, got {args.reps}")
    eng = engine.info()
    head = [f"rnnlab engine: {eng['engine']} ({eng['reason']}; {eng['threads']} threads)",
            f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores; "
            f"Python {platform.python_version()}, NumPy {np.__version__}",
            f"{args.kind}, 1 layer, 1 direction, float32; medians of {INNER} x {3 if args.quick else args.reps} calls "
            f"per side; train in training mode, infer in evaluation mode",
            load_line() + " (at start)"]
    for line in head:
        print(line, flush=True)
    cols = ["variant", "T,N,D,H", "path train / infer", "train ms", "train ratio", "infer ms", "infer ratio"]
    print(" | ".join(cols), flush=True)
    rows = []
    t_start = time.perf_counter()
    for shape in QUICK_SHAPES if args.quick else SHAPES:
        res = time_shape(args.kind, shape, 3 if args.quick else args.reps)
        base = res["plain"]
        for name, r in res.items():
            row = [name, ",".join(map(str, shape)), " / ".join(r["path"]),
                   f"{r['train'] * 1e3:.2f}", f"{r['train'] / base['train']:.2f}",
                   f"{r['infer'] * 1e3:.2f}", f"{r['infer'] / base['infer']:.2f}"]
            rows.append(row)
            print(" | ".join(row), flush=True)
    tail = [f"rows: {len(rows)}, wall time {time.perf_counter() - t_start:.0f} s", load_line() + " (at end)"]
    for line in tail:
        print(line, flush=True)
    if args.markdown:
        text = "\n".join(f"- {line}" for line in head) + "\n\n"
        text += "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
        text += "".join("| " + " | ".join(row) + " |\n" for row in rows)
        text += "\n" + "\n".join(f"- {line}" for line in tail) + "\n"
        write_atomically(args.markdown, text)


if __name__ == "__main__":
    main()
