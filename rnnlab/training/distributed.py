"""Data-parallel training over MPI, equal to one process (the pattern of Horovod, Sergeev & Del Balso 2018).

Every process holds the whole model; each global batch, the one a single process would draw for
(seed, epoch, batch), is cut into ``size`` contiguous row ranges, and process r computes the loss and
the gradients of its rows. One ``Allreduce`` over a single flat buffer per step sums them:

    buffer_r = [c_r g_r (every dense gradient, flattened), c_r L_r, c_r]     c_r: counted predictions of rank r
    sum_r buffer_r = [C g, C L, C]                                           C = sum_r c_r, the global batch's count
    g = (sum_r c_r g_r) / C,    L = (sum_r c_r L_r) / C

g_r and L_r are the mean loss and its gradient over rank r's rows (rnnlab.metrics.batch_loss
normalises by the predictions it counts), so g and L are the global batch's mean loss and gradient,
what one process computes; only the order of the floating-point sums differs (rows within a rank,
then across ranks), so parameters agree to rounding (float64 relative 1e-12, float32 1e-5), not
bit for bit. Every process then clips and steps the same summed gradients, and stays in lockstep.

Random draws: a Dropout layer draws one mask for the whole batch from its generator. Every process
draws the full global batch's mask and keeps its own rows (``Shard.dropout_draws``), so the masks
are the single process's and the generators' states, which checkpoints save, agree on every rank.

Processes: ``world()`` is the single process (``World``, no MPI needed, mpi4py never imported) unless
the environment says that an MPI launcher started this process as one of N > 1 (``PMI_SIZE`` from
MPICH / Intel MPI, ``OMPI_COMM_WORLD_SIZE`` from Open MPI, ``MV2_COMM_WORLD_SIZE`` from MVAPICH); then
it is an ``MPIWorld`` over MPI.COMM_WORLD (mpi4py, the ``mpi`` extra). Rank 0 alone writes files and
prints. ``guard`` turns an exception on any rank into a message naming the rank and
``MPI_Abort``, which ends every process: a job never hangs on a rank that is gone.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
import zlib
from contextlib import contextmanager, nullcontext
from typing import NamedTuple

import numpy as np

from ..optim import SparseGrad

ABORT_GRACE_SECONDS = 0.5
"""Pause between a rank's error report and MPI_Abort (see ``MPIWorld.abort``)."""
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")   # MPICH/Intel MPI, Open MPI, MVAPICH


def launched_size(environ=None) -> int:
    """The number of processes an MPI launcher started, from the environment it sets; 1 when none did."""
    environ = os.environ if environ is None else environ
    for name in SIZE_VARIABLES:
        value = environ.get(name, "")
        if value.strip().isdigit():
            return int(value)
    return 1


def shard_rows(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rows [lo, hi) of a batch of ``n`` rows that process ``rank`` of ``size`` computes: contiguous
    ranges of sizes differing by at most one, a pure function of (n, rank, size)."""
    return n * rank // size, n * (rank + 1) // size


def take_rows(batch, lo: int, hi: int):
    """Rows [lo, hi) of a Batch (x, y, lengths, mask), padding kept: T is the global batch's."""
    cut = lambda a: None if a is None else a[lo:hi]       # noqa: E731
    return type(batch)(cut(batch.x), cut(batch.y), cut(batch.lengths), cut(batch.mask))


class RowsOfDraws:
    """A Dropout layer's generator as one process sees it: ``random(shape)`` draws what the single
    process draws for the global batch (``rows`` in place of shape[0]) and returns rows [lo, hi)."""

    def __init__(self, rng: np.random.Generator, rows: int, lo: int, hi: int):
        self.rng, self.rows, self.lo, self.hi = rng, rows, lo, hi

    @property
    def bit_generator(self):
        return self.rng.bit_generator

    def random(self, shape, dtype=np.float64):
        if shape[0] != self.hi - self.lo:
            raise ValueError(f"shape: expected {self.hi - self.lo} rows (this process's part of the batch), "
                             f"got shape {tuple(shape)}")
        return self.rng.random((self.rows, *shape[1:]), dtype=dtype)[self.lo:self.hi]


class Shard(NamedTuple):
    """This process's part of a global batch of ``rows`` rows: ``batch`` holds rows [lo, hi).
    ``counted`` False: the process has no rows (a batch smaller than the number of processes); it
    computes row 0 to keep its Dropout generators in step, with weight 0 in the sum."""
    batch: object
    rows: int
    lo: int
    hi: int
    counted: bool = True

    @contextmanager
    def dropout_draws(self, model):
        """Inside: ``model``'s Dropout layers draw the global batch's masks and keep rows [lo, hi)."""
        layers = [layer for layer in getattr(model, "layers", ()) if hasattr(layer, "rng") and hasattr(layer, "rate")]
        if self.hi - self.lo == self.rows or not layers:
            yield
            return
        saved = [layer.rng for layer in layers]
        try:
            for layer in layers:
                layer.rng = RowsOfDraws(layer.rng, self.rows, self.lo, self.hi)
            yield
        finally:
            for layer, rng in zip(layers, saved):
                layer.rng = rng


class World:
    """One process: rank 0 of 1. Every collective is the identity; nothing imports MPI."""

    rank, size = 0, 1
    allreduce_seconds = 0.0

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, size={self.size})"

    # collectives: the identity in one process
    def allreduce(self, buffer: np.ndarray) -> np.ndarray:
        """Sum ``buffer`` (a contiguous 1-d float array) over the processes, in place; returns it."""
        return buffer

    def bcast(self, obj):
        """Rank 0's ``obj`` on every rank (pickled)."""
        return obj

    def allgather(self, obj) -> list:
        """[obj of rank 0, obj of rank 1, ...] on every rank (pickled)."""
        return [obj]

    def barrier(self) -> None:
        pass

    def abort(self, code: int = 1):
        sys.exit(code)

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any process (a decision every process must take together)."""
        return bool(flag)

    # data-parallel steps
    def shard(self, batch) -> Shard:
        """This process's rows of ``batch`` (see ``shard_rows``)."""
        n = len(batch.x)
        lo, hi = shard_rows(n, self.rank, self.size)
        if lo == hi:                            # fewer rows than processes: compute row 0, counted 0
            return Shard(take_rows(batch, 0, 1), n, 0, 1, counted=False)
        return Shard(batch if hi - lo == n else take_rows(batch, lo, hi), n, lo, hi)

    def shard_trees(self, trees: list, batch, masks: tuple, make_batch, label_map=None):
        """This process's trees of a tree minibatch: (its TreeBatch, its rows of the dropout ``masks``
        (embedding (L, D), hidden (M, H)) drawn for the global ``batch``, a Shard counting trees).
        Trees [lo, hi) by ``shard_rows``; a node's mask row is the one the global node table gives it
        (``batch.rank``: table position by node in tree order), so the masks are the single process's."""
        n = len(trees)
        lo, hi = shard_rows(n, self.rank, self.size)
        counted = lo < hi
        if not counted:                          # fewer trees than processes: tree 0, weight 0
            lo, hi = 0, 1
        if hi - lo == n:
            return batch, masks, Shard(batch, n, lo, hi, counted)
        part = make_batch(trees[lo:hi], label_map)
        first = sum(len(t.labels) for t in trees[:lo])
        where = batch.rank[first:first + len(part.rank)]        # global table position of each of its nodes
        local = part.rank                                      # its own table position, same node order
        emb, hid = masks
        if hid is not None:
            hid_part = np.empty((len(local),) + hid.shape[1:], hid.dtype)
            hid_part[local] = hid[where]
            leaf = local < len(part.words)                      # leaves (height 0) lead both tables
            emb_part = np.empty((len(part.words),) + emb.shape[1:], emb.dtype)
            emb_part[local[leaf]] = emb[where[leaf]]
            emb, hid = emb_part, hid_part
        return part, (emb, hid), Shard(part, n, lo, hi, counted)

    def sum_gradients(self, grads: dict, loss: float, count: int, shard: Shard | None = None) -> tuple[float, int]:
        """The global batch's mean gradients (written into ``grads``), mean loss and count, from this
        process's ``grads`` and ``loss`` (means over its ``count`` predictions). See the module
        docstring for the sums; one process: unchanged."""
        return loss, count

    def broadcast_params(self, params: dict) -> None:
        """Rank 0's parameters on every rank, checked equal to the ones each rank built."""

    def describe(self) -> str:
        return "one process"

    def check_same(self, params: dict, what: str = "parameters") -> None:
        """Raise RuntimeError when ``params`` differ between processes (a checksum per process)."""

    def evaluate_split(self, model, task, split: str, batch_size: int) -> dict:
        """rnnlab.metrics.evaluate_split, its batches spread over the processes and the sums combined."""
        from ..metrics import evaluate_split
        return evaluate_split(model, task, split, batch_size)

    @contextmanager
    def guard(self, command: str = "rnnlab"):
        """One process: exceptions pass unchanged."""
        yield


def flat_dtype(grads: dict):
    dense = [g for g in grads.values() if not isinstance(g, SparseGrad)]
    return np.result_type(*dense) if dense else np.float64


def checksum(params: dict) -> int:
    """A CRC-32 of every parameter's bytes, keys in order: equal parameters, equal checksums."""
    crc = 0
    for k, v in params.items():
        crc = zlib.crc32(k.encode(), crc)
        crc = zlib.crc32(np.ascontiguousarray(v).tobytes(), crc)
    return crc


class MPIWorld(World):
    """Rank ``comm.Get_rank()`` of ``comm.Get_size()`` processes (mpi4py)."""

    def __init__(self, comm, MPI):
        self.comm, self.MPI = comm, MPI
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.allreduce_seconds = 0.0    # wall time inside Allreduce, waiting for slower ranks included

    def allreduce(self, buffer):
        t0 = time.perf_counter()
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        self.allreduce_seconds += time.perf_counter() - t0
        return buffer

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def allgather(self, obj):
        return self.comm.allgather(obj)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code: int = 1):
        # The launcher forwards each rank's stderr through a pipe and stops forwarding when it kills
        # the job: give the line just printed (``report``) time to get out first; on a loaded
        # machine it was sometimes lost.
        time.sleep(ABORT_GRACE_SECONDS)
        self.comm.Abort(code)

    def any(self, flag):
        return bool(self.comm.allreduce(int(bool(flag)), op=self.MPI.MAX))

    def sum_gradients(self, grads, loss, count, shard=None):
        c = count if shard is None or shard.counted else 0
        dense = [k for k, g in grads.items() if not isinstance(g, SparseGrad)]
        dtype = flat_dtype(grads)
        sizes = [grads[k].size for k in dense]
        buffer = np.empty(sum(sizes) + 2, dtype)
        at = 0
        for k, n in zip(dense, sizes):
            np.multiply(grads[k].ravel(), c, out=buffer[at:at + n])             # c_r g_r
            at += n
        buffer[at:] = (c * loss if c else 0.0, c)                               # c_r L_r, c_r
        self.allreduce(buffer)                                                  # the one Allreduce of the step
        total = buffer[-1]                                                      # C: an integer, exact in float32 below 2^24
        buffer /= total                                                         # g = sum_r c_r g_r / C
        at = 0
        for k, n in zip(dense, sizes):
            grads[k] = buffer[at:at + n].reshape(grads[k].shape)
            at += n
        for k, g in grads.items():
            if isinstance(g, SparseGrad):                                       # rows gathered, not densified
                grads[k] = self.sum_sparse(g, c, total)
        return float(buffer[-2]), int(round(float(total)))

    def sum_sparse(self, g: SparseGrad, c: int, total) -> SparseGrad:
        """A sparse gradient (embedding rows) summed over processes: every rank's rows and values,
        weighted c_r / C, concatenated in rank order (the optimizer adds repeated rows)."""
        parts = self.allgather((g.rows, g.values * g.values.dtype.type(c)) if c else (g.rows[:0], g.values[:0]))
        rows = np.concatenate([r for r, _ in parts])
        values = np.concatenate([v for _, v in parts]) / g.values.dtype.type(total)
        return SparseGrad(rows, values.astype(g.values.dtype, copy=False))

    def describe(self) -> str:
        """Which process is which rank (a killed rank is reported by the launcher with its pid)."""
        where = self.allgather((os.getpid(), self.MPI.Get_processor_name()))
        return f"data-parallel over {self.size} MPI processes: " + ", ".join(
            f"rank {r} pid {pid} on {host}" for r, (pid, host) in enumerate(where))

    def broadcast_params(self, params):
        dense = list(params)
        if not dense:
            return
        dtype = np.result_type(*params.values())
        buffer = np.concatenate([params[k].ravel() for k in dense]).astype(dtype)
        own = buffer.copy()
        self.comm.Bcast(buffer, root=0)
        if not np.array_equal(buffer, own):
            raise RuntimeError(f"rank {self.rank}: the parameters built from the configuration differ from rank 0's "
                               "(every process must build the same model from the same seed)")
        at = 0
        for k in dense:
            n = params[k].size
            params[k][...] = buffer[at:at + n].reshape(params[k].shape)
            at += n

    def check_same(self, params, what="parameters"):
        sums = self.allgather(checksum(params))
        if len(set(sums)) > 1:
            differ = [r for r, s in enumerate(sums) if s != sums[0]]
            raise RuntimeError(f"the {what} of rank(s) {differ} differ from rank 0's: the processes are no "
                               "longer in lockstep")

    def evaluate_split(self, model, task, split, batch_size):
        """Batch b of the split (in file order, as one process batches it) on rank b mod size; the
        loss and metric sums of every rank added in rank order, so every rank gets the same numbers."""
        from ..metrics import Totals, batch_loss
        from ..models import predicting
        totals = Totals()
        with predicting(model):
            for b, batch in enumerate(getattr(task, split).batches(batch_size)):
                if b % self.size == self.rank:
                    out, _ = model.forward(batch.x, batch.lengths)
                    loss, _, n, sums = batch_loss(task.kind, out, batch)
                    totals.add(loss, n, sums)
        merged = Totals()
        for loss_sum, count, sums in self.allgather((totals.loss, totals.count, totals.sums)):
            merged.loss += loss_sum
            merged.count += count
            for key, (num, den) in sums.items():
                a, b = merged.sums.get(key, (0.0, 0))
                merged.sums[key] = (a + num, b + den)
        out = merged.result()
        if not task.meta.get("string_accuracy"):
            out.pop("strings_correct", None)
        return out

    @contextmanager
    def guard(self, command: str = "rnnlab"):
        """An exception on this rank: its message, naming the rank, on stderr, then MPI_Abort, which
        ends every process of the job with exit status 1 (the others would wait forever in the next
        collective). The last checkpoint is whole: it is written atomically by rank 0."""
        try:
            yield
        except SystemExit as err:
            if err.code not in (None, 0):
                self.report(command, f"exit status {err.code}")
                self.abort(err.code if isinstance(err.code, int) else 1)
            raise
        except BaseException as err:                     # noqa: BLE001: any failure must end the job
            message = " ".join(str(err).split())
            if not isinstance(err, (ValueError, FileNotFoundError)):
                traceback.print_exc(file=sys.stderr)
            self.report(command, f"{type(err).__name__}: {message}")
            self.abort(1)

    def report(self, command: str, what: str) -> None:
        print(f"{command}: error on rank {self.rank} of {self.size} processes: {what}; ending the MPI job "
              f"(MPI_Abort)", file=sys.stderr, flush=True)


_WORLD: World | None = None


def world() -> World:
    """The processes this one trains with: ``World()`` alone, or an ``MPIWorld`` when an MPI launcher
    started N > 1 processes (see the module docstring). Created on the first call (MPI_Init then),
    the same object afterwards. Raises ImportError naming the ``mpi`` extra when mpi4py is missing."""
    global _WORLD
    if _WORLD is None:
        size = launched_size()
        if size > 1:
            try:
                from mpi4py import MPI
            except ImportError as err:
                raise ImportError(f"started as one of {size} MPI processes, which needs mpi4py: "
                                  f"pip install 'rnnlab[mpi]' ({err})") from err
            _WORLD = MPIWorld(MPI.COMM_WORLD, MPI)
        else:
            _WORLD = World()
    return _WORLD


def root_only(fn):
    """``fn`` on rank 0, a function doing nothing elsewhere (echo, progress)."""
    return fn if world().is_root else (lambda *a, **k: None)


def maybe_guard(command: str):
    """``world().guard(command)`` when started under MPI, else nothing (mpi4py not imported)."""
    return world().guard(command) if launched_size() > 1 else nullcontext()
