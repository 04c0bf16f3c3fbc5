"""What the process computes with: rnnlab's version, the active cell engine and why, NumPy and its
BLAS, the thread settings, and which optional extras are installed. ``rnnlab info`` prints it, and a
training run records the engine in its checkpoint and metrics (engines round differently).

Nothing here changes a setting or imports an optional extra: versions come from the installed
packages' metadata.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import platform

import numpy as np

from .engine import LOCAL_SIZE_VARIABLES

# extra name in pyproject.toml -> the distributions it brings that rnnlab imports
EXTRAS = {"torch": "torch", "keras": "keras", "onnx": "onnx", "onnxruntime": "onnxruntime",
          "threadpoolctl": "threadpoolctl", "scipy": "scipy", "matplotlib": "matplotlib"}
THREAD_VARIABLES = ("RNNLAB_ENGINE_THREADS", "RNNLAB_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS", *LOCAL_SIZE_VARIABLES)     # the last: MPI processes on this machine


def engine_description(model=None) -> dict:
    """{"engine": name, "reason": why it is the active one, "threads": n}: ``rnnlab.engine.info()``,
    and, given a model, what computes its recurrent layers: "numpy" when none of them runs compiled
    (float64, or options the engine does not cover: ``Recurrent.compiled``), else the active engine
    with "numpy_layers": the indices of those that run the NumPy cells, if any. Engines round
    differently, so a run records this."""
    from . import engine
    from .layers import Recurrent
    info = dict(engine.info())
    layers = getattr(model, "layers", [model] if model is not None else [])
    rec = [(i, layer) for i, layer in enumerate(layers) if isinstance(layer, Recurrent)]
    if info["engine"] == "numpy" or not rec:
        return info
    slow = [i for i, layer in rec if layer.dtype != np.float32 or not layer.compiled]
    if len(slow) == len(rec):
        return {"engine": "numpy", "reason": f"{info['engine']} is built, but the recurrent layers' dtype or options "
                                             f"run the NumPy cells", "threads": 0}
    if slow:
        info["numpy_layers"] = slow
        info["reason"] += f"; layers {slow} run the NumPy cells (their dtype or options)"
    return info


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def extras() -> dict:
    """{package: version or None} for each optional extra rnnlab can use."""
    return {name: package_version(dist) if importlib.util.find_spec(name) else None
            for name, dist in EXTRAS.items()}


def blas() -> dict:
    """NumPy's BLAS: {"name", "version", "configuration"} from NumPy's build information, and where
    threadpoolctl is installed the loaded library's {"threads", "architecture", "threading_layer"}."""
    info: dict = {"name": None, "version": None, "configuration": None}
    try:
        build = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info.update(name=build.get("name"), version=build.get("version"),
                    configuration=build.get("openblas configuration"))
    except (TypeError, KeyError, AttributeError):                # NumPy < 1.25 has no mode="dicts"
        pass
    if importlib.util.find_spec("threadpoolctl") is not None:
        from threadpoolctl import threadpool_info
        loaded = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
        if loaded:
            lib = loaded[0]
            info.update(threads=lib.get("num_threads"), architecture=lib.get("architecture"),
                        threading_layer=lib.get("threading_layer"), library=lib.get("internal_api"))
    return info


def threads() -> dict:
    """Cores the process may use, and the thread variables set in the environment."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_count": os.cpu_count(), "usable_cores": usable,
            "environment": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}}


def describe() -> dict:
    """Everything ``rnnlab info`` reports, as a JSON-able dict."""
    from . import __version__
    from .memory import applied
    return {"rnnlab": __version__, "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.machine()}",
            "numpy": np.__version__, "blas": blas(), "engine": engine_description(),
            "threads": threads(), "keep_freed_memory": applied, "extras": extras()}
