"""The compiled cell engine: the time loops of the RNN, LSTM and GRU cells in C, same equations.

The NumPy cells in ``rnnlab.layers`` are the reference and the fallback. This package runs the same
sequence loops compiled (``_cells.c``), with the work split of oneDNN's and LIBXSMM's RNNs:

- the forward loop runs each step's x_t W + h_{t-1} U as one product over [W; U] packed once per
  call into 16-unit panels, with a register-blocked micro-kernel (6 rows x up to 64 columns of
  float32 accumulators; AVX-512, AVX2 + FMA or plain C, chosen at run time), and does the step's
  elementwise work (gates, c, h; vectorized) right after the product, while its tile is in cache;
  at batch 1 and 2, where a step is bound by reading the packed weights rather than by arithmetic,
  the LSTM forward computes x_t W ahead of the steps, 128 steps at a time (at most 128 N 4H floats of
  scratch), and each step's h U product starts its sums from the stored x_t W (the same sums in the
  same order: the same bits);
- the backward loop runs each step's da_t U^T the same way, then the weight gradients merged over
  time, dW = x^T da, dU = h_{t-1}^T da, db and dx = da W^T, one product each over all T N rows,
  in the same micro-kernel on the same threads (dW and dU in one pass over each chunk of da where
  da_x = da_h). No product goes to NumPy's BLAS: its idle worker threads spin on the other core
  after each call and would slow the engine's next loop;
- outputs go where the layer wants them: the LSTM's forward writes each y_t into the layer's
  batch-first output (``out``) and every backward writes dx into the batch-first dx (``dx_out``), a
  bidirectional layer's second direction adding its part (``dx_add``), through strides, with no copy
  after the loop; the plain LSTM without a mask keeps no tanh(c_t) for its backward, which computes
  it again from c_t (the same bits);
- with 6 batch rows per thread or more, the threads split the rows: each takes a part of the rows
  through every step, all units, with no wait between threads inside the time loop (a row's
  recurrence reads only its own row); with fewer, each step's hidden units are cut into 16-unit
  blocks, each holding all the gates of its units, the thread that computed a block's product
  finishes its units (gates, c, h), and the next step waits for all blocks. Either way every thread
  starts on its own share and takes over any part or block nobody has started, so a thread the OS
  deschedules never holds the loop up. Nothing is allocated inside the loop, and the result does not
  depend on the number of threads or on the split (rows are independent sums).

It computes exactly what the NumPy loops compute and fills the same caches (but the plain LSTM's
tanh(c_t) above), so a plain cell's cache from either path feeds either backward (a variant's goes
back through the compiled loop); it rounds differently (tanh is a rational approximation within
3e-7, sums run in another order), to a float32 relative error below 1e-5 (``tests/test_engine.py``,
``tests/test_engine_variants.py``) where the units are not saturated: where |a| > 6 or so the
derivative 1 - tanh(a)^2 is itself below 1e-5, and the approximation's absolute error (3e-7, which
NumPy's float32 tanh does not have) is a large part of it; such gradients are off by up to their own
size there, about 1e-7 absolute.

Covered: float32, LSTM, GRU with ``reset_after=True``, RNN (tanh, relu and identity), both
directions, ragged batches; the LSTM's peepholes, cell_clip, gate_clip and input_forget, the LSTM's
and GRU's hard-sigmoid gates, and the zoneout and recurrent dropout of all three cells, as options
of the same loops (the plain cells' loops keep their arithmetic and their code: the LSTM's take the
options as a flag checked once per call); weight drop, as the loops run on U' = U * S (the layers
pass U' and map dU' back). Recurrent dropout keeps h~ = h s_r beside h (``h_rec``), which the next
step's product and dU read; gate_clip keeps one bit per gate pre-activation, [|a| < gate_clip]
(``gate_keep``), for the backward. In loops of their own, which take the same options except gate_clip
and recurrent dropout: the LSTM's proj_size (h_t = (o tanh(c_t)) W_hr; two phases per step: the
gates, then the projection; ``lstm_forward(W_hr=, m=)``), and the LSTM's and GRU's layer_norm (a
row's statistics span all its gate columns: with 6 batch rows per thread or more each thread runs its
own rows through every step, with no wait between threads; with fewer, each step runs in phases over
the unit blocks: x_t W and h_{t-1} U; every row's statistics and the gates; the LSTM's LN(c_t) and
h_t; the backward likewise; the gains' gradients are summed per chunk of 4 rows, in chunk order, so
both ways give the same bits; ``lstm_forward(layer_norm=, ln_cache=)``).
Everything else (float64, the reset-before GRU, proj_size with layer_norm, gate_clip or recurrent
dropout, layer_norm with gate_clip or recurrent dropout) runs the NumPy cells.

Switches (read at each call):
    RNNLAB_ENGINE=numpy         the NumPy cells everywhere
    RNNLAB_ENGINE=c-avx2 | c-generic
                                a lower instruction set than the CPU's best (for tests and A/B)
    RNNLAB_ENGINE_THREADS=n     threads of the compiled loops (default: the usable cores, at most 8,
                                shared among the processes an MPI launcher started on this machine)

Within ``with inference():`` (``Recurrent.infer`` uses it) the LSTM and GRU forward loops keep no
backward cache. ``lstm_infer`` goes further for the LSTM without a mask: it writes each h_t straight
into the layer's batch-first output (a strided view) and reads it back as the next step's h_{t-1},
with c_t in two alternating slots, so no (T + 1, N, H) state arrays are written and no output is
copied (measured in one process, alternating: 2-5% less time on the grid's larger LSTM inference rows,
level on the small ones; the same bits). Worker threads are pinned, per call, to usable CPUs other
than the caller's.

``lstm_products`` runs the LSTM loops' matrix products and waits alone (the benchmarks' floor).

The loop functions raise ValueError naming the argument for a missing array or one of another
shape or dtype than the loop reads or writes (the C takes raw pointers).

``info()`` says which engine runs and why. This module imports only NumPy (and the standard
library); it never imports ``rnnlab.layers``.
"""
from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import os

import numpy as np


ENGINES = ("c-avx512", "c-avx2", "c-generic")       # best first; index = 2 - rn_isa() level
_ISA = {"c-avx512": 2, "c-avx2": 1, "c-generic": 0}
_LSTM_FWD, _LSTM_BWD, _GRU_FWD, _GRU_BWD, _RNN_FWD, _RNN_BWD = range(6)
_LSTMP_FWD, _LSTMP_BWD = 6, 7                         # the LSTM with proj_size
_state: dict = {}
_no_cache = contextvars.ContextVar("rnnlab_engine_no_cache", default=False)


def _library():
    """(the loaded C library, None) or (None, why it could not be loaded); loaded once."""
    if "lib" not in _state:
        lib, why = None, None
        try:
            from . import _cells
            lib = ctypes.CDLL(_cells.__file__)
            lib.rn_isa.restype = ctypes.c_int
            lib.rn_run.restype = ctypes.c_int
            lib.rn_run.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
            lib.rn_packed_size.restype = ctypes.c_int64
            lib.rn_packed_size.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.rn_proj_packed_size.restype = ctypes.c_int64            # proj_size
            lib.rn_proj_packed_size.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        except (ImportError, OSError, AttributeError) as err:
            lib, why = None, f"the compiled extension rnnlab.engine._cells is not built ({err})"
        _state["lib"], _state["why"] = lib, why
    return _state["lib"], _state["why"]


MAX_THREADS = 64
"""Most threads the compiled loops use (RN_MAX_THREADS in _cells.c); a call also uses at most one
per 16-unit block of its layer."""


_thread_cap = contextvars.ContextVar("rnnlab_engine_thread_cap", default=0)


@contextlib.contextmanager
def single_threaded():
    """Within this context (this thread), the compiled loops run on the calling thread alone: for a
    task that already shares the cores with another (``rnnlab.engine.threads.run_pair``)."""
    token = _thread_cap.set(1)
    try:
        yield
    finally:
        _thread_cap.reset(token)


LOCAL_SIZE_VARIABLES = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "MV2_COMM_WORLD_LOCAL_SIZE")
"""How MPICH's Hydra / Intel MPI, Open MPI and MVAPICH tell a process how many of the job's processes
run on its machine."""


def processes_here() -> int:
    """The processes of this MPI job on this machine, from the launcher's environment
    (LOCAL_SIZE_VARIABLES); 1 when no launcher says so."""
    for name in LOCAL_SIZE_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isascii() and value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def num_threads() -> int:
    """Threads of the compiled loops: RNNLAB_ENGINE_THREADS (at most MAX_THREADS), else the usable
    cores divided among the processes an MPI launcher started on this machine (``processes_here``;
    at least 1, at most 8): on two cores, two processes of two threads each trained 0.64x (an LSTM
    with H = 32) and 0.88x (H = 256) as many sequences per second as two of one thread each
    (``benchmarks/bench_mpi.py``'s shapes, alternating). 1 within ``single_threaded()``."""
    if _thread_cap.get():
        return 1
    wanted = os.environ.get("RNNLAB_ENGINE_THREADS", "").strip()
    if wanted:
        n = int(wanted) if wanted.isascii() and wanted.isdigit() else 0
        if n < 1:
            raise ValueError(f"RNNLAB_ENGINE_THREADS: expected a positive whole number, got {wanted!r}")
        return min(n, MAX_THREADS)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                           # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores // processes_here(), 8))


def info() -> dict:
    """Which engine runs the float32 cells, and why.

    Returns {"engine": "c-avx512" | "c-avx2" | "c-generic" | "numpy", "reason": str,
    "threads": int (0 for numpy)}. Raises ValueError for an RNNLAB_ENGINE value it does not know.
    """
    name, reason = _choose()
    return {"engine": name, "reason": reason, "threads": 0 if name == "numpy" else num_threads()}


def _choose() -> tuple:
    """(the active engine's name, why): RNNLAB_ENGINE read at each call, against what is built."""
    wanted = os.environ.get("RNNLAB_ENGINE", "").strip().lower() or "auto"
    if wanted not in ("auto", "numpy", *ENGINES):
        raise ValueError(f"RNNLAB_ENGINE: expected one of auto, numpy, {', '.join(ENGINES)}; got {wanted!r}")
    if wanted == "numpy":
        return "numpy", "RNNLAB_ENGINE=numpy"
    lib, why = _library()
    if lib is None:
        return "numpy", why
    if "best" not in _state:
        _state["best"] = ENGINES[2 - lib.rn_isa()]
    best = _state["best"]
    if wanted == "auto":
        return best, f"the compiled extension is built; {best} is this CPU's best instruction set"
    if _ISA[wanted] > _ISA[best]:
        return best, f"RNNLAB_ENGINE={wanted}, but this CPU's best is {best}"
    return wanted, f"RNNLAB_ENGINE={wanted}"


def check_environment() -> None:
    """ValueError naming RNNLAB_ENGINE or RNNLAB_ENGINE_THREADS where one is set to a value the engine
    refuses; the command line calls it before any work, so that the variable, not the command's first
    file, is blamed."""
    _choose()
    num_threads()


def active() -> str:
    """The engine's name, as info()["engine"]."""
    return _choose()[0]


def applies(x: np.ndarray) -> bool:
    """Whether a cell call on input ``x`` runs in the compiled engine (float32 and an engine built)."""
    return x.dtype == np.float32 and active() != "numpy"


def inference_mode() -> bool:
    """Whether this thread is within ``inference()``."""
    return _no_cache.get()


@contextlib.contextmanager
def inference():
    """Within this context (this thread), the LSTM and GRU forward loops keep no backward cache.

    ``lstm_forward`` returns None for gates and tanh_c, ``gru_forward`` None for gates and q: the
    loops never write those (T, N, 5H) or (T, N, 4H) floats. For ``infer``, which drops the cache:
    on a call whose arrays have left the caches (the first after a pause), writing them costs about
    as much as the arithmetic at small shapes. Outputs and states are the same bits either way.
    """
    token = _no_cache.set(True)
    try:
        yield
    finally:
        _no_cache.reset(token)


# ----- the calls ---------------------------------------------------------------------------------
_PEEP, _CLIP, _CIFG, _ZONE, _HARD = 1, 2, 4, 8, 16    # rn_job's vflags
_RDROP, _GCLIP = 32, 64                                 # recurrent dropout, the LSTM's gate_clip
_PROJ = 128                                           # proj_size (the loops _LSTMP_FWD, _LSTMP_BWD)
_ACTS = {"tanh": 0, "relu": 1, "identity": 2}           # rn_job's act: the Elman cell's phi
_LN = 256                                              # layer_norm (rn_job's vflags)
_FLOOR = 1 << 14                                      # the LSTM loops' products alone (lstm_products)
_SLOPES = {"hard_sigmoid": 1.0 / 6.0, "hard_sigmoid_keras2": 0.2}   # rnnlab.activations' hard sigmoids


def _run(which: int, T: int, N: int, H: int, G: int, reverse: bool, *, act=0, dy=None, D=0, vflags=0,
         clip=None, slope=None, gclip=None, P=0, h_strides=(0, 0), y_strides=(0, 0), dx_strides=(0, 0),
         dx_add=False, **arrays):
    """One compiled loop over float32 C-contiguous arrays (dy may be strided over time and batch);
    P: the projection's width (proj_size) for the loops _LSTMP_FWD, _LSTMP_BWD, else 0; h_strides:
    hs's strides of time and batch in elements for lstm_infer's output (hs then (T, N, H), cs (2, N, H)
    and h0 given), else (0, 0); y_strides: y's (the LSTM's forward, which then writes y_t = h_t
    without a mask too), dx_strides: dx's (a backward), else (0, 0): C-contiguous; dx_add: the
    backward adds da W^T to dx instead of setting it."""
    reverse = _reverse(reverse)
    lib, why = _library()
    if lib is None:
        raise RuntimeError(why)
    state = info()
    if state["engine"] == "numpy":   # the backward of a variant forward that ran compiled before the
        state = {"engine": ENGINES[2 - lib.rn_isa()], "threads": num_threads()}   # switch: only C reads its cache
    size = lib.rn_proj_packed_size(H, P, D) if P else lib.rn_packed_size(G, H, D)
    packed = np.empty(int(size), np.float32)
    dy_ts, dy_ns = (0, 0) if dy is None else (dy.strides[0] // 4, dy.strides[1] // 4)
    ints = np.array([T, N, H, int(reverse), act, dy_ts, dy_ns, D, vflags, P, *h_strides, *y_strides, *dx_strides,
                     int(dx_add)], np.int64)
    arrays.update(packed=packed, dy=dy, clip=None if clip is None else np.array([clip], np.float32),
                  slope=None if slope is None else np.array([slope], np.float32),
                  gclip=None if gclip is None else np.array([gclip], np.float32))
    loose = ("y",) * (y_strides != (0, 0)) + ("dx",) * (dx_strides != (0, 0))
    _check_arrays(which, T, N, H, G, D, P, vflags, arrays, h_strides != (0, 0), loose)
    addresses = [0] * len(_ARRAYS)
    for name, a in arrays.items():
        if a is not None:
            addresses[_SLOT[name]] = a.ctypes.data
    ptrs = np.array(addresses, np.uintp)
    done = lib.rn_run(which, _ISA[state["engine"]], state["threads"], ints.ctypes.data, ptrs.ctypes.data)
    if done == -2:
        raise MemoryError(f"rnnlab.engine: the compiled loop could not allocate its scratch memory (T={T}, N={N}, "
                          f"H={H})")
    if done != 0:
        raise RuntimeError(f"rnnlab.engine: the compiled loop refused its arguments (T={T}, N={N}, H={H})")


_ARRAYS = ("gates", "b", "b_hn", "U", "packed", "hs", "cs", "aux", "y", "mask", "dy", "da", "dah",
           "dh", "dc", "dhk", "x", "W", "dW", "dU", "db", "dbh", "dx", "peep", "zh", "zc", "dp", "clip", "chat",
           "slope", "sr", "hd", "gclip", "gkeep",
           "W_hr", "m", "dW_hr", "dhs",                                   # proj_size
           "gx", "gh", "gc", "bc", "nx", "sx", "nh", "sh", "mc", "sc", "dgx", "dgh", "dgc", "dbc",   # layer_norm
           "h0")                                                          # lstm_infer
"""rn_run's array arguments, in the order of its address list (_cells.c)."""
_SLOT = {name: i for i, name in enumerate(_ARRAYS)}

_PUBLIC = {"aux": "tanh_c", "peep": "peepholes", "zh": "zoneout", "zc": "zoneout", "chat": "c_hat",
           "sr": "recurrent_dropout", "hd": "h_rec", "gkeep": "gate_keep", "gx": "layer_norm['g_x']",
           "gh": "layer_norm['g_h']", "gc": "layer_norm['g_c']", "bc": "layer_norm['b_c']",
           **{k: f"ln_cache[{k!r}]" for k in ("nx", "sx", "nh", "sh", "mc", "sc")}}


def _reverse(reverse) -> int:
    """1 or 0 for reverse True or False (or 1, 0); ValueError naming reverse otherwise (the loops index
    the carried states with it)."""
    if not (isinstance(reverse, (bool, np.bool_, int, np.integer)) and reverse in (0, 1)):
        raise ValueError(f"reverse: expected True or False, got {reverse!r}")
    return int(reverse)


def _check_arrays(which, T, N, H, G, D, P, vflags, arrays, strided=False, loose=()):
    """ValueError naming the argument (as the public functions call it) for an array the loop would
    read or write out of its bounds: a missing one, or one of another shape or dtype. The C loops
    take raw pointers, so this is the last line between a wrong shape and a crash. loose: the names
    given with strides of their own (checked by ``_strides``), which need a unit stride only along
    their last axis."""
    want, need, public, writes = _expected(which, T, N, H, G, D, P, vflags, strided)
    for name in need:
        if arrays.get(name) is None:
            raise ValueError(f"{public.get(name, name)}: expected a float32 array of shape {want[name]}, got None")
    for name, a in arrays.items():
        shape = want.get(name)
        if a is None or shape is None:
            continue
        label = public.get(name, name)
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{label}: expected a float32 array of shape {shape}, got {type(a).__name__}")
        ok_shape = a.shape == shape or (name == "m" and a.shape == (N, H))
        dtype = np.uint16 if name == "gkeep" else np.float32
        contiguous = a.flags.c_contiguous or ((name == "dy" or (name == "hs" and strided) or name in loose)
                                              and (a.strides[2] == 4 or a.shape[2] == 1))
        if not (ok_shape and a.dtype == dtype and contiguous):
            raise ValueError(f"{label}: expected a{' C-contiguous' if name != 'dy' else ''} {np.dtype(dtype).name} "
                             f"array of shape {shape}, got {a.dtype} {a.shape}"
                             + ("" if contiguous else " (not C-contiguous)"))
        if name in writes and not a.flags.writeable:
            raise ValueError(f"{label}: expected a writeable array (the loop writes it), got a read-only one")


@functools.lru_cache(maxsize=256)
def _expected(which, T, N, H, G, D, P, vflags, strided=False):
    """(shape of every array the loop can take, the names it needs (in that order), their public names,
    the names it writes) for one call's sizes; cached, as a training run makes the same calls again and
    again. strided: lstm_infer's call (hs its (T, N, H) output, cs two slots, h0 given)."""
    GH, Pw, nb = G * H, P or H, (H + 15) // 16
    lstm, bwd = which in (_LSTM_FWD, _LSTM_BWD, _LSTMP_FWD, _LSTMP_BWD), which in (_LSTM_BWD, _GRU_BWD, _RNN_BWD,
                                                                                 _LSTMP_BWD)
    want = dict(x=(T, N, D), W=(D, GH), U=(Pw, GH), b=(GH,), b_hn=(H,), hs=(T + 1, N, Pw), cs=(T + 1, N, H),
                gates=(T, N, GH), aux=(T, N, H), y=(T, N, Pw), mask=(T, N), dy=(T, N, Pw), da=(T, N, GH),
                dah=(T, N, GH), dh=(N, Pw), dc=(N, H), dhk=(N, Pw), dW=(D, GH), dU=(Pw, GH), db=(GH,), dbh=(GH,),
                dx=(T, N, D), peep=(3 * H,), zh=(N, Pw), zc=(N, H), dp=(3 * H,), chat=(T, N, H), sr=(N, Pw),
                hd=(T + 1, N, Pw), gkeep=(T, N, 4 * nb), W_hr=(H, P), m=(T, N, H), dW_hr=(H, P), dhs=(T, N, P),
                gx=(GH,), gh=(GH,), gc=(H,), bc=(H,), nx=(T, N, GH), nh=(T, N, GH), sx=(T, N), sh=(T, N),
                mc=(T, N), sc=(T, N), dgx=(GH,), dgh=(GH,), dgc=(H,), dbc=(H,), h0=(N, Pw))
    if strided:
        want.update(hs=(T, N, Pw), cs=(2, N, H))
    need = {"x", "W", "U", "hs"} | ({"cs"} if lstm else set())
    need |= ({"dy", "gates", "da", "dh", "dhk", "dW", "dU", "db", "dx"} | ({"dc"} if lstm else set())) if bwd else {"b"}
    if which == _GRU_FWD:
        need.add("b_hn")
    if strided:
        need.add("h0")
    if bwd and not vflags & _FLOOR and which != _RNN_BWD and not vflags & _LN and not (which == _LSTM_BWD
                                                                                     and not vflags):
        need.add("aux")                         # (the plain LSTM's: lstm_backward checks it with the mask)
    public = dict(_PUBLIC, aux="q" if which in (_GRU_FWD, _GRU_BWD) else "tanh_c", **({"hs": "out"} if strided else {}))
    if which in (_RNN_FWD, _RNN_BWD):
        public["gates"] = "h_new"
    writes = ({"da", "dah", "dh", "dc", "dhk", "dW", "dU", "db", "dbh", "dx", "dp", "dW_hr", "dhs", "dgx", "dgh",
               "dgc", "dbc"} if bwd else
              {"gates", "hs", "cs", "aux", "y", "chat", "hd", "gkeep", "m", "nx", "sx", "nh", "sh", "mc", "sc"})
    return want, tuple(name for name in want if name in need), public, frozenset(writes | {"packed"})


def _sizes(x, W, U, G):
    """(T, N, D, P, H) of a call, after checking x (T, N, D), W (D, G H) and U (P, G H): ValueError
    naming the argument otherwise (P: the width of h, H unless the LSTM projects)."""
    for name, a, ndim in (("x", x, 3), ("W", W, 2), ("U", U, 2)):
        if not isinstance(a, np.ndarray) or a.ndim != ndim or a.dtype.kind != "f":
            got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
            raise ValueError(f"{name}: expected a {ndim}-dimensional float array, got {got}")
    T, N, D = x.shape
    if min(T, N) < 1:
        raise ValueError(f"x: expected at least one time step and one row (T, N, D), got shape {x.shape}")
    if U.shape[1] % G or U.shape[1] == 0 or W.shape != (D, U.shape[1]):
        raise ValueError(f"W, U: expected W of shape (D, {G} H) with D = {D} (x's last axis) and U of shape (P, {G} H), "
                         f"got W {W.shape}, U {U.shape} (x {x.shape})")
    return T, N, D, U.shape[0], U.shape[1] // G


def _check_width(U, W_hr, P, H):
    """U's rows are h's width: H, or P = W_hr's columns with a projection; ValueError naming U or W_hr."""
    if W_hr is None and P != H:
        raise ValueError(f"U: expected shape ({H}, {4 * H}) (H, 4 H) without W_hr, got {U.shape}")
    if W_hr is not None and np.shape(W_hr) != (H, P):
        raise ValueError(f"W_hr: expected shape ({H}, {P}) (H, P with U of shape (P, 4 H)), got {np.shape(W_hr)}")


def _given(name, a, shape):
    """a as float32 of the given shape; ValueError naming it (None included) otherwise."""
    if a is None:
        raise ValueError(f"{name}: expected a float array of shape {shape}, got None")
    a = np.asarray(a)
    if a.dtype.kind != "f" or a.shape != shape:
        raise ValueError(f"{name}: expected a float array of shape {shape}, got {a.dtype} {a.shape}")
    return a


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _as_array(a) -> np.ndarray:
    """a as an array without copying an array; a dict or set as an object scalar (asarray would
    otherwise fail on one), so that callers can refuse it by dtype."""
    return a if isinstance(a, np.ndarray) else np.asarray(a, dtype=object if isinstance(a, (dict, set)) else None)


def _numeric(name, a) -> np.ndarray:
    """An option's array as C-contiguous float32; ValueError naming it unless it holds real numbers
    (float, integer or bool; not strings, objects or complex numbers). Shapes are checked later."""
    arr = _as_array(a)
    if arr.dtype.kind not in "fiub":
        got = f"{arr.dtype} {arr.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"{name}: expected an array of real numbers, got {got}")
    return _f32(arr)


def _mask2d(mask):
    """The layer's (T, N, 1) (or (T, N)) 0/1 mask as contiguous (T, N) float32, or None; ValueError
    naming mask for another shape or a value other than 0 and 1 (the loops carry a row's state where
    it is 0 and scale its output by it elsewhere: 0.5 would halve y and keep the new state)."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.ndim not in (2, 3) or (mask.ndim == 3 and mask.shape[2] != 1) or mask.dtype.kind not in "fiub":
        raise ValueError(f"mask: expected a (T, N, 1) array of 0 and 1, got {mask.dtype} {mask.shape}")
    mask = _f32(mask.reshape(mask.shape[0], mask.shape[1]))
    bad = (mask != 0) & (mask != 1)
    if bad.any():
        t, n = np.argwhere(bad)[0]
        raise ValueError(f"mask: expected values 0 and 1, got {mask[t, n]} at (t, n) = ({t}, {n})")
    return mask


def _dy(dy) -> np.ndarray:
    """dy (T, N, H) as float32 with unit stride along H (a direction's slice keeps its strides)."""
    dy = np.asarray(dy, dtype=np.float32)
    return dy if dy.strides[2] == 4 and dy.strides[0] % 4 == 0 and dy.strides[1] % 4 == 0 else _f32(dy)


def _states(T, N, H, r, h0, c0=None, Hc=None):
    """hs (T+1, N, H) and cs (T+1, N, Hc or H) with the initial states in their slot."""
    hs = np.empty((T + 1, N, H), np.float32)
    hs[T if r else 0] = h0
    if c0 is None:
        return hs, None
    cs = np.empty((T + 1, N, Hc or H), np.float32)
    cs[T if r else 0] = c0
    return hs, cs


def _grad_arrays(T, N, D, H, G, dx_out=None, dx_add=False):
    """The loop's outputs dW = x^T da, dU = h_{t-1}^T da, db = sum da, dx = da W^T (filled in C), and
    _run's dx arguments: dx is dx_out where given (see ``_strides``), which dx_add adds to."""
    dx, strides = (np.empty((T, N, D), np.float32), (0, 0)) if dx_out is None else \
        (dx_out, _strides("dx_out", dx_out, (T, N, D)))
    if not isinstance(dx_add, (bool, np.bool_)) or (dx_add and dx_out is None):
        raise ValueError(f"dx_add: expected True (with dx_out) or False, got {dx_add!r}"
                         + (" without dx_out" if isinstance(dx_add, (bool, np.bool_)) else ""))
    return dict(dx=dx, dW=np.empty((D, G * H), np.float32), dU=np.empty((H, G * H), np.float32),
                db=np.empty(G * H, np.float32), dx_strides=strides, dx_add=bool(dx_add))


def _strides(name, a, shape) -> tuple:
    """The (time, batch) strides in elements of an output array the loop writes through strides:
    a writeable float32 array of ``shape`` (T, N, K) with unit stride along K and distinct elements
    (a batch-first (N, T, K) array transposed, or a direction's columns of one); ValueError naming
    it otherwise. A length-1 axis's stride is any: its C-contiguous one is returned."""
    T, N, K = shape
    if not (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.shape == shape and a.flags.writeable
            and _distinct_elements(a)):
        got = f"{a.dtype} {a.shape} strides {a.strides}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"{name}: expected a writeable float32 array of shape {shape} with unit stride along its "
                         f"last axis, positive strides and no two elements at one address, got {got}")
    return (a.strides[0] // 4 if T > 1 else N * K, a.strides[1] // 4 if N > 1 else K)


def _slope(gate_activation):
    """The hard sigmoid's slope, or None for "sigmoid"; ValueError naming gate_activation otherwise."""
    if not isinstance(gate_activation, str) or (gate_activation != "sigmoid" and gate_activation not in _SLOPES):
        raise ValueError(f"gate_activation: expected one of {['sigmoid', *_SLOPES]}, got {gate_activation!r}")
    return _SLOPES.get(gate_activation)


def _lstm_variant(peepholes, cell_clip, input_forget, zoneout, c_hat, T, N, H, need_c_hat, gate_activation,
                  gate_clip=None, gate_keep=None, recurrent_dropout=None, h_rec=None, P=None):
    """vflags and the arrays of the LSTM options (see lstm_forward); P: the width of h (proj_size), or None: H."""
    for name, value in (("cell_clip", cell_clip), ("gate_clip", gate_clip)):
        if value is None:
            continue
        ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))
        if ok:
            with np.errstate(over="ignore", under="ignore"):
                ok = 0 < float(np.float32(value)) < float("inf")     # the loops compare in float32
        if not ok:
            raise ValueError(f"{name}: expected a positive finite number (in float32) or None, got {value!r}")
    if not isinstance(input_forget, (bool, np.bool_)):
        raise ValueError(f"input_forget: expected True or False, got {input_forget!r}")
    if zoneout is not None and not (isinstance(zoneout, (tuple, list)) and len(zoneout) == 2):
        raise ValueError(f"zoneout: expected a pair (d of h, d of c), each None, a number or an (N, H) array, got "
                         f"{type(zoneout).__name__}")
    zh, zc = (None, None) if zoneout is None else zoneout
    _slope(gate_activation)
    flags = ((_PEEP if peepholes is not None else 0) | (_CLIP if cell_clip is not None else 0)
             | (_CIFG if input_forget else 0) | (_ZONE if zh is not None or zc is not None else 0)
             | (_HARD if gate_activation in _SLOPES else 0) | (_GCLIP if gate_clip is not None else 0)
             | (_RDROP if recurrent_dropout is not None else 0))
    if gate_clip is not None:
        if not gate_clip > 0:
            raise ValueError(f"gate_clip: expected a number > 0 or None, got {gate_clip!r}")
        gate_keep = _checked("gate_keep", gate_keep, (T, N, 4 * ((H + 15) // 16)), np.uint16, need_c_hat,
                             "gate_clip's record of the clipped pre-activations (gate_keep_array)")
    else:
        gate_keep = None
    if flags & _ZONE and flags & (_PEEP | _CLIP):
        if c_hat is None and need_c_hat:
            raise ValueError("c_hat: expected a (T, N, H) float32 array for c^_t (zoneout with peepholes or "
                             "cell_clip), got None")
        if c_hat is not None:
            _checked("c_hat", c_hat, (T, N, H), np.float32, False, "c^_t")
    else:
        c_hat = None
    return flags, dict(peep=None if peepholes is None else _numeric("peepholes", peepholes), clip=cell_clip, zh=_zone(zh, N, P or H),
                       zc=_zone(zc, N, H), chat=c_hat, slope=_SLOPES.get(gate_activation), gclip=gate_clip,
                       gkeep=gate_keep, **_rdrop(recurrent_dropout, h_rec, T, N, H))


def _checked(name, a, shape, dtype, required, what):
    """a, a C-contiguous array of shape and dtype (or None where not required); ValueError naming it."""
    if a is None:
        if required:
            raise ValueError(f"{name}: expected a {dtype.__name__} array of shape {shape} for {what}, got None")
        return None
    if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype or not a.flags.c_contiguous:
        got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"{name}: expected a C-contiguous {dtype.__name__} array of shape {shape}, got {got}")
    return a


def gate_keep_array(T: int, N: int, H: int) -> np.ndarray:
    """An uninitialized array for lstm_forward's gate_keep: (T, N, 4 nb) uint16 with nb = ceil(H / 16);
    the loop sets bit l of word [t, n, g nb + k] to [|a| < gate_clip] for unit 16 k + l of gate g
    (order i, f, o, g), a the pre-activation before the clip."""
    return np.empty((T, N, 4 * ((H + 15) // 16)), np.uint16)


def _rdrop(s_r, h_rec, T, N, H):
    """The loop's arrays of recurrent dropout: sr = s_r (N, H) and hd = h_rec (T+1, N, H), or none."""
    if s_r is None:
        return {}
    h_rec = _checked("h_rec", h_rec, (T + 1, N, H), np.float32, True, "h~ = h s_r (recurrent dropout)")
    return dict(sr=_zone(s_r, N, H, "recurrent_dropout"), hd=h_rec)


def _start_h_rec(extra, h0, reverse):
    """h~ of the initial state, h_0 s_r, in the slot the loop reads first."""
    if "hd" in extra:
        if not extra["hd"].flags.writeable:
            raise ValueError("h_rec: expected a writeable array (the loop writes h~ = h s_r), got a read-only one")
        T = extra["hd"].shape[0] - 1
        np.multiply(h0, extra["sr"], out=extra["hd"][T if reverse else 0])


def _zone(d, N, H, name="zoneout"):
    """Zoneout's d (or recurrent dropout's s_r) as contiguous (N, H) float32 (a scalar, evaluation's z,
    is broadcast), or None; ValueError naming it for another shape."""
    if d is None:
        return None
    arr = _as_array(d)
    if arr.dtype.kind not in "fiub" or (arr.ndim and arr.shape != (N, H)):
        got = f"{arr.dtype} {arr.shape}" if isinstance(d, (np.ndarray, list, tuple)) else type(d).__name__
        raise ValueError(f"{name}: expected a number or an array of shape {(N, H)}, got {got}")
    if arr.ndim == 0:
        return np.full((N, H), arr, np.float32)
    return _f32(arr)


def _proj_m(m, W_hr, T, N, H, keep):
    """The projection's m_t array: the caller's (T, N, H) float32 one when a cache is kept (ValueError
    naming m otherwise), else an (N, H) scratch; None without W_hr."""
    if W_hr is None:
        return None
    if not keep:
        return np.empty((N, H), np.float32)
    if not isinstance(m, np.ndarray) or m.shape != (T, N, H) or m.dtype != np.float32 or not m.flags.c_contiguous:
        got = "None" if m is None else f"{m.dtype} {m.shape}" if isinstance(m, np.ndarray) else type(m).__name__
        raise ValueError(f"m: expected a C-contiguous float32 array of shape {(T, N, H)} for m_t = o * tanh(c_t) "
                         f"(proj_size), got {got}")
    return m


def _check_proj(W_hr, gate_clip, recurrent_dropout, layer_norm=None):
    """ValueError naming W_hr or layer_norm when their loops are asked for an option they do not take."""
    if W_hr is not None and (gate_clip is not None or recurrent_dropout is not None or layer_norm is not None):
        raise ValueError("W_hr: the projected LSTM loops take neither gate_clip, recurrent_dropout nor layer_norm; "
                         "a layer with proj_size and one of them runs rnnlab.layers.lstm_variants' NumPy step "
                         "functions")
    if layer_norm is not None and (gate_clip is not None or recurrent_dropout is not None):
        raise ValueError("layer_norm: the layer-norm loops take neither gate_clip nor recurrent_dropout; a layer "
                         "with layer_norm and either runs the NumPy step functions")


def _layer_norm(layer_norm, ln_cache, T, N, H, G, keep, lstm, c_hat=False):
    """The arrays of a layer-norm call (see lstm_forward): the gains as float32 and, where the forward
    keeps a cache, the cache arrays, also stored into ``ln_cache``: n and s of LN(x W) and LN(h U), the
    LSTM's mean and s of c^_t, and c^_t itself where c_hat (zoneout of c)."""
    names = ("g_x", "g_h", "g_c", "b_c") if lstm else ("g_x", "g_h")
    if not isinstance(layer_norm, dict) or set(layer_norm) != set(names):
        got = sorted(layer_norm) if isinstance(layer_norm, dict) else type(layer_norm).__name__
        raise ValueError(f"layer_norm: expected a dict of the gains {list(names)}, got {got}")
    if keep and not isinstance(ln_cache, dict):
        raise ValueError(f"ln_cache: expected a dict to receive the layer-norm cache, got {type(ln_cache).__name__}")
    arrays = {k: _numeric(f"layer_norm[{n!r}]", layer_norm[n]) for k, n in zip(("gx", "gh", "gc", "bc"), names)}
    if keep:
        more = dict(nx=np.empty((T, N, G * H), np.float32), sx=np.empty((T, N), np.float32),
                    nh=np.empty((T, N, G * H), np.float32), sh=np.empty((T, N), np.float32))
        if lstm:
            more.update(mc=np.empty((T, N), np.float32), sc=np.empty((T, N), np.float32))
        if c_hat:
            more["chat"] = np.empty((T, N, H), np.float32)
        arrays.update(more)
        ln_cache.update(more)
    return arrays


def _ln_cached(layer_norm, ln_cache, lstm, c_hat=False):
    """A backward's layer-norm arrays: the gains and the forward's ``ln_cache``."""
    need = ("nx", "sx", "nh", "sh") + (("mc", "sc") if lstm else ()) + (("chat",) if c_hat else ())
    if not isinstance(ln_cache, dict) or any(k not in ln_cache for k in need):
        raise ValueError("ln_cache: expected the dict that the layer-norm forward filled, got "
                         f"{sorted(ln_cache) if isinstance(ln_cache, dict) else type(ln_cache).__name__}")
    for k in need:
        if not isinstance(ln_cache[k], np.ndarray):
            raise ValueError(f"ln_cache[{k!r}]: expected the array the layer-norm forward stored, got "
                             f"{type(ln_cache[k]).__name__}")
    names = ("g_x", "g_h", "g_c", "b_c") if lstm else ("g_x", "g_h")
    if not isinstance(layer_norm, dict) or any(n not in layer_norm for n in names):
        raise ValueError(f"layer_norm: expected a dict of the gains {list(names)}, got "
                         f"{sorted(layer_norm) if isinstance(layer_norm, dict) else type(layer_norm).__name__}")
    return {**{k: _numeric(f"layer_norm[{n!r}]", layer_norm[n]) for k, n in zip(("gx", "gh", "gc", "bc"), names)},
            **{k: ln_cache[k] for k in need}}


def lstm_forward(x, h0, c0, W, U, b, mask=None, reverse=False, *, out=None, peepholes=None, cell_clip=None,
                 input_forget=False, zoneout=None, c_hat=None, gate_activation="sigmoid", gate_clip=None,
                 gate_keep=None, recurrent_dropout=None, h_rec=None, W_hr=None, m=None, layer_norm=None,
                 ln_cache=None):
    """The LSTM loop of ``rnnlab.layers.lstm`` (gate order i, f, o, g; b includes any forget bias).

    x: (T, N, D) float32; h0: (N, P), c0: (N, H); W (D, 4H), U (P, 4H), b (4H,); mask: (T, N, 1) of
    0/1 or None; P = H without a projection. Returns y (T, N, P), gates (T, N, 4H) activated, hs
    (T+1, N, P) and cs (T+1, N, H) carried states in time order, tanh_c (T, N, H): the arrays of
    ``LSTMCache`` (gates and tanh_c None within ``inference()``; tanh_c None also for the plain cell
    without a mask, whose backward computes tanh(c_t) again from cs: the same bits, and (T, N, H)
    floats fewer written and read back). out: None, or a writeable float32
    (T, N, P) array with unit stride along P and distinct elements (a direction's columns of a
    batch-first output, transposed), which receives y and is returned as y: the plain and option
    loops write each y_t there as they go, the others (W_hr, layer_norm) copy it after; ValueError
    naming out for another.

    Variants (equations in ``rnnlab.layers.lstm_variants`` and ``rnnlab.layers.regularizers``), each
    off by default: peepholes (3H,) the weights (p_i, p_f, p_o); cell_clip x > 0: c_t clipped to
    [-x, x]; input_forget: f = 1 - i; zoneout (zh, zc): zoneout's d of h (N, P) and of c (N, H) (a
    training mask) or a scalar (evaluation's expectation z), or None. With zoneout, tanh_c holds
    tanh of the un-zoned c^_t, and cs the zoned c_t; with zoneout and peepholes or cell_clip, whose
    backward reads c^_t itself, c_hat (T, N, H) float32 receives it (ValueError naming c_hat when it
    is missing outside ``inference()``; pass the same array to the backward); gate_activation
    "sigmoid", "hard_sigmoid" or "hard_sigmoid_keras2": the activation of i, f, o
    (``rnnlab.activations.GATE_ACTIVATIONS``; ValueError naming gate_activation for another);
    gate_clip x > 0: every gate pre-activation (a_o after its peephole) clipped to [-x, x] before its
    activation, with gate_keep (``gate_keep_array(T, N, H)``) receiving the bits [|a| < x] that the
    backward reads (ValueError naming gate_keep when it is missing outside ``inference()``; pass the
    same array to the backward); recurrent_dropout: s_r (N, H), the product reads h~_{t-1} = h_{t-1}
    s_r, which the loop writes to h_rec (T+1, N, H) float32 (laid out as hs; always needed, pass it to
    the backward too).
    W_hr (H, P): the recurrent projection h_t = (o * tanh(c_t)) W_hr (``proj_size``), with m
    (T, N, H) float32 receiving m_t = o * tanh(c_t) (ValueError naming m when it is missing outside
    ``inference()``; pass the same array to the backward); not together with gate_clip or
    recurrent_dropout (ValueError naming W_hr).
    layer_norm (not with W_hr, gate_clip or recurrent_dropout: ValueError naming it): a dict of the gains {"g_x", "g_h" (4H,), "g_c", "b_c" (H,)}: a = LN(x W) g_x + b +
    LN(h U) g_h and h = o tanh(LN(c_t) g_c + b_c) (``lstm_variants`` [6]); ln_cache: a dict that
    receives the normalizations' n and s and c^_t, for the backward (ValueError naming ln_cache when it
    is missing outside ``inference()``). The other LSTM variants run in NumPy only.
    """
    _check_proj(W_hr, gate_clip, recurrent_dropout, layer_norm)
    T, N, D, P, H = _sizes(x, W, U, 4)
    _check_width(U, W_hr, P, H)
    h0, c0, b = _given("h0", h0, (N, P)), _given("c0", c0, (N, H)), _given("b", b, (4 * H,))
    r = _reverse(reverse)
    keep = not _no_cache.get()
    flags, extra = _lstm_variant(peepholes, cell_clip, input_forget, zoneout, c_hat, T, N, H,
                                 keep and layer_norm is None, gate_activation, gate_clip,
                                 gate_keep if keep else None, recurrent_dropout, h_rec, P)
    if layer_norm is not None:                   # c^_t: the layer-norm cache's own
        flags |= _LN
        extra.update(_layer_norm(layer_norm, ln_cache, T, N, H, 4, keep, True, extra["zc"] is not None))
    _start_h_rec(extra, h0, r)
    m = _proj_m(m, W_hr, T, N, H, keep)
    gates = np.empty((T, N, 4 * H), np.float32) if keep else None
    hs, cs = _states(T, N, P, r, h0, c0, H)
    plain = not flags and mask is None and W_hr is None             # tanh(c_t): computed again in the backward
    tanh_c = np.empty((T, N, H), np.float32) if keep and not plain else None
    y_strides = (0, 0) if out is None else _strides("out", out, (T, N, P))
    direct = out is not None and W_hr is None and layer_norm is None        # the loop writes y_t into out
    y = out if direct else (None if mask is None else np.empty((T, N, P), np.float32))
    loop, proj = (_LSTM_FWD, {}) if W_hr is None else (_LSTMP_FWD, dict(P=P, W_hr=_numeric("W_hr", W_hr), m=m))
    _run(loop, T, N, H, 4, reverse, D=D, x=_f32(x), W=_f32(W), gates=gates, b=_f32(b), U=_f32(U),
         hs=hs, cs=cs, aux=tanh_c, y=y, mask=_mask2d(mask), vflags=flags | (_PROJ if proj else 0),
         y_strides=y_strides if direct else (0, 0), **extra, **proj)
    if y is None:
        y = hs[:T] if r else hs[1:]
    if out is not None and y is not out:
        out[...] = y
        y = out
    return y, gates, hs, cs, tanh_c


def lstm_backward(dy, dh, dc, x, W, U, gates, hs, cs, tanh_c, mask=None, reverse=False, *, dx_out=None,
                  dx_add=False, peepholes=None, cell_clip=None, input_forget=False, zoneout=None, c_hat=None,
                  gate_activation="sigmoid", gate_clip=None, gate_keep=None, recurrent_dropout=None, h_rec=None,
                  W_hr=None, m=None, layer_norm=None, ln_cache=None):
    """Gradients of ``lstm_forward`` from its arrays: dx (T, N, D), dh0 (N, P), dc0 (N, H), {"W", "U", "b"}
    (and "p", the peephole gradients (3H,), with peepholes; "W_hr" (H, P) with W_hr; "g_x", "g_h",
    "g_c", "b_c" with layer_norm), with the forward's variant arguments (m: the forward's m_t array;
    ln_cache: the dict the forward filled).

    dy: (T, N, P) (a strided slice is fine); dh (N, P), dc (N, H): dL/d(final state); tanh_c: the
    forward's, None where it returned None (the plain cell without a mask). dx_out: None,
    or a writeable float32 (T, N, D) array with unit stride along D and distinct elements (a
    batch-first (N, T, D) array transposed), which receives dx and is returned as dx; dx_add=True
    adds dx to dx_out's values instead (a bidirectional layer's second direction: both read x).
    ValueError naming dx_out or dx_add for a bad one."""
    _check_proj(W_hr, gate_clip, recurrent_dropout, layer_norm)
    T, N, D, P, H = _sizes(x, W, U, 4)
    _check_width(U, W_hr, P, H)
    dy, dh, dc = _given("dy", dy, (T, N, P)), _given("dh", dh, (N, P)), _given("dc", dc, (N, H))
    flags, extra = _lstm_variant(peepholes, cell_clip, input_forget, zoneout, c_hat, T, N, H,
                                 layer_norm is None, gate_activation, gate_clip, gate_keep, recurrent_dropout,
                                 h_rec, P)
    if tanh_c is None and not flags and W_hr is None and layer_norm is None and mask is not None:
        raise ValueError(f"tanh_c: expected a float32 array of shape {(T, N, H)} (with a mask the loop reads "
                         f"the forward's), got None")
    ln = {}
    if layer_norm is not None:
        flags |= _LN
        extra.update(_ln_cached(layer_norm, ln_cache, True, extra["zc"] is not None))
        ln = dict(dah=np.empty((T, N, 4 * H), np.float32), dgx=np.empty(4 * H, np.float32),
                  dgh=np.empty(4 * H, np.float32), dgc=np.empty(H, np.float32), dbc=np.empty(H, np.float32))
    dh = np.array(dh, dtype=np.float32)
    dc = np.array(dc, dtype=np.float32)
    da = np.empty((T, N, 4 * H), np.float32)
    out = _grad_arrays(T, N, D, H, 4, dx_out, dx_add)
    out["dU"] = np.empty((P, 4 * H), np.float32)                   # h_{t-1}^T da: h of width P
    dp = np.zeros(3 * H, np.float32) if flags & _PEEP else None
    loop, proj = _LSTM_BWD, {}
    if W_hr is not None:
        loop, flags = _LSTMP_BWD, flags | _PROJ
        proj = dict(P=P, W_hr=_numeric("W_hr", W_hr), m=_proj_m(m, W_hr, T, N, H, True), dW_hr=np.empty((H, P), np.float32),
                    dhs=np.empty((T, N, P), np.float32))
    _run(loop, T, N, H, 4, reverse, dy=_dy(dy), gates=gates, U=_f32(U), cs=cs, aux=tanh_c,
         mask=_mask2d(mask), da=da, dh=dh, dc=dc, dhk=np.empty((N, P), np.float32), D=D, x=_f32(x),
         W=_f32(W), hs=hs, vflags=flags, dp=dp, **extra, **out, **proj, **ln)
    grads = {"W": out["dW"], "U": out["dU"], "b": out["db"]}
    if dp is not None:
        grads["p"] = dp
    if W_hr is not None:
        grads["W_hr"] = proj["dW_hr"]
    if ln:
        grads.update(g_x=ln["dgx"], g_h=ln["dgh"], g_c=ln["dgc"], b_c=ln["dbc"])
    return out["dx"], dh, dc, grads


def lstm_infer(x, h0, c0, W, U, b, reverse=False, *, out=None, peepholes=None, cell_clip=None,
               input_forget=False, zoneout=None, gate_activation="sigmoid", gate_clip=None):
    """The LSTM loop of ``lstm_forward`` for inference alone: no cache, no mask, and no state kept
    but the last. Returns y (T, N, H), h_T and c_T (N, H), the final states (at t = 0 when reverse).

    x: (T, N, D) float32; h0, c0: (N, H); W (D, 4H), U (H, 4H), b (4H,) as ``lstm_forward``, with its
    options peepholes, cell_clip, input_forget, zoneout (a pair (d of h, d of c), each evaluation's
    scalar z or an (N, H) array), gate_activation and gate_clip. out: None, or a float32 array of shape (T, N, H) with unit stride
    along H and positive strides (a direction's columns of a batch-first (N, T, 2H) output,
    transposed) that receives y: the loop writes each h_t there and reads it back as the next step's
    h_{t-1}, so the output needs no copy and no (T + 1, N, H) state array is kept (c_t alternates
    between two slots). The same bits as ``lstm_forward``'s y and final states. ValueError naming the
    argument for a bad one."""
    T, N, D, P, H = _sizes(x, W, U, 4)
    _check_width(U, None, P, H)
    h0, c0, b = _given("h0", h0, (N, H)), _given("c0", c0, (N, H)), _given("b", b, (4 * H,))
    r = _reverse(reverse)
    flags, extra = _lstm_variant(peepholes, cell_clip, input_forget, zoneout, None, T, N, H, False,
                                 gate_activation, gate_clip)
    if out is None:
        out = np.empty((T, N, H), np.float32)
    strides = _strides("out", out, (T, N, H))
    cs = np.empty((2, N, H), np.float32)
    cs[0] = c0
    _run(_LSTM_FWD, T, N, H, 4, reverse, D=D, x=_f32(x), W=_f32(W), b=_f32(b), U=_f32(U), hs=out, cs=cs,
         h0=_f32(h0), vflags=flags, h_strides=strides, **extra)
    return out, out[0 if r else T - 1].copy(), cs[T % 2].copy()


def _distinct_elements(a: np.ndarray) -> bool:
    """Whether a (float32, last axis of unit stride) array's elements each have an address of their
    own: with the axes of more than one element sorted by stride, each stride is positive, a multiple
    of 4 bytes and at least the extent of the axes inside it (a transposed or sliced view passes; an
    as_strided view whose steps overlap does not)."""
    if a.ndim == 0 or (a.shape[-1] > 1 and a.strides[-1] != 4):
        return False
    if not a.flags.aligned:
        return False
    extent = 4
    axes = sorted((st, sz) for sz, st in zip(a.shape, a.strides) if sz > 1)
    for stride, size in axes:
        if stride % 4 or stride < extent:
            return False
        extent = stride * (size - 1) + extent
    return True


def lstm_products(x, h0, W, U, backward=False, reverse=False):
    """The compiled LSTM loops' matrix products and work split alone, for ``benchmarks/bench_rnn.py
    --ceiling``'s floor: with backward=False the forward's [x_t, h_{t-1}] [W; U] per step (kept in
    registers, never stored); with backward=True the backward's da_t U^T per step, then the weight
    gradients dW, dU, db and dx over all steps, on da = 0. No gate, state or other elementwise work:
    the results are not an LSTM's. x (T, N, D), h0 (N, H), W (D, 4H), U (H, 4H), float32; returns
    nothing."""
    T, N, D, P, H = _sizes(x, W, U, 4)
    if P != H:
        raise ValueError(f"U: expected U of shape (H, 4 H), got {U.shape}")
    h0 = _given("h0", h0, (N, H))
    x, W, U = _f32(x), _f32(W), _f32(U)
    hs = np.broadcast_to(_f32(h0), (T + 1, N, H)).copy()
    if not backward:
        _run(_LSTM_FWD, T, N, H, 4, reverse, D=D, x=x, W=W, b=np.zeros(4 * H, np.float32), U=U, hs=hs,
             cs=hs.copy(), vflags=_FLOOR)
        return
    zeros = np.zeros((N, H), np.float32)
    da = np.zeros((T, N, 4 * H), np.float32)
    _run(_LSTM_BWD, T, N, H, 4, reverse, dy=np.zeros((T, N, H), np.float32), gates=da, U=U, cs=hs, da=da,
         dh=zeros.copy(), dc=zeros.copy(), dhk=zeros, D=D, x=x, W=W, hs=hs, vflags=_FLOOR,
         **_grad_arrays(T, N, D, H, 4))


def gru_forward(x, h0, W, U, b, b_hn, mask=None, reverse=False, *, zoneout=None, gate_activation="sigmoid",
                recurrent_dropout=None, h_rec=None, layer_norm=None, ln_cache=None):
    """The reset-after GRU loop of ``rnnlab.layers.gru`` (gate order r, z, n).

    x: (T, N, D) float32; h0: (N, H); W (D, 3H), U (H, 3H), b (3H,), b_hn (H,). Returns y (T, N, H),
    gates (T, N, 3H) activated, q (T, N, H) = h_{t-1} U_n + b_hn, hs (T+1, N, H): ``GRUCache``'s arrays
    (gates and q None within ``inference()``). zoneout: d (N, H) of h, or a scalar z (evaluation), or
    None: h_t = h^_t + d (h_{t-1} - h^_t) (``rnnlab.layers.regularizers``). gate_activation: "sigmoid",
    "hard_sigmoid" or "hard_sigmoid_keras2", the activation of r and z (``rnnlab.layers.gru_variants``;
    ValueError naming gate_activation for another). recurrent_dropout: s_r (N, H) or None: the product
    reads h~_{t-1} = h_{t-1} s_r (the interpolation z h_{t-1} reads h itself), which the loop writes to
    h_rec (T+1, N, H) float32, laid out as hs (pass it to the backward too).
    ValueError naming gate_activation for another). layer_norm: a dict of the gains {"g_x", "g_h"}
    (3H,): a_x = LN(x W) g_x + b, a_h = LN(h U) g_h and q = a_h_n + b_hn (``gru_variants`` [L]);
    ln_cache: a dict that receives the normalizations' n and s, for the backward (ValueError naming
    ln_cache when it is missing outside ``inference()``).
    """
    _check_proj(None, None, recurrent_dropout, layer_norm)
    slope = _slope(gate_activation)
    T, N, D, P, H = _sizes(x, W, U, 3)
    if P != H:
        raise ValueError(f"U: expected a square recurrent matrix (H, 3 H), got {U.shape}")
    h0, b, b_hn = _given("h0", h0, (N, H)), _given("b", b, (3 * H,)), _given("b_hn", b_hn, (H,))
    r = _reverse(reverse)
    keep = not _no_cache.get()
    gates = np.empty((T, N, 3 * H), np.float32) if keep else None
    hs, _ = _states(T, N, H, r, h0)
    q = np.empty((T, N, H), np.float32) if keep else None
    y = None if mask is None else np.empty((T, N, H), np.float32)
    zh = _zone(zoneout, N, H)
    rd = _rdrop(recurrent_dropout, h_rec, T, N, H)
    _start_h_rec(rd, h0, r)
    flags = (0 if zh is None else _ZONE) | (0 if slope is None else _HARD) | (_RDROP if rd else 0)
    ln = {}
    if layer_norm is not None:
        flags |= _LN
        ln = _layer_norm(layer_norm, ln_cache, T, N, H, 3, keep, False)
    _run(_GRU_FWD, T, N, H, 3, reverse, D=D, x=_f32(x), W=_f32(W), gates=gates, b=_f32(b), b_hn=_f32(b_hn), U=_f32(U),
         hs=hs, aux=q, y=y, mask=_mask2d(mask), zh=zh, vflags=flags, slope=slope, **rd, **ln)
    if y is None:
        y = hs[:T] if r else hs[1:]
    return y, gates, q, hs


def gru_backward(dy, dh, x, W, U, gates, q, hs, mask=None, reverse=False, *, dx_out=None, dx_add=False,
                 zoneout=None, gate_activation="sigmoid", recurrent_dropout=None, h_rec=None, layer_norm=None,
                 ln_cache=None):
    """Gradients of ``gru_forward`` (with its zoneout, gate_activation, recurrent_dropout and h_rec, and
    layer_norm with the filled ln_cache): dx (T, N, D), dh0 (N, H), {"W", "U", "b", "b_hn"} (and
    "g_x", "g_h" with layer_norm). dx_out, dx_add: as ``lstm_backward``'s."""
    _check_proj(None, None, recurrent_dropout, layer_norm)
    slope = _slope(gate_activation)
    T, N, D, P, H = _sizes(x, W, U, 3)
    if P != H:
        raise ValueError(f"U: expected a square recurrent matrix (H, 3 H), got {U.shape}")
    dy, dh = _given("dy", dy, (T, N, H)), _given("dh", dh, (N, H))
    dh = np.array(dh, dtype=np.float32)
    dax = np.empty((T, N, 3 * H), np.float32)
    dah = np.empty((T, N, 3 * H), np.float32)
    out = _grad_arrays(T, N, D, H, 3, dx_out, dx_add)
    dbh = np.empty(3 * H, np.float32)
    zh = _zone(zoneout, N, H)
    rd = _rdrop(recurrent_dropout, h_rec, T, N, H)
    flags = (0 if zh is None else _ZONE) | (0 if slope is None else _HARD) | (_RDROP if rd else 0)
    ln = {}
    if layer_norm is not None:
        flags |= _LN
        ln = dict(_ln_cached(layer_norm, ln_cache, False), dgx=np.empty(3 * H, np.float32),
                  dgh=np.empty(3 * H, np.float32))
    _run(_GRU_BWD, T, N, H, 3, reverse, dy=_dy(dy), gates=gates, U=_f32(U), hs=hs, aux=q,
         mask=_mask2d(mask), da=dax, dah=dah, dh=dh, dhk=np.empty((N, H), np.float32), D=D, x=_f32(x),
         W=_f32(W), dbh=dbh, zh=zh, vflags=flags, slope=slope, **rd, **out, **ln)
    grads = {"W": out["dW"], "U": out["dU"], "b": out["db"], "b_hn": dbh[2 * H:]}
    if ln:
        grads.update(g_x=ln["dgx"], g_h=ln["dgh"])
    return out["dx"], dh, grads


def _act(nonlinearity):
    if not isinstance(nonlinearity, str) or nonlinearity not in _ACTS:
        raise ValueError(f"nonlinearity: expected one of {list(_ACTS)}, got {nonlinearity!r}")
    return _ACTS[nonlinearity]


def rnn_forward(x, h0, W, U, b, mask=None, reverse=False, nonlinearity="tanh", *, zoneout=None,
                recurrent_dropout=None, h_rec=None):
    """The Elman loop of ``rnnlab.layers.rnn``: h_t = phi(x_t W + h_{t-1} U + b), phi "tanh", "relu" or
    "identity" (ValueError naming nonlinearity for another).

    Returns y (T, N, H), h_new (T, N, H) = phi(a_t) before zoneout and masking, hs (T+1, N, H):
    ``RNNCache``'s arrays. zoneout: d (N, H) of h, a scalar z (evaluation), or None:
    h_t = h^_t + d (h_{t-1} - h^_t) (``rnnlab.layers.regularizers``). recurrent_dropout: s_r (N, H) or
    None: the product reads h~_{t-1} = h_{t-1} s_r, which the loop writes to h_rec (T+1, N, H)
    float32, laid out as hs (pass it to the backward too).
    """
    act = _act(nonlinearity)
    T, N, D, P, H = _sizes(x, W, U, 1)
    if P != H:
        raise ValueError(f"U: expected a square recurrent matrix (H, 1 H), got {U.shape}")
    h0, b = _given("h0", h0, (N, H)), _given("b", b, (H,))
    r = _reverse(reverse)
    h_new = np.empty((T, N, H), np.float32)
    hs, _ = _states(T, N, H, r, h0)
    zh = _zone(zoneout, N, H)
    rd = _rdrop(recurrent_dropout, h_rec, T, N, H)
    _start_h_rec(rd, h0, r)
    m = _mask2d(mask)                # (T, N) float32 0/1 whatever form the mask came in
    _run(_RNN_FWD, T, N, H, 1, reverse, act=act, D=D, x=_f32(x), W=_f32(W), gates=h_new, b=_f32(b), U=_f32(U), hs=hs,
         mask=m, zh=zh, vflags=(0 if zh is None else _ZONE) | (_RDROP if rd else 0), **rd)
    if zh is None:
        y = h_new * m[:, :, None] if m is not None else (hs[:T] if r else hs[1:])
    else:                            # y_t = m h_t, the zoned h_t (padded steps: 0 whatever hs carries)
        y = hs[:T] if r else hs[1:]
        if m is not None:
            y = y * m[:, :, None]
    return y, h_new, hs


def rnn_backward(dy, dh, x, W, U, h_new, hs, mask=None, reverse=False, nonlinearity="tanh", *, dx_out=None,
                 dx_add=False, zoneout=None, recurrent_dropout=None, h_rec=None):
    """Gradients of ``rnn_forward`` (with its nonlinearity, zoneout, recurrent_dropout and h_rec):
    dx (T, N, D), dh0 (N, H), {"W", "U", "b"}. dx_out, dx_add: as ``lstm_backward``'s."""
    act = _act(nonlinearity)
    T, N, D, P, H = _sizes(x, W, U, 1)
    if P != H:
        raise ValueError(f"U: expected a square recurrent matrix (H, 1 H), got {U.shape}")
    dy, dh = _given("dy", dy, (T, N, H)), _given("dh", dh, (N, H))
    dh = np.array(dh, dtype=np.float32)
    da = np.empty((T, N, H), np.float32)
    out = _grad_arrays(T, N, D, H, 1, dx_out, dx_add)
    zh = _zone(zoneout, N, H)
    rd = _rdrop(recurrent_dropout, h_rec, T, N, H)
    _run(_RNN_BWD, T, N, H, 1, reverse, act=act, dy=_dy(dy), gates=h_new, U=_f32(U),
         mask=_mask2d(mask), da=da, dh=dh, dhk=np.empty((N, H), np.float32), D=D, x=_f32(x),
         W=_f32(W), hs=hs, zh=zh, vflags=(0 if zh is None else _ZONE) | (_RDROP if rd else 0), **rd, **out)
    return out["dx"], dh, {"W": out["dW"], "U": out["dU"], "b": out["db"]}
