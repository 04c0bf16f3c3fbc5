"""rnnlab against torch.nn and onnxruntime on the CPU, side by side in one process, same weights,
data and threads.

    python benchmarks/bench_rnn.py                  # the full grid (about 12 minutes on 2 cores)
    python benchmarks/bench_rnn.py --quick          # a smoke run: small shapes, a few rows (~1 min)
    python benchmarks/bench_rnn.py --markdown BENCH_TABLE.md
    python benchmarks/bench_rnn.py --kind LSTM       # one cell's rows of the grid
    python benchmarks/bench_rnn.py --ceiling        # every row: torch against rnnlab's products alone
    python benchmarks/bench_rnn.py --ceiling --kind LSTM   # the LSTM rows, with the engine's floor

rnnlab runs its default engine (``rnnlab.engine.info()`` is printed; ``RNNLAB_ENGINE=numpy`` for the
NumPy cells). Inference is also timed in onnxruntime (2 intra-op threads) on the same model exported
by ``rnnlab.interop.onnx`` (skipped, with a line saying so, if onnx/onnxruntime are missing).

For every row (cell kind, layers, directions, shape T/N/D/H) it times, alternating rnnlab and torch
within each repetition so that load drifts hit both alike, blocks of 3 calls after a 0.2 s pause
(so that neither side shares its cores with the other's still-spinning BLAS/OpenMP threads):

    train:  forward, then backward with a given dy and dstate.
            rnnlab: y, s, cache = m.forward(x); m.backward(dy, ds, cache)   (dx included)
            torch:  y, s = m(x) with x.requires_grad; torch.autograd.backward((y, s), (dy, ds)),
                    which is the gradient of loss = (y * dy).sum() + (s * ds).sum() without
                    spending torch time on the loss's elementwise products.
    infer:  forward alone. rnnlab: m.infer(x); torch: m(x) under torch.no_grad();
            onnxruntime: session.run on x and full lengths.

It reports medians, the ratio rnnlab / torch (< 1: rnnlab is faster) and their geometric means,
and, against the machine's float32 matmul rate (NumPy, square 2048 matmul), the fraction of it each
step achieves, for rnnlab and for torch: matrix-product FLOPs of the step / median time. Matrix-product FLOPs per layer and
direction, G gates, input width D_l:
    forward  2 T N (D_l + H) G H                 (x W for all steps, h U per step)
    backward 2 x forward                          (dx = da W^T, dW, dU, dh = da U^T)
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402

import rnnlab  # noqa: E402
from rnnlab.memory import keep_freed_memory  # noqa: E402
from rnnlab.interop.torch import from_torch  # noqa: E402

THREADS = 2
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
# (T, N, D, H): small (sequential MNIST-like), mid, large and wide, long.
SHAPES = [(28, 64, 28, 128), (50, 32, 64, 256), (50, 128, 128, 512), (200, 64, 64, 256)]
QUICK_SHAPES = [(28, 64, 28, 128)]
GAP_S = 0.2            # pause before each block of timed calls (see quiesce)
INNER = 3               # timed calls per block


def blas_threads() -> int:
    """NumPy's BLAS threads (threadpoolctl if present, else the machine's cores)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    return blas[0]["num_threads"] if blas else (os.cpu_count() or 1)


def blas_description() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    if not blas:
        return "unknown"
    b = blas[0]
    return f"{b['internal_api']} {b['version']} ({b.get('architecture', '?')} kernels, {b['num_threads']} threads)"


def matmul_rate(n: int = 2048, reps: int = 10, gemm=None) -> float:
    """float32 GFLOP/s of a square matmul, the best of ``reps``: NumPy's, or ``gemm(a, b, out)``."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b, out = a.T.copy(), np.empty_like(a)
    gemm = gemm or numpy_gemm
    gemm(a, b, out)
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        gemm(a, b, out)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def step_flops(kind: str, layers: int, bi: bool, T: int, N: int, D: int, H: int, train: bool) -> float:
    G, dirs = GATES[kind], 2 if bi else 1
    total = 0
    for layer in range(layers):
        D_l = D if layer == 0 else dirs * H
        total += dirs * 2 * T * N * (D_l + H) * G * H
    return total * (3 if train else 1)


def make_pair(kind, layers, bi, D, H, seed=0):
    torch.manual_seed(seed)
    cls = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind]
    tm = cls(D, H, num_layers=layers, bidirectional=bi, batch_first=True)
    return tm, from_torch(tm)


def row_steps(kind, layers, bi, shape):
    """rnnlab's layer and the four timed calls of one row, on the same weights and data:
    {"train": (rnnlab, torch), "infer": (rnnlab, torch)}."""
    T, N, D, H = shape
    tm, rm = make_pair(kind, layers, bi, D, H)
    rng = np.random.default_rng(1)
    K = layers * (2 if bi else 1)
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    dy = rng.standard_normal((N, T, rm.output_size)).astype(np.float32)
    ds = [rng.standard_normal((K, N, H)).astype(np.float32) for _ in rm.state_names]
    ds_r = tuple(ds) if len(ds) > 1 else ds[0]
    xt, dyt, dst = torch.from_numpy(x), torch.from_numpy(dy), [torch.from_numpy(d) for d in ds]

    def r_train():
        y, s, cache = rm.forward(x)
        rm.backward(dy, ds_r, cache)

    def t_train():
        tm.zero_grad(set_to_none=True)
        xg = xt.detach().requires_grad_(True)
        y, s = tm(xg)
        s = s if isinstance(s, tuple) else (s,)
        torch.autograd.backward((y, *s), (dyt, *dst))

    def r_infer():
        rm.infer(x)

    def t_infer():
        with torch.no_grad():
            tm(xt)

    infer = [r_infer, t_infer]
    session = ort_session(rm)
    if session is not None:
        feed = {"x": x, "lengths": np.full(N, T, np.int32)}
        infer.append(lambda: session.run(None, feed))
    return rm, {"train": (r_train, t_train), "infer": tuple(infer)}


def ort_session(model):
    """An onnxruntime session (2 intra-op threads) of ``model`` exported by rnnlab.interop.onnx,
    or None where onnx or onnxruntime is not installed."""
    try:
        import onnxruntime as ort
        from rnnlab.interop.onnx import to_onnx
        proto = to_onnx(model)
    except ImportError:
        return None
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def time_row(kind, layers, bi, shape, budget_s):
    """Median seconds per side for train (rnnlab, torch) and infer (rnnlab, torch[, onnxruntime])."""
    _, steps = row_steps(kind, layers, bi, shape)
    out = {}
    for mode, fns in steps.items():
        for f in fns:                                       # warm-up: allocations, first-call paths
            f()
        t0 = time.perf_counter(); fns[0](); t1 = time.perf_counter()
        reps = int(min(6, max(3, budget_s / INNER / max(t1 - t0, 1e-9))))
        acc = [[] for _ in fns]
        for rep in range(reps):                             # rotate the order: drifts hit every side
            for k in range(len(fns)):
                i = (k + rep) % len(fns)
                quiesce()
                for _ in range(INNER):
                    t0 = time.perf_counter()
                    fns[i]()
                    acc[i].append(time.perf_counter() - t0)
        out[mode] = tuple(statistics.median(a) for a in acc)
    return out


def quiesce():
    """Let the other library's idle worker threads stop spinning before a block of timed calls.

    After a call, OpenBLAS's worker threads busy-wait for new work for up to 2^28 cycles (about
    0.1 s; OPENBLAS_THREAD_TIMEOUT), and OpenMP's (torch) for a shorter while. Timed right after the
    other library, a side would share its cores with those spinning threads: torch measured
    directly after rnnlab ran up to 3x slower than alone. A pause before each block removes that."""
    time.sleep(GAP_S)


def grid(quick: bool, kinds=("RNN", "LSTM", "GRU")):
    shapes = QUICK_SHAPES if quick else SHAPES
    layer_set = (1,) if quick else (1, 2)
    for shape in shapes:
        for kind in kinds:
            for layers in layer_set:
                for bi in (False, True):
                    yield kind, layers, bi, shape


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def load_line() -> str:
    try:
        return "load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average: unavailable"


def onednn_sgemm():
    """oneDNN's row-major ``dnnl_sgemm`` through ctypes, or None when its library is not installed
    (``pip install onednn-cpu-gomp==2023.2.0`` puts libdnnl.so.3 under ``sys.prefix/lib``).
    Returns gemm(a, b, out, ta, tb): out = op(a) op(b) on C-contiguous float32 arrays."""
    import ctypes
    path = os.path.join(sys.prefix, "lib", "libdnnl.so.3")
    if not os.path.exists(path):
        return None
    f = ctypes.CDLL(path).dnnl_sgemm
    i64, p = ctypes.c_int64, ctypes.c_void_p
    f.argtypes = [ctypes.c_char, ctypes.c_char, i64, i64, i64, ctypes.c_float, p, i64, p, i64,
                  ctypes.c_float, p, i64]

    def gemm(a, b, out, ta=False, tb=False):
        M, K = (a.shape[1], a.shape[0]) if ta else a.shape
        status = f(b"T" if ta else b"N", b"T" if tb else b"N", M, b.shape[0] if tb else b.shape[1], K,
                   1.0, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1], 0.0, out.ctypes.data,
                   out.shape[1])
        if status != 0:
            raise RuntimeError(f"dnnl_sgemm failed with status {status}")
        return out
    return gemm


def numpy_gemm(a, b, out, ta=False, tb=False):
    return np.matmul(a.T if ta else a, b.T if tb else b, out=out)


def step_products(rm, T, N, train, gemm):
    """A callable that runs the matrix products of rnnlab's RNN, LSTM or GRU step and nothing else:
    for every layer and direction, x W over all steps and h U per step, and for training da U^T per
    step, then dW = x^T da, dU = h^T da and dx = da W^T, with da of width G H (G gates; the GRU's
    dU and da U^T read its own da_h of that width); same shapes, order and operand layouts as
    ``rnnlab.layers.rnn`` (U^T stored contiguous). Operands hold random values and outputs are
    allocated once, so this is the step's time if every elementwise pass, copy, allocation and
    Python line were free."""
    rng = np.random.default_rng(2)
    H, dirs, G = rm.hidden_size, rm.directions, rm.gates
    plan = []
    for layer in range(rm.num_layers):
        for direction in range(dirs):
            p = rm.direction_params(layer, direction)
            W, U = p["W"], p["U"]
            D = W.shape[0]
            arrays = dict(W=W, U=U, UT=np.ascontiguousarray(U.T),
                          x=rng.standard_normal((T * N, D)).astype(np.float32),
                          h=rng.standard_normal((T * N, H)).astype(np.float32),
                          gates=np.empty((T * N, G * H), np.float32),
                          dh=np.empty((N, H), np.float32), dW=np.empty((D, G * H), np.float32),
                          dU=np.empty((H, G * H), np.float32), dx=np.empty((T * N, D), np.float32))
            plan.append(arrays)

    def run():
        for a in plan:
            gemm(a["x"], a["W"], a["gates"])
            for t in range(T):
                rows = slice(t * N, (t + 1) * N)
                gemm(a["h"][rows], a["U"], a["gates"][rows])
        if train:
            for a in reversed(plan):
                for t in reversed(range(T)):
                    gemm(a["gates"][t * N:(t + 1) * N], a["UT"], a["dh"])
                gemm(a["x"], a["gates"], a["dW"], ta=True)
                gemm(a["h"], a["gates"], a["dU"], ta=True)
                gemm(a["gates"], a["W"], a["dx"], tb=True)
    return run


def engine_products(rm, T, N, train):
    """A callable that runs the compiled LSTM loops' matrix products alone
    (``rnnlab.engine.lstm_products``): per layer and direction the forward's [x_t, h_{t-1}] [W; U]
    per step, and for training the backward's da_t U^T per step and the weight gradients; same
    shapes, threads and work split (by rows or by unit blocks) as the engine's LSTM, without its gate and state
    work, its caches and the layer's Python. None unless ``rm`` is an LSTM and the engine is active."""
    if rm.kind != "LSTM" or rnnlab.engine.active() == "numpy":
        return None
    rng = np.random.default_rng(3)
    plan = []
    for layer in range(rm.num_layers):
        for direction in range(rm.directions):
            p = rm.direction_params(layer, direction)
            D, H = p["W"].shape[0], rm.hidden_size
            plan.append((rng.standard_normal((T, N, D)).astype(np.float32),
                         rng.standard_normal((N, H)).astype(np.float32), p["W"], p["U"], bool(direction)))

    def run():
        for x, h0, W, U, reverse in plan:
            rnnlab.engine.lstm_products(x, h0, W, U, reverse=reverse)
        if train:
            for x, h0, W, U, reverse in reversed(plan):
                rnnlab.engine.lstm_products(x, h0, W, U, backward=True, reverse=reverse)
    return run


def torch_ops(kind: str) -> str:
    """The aten operators that take most of torch's CPU time in one training step of ``kind``."""
    from torch.profiler import profile
    tm = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind](64, 256)
    x = torch.randn(50, 32, 64, requires_grad=True)
    with profile() as prof:
        y, _ = tm(x)
        y.sum().backward()
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:3]
    return ", ".join(f"{e.key} x{e.count}" for e in top)


def ceiling(quick: bool, budget_s: float, kinds=tuple(GATES)) -> None:
    """For each row of the grid: torch's step, rnnlab's step, and rnnlab's matrix products alone
    with NumPy's BLAS and (if installed) with oneDNN's sgemm; timed like the grid."""
    sgemm = onednn_sgemm()
    print(load_line() + " (at start)")
    for kind in kinds:
        print(f"torch {kind} training step, top operators by self time: {torch_ops(kind)}")
    print(f"float32 matmul rate (2048^2): NumPy {matmul_rate():.0f} GFLOP/s", end="")
    if sgemm:
        print(f", oneDNN sgemm {matmul_rate(gemm=sgemm):.0f} GFLOP/s")
    else:
        print("; oneDNN sgemm: not installed (its columns are n/a; pip install onednn-cpu-gomp==2023.2.0)")
    cols = ["kind", "mode", "L", "bi", "T,N,D,H", "torch ms", "rnnlab ms", "products NumPy ms",
            "products oneDNN ms", "products engine ms", "rnnlab / torch", "products NumPy / torch",
            "products oneDNN / torch", "products engine / torch", "rnnlab / products engine"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    ratios = {}                                  # (mode, column) -> ratios over the rows
    for kind, layers, bi, shape in grid(quick, kinds):
        T, N, D, H = shape
        rm, steps = row_steps(kind, layers, bi, shape)
        for mode, (fr, ft, *_) in steps.items():
            fns = [ft, fr, step_products(rm, T, N, mode == "train", numpy_gemm),
                   step_products(rm, T, N, mode == "train", sgemm) if sgemm else None,
                   engine_products(rm, T, N, mode == "train")]
            missing = [i for i, f in enumerate(fns) if f is None]
            fns = [f or (lambda: None) for f in fns]
            for f in fns:
                f()
            t0 = time.perf_counter()
            ft()
            reps = int(min(6, max(3, budget_s / INNER / max(time.perf_counter() - t0, 1e-9))))
            times = [[] for _ in fns]
            for rep in range(reps):
                for i in (range(len(fns)) if rep % 2 else reversed(range(len(fns)))):
                    if i in missing:
                        continue
                    quiesce()
                    for _ in range(INNER):
                        t0 = time.perf_counter()
                        fns[i]()
                        times[i].append(time.perf_counter() - t0)
            med = [math.nan if i in missing else statistics.median(v) * 1e3 for i, v in enumerate(times)]
            cells = ([f"{m:.2f}" for m in med] + [f"{m / med[0]:.2f}" for m in med[1:]]
                     + [f"{med[1] / med[4]:.2f}"])
            print("| " + " | ".join([kind, mode, str(layers), "bi" if bi else "uni", ",".join(map(str, shape))]
                                    + [c.replace("nan", "n/a") for c in cells]) + " |", flush=True)
            for column, m in zip(("rnnlab", "products NumPy", "products oneDNN", "products engine"), med[1:]):
                if not math.isnan(m):
                    ratios.setdefault((mode, column), []).append(m / med[0])
                    ratios.setdefault((mode, column, kind), []).append(m / med[0])
            if not math.isnan(med[4]):
                ratios.setdefault((mode, "rnnlab / products engine", kind), []).append(med[1] / med[4])
    for mode in ("train", "infer"):
        parts = []
        for column in ("rnnlab", "products NumPy", "products oneDNN", "products engine"):
            if (mode, column) not in ratios:
                continue
            per_kind = ", ".join(f"{k} {geomean(ratios[(mode, column, k)]):.2f}" for k in GATES
                                 if (mode, column, k) in ratios)
            parts.append(f"{column} {geomean(ratios[(mode, column)]):.3f} ({per_kind})")
        print(f"geometric mean / torch, {mode}: " + "; ".join(parts))
        floor = ratios.get((mode, "rnnlab / products engine", "LSTM"))
        if floor:
            print(f"rnnlab / products engine, {mode}, LSTM: geometric mean {geomean(floor):.3f}, "
                  f"range {min(floor):.2f}-{max(floor):.2f}")
    print(load_line() + " (at end)")


def main(argv=None):
    keep_freed_memory()                  # freed memory kept for reuse (RNNLAB_MALLOC=0: off)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small subset for a smoke run")
    ap.add_argument("--markdown", metavar="PATH", help="write the table as Markdown to PATH")
    ap.add_argument("--budget", type=float, default=1.5,
                    help="seconds of repetitions per row and mode (default 1.5; at least 3 reps)")
    ap.add_argument("--kind", action="append", choices=("RNN", "LSTM", "GRU"),
                    help="only this cell's rows (repeatable; default all three)")
    ap.add_argument("--ceiling", action="store_true",
                    help="instead of the grid, each row against rnnlab's matrix products alone")
    args = ap.parse_args(argv)
    if args.ceiling:
        torch.set_num_threads(blas_threads())
        ceiling(args.quick, args.budget, tuple(args.kind or GATES))
        return
    torch.set_num_threads(blas_threads())
    from rnnlab import engine
    rate = matmul_rate()
    eng = engine.info()
    head = [f"rnnlab engine: {eng['engine']} ({eng['reason']}; {eng['threads']} threads)",
            f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores; "
            f"Python {platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__}",
            f"NumPy BLAS: {blas_description()}; torch threads: {torch.get_num_threads()}",
            f"float32 matmul rate (NumPy, 2048^2): {rate:.0f} GFLOP/s",
            load_line() + " (at start)"]
    for line in head:
        print(line, flush=True)
    cols = ["kind", "L", "bi", "T,N,D,H", "train rnnlab ms", "train torch ms", "train ratio",
            "train %mm", "train torch %mm", "infer rnnlab ms", "infer torch ms", "infer ratio", "infer %mm",
            "infer torch %mm", "infer ort ms", "infer ratio ort"]
    print(" | ".join(cols), flush=True)
    rows, ratios = [], {"train": [], "infer": [], "ort": []}
    t_start = time.perf_counter()
    kinds = []
    for kind, layers, bi, shape in grid(args.quick, tuple(args.kind or ("RNN", "LSTM", "GRU"))):
        kinds.append(kind)
        res = time_row(kind, layers, bi, shape, args.budget)
        row = [kind, str(layers), "bi" if bi else "uni", ",".join(map(str, shape))]
        for mode in ("train", "infer"):
            tr, tt = res[mode][:2]
            flops = step_flops(kind, layers, bi, *shape, train=mode == "train")
            ratios[mode].append(tr / tt)
            row += [f"{tr * 1e3:.2f}", f"{tt * 1e3:.2f}", f"{tr / tt:.2f}",
                    f"{100 * flops / tr / 1e9 / rate:.0f}%", f"{100 * flops / tt / 1e9 / rate:.0f}%"]
        if len(res["infer"]) > 2:
            tr, to = res["infer"][0], res["infer"][2]
            ratios["ort"].append(tr / to)
            row += [f"{to * 1e3:.2f}", f"{tr / to:.2f}"]
        else:
            row += ["-", "-"]
        rows.append(row)
        print(" | ".join(row), flush=True)
    g = {mode: geomean(v) if v else float("nan") for mode, v in ratios.items()}
    worst = {mode: max(v) if v else float("nan") for mode, v in ratios.items()}
    by_kind = "; ".join(f"{k} train {geomean([r for (kk, r) in zip(kinds, ratios['train']) if kk == k]):.3f}, "
                        f"infer {geomean([r for (kk, r) in zip(kinds, ratios['infer']) if kk == k]):.3f}"
                        for k in GATES if k in kinds)
    tail = [f"geometric mean rnnlab/torch: train {g['train']:.3f}, infer {g['infer']:.3f}; "
            f"rnnlab/onnxruntime: infer {g['ort']:.3f}",
            f"geometric mean per kind, rnnlab/torch: {by_kind}",
            f"worst row rnnlab/torch: train {worst['train']:.3f}, infer {worst['infer']:.3f}; "
            f"rnnlab/onnxruntime: infer {worst['ort']:.3f}",
            f"rows: {len(rows)}, wall time {time.perf_counter() - t_start:.0f} s",
            load_line() + " (at end)"]
    for line in tail:
        print(line, flush=True)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write("\n".join(f"- {line}" for line in head) + "\n\n")
            fh.write("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n")
            for row in rows:
                fh.write("| " + " | ".join(row) + " |\n")
            fh.write("\n" + "\n".join(f"- {line}" for line in tail) + "\n")


if __name__ == "__main__":
    main()
