"""``rnnlab compare``: RNN, LSTM and GRU trained on one task with the same budget over several seeds;
a Markdown table of the test results and a PNG of the learning curves.

With no arguments it runs the main job of the quick start: the adding problem at T = 100 (hidden 32,
Adam 0.01, 150,000 training sequences per run, 3 seeds), where the plain RNN stays
at the trivial MSE 0.167 and the LSTM and the GRU solve it; about a minute on 2 idle CPU cores.

    rnnlab compare                                  # the main job, into runs/compare
    rnnlab compare --task order --T 60 --seeds 2 --out runs/order

Runs go to worker processes (``--jobs``, default 2), each with one BLAS thread: small matrices gain
nothing from threads, and two single-threaded runs use two cores fully.

Under ``mpiexec -n N`` the runs are spread over the N processes (run i on rank i mod N, each run in
one process; ``--jobs`` is not used), and rank 0 gathers the results and writes the outputs.

Each run has its folder, ``OUT/runs/<model>-seed<seed>``. Run again with the same ``--out``, a
complete run trained with the identical configuration is reused as it is; any other run there is
replaced whole, so the table never mixes runs and ``make run`` can be repeated.
"""
from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing

from ..checks import check_int
from ..training.run_folder import writing
from ..saving import atomic_write
from ..train import MODELS, Config, final_metrics, finished_run, train, write_json
from ..training.distributed import World, world as mpi_world
from .train import add_arguments, config_from_args

MAIN_JOB = {"task": "adding", "T": 100, "hidden": 32, "lr": 0.01, "schedule": "constant", "epochs": 15,
            "train_size": 10_000, "batch_size": 64}
METRIC_NAMES = {"accuracy": "accuracy", "solved": "abs error < 0.04", "strings_correct": "strings correct"}
PLOT_EXTRA = "the plot needs matplotlib: pip install 'rnnlab[plot]'"
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
MAX_SEEDS, MAX_JOBS = 1_000, 256


def add_parser(sub):
    p = sub.add_parser("compare", help="RNN vs LSTM vs GRU on one task, several seeds: table and learning curves")
    add_arguments(p)
    p.set_defaults(**{k: v for k, v in MAIN_JOB.items() if k != "epochs"})
    p.add_argument("--dropout", type=float, help="Dropout between stacked layers and before the head, as in "
                                                 "rnnlab train (default 0: none)")
    p.add_argument("--models", default="rnn,lstm,gru", help="comma-separated (default rnn,lstm,gru)")
    p.add_argument("--seeds", type=int, default=3, help=f"seeds 0 .. N-1 per model (default 3, at most {MAX_SEEDS})")
    p.add_argument("--jobs", type=int, default=2, help=f"worker processes (default 2, at most {MAX_JOBS})")
    p.add_argument("--out", default="runs/compare", help="folder for compare.md, compare.png, compare.json, runs")
    return p


def run_one(cfg_dict: dict, out: str) -> dict:
    """One training run (in a worker process); the result without the model object. A complete run
    of the same configuration already in ``out`` is reused; anything else there is replaced."""
    cfg = Config(**cfg_dict)
    done = finished_run(out, cfg)
    if done is not None:
        return {**done, "reused": True}
    result = train(cfg, out=out, progress=False, echo=lambda *a: None, overwrite=True, world=World())
    result.pop("model")
    return result


def run_all(configs: list, out: str, jobs: int, echo=print) -> list:
    """Train every config, ``jobs`` at a time; results in the order of ``configs``."""
    folders = [os.path.join(out, "runs", f"{c.model}-seed{c.seed}") for c in configs]
    if jobs <= 1:
        results = []
        for c, f in zip(configs, folders):
            results.append(run_one(vars(c), f))
            echo(summary_line(results[-1]))
        return results
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS})           # read by the workers' BLAS at start-up
    try:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(run_one, vars(c), f) for c, f in zip(configs, folders)]
            results = []
            for fut in futures:
                results.append(fut.result())
                echo(summary_line(results[-1]))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return results


def summary_line(result: dict) -> str:
    c, test = result["config"], result["test"]
    extra = " ".join(f"{k} {v:.4f}" for k, v in test.items() if k != "loss")
    reused = ", reused from an earlier compare" if result.get("reused") else ""
    return f"{c['model']:>4} seed {c['seed']}: test loss {test['loss']:.4f} {extra} ({result['seconds']:.0f} s{reused})"


def task_label(c: Config) -> str:
    """"adding T=100" for the synthetic tasks with a length, else the task's name."""
    return f"{c.task} T={c.T or 100}" if c.task in ("adding", "copy", "order") else c.task


def mean_sd(values: list) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def table(results: list, models: list) -> str:
    """Markdown: one row per model, mean ± sd over seeds, and each seed's value."""
    metric = next((k for k in METRIC_NAMES if k in results[0]["test"]), None)
    adding = results[0]["config"]["task"] == "adding"
    head = ["model", "seeds", "test loss" + (" (MSE)" if adding else "")]
    head += [f"test {METRIC_NAMES[metric]}"] if metric else []
    head += ["sequences to MSE < 0.01", "sequences to solve (MSE < 0.01, 99% abs error < 0.04)"] if adding else []
    head += ["time per run (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in models:
        rows = [r for r in results if r["config"]["model"] == m]
        cells = [m.upper(), str(len(rows)), mean_sd([r["test"]["loss"] for r in rows])]
        if metric:
            cells.append(mean_sd([r["test"][metric] for r in rows]))
        if adding:
            for key in ("learned_at", "solved_at"):
                cells.append(", ".join(f"{r[key]:,}" if r[key] else "no" for r in rows))
        cells.append(f"{statistics.mean(r['seconds'] for r in rows):.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: list, models: list, path: str, title: str, baseline: float | None = None) -> bool:
    """Validation loss against training sequences seen, one colour per model, one line per seed.
    Returns False (and writes nothing) when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
    for m in models:
        for i, r in enumerate(r for r in results if r["config"]["model"] == m):
            h = r["history"]
            ax.plot([e["sequences"] for e in h], [e["valid_loss"] for e in h], color=colours.get(m),
                    alpha=0.8, label=m.upper() if i == 0 else None)
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle="--", label="predict 1 (MSE 0.167)")
    ax.set_yscale("log")
    ax.set_xlabel("training sequences seen")
    ax.set_ylabel("validation loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def run(args) -> int:
    if args.task == "sst":
        raise ValueError("--task: compare runs the sequence tasks; SST has its own command")
    models = [m.strip() for m in args.models.split(",")]
    if not args.models.strip() or any(m not in MODELS for m in models) or len(set(models)) < len(models):
        raise ValueError(f"--models: expected distinct names from {sorted(MODELS)}, comma-separated, "
                         f"got {args.models!r}")
    check_int("--seeds", args.seeds, 1, MAX_SEEDS)
    check_int("--jobs", args.jobs, 1, MAX_JOBS)
    if args.epochs is None:
        args.epochs = MAIN_JOB["epochs"]
    configs = []
    for m in models:
        for seed in range(args.seeds):
            args.model, args.seed = m, seed
            configs.append(config_from_args(args))             # validates every option
    start = time.perf_counter()
    c = configs[0]
    world = mpi_world()
    if world.size > 1:                                          # the runs spread over the MPI processes
        return run_spread(args, configs, models, world, start)
    print(f"compare: {', '.join(m.upper() for m in models)} on {task_label(c)}, hidden {c.hidden}, "
          f"{args.seeds} seeds, {args.jobs} jobs")
    with writing(args.out):
        os.makedirs(args.out, exist_ok=True)
        results = run_all(configs, args.out, args.jobs)
        write_outputs(args, results, models, c, time.perf_counter() - start)
    return 0


def run_spread(args, configs: list, models: list, world, start: float) -> int:
    """Under MPI: run i on rank i mod size, one process each; rank 0 gathers and writes the outputs."""
    mine = list(range(world.rank, len(configs), world.size))
    if world.is_root:
        print(f"compare: {', '.join(m.upper() for m in models)} on {task_label(configs[0])}, hidden "
              f"{configs[0].hidden}, {args.seeds} seeds, over {world.size} MPI processes")
        os.makedirs(args.out, exist_ok=True)
    world.barrier()                                             # --out exists before any rank writes in it
    with writing(args.out):
        done = run_all([configs[i] for i in mine], args.out, 1, echo=lambda *a: None)
        results = [r for part in world.allgather(list(zip(mine, done))) for r in part]
        results = [r for _, r in sorted(results, key=lambda ir: ir[0])]
        if world.is_root:
            for r in results:
                print(summary_line(r))
            write_outputs(args, results, models, configs[0], time.perf_counter() - start,
                          how=f"{world.size} MPI processes")
    return 0


def write_outputs(args, results: list, models: list, c: Config, wall: float, how: str | None = None) -> None:
    """compare.md, compare.json and compare.png in --out, each replaced whole; ``how``: what ran the
    runs (default: --jobs jobs)."""
    title = f"{task_label(c)}: validation loss, hidden {c.hidden}"            # the plot's curves
    md = f"# {task_label(c)}, hidden {c.hidden}\n\n{table(results, models)}\n\nTotal wall time {wall:.0f} s with {how or f'{args.jobs} jobs'}.\n"
    atomic_write(os.path.join(args.out, "compare.md"), lambda f: f.write(md.encode()))
    write_json(os.path.join(args.out, "compare.json"),
               {"wall_seconds": wall, "runs": [{**final_metrics(r), "seed": r["config"]["seed"],
                                                "history": r["history"]} for r in results]})
    plotted = plot(results, models, os.path.join(args.out, "compare.png"), title,
                   1 / 6 if c.task == "adding" else None)
    print(md)
    print(f"wrote {os.path.join(args.out, 'compare.md')}" +
          (f" and {os.path.join(args.out, 'compare.png')}" if plotted else f"; no plot: {PLOT_EXTRA}"))
