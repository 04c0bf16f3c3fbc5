"""Keep freed memory in the process, so that large arrays are not page-faulted in again on every call.

A training step allocates the same large arrays on every call (gates (T, N, 4H), states
(T+1, N, H), their gradients). With glibc's default settings each of them is handed back to the
kernel when it is freed: arrays above the mmap threshold (at most 32 MB, adapted at run time) are
unmapped, and the top of the heap is trimmed above the trim threshold. The next call maps the
memory again and touches every 4 KiB page for the first time; each such page fault costs about
1-2 us on a virtual machine: the training forward of one small bidirectional LSTM (N = 64, T = 28,
H = 128) took 5.1 ms with about 3,400 faults, and 1.6 ms with its memory kept (measured with
``resource.getrusage().ru_minflt``). Whether the defaults return the memory depends on the sizes
(glibc keeps freed memory up to twice its largest freed block: the unidirectional layer of that size
gets by). An LSTM's ``infer`` allocates little more than its output and faults little either way
(``benchmarks/micro.py faults``).

``keep_freed_memory()`` asks glibc to serve large blocks from the heap and never to trim it, so a
freed array's pages are reused by the next allocation of the same size. The price is that the
process keeps its peak heap size until it exits, which suits a training or benchmark process but
not necessarily a program that merely imports rnnlab, so it is a switch, never applied on import:

    from rnnlab.memory import keep_freed_memory
    keep_freed_memory()          # once, early; True where glibc accepted both settings

The ``rnnlab`` command (``rnnlab.cli.main``) and the benchmarks turn it on. ``RNNLAB_MALLOC=0`` in the
environment makes the switch do nothing. It does nothing where the C library is not glibc (macOS,
musl, Windows). The setting is process-wide and lasts until the process exits.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3      # mallopt parameters, <malloc.h>
_LARGE = 1 << 30                                  # 1 GiB: above any array of one step
_MMAP_MAX = 32 << 20                              # the highest mmap threshold some glibc versions accept

applied: bool | None = None
"""None until ``keep_freed_memory`` is called; then whether glibc accepted the settings."""


def glibc():
    """The process's glibc as a ctypes library, or None on other C libraries."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def wanted() -> bool:
    """False when ``RNNLAB_MALLOC=0`` is set in the environment."""
    return os.environ.get("RNNLAB_MALLOC", "1") != "0"


def keep_freed_memory() -> bool:
    """Raise glibc's mmap threshold (to 1 GiB, or 32 MB where that is refused) and its trim
    threshold (to 1 GiB), for the rest of the process; True where both were set. Does nothing and
    returns False under ``RNNLAB_MALLOC=0`` or on a C library other than glibc. Calling it again
    does nothing more."""
    global applied
    if applied is not None:
        return applied
    libc = glibc() if wanted() else None
    if libc is None or not hasattr(libc, "mallopt"):
        applied = False
        return applied
    mmap_set = libc.mallopt(M_MMAP_THRESHOLD, _LARGE) or libc.mallopt(M_MMAP_THRESHOLD, _MMAP_MAX)
    applied = bool(mmap_set) and bool(libc.mallopt(M_TRIM_THRESHOLD, _LARGE))
    return applied


def available_memory() -> int | None:
    """Bytes a new allocation can get without swapping: MemAvailable of /proc/meminfo on Linux, else
    the physical memory (sysconf), else None where neither can be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return physical_memory()


def weights_error(sizes: str, count: int) -> MemoryError:
    """The MemoryError of a layer whose ``count`` weights (drawn in float64, 8 bytes each) do not fit in
    this machine's memory, naming ``sizes`` (the constructor's arguments as given)."""
    return MemoryError(f"{sizes}: the layer's weights, about {count:,} numbers (drawn in float64), do not fit in "
                       f"this machine's memory")


def check_weights_fit(sizes: str, count: int) -> None:
    """``weights_error`` raised before anything is allocated when ``count`` float64 numbers exceed the
    machine's physical memory (NumPy would raise a bare MemoryError, or swap)."""
    if 8 * count > (physical_memory() or 1 << 50):
        raise weights_error(sizes, count)


def physical_memory() -> int | None:
    """Bytes of the machine's physical memory (sysconf), or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
