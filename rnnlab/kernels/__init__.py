"""Optional fused kernels for the LSTM and GRU cells: the same equations, fewer passes over memory.

The readable NumPy cells in ``rnnlab.layers`` are the reference. Per time step they run about a
dozen separate elementwise NumPy passes (sigmoid alone is four), each reading and writing arrays of
(N, 4H); on small and medium shapes those passes cost more than the step's matrix product. The
kernels in ``fused.py`` compute one step's whole elementwise part in one loop over each batch row,
compiled by numba into SIMD code; the matrix products stay with NumPy's BLAS.

They are used only where they are known to match the reference (``tests/test_fast_path.py``):
float32, no ragged-batch mask, and for the GRU the default reset-after form. Everything else, and
every machine without numba, runs the reference. Install with ``pip install rnnlab[fast]``;
``RNNLAB_FAST=0`` in the environment turns the kernels off.

Keeping freed memory in the process (so that the large per-call arrays are not page-faulted in
again each call) is an explicit switch, ``rnnlab.memory.keep_freed_memory()``, never applied on import.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

_numba_present = importlib.util.find_spec("numba") is not None


def enabled() -> bool:
    """True when numba is installed and RNNLAB_FAST is not "0"."""
    return _numba_present and os.environ.get("RNNLAB_FAST", "1") != "0"


def applies(x: np.ndarray, mask) -> bool:
    """Whether a cell call on input ``x`` with ``mask`` may take the fused path."""
    return x.dtype == np.float32 and mask is None and enabled()
