"""Keep freed memory in the process, so that large arrays are not page-faulted in again on every call.

A training or inference step allocates the same large arrays on every call (gates (T, N, 4H),
states (T+1, N, H), their gradients). With glibc's default settings each of them is handed back to
the kernel when it is freed: arrays above the mmap threshold (at most 32 MB, adapted at run time)
are unmapped, and the top of the heap is trimmed above the trim threshold. The next call maps the
memory again and touches every 4 KiB page for the first time; each such page fault costs about
1-2 us on this machine (a virtual machine), i.e. 2,000-3,000 faults and 3-5 ms for one small LSTM
inference of 4-5 ms of arithmetic (measured with ``resource.getrusage().ru_minflt``).

``keep_freed_memory()`` asks glibc to serve large blocks from the heap and never to trim it, so a
freed array's pages are reused by the next allocation of the same size. The price is that the
process keeps its peak heap size until it exits, which suits a training or benchmark process.

It is called once when rnnlab's engine is imported (that is, on ``import rnnlab``) unless
``RNNLAB_MALLOC=0`` is set; it does nothing where the C library is not glibc (macOS, musl, Windows).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3      # mallopt parameters, <malloc.h>
_LARGE = 1 << 30                                  # 1 GiB: above any array of one step
_MMAP_MAX = 32 << 20                              # the highest mmap threshold some glibc versions accept


def glibc():
    """The process's glibc as a ctypes library, or None on other C libraries."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Raise glibc's mmap threshold (to 1 GiB, or 32 MB where that is refused) and its trim
    threshold (to 1 GiB); True where both were set."""
    libc = glibc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    mmap_set = libc.mallopt(M_MMAP_THRESHOLD, _LARGE) or libc.mallopt(M_MMAP_THRESHOLD, _MMAP_MAX)
    return bool(mmap_set) and bool(libc.mallopt(M_TRIM_THRESHOLD, _LARGE))


def wanted() -> bool:
    return os.environ.get("RNNLAB_MALLOC", "1") != "0"


applied = keep_freed_memory() if wanted() else False
