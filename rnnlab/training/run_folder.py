"""The run folder (``--out``) of a training run: one run per folder, one writer at a time, nothing lost.

    with open_run(out, RUN_FILES, resume=False, overwrite=False) as begin:
        ...                           # check everything that can fail: config, data, memory, model
        begin()                       # --overwrite: the previous run's files are removed only now
        ...                           # train, writing only inside ``out``

- Lock: ``.lock`` (the ``filelock`` package, an ``flock`` on POSIX, released by the kernel when the
  process dies) is held for the whole run; ``.lock.holder`` says who holds it (pid, host, start time,
  command). A second run into the same folder fails at once naming the holder.
- One run per folder: a folder that holds a run's files is refused unless the run is continued
  (``resume``) or replaced (``overwrite``). Replacing removes the previous run's files, and only those:
  a folder that also holds other files is refused, so ``--overwrite`` never deletes what a run did not
  write. They are removed when the trainer calls ``begin()``, after its checks passed: a run refused for
  its input keeps the previous one.
- A folder that ``open_run`` created is removed again when the run ends having written nothing in it
  (a refused run leaves no folder holding only ``.lock``).
- Stale temporary files (``.tmp-*``, left by a run killed inside an atomic write) are removed on start.
- A folder that cannot be written (read-only, full, no permission) is one error naming the flag.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from contextlib import contextmanager

from ..saving import TMP_PREFIX

LOCK, HOLDER = ".lock", ".lock.holder"
WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def inside(path, folder) -> bool:
    path, folder = os.path.abspath(os.fspath(path)), os.path.abspath(os.fspath(folder))
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@contextmanager
def writing(out, flag: str = "--out"):
    """Turn an OSError that says ``out`` cannot be written (read-only, full, no permission) into a
    ValueError naming ``flag``; other errors pass unchanged."""
    try:
        yield
    except OSError as err:
        if err.errno in WRITE_ERRNOS and (err.filename is None or inside(err.filename, out)):
            raise ValueError(f"{flag}: cannot write the run folder {os.fspath(out)!r} "
                             f"({err.strerror or err})") from err
        raise


def holder(out) -> str:
    """Who holds the lock of ``out``, in words (from ``.lock.holder``)."""
    try:
        with open(os.path.join(out, HOLDER)) as f:
            h = json.load(f)
        return f"pid {h['pid']} on host {h['host']}, started {h['started']}: {h['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


def acquire(out, flag: str = "--out"):
    """The lock of ``out`` (a filelock.FileLock), taken without waiting; a ValueError naming the holder
    when another process has it."""
    from filelock import FileLock, Timeout
    lock = FileLock(os.path.join(out, LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ValueError(f"{flag}: {os.fspath(out)!r} is in use by another training run ({holder(out)}); "
                         f"wait for it to end or choose another {flag}") from None
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv)}
        with open(os.path.join(out, HOLDER), "w") as f:
            json.dump(info, f)
    except BaseException:
        lock.release()
        raise
    return lock


def release(lock, out) -> None:
    try:
        os.unlink(os.path.join(out, HOLDER))
    except OSError:
        pass
    lock.release()


def clean_tmp(out) -> list:
    """Remove the ``.tmp-*`` files a killed run left in ``out`` (call with the lock held); their names."""
    stale = [n for n in os.listdir(out) if n.startswith(TMP_PREFIX) and os.path.isfile(os.path.join(out, n))]
    for n in stale:
        os.unlink(os.path.join(out, n))
    return stale


def option_names(flag: str) -> tuple:
    """The names under which errors offer resuming and overwriting: the command's flags where ``flag``
    is one (--out), else rnnlab.fit's arguments (out=)."""
    return ("--resume", "--overwrite") if flag.startswith("--") else ("resume=True", "overwrite=True")


def claim(out, run_files, overwrite: bool, flag: str = "--out") -> list:
    """A fresh run may start in ``out``: it is empty, or ``overwrite`` will replace a previous run's
    files (``run_files``, names). Anything else there is refused, naming the files. Returns the names
    to remove before the run writes (none are removed here)."""
    present = sorted(n for n in os.listdir(out) if n not in (LOCK, HOLDER) and not n.startswith(TMP_PREFIX))
    if not present:
        return []
    foreign = [n for n in present if n not in run_files or not os.path.isfile(os.path.join(out, n))]
    if foreign:
        raise ValueError(f"{flag}: {os.fspath(out)!r} holds files that a training run did not write "
                         f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); "
                         f"choose an empty or new {flag}")
    if not overwrite:
        resume_name, overwrite_name = option_names(flag)
        how = f"continue it with {resume_name} or " if any(n.endswith(".npz") for n in present) else ""
        raise ValueError(f"{flag}: {os.fspath(out)!r} already holds a run ({', '.join(present)}); "
                         f"{how}replace it with {overwrite_name}")
    return present


def remove_if_unused(out) -> None:
    """Remove the folder ``out`` when it holds nothing but the lock files (a run that wrote nothing)."""
    try:
        names = os.listdir(out)
        if set(names) <= {LOCK, HOLDER}:
            for n in names:
                os.unlink(os.path.join(out, n))
            os.rmdir(out)
    except OSError:
        pass


@contextmanager
def open_run(out, run_files, resume: bool = False, overwrite: bool = False, flag: str = "--out"):
    """Hold ``out`` for one run (see the module docstring). ``run_files``: the names the trainer writes
    there. ``resume``: continue the run in ``out`` (it must exist); ``overwrite``: replace it.
    Yields ``begin``, to call once the run's checks passed and before it writes: it removes the
    previous run's files (``overwrite``). Raises ValueError naming ``flag`` (busy, already used, not
    writable)."""
    resume_name, overwrite_name = option_names(flag)
    if resume and overwrite:
        raise ValueError(f"{overwrite_name}: cannot be combined with {resume_name} (continue the run, or "
                         f"replace it)")
    out = os.fspath(out)
    if resume and not os.path.isdir(out):
        first = flag if flag.startswith("--") else f"{flag}={out!r} and no resume"
        raise FileNotFoundError(f"{resume_name}: no run folder at {out!r} (train with {first} first)")
    with writing(out, flag):
        if os.path.exists(out) and not os.path.isdir(out):
            raise ValueError(f"{flag}: {out!r} is a file, expected a folder")
        created = not os.path.exists(out)
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as err:                  # a file on the path, or a place with no new folders
            if err.errno in WRITE_ERRNOS:
                raise
            raise ValueError(f"{flag}: cannot create the run folder {out!r} ({err.strerror or err})") from err
        try:
            lock = acquire(out, flag)
        except BaseException:
            if created:
                remove_if_unused(out)
            raise
    try:
        with writing(out, flag):
            clean_tmp(out)
            old = [] if resume else claim(out, set(run_files), overwrite, flag)

        def begin() -> None:
            with writing(out, flag):
                for n in old:
                    os.unlink(os.path.join(out, n))
            old.clear()
        yield begin
    finally:
        release(lock, out)
        if created:
            remove_if_unused(out)
