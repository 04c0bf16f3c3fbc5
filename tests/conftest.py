import os

import numpy as np
import pytest


def require_torch():
    """torch, or a skip; CI sets RNNLAB_REQUIRE_TORCH=1 so a missing torch fails instead of skipping."""
    if os.environ.get("RNNLAB_REQUIRE_TORCH") == "1":
        import torch  # noqa: F401  (an ImportError here fails the run, as it should in CI)
        return torch
    return pytest.importorskip("torch")


def rel_err(a, b) -> float:
    """Norm-wise relative error max|a - b| / max|b| (max|b| floored at 1e-12)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)) if a.size else 0.0
