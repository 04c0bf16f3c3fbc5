"""``rnnlab info``: what this installation computes with (rnnlab.runtime).

    rnnlab info           # version, NumPy and BLAS, the active engine and why, threads, extras
    rnnlab info --json    # the same as one JSON object
"""
from __future__ import annotations

import json

from ..runtime import describe


def add_parser(subparsers):
    p = subparsers.add_parser("info", help="version, NumPy/BLAS, the active engine and why, threads, extras",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return p


def format_info(info: dict) -> str:
    blas, engine, threads = info["blas"], info["engine"], info["threads"]
    blas_line = " ".join(str(v) for v in (blas.get("name"), blas.get("version")) if v) or "unknown"
    if blas.get("architecture"):
        blas_line += f" ({blas['architecture']}, {blas.get('threading_layer')})"
    env = ", ".join(f"{k}={v}" for k, v in threads["environment"].items()) or "none set"
    extras = ", ".join(f"{k} {v}" if v else f"{k} (not installed)" for k, v in info["extras"].items())
    memory = {None: "off (not switched on)", True: "on", False: "off"}[info["keep_freed_memory"]]
    return "\n".join([
        f"rnnlab {info['rnnlab']} (Python {info['python']}, {info['platform']})",
        f"NumPy {info['numpy']}, BLAS: {blas_line}",
        f"engine: {engine['engine']} ({engine['reason']})",
        f"threads: {threads['usable_cores']} usable cores of {threads['cpu_count']}, "
        + (f"engine threads {engine['threads']}, " if engine.get("threads") else "")
        + f"BLAS threads {blas.get('threads', 'unknown')}, environment: {env}",
        f"freed memory kept for reuse: {memory}",
        f"extras: {extras}",
    ])


def run(args) -> int:
    info = describe()
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0
