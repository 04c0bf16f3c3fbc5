"""What RNN, LSTM and GRU share: stacking, directions, ragged batches, state layout, parameters.

Shape letters, used in every recurrent module:
    N batch, T time steps, D input features, H hidden units, K = num_layers * directions.

Conventions, stated once:
- Layers take batch-major input ``x`` of shape (N, T, D) and return ``y`` of shape
  (N, T, directions * H); the cells inside run time-major, (T, N, .), so that one time step is a
  contiguous block of memory.
- State follows PyTorch: ``h`` of shape (K, N, H), entry ``k = layer * directions + direction``;
  the LSTM's state is the pair ``(h, c)``.
- Ragged batches: ``lengths[n]`` valid steps for sequence n. With the mask m_t[n] = [t < lengths[n]],
  every state s (h, and c for the LSTM) is carried as ``s_t = m_t * s_new + (1 - m_t) * s_{t-1}``,
  and the output is ``y_t = m_t * h_new``. So padded steps neither change the state nor receive
  gradient, outputs there are zero, and the forward direction's final state is each sequence's state
  at its own last step. The reverse direction runs t = T-1 .. 0, carrying its initial state unchanged
  through the padding until it reaches each sequence's last valid step: exactly PyTorch's packed
  sequences.
- Per-step masks, Keras' semantics: ``mask`` (N, T) of 0/1, any pattern (padded at the front, as
  Keras' ``pad_sequences`` does by default, or with holes). With m_t[n] = mask[n, t], every state is
  carried as above, ``s_t = m_t * s_new + (1 - m_t) * s_{t-1}``, so a sequence whose first steps are
  masked keeps state0 until its first valid step. The output at a masked step is, as Keras gives it,
  either the output of the step before in processing order (``zero_output_for_mask=False``, Keras'
  default for one direction): ``y_t = m_t * h_new + (1 - m_t) * y_{t-1}`` with y_{-1} = 0, or zero
  (``zero_output_for_mask=True``, what Keras' Bidirectional sets when it returns sequences, and the
  default of a bidirectional layer here): ``y_t = m_t * h_new``. ``lengths`` keeps its own convention
  (outputs zero at padded steps) and is the fast special case of a mask covering each sequence's end.
- Directions (ONNX's names): ``direction="forward"`` (the default), ``"bidirectional"`` (the same as
  ``bidirectional=True``: forward and reverse, outputs concatenated) or ``"reverse"``: one direction
  reading t = T-1 .. 0 as above, ONNX's ``direction="reverse"`` and Keras' ``go_backwards=True``
  with its outputs in input order (Keras returns them in processing order: ``ReverseSequence`` after
  the layer, rnnlab.layers.reverse). Its final state is its state at t = 0, i.e. y[:, 0]. Its
  parameters are keyed like a forward layer's (``l0.W``).
- Concurrency (``rnnlab.engine.threads``, opt-in with ``RNNLAB_THREADS=2``, for the NumPy cells):
  the two directions of a bidirectional layer run at the same time, and a wide unidirectional batch
  runs as two halves at the same time (``ShardedCache``), each on one core with single-threaded BLAS;
  the arithmetic of each direction and row is unchanged. Where the compiled engine computes the
  cells, it splits each call over its own threads instead.
- Parameters are a flat dict ``{"l0.W": ..., "l0.U": ..., "l0.b": ..., "l0_reverse.W": ...}``;
  gradients are a dict with the same keys.

A cell module (rnn.py, lstm.py, gru.py) provides two pure functions over one layer and one direction:
    forward(x, state0, p, mask, reverse)  -> y, stateT, cache      x: (T, N, D), y: (T, N, H)
    backward(dy, dstateT, cache)          -> dx, dstate0, grads
where ``state0`` / ``stateT`` are tuples of (N, H) arrays and ``p`` holds the layer's W, U, b, ...
Both are one loop over its pure step functions ``<cell>_step_forward`` / ``<cell>_step_backward``.

Streaming: ``state = layer.initial_state(N)``, then ``y_t, state = layer.step(x_t, state)`` with
x_t (N, D) and y_t (N, H), one time step of every layer through the same step functions; the state has
the layout above. A bidirectional layer cannot stream (its reverse direction starts at the end).

Regularizers (rnnlab.layers.regularizers): ``zoneout``, ``recurrent_dropout`` and ``weight_drop`` act in
training mode (``layer.train()``); a layer starts in evaluation mode (``layer.eval()``), where zoneout
takes its expectation and the two dropouts are off. Their masks come from ``layer.rng``.
"""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import numpy as np

from ..checks import (check_dtype_name, check_float_array, check_lengths, check_param_arrays, check_positive_int,
                      check_seed, owner_of)
from .. import engine
from ..memory import check_weights_fit, weights_error
from ..engine.threads import run_pair, shard_batch
from .regularizers import Regularizers, check_regularizers, draw_masks, zoneout


DIRECTIONS = ("forward", "reverse", "bidirectional")
_DTYPE_NAMES = {np.dtype(name): name for name in ("float32", "float64")}   # dtype.name costs ~1.5 us a call


def time_steps(T: int, reverse: bool) -> range:
    """Processing order of one direction: 0 .. T-1, or T-1 .. 0 when reverse."""
    return range(T - 1, -1, -1) if reverse else range(T)


def carry_masked(new: np.ndarray, old: np.ndarray, m: np.ndarray) -> None:
    """In place: new <- m * new + (1 - m) * old, i.e. padded rows (m = 0) keep ``old``."""
    new -= old
    new *= m
    new += old


def carry_outputs(y: np.ndarray, m: np.ndarray, reverse: bool) -> None:
    """In place on one direction's outputs y (N, T, H), given as y_t = m_t * h_new: the output at a
    masked step becomes the output of the step before in processing order (Keras' default),
    y_t <- y_t + (1 - m_t) * y_{t-1}, with y_{-1} = 0. m: (T, N, 1) of 0/1."""
    order = list(time_steps(y.shape[1], reverse))
    for prev, t in zip(order, order[1:]):
        y[:, t] += (1 - m[t]) * y[:, prev]


def carry_outputs_backward(dy: np.ndarray, m: np.ndarray, reverse: bool) -> None:
    """In place on dy (N, T, H), the gradient at carry_outputs' result: it becomes the gradient at
    its input. From y_t = y_t + (1 - m_t) y_{t-1}: dy_{t-1} += (1 - m_t) dy_t, last step first."""
    order = list(time_steps(dy.shape[1], reverse))
    for prev, t in reversed(list(zip(order, order[1:]))):
        dy[:, prev] += (1 - m[t]) * dy[:, t]


def check_mask(mask, batch: int, time: int, lengths=None) -> np.ndarray | None:
    """A per-step mask as a bool array (N, T), or None: 0/1 values (bool, integers or floats), one
    row per sequence. ValueError naming ``mask`` for another shape or value, or when ``lengths`` is
    given too."""
    if mask is None:
        return None
    if lengths is not None:
        raise ValueError("mask: expected lengths (each sequence padded at its end) or mask (any steps masked), "
                         "not both")
    arr = np.asarray(mask)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"mask: expected 0/1 values (bool or numbers) of shape (N, T), got dtype {arr.dtype}")
    if arr.shape != (batch, time):
        raise ValueError(f"mask: expected shape ({batch}, {time}) (batch and time steps of x), got {arr.shape}")
    if arr.dtype.kind != "b":
        bad = ~((arr == 0) | (arr == 1))
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"mask: expected 0 (masked) or 1 (valid) at every step, got {arr[where]!r} at "
                             f"index {where}")
    return arr.astype(bool)


def uniform_init(rng: np.random.Generator, shape: tuple, bound: float, dtype) -> np.ndarray:
    """U(-bound, bound), PyTorch's default for recurrent layers with bound = 1 / sqrt(H)."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


class DirectionCache(NamedTuple):
    cell: Any            # the cell's own cache
    in_size: int         # features entering this layer


def _without_backward(cell) -> bool:
    """Whether a direction's cell cache comes from a forward within engine.inference(): none at all
    (engine.lstm_infer), or one without the activated gates (the compiled loops skip them there)."""
    while cell is not None and not hasattr(cell, "gates") and hasattr(cell, "cell"):
        cell = cell.cell                                  # RegCache, LSTMEngineCache around the cell's own
    return cell is None or (hasattr(cell, "gates") and cell.gates is None)


class RecurrentCache(NamedTuple):
    x_shape: tuple       # (N, T, D) as given
    lengths: np.ndarray | None
    directions: list     # DirectionCache per k = layer * directions + direction
    carry: np.ndarray | None = None   # (T, N, 1) mask whose masked steps carry the top layer's outputs
    config: dict | None = None        # the layer's options at the forward (Recurrent.config())
    owner: Any = None                 # the Owner (checks.owner_of) of the layer whose forward made it


class ShardedCache(NamedTuple):
    """The cache of a forward split into two batch halves (rows :split and split:) run at once."""
    parts: list          # RecurrentCache per half
    split: int


def engine_regularizers(reg) -> bool:
    """Whether a direction's RegMasks ``reg`` are ones the compiled plain loops of rnnlab.engine run:
    zoneout of h (the loop's zoneout argument), recurrent dropout (its recurrent_dropout argument) and
    weight drop (the loop run on U' = U * S, and dU = S * dU' after it), without the LSTM's zoneout
    of c."""
    return reg is not None and reg.zc is None and (reg.rU is not None or reg.zh is not None or reg.rh is not None)


def h_rec_array(x, h_size: int, reg):
    """The (T+1, N, P) float32 array for the compiled loop's h~ = h s_r under recurrent dropout, or
    None (reg None or without recurrent dropout)."""
    if reg is None or reg.rh is None:
        return None
    return np.empty((x.shape[0] + 1, x.shape[1], h_size), np.float32)


class RegCache(NamedTuple):
    """A direction that the compiled plain loop ran with zoneout of h, recurrent dropout and / or weight
    drop: the plain cell's cache (its U is U' = U * S under weight drop), zoneout's d (or None), the
    scaled mask S (or None), recurrent dropout's s_r and the loop's h~ = h s_r (T+1, N, H) (or None)."""
    cell: Any
    zh: np.ndarray | None
    rU: np.ndarray | None
    rh: np.ndarray | None = None
    h_rec: np.ndarray | None = None

    @property
    def U(self):
        return self.cell.U


class _CacheOf:
    """The words "the cache returned by <kind>.forward of this layer, <repr>", made when printed."""

    def __init__(self, layer):
        self.layer = layer

    def __str__(self):
        return f"the cache returned by {self.layer.kind}.forward of this layer, {self.layer!r}"


class Recurrent:
    """Stacked, optionally bidirectional recurrent layer. Subclasses set:

    kind:        the layer's name ("RNN", "LSTM", "GRU")
    gates:       number of H-wide blocks in the fused weight matrices (1, 4, 3)
    state_names: ("h",) or ("h", "c")
    and implement ``_init_direction``, ``_cell_forward``, ``_cell_backward``.

    ``zero_output_for_mask`` (Keras' name; every layer takes it): the output at a step masked by
    forward's ``mask`` is zero (True) or the output of the step before in processing order (False).
    None (the default) gives Keras' settings: False for one direction, True for a bidirectional layer.
    """

    kind = "Recurrent"
    gates = 1
    state_names: tuple = ("h",)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dtype="float32", seed: int | None = None, direction: str = "forward",
                 zoneout=0.0, recurrent_dropout=0.0, weight_drop=0.0, zero_output_for_mask=None):
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise ValueError(f"bidirectional: expected True or False, got {bidirectional!r}")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction: expected one of {DIRECTIONS}, got {direction!r}")
        if bidirectional and direction == "reverse":
            raise ValueError("direction: 'reverse' runs one direction, bidirectional=True two; give one of them")
        self.bidirectional = bool(bidirectional) or direction == "bidirectional"
        self.reverse = direction == "reverse"          # the only direction runs t = T-1 .. 0
        if zero_output_for_mask is not None and not isinstance(zero_output_for_mask, (bool, np.bool_)):
            raise ValueError(f"zero_output_for_mask: expected True, False or None (True for a bidirectional layer, "
                             f"as Keras' Bidirectional, else False), got {zero_output_for_mask!r}")
        # outputs at masked steps (forward's mask): zero, or carried from the step before (Keras' names)
        self.zero_output_for_mask = self.bidirectional if zero_output_for_mask is None else bool(zero_output_for_mask)
        self.dtype = check_dtype_name(dtype)
        self.seed = check_seed("seed", seed)
        self.reg: Regularizers = check_regularizers(zoneout, recurrent_dropout, weight_drop, len(self.state_names) == 2)
        # the regularizers' masks: a stream of its own, seeded from seed (None: no stream to save)
        self.rng = np.random.default_rng(None if seed is None else [seed, 1]) if self.reg.any else None
        self.training = False
        rng = np.random.default_rng(seed)
        self.params: dict[str, np.ndarray] = {}
        G, H, dirs = self.gates, self.hidden_size, self.directions
        count = dirs * G * H * (self.input_size + H + 2 + (self.num_layers - 1) * (dirs * H + H + 2))
        sizes = (f"input_size={self.input_size}, hidden_size={H}, num_layers={self.num_layers}"
                 f"{', bidirectional' if self.bidirectional else ''}")
        check_weights_fit(sizes, count)
        try:
            for layer in range(self.num_layers):
                in_size = self.input_size if layer == 0 else self.output_size
                for direction in range(self.directions):
                    for name, value in self._init_direction(in_size, self.hidden_size, rng).items():
                        self.params[f"{self.prefix(layer, direction)}.{name}"] = value
        except MemoryError:
            self.params = {}
            raise weights_error(sizes, count) from None
        self._param_shapes = {k: v.shape for k, v in self.params.items()}
        head = self.prefix(0, 0) + "."                   # every direction's keys end the same ways
        self._param_suffixes = tuple(k[len(head):] for k in self.params if k.startswith(head))

    def check_params(self) -> None:
        """ValueError naming the first parameter (as ``params`` keys it) that is no longer a float array of
        the shape the layer was built with: a weight replaced by one of another shape, by a list, None or
        an integer array would otherwise fail inside the cells under their own names (W, U, b), or run
        (a GRU step slices a wider U by gate; an LSTM with its peepholes set to None drops them)."""
        check_param_arrays(self.params, getattr(self, "_param_shapes", {}),
                           f"input_size={self.input_size}, hidden_size={self.hidden_size}")

    # ----- layout -----------------------------------------------------------------------------
    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def h_size(self) -> int:
        """Width of the state h and of each direction's output: hidden_size, or an LSTM's proj_size."""
        return self.hidden_size

    @property
    def direction(self) -> str:
        """"forward", "reverse" or "bidirectional" (ONNX's names)."""
        return "bidirectional" if self.bidirectional else "reverse" if self.reverse else "forward"

    @property
    def output_size(self) -> int:
        return self.directions * self.h_size

    @property
    def _plain(self) -> bool:
        """True when the layer computes the plain cell, which the compiled kernels also compute; a
        variant option (rnnlab.layers.lstm's proj_size, peepholes, ...) or an active regularizer
        (zoneout; the dropouts in training mode) makes it False, and the layer then runs its NumPy
        step functions."""
        r = self.reg
        return not (r.zoneout_h or r.zoneout_c or (self.training and (r.recurrent_dropout or r.weight_drop)))

    def train(self, mode: bool = True):
        """Training mode (``mode`` True: the regularizers draw masks) or evaluation mode; returns the layer."""
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def _draw_masks(self, N: int) -> list | None:
        """RegMasks per k = layer * directions + direction for a batch of N, or None when none is active."""
        if not self.reg.any:
            return None
        G = self.gates * self.hidden_size
        masks = [draw_masks(self.rng, self.reg, self.training, N, self.h_size, self.hidden_size, (self.h_size, G),
                            self.dtype) for _ in range(self.num_layers * self.directions)]
        return None if all(m is None for m in masks) else masks

    @staticmethod
    def prefix(layer: int, direction: int) -> str:
        return f"l{layer}" + ("_reverse" if direction else "")

    def direction_params(self, layer: int, direction: int, arrays: dict | None = None) -> dict:
        """The arrays of one (layer, direction), keyed without the prefix: {"W": ..., "U": ...}."""
        arrays = self.params if arrays is None else arrays
        head = self.prefix(layer, direction) + "."
        suffixes = getattr(self, "_param_suffixes", None)
        if suffixes is None:                             # (a layer whose params were never built)
            return {k[len(head):]: v for k, v in arrays.items() if k.startswith(head)}
        return {s: arrays[head + s] for s in suffixes if head + s in arrays}   # not a scan of all keys per call

    def config(self) -> dict:
        """Constructor arguments that rebuild this layer (used by save/load)."""
        config = {"input_size": self.input_size, "hidden_size": self.hidden_size,
                  "num_layers": self.num_layers, "bidirectional": self.bidirectional,
                  "dtype": _DTYPE_NAMES.get(self.dtype) or self.dtype.name}
        r = self.reg
        if r.zoneout_h or r.zoneout_c:
            config["zoneout"] = (r.zoneout_h, r.zoneout_c) if len(self.state_names) == 2 else r.zoneout_h
        config.update({k: getattr(r, k) for k in ("recurrent_dropout", "weight_drop") if getattr(r, k)})
        if self.zero_output_for_mask != self.bidirectional:
            config["zero_output_for_mask"] = self.zero_output_for_mask
        return {**config, "direction": "reverse"} if self.reverse else config

    def num_params(self) -> int:
        return int(sum(v.size for v in self.params.values()))

    def state_shape(self, batch: int, name: str = "h") -> tuple:
        """(K, N, h_size) for h, (K, N, hidden_size) for the LSTM's c."""
        return (self.num_layers * self.directions, batch, self.h_size if name == "h" else self.hidden_size)

    def zero_state(self, batch: int):
        zeros = [np.zeros(self.state_shape(batch, n), self.dtype) for n in self.state_names]
        return tuple(zeros) if len(zeros) > 1 else zeros[0]

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.config().items()
                        if k not in ("input_size", "hidden_size"))
        return f"{self.kind}({self.input_size}, {self.hidden_size}{extra})"

    @property
    def compiled(self) -> bool:
        """Whether this layer's loops run in the compiled engine (rnnlab.engine) when one is active and
        the layer is float32, in training mode; otherwise they run the NumPy step functions. The plain
        cells run compiled; which options do is said by each cell class."""
        return False

    # ----- subclass hooks ---------------------------------------------------------------------
    def _init_direction(self, in_size: int, H: int, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def _cell_forward(self, x, state0: tuple, p: dict, mask, reverse: bool, reg=None, out=None):
        """reg: the direction's RegMasks (rnnlab.layers.regularizers), or None; out: where y (T, N, H)
        goes (a view of the layer's output), which a cell may fill itself and return as y, or None."""
        raise NotImplementedError

    def _cell_backward(self, dy, dstateT: tuple, cache, dx_out=None, dx_add=False):
        """dx_out: where dx goes (a (T, N, D) view, of the batch-first dx at the bottom layer), with
        dx_add the second direction's part added to the first's; a cell may fill it itself (the
        compiled loops do) and return it as dx, or return an array of its own."""
        raise NotImplementedError

    # ----- state conversion -------------------------------------------------------------------
    def _state_parts(self, name: str, state, batch: int, allow_none: bool) -> list:
        """Split a user state (array, or (h, c) for the LSTM) into a list of (K, N, H) arrays or None."""
        shape = self.state_shape(batch)
        if state is None:
            return [None] * len(self.state_names)
        if len(self.state_names) == 1:
            parts = [state]
        else:
            if not isinstance(state, (tuple, list)) or len(state) != len(self.state_names):
                raise ValueError(f"{name}: expected a tuple {tuple(self.state_names)} of arrays of shape "
                                 f"{shape}, got {type(state).__name__}")
            parts = list(state)
        out = []
        for part, sname in zip(parts, self.state_names):
            if part is None and allow_none:
                out.append(None)
                continue
            label = name if len(self.state_names) == 1 else f"{name}[{sname}]"
            out.append(check_float_array(label, part, shape=self.state_shape(batch, sname), dtype=self.dtype))
        return out

    def _pack_state(self, parts: list):
        return tuple(parts) if len(parts) > 1 else parts[0]

    # ----- forward / backward -----------------------------------------------------------------
    def _in_engine(self, x) -> bool:
        """Whether the compiled engine computes this layer's cells on x (float32, an engine active,
        options it covers in the layer's present mode)."""
        return engine.applies(x) and self._compiled_in_mode()

    def _compiled_in_mode(self) -> bool:
        """``compiled`` for the layer's present mode (training or evaluation); cells whose answer
        depends on the mode say so."""
        return self.compiled

    def _pair(self, x, first, second):
        """(first(), second()), the two directions: at the same time (``run_pair``, opt-in) for the
        NumPy cells; in turn where the engine computes them, as it splits each call over its own
        threads (``rnnlab.engine.threads``)."""
        return (first(), second()) if self._in_engine(x) else run_pair(first, second)

    def forward(self, x, state0=None, lengths=None, mask=None):
        """y, state, cache = forward(x, state0=None, lengths=None, mask=None).

        x: (N, T, D); state0: (K, N, H) (LSTM: a pair) or None for zeros; lengths: (N,) ints in [1, T];
        mask: (N, T) of 0/1 (bool or numbers), Keras' per-step mask (see the module docstring), not
        together with lengths. y: (N, T, directions * H); state: like state0, each sequence's final
        state (with a mask: its state after its last valid step, or state0 if it has none).
        ValueError naming x, state0, lengths or mask for a bad argument.
        """
        x = check_float_array("x", x, ndim=3, dtype=self.dtype)
        N, T, D = x.shape
        if D != self.input_size:
            raise ValueError(f"x: expected last dimension {self.input_size} (input_size), got shape {x.shape}")
        if T < 1 or N < 1:
            raise ValueError(f"x: expected at least one sequence and one time step, got shape {x.shape}")
        lengths = check_lengths(lengths, N, T)
        mask = check_mask(mask, N, T, lengths)
        self.check_params()
        s0 = self._state_parts("state0", state0, N, allow_none=False)
        s0 = [np.zeros(self.state_shape(N, n), self.dtype) if s is None else s for s, n in zip(s0, self.state_names)]
        masks = self._draw_masks(N)
        if masks is None and not self.bidirectional and shard_batch(N, self.hidden_size) and not self._in_engine(x):
            halves = (slice(0, N // 2), slice(N // 2, N))
            parts = run_pair(*(partial(self._forward, x[h], [s[:, h] for s in s0],
                                       None if lengths is None else lengths[h], None,
                                       None if mask is None else mask[h]) for h in halves))
            y = np.concatenate([y for y, _, _ in parts])
            finals = [np.concatenate(pair, axis=1) for pair in zip(*(st for _, st, _ in parts))]
            return y, self._pack_state(finals), ShardedCache([c for _, _, c in parts], N // 2)
        y, finals, cache = self._forward(x, s0, lengths, masks, mask)
        return y, self._pack_state(finals), cache

    def _forward(self, x, s0: list, lengths, masks=None, keep=None):
        """forward on checked arguments: s0 a list of (K, N, H) arrays, masks a list of RegMasks per k
        or None, keep the (N, T) bool per-step mask or None; returns y, [final states], cache."""
        N, T, _ = x.shape
        mask = None                                                     # (T, N, 1) of 0/1, the cells' form
        if lengths is not None and lengths.min() < T:
            mask = (np.arange(T)[:, None] < lengths[None, :]).astype(self.dtype)[:, :, None]
        elif keep is not None and not keep.all():
            mask = np.ascontiguousarray(keep.T, dtype=self.dtype)[:, :, None]
        carry = mask if keep is not None and mask is not None and not self.zero_output_for_mask else None
        inp = x.transpose(1, 0, 2).copy()                               # (T, N, D), the cache's own (also
                                                                        # at N = 1 or T = 1, where it is a view)
        finals = [np.empty(self.state_shape(N, n), self.dtype) for n in self.state_names]
        caches = []
        H, dirs = self.h_size, self.directions
        for layer in range(self.num_layers):
            # where the directions' y go: the top layer's into the batch-first y (N, T, dirs*H), a lower
            # bidirectional layer's into the next layer's (T, N, 2H) input, each into its columns (one
            # copy each, no concatenation; measured: cheaper after the loop than written inside it)
            if layer == self.num_layers - 1:
                buf = np.empty((N, T, dirs * H), self.dtype)
                views = [buf[:, :, d * H:(d + 1) * H].transpose(1, 0, 2) for d in range(dirs)]
            elif dirs == 2:
                buf = np.empty((T, N, 2 * H), self.dtype)
                views = [buf[:, :, d * H:(d + 1) * H] for d in range(2)]
            else:
                buf, views = None, [None]

            def run(direction, layer=layer, inp=inp, views=views):
                k = layer * dirs + direction
                extra = {} if masks is None or masks[k] is None else {"reg": masks[k]}
                return self._cell_forward(inp, tuple(s[k] for s in s0), self.direction_params(layer, direction),
                                          mask, reverse=bool(direction) or self.reverse, out=views[direction],
                                          **extra)
            results = self._pair(x, lambda: run(0), lambda: run(1)) if dirs == 2 else (run(0),)
            for direction, (y_d, sT, cell_cache) in enumerate(results):
                k = layer * dirs + direction
                for final, s in zip(finals, sT):
                    final[k] = s
                if views[direction] is not None and y_d is not views[direction]:
                    views[direction][...] = y_d
                caches.append(DirectionCache(cell_cache, inp.shape[2]))
            inp = results[0][0] if buf is None else buf                 # the next layer's (T, N, dirs*H)
        y = inp                                                         # (N, T, dirs*H)
        if carry is not None:                                           # Keras: masked steps repeat the last output
            H = self.h_size
            for d in range(self.directions):
                carry_outputs(y[:, :, d * H:(d + 1) * H], carry, bool(d) or self.reverse)
        return y, finals, RecurrentCache(x.shape, lengths, caches, carry, self.config(), owner_of(self))

    def infer(self, x, state0=None, lengths=None, mask=None):
        """y, state = infer(x, state0=None, lengths=None, mask=None): ``forward`` without keeping a cache."""
        with engine.inference():                        # the compiled loops skip the cache's arrays
            y, state, _ = self.forward(x, state0, lengths, mask)
        return y, state

    def backward(self, dy, dstate, cache: RecurrentCache):
        """dx, dstate0, grads = backward(dy, dstate, cache).

        dy: dL/dy, (N, T, directions * H), or None for zero; dstate: dL/d(final state) in the form of
        ``state`` (None, or None components, for zero); cache: what this layer's forward returned
        (ValueError for another layer's, even one with the same options: the cache holds the weights
        of the forward that made it). Returns dL/dx (N, T, D), dL/dstate0 (the form of state0) and
        dL/dparams (the keys of ``params``).
        """
        if isinstance(dstate, (RecurrentCache, ShardedCache)):
            raise ValueError(f"dstate: got the cache {self.kind}.forward returned; the arguments are backward(dy, "
                             f"dstate, cache), with dstate None where the final state gets no gradient")
        N, T = self._check_cache(cache)
        ydims = (N, T, self.output_size)
        if dy is None:
            dy = np.zeros(ydims, self.dtype)
        dy = check_float_array("dy", dy, shape=ydims, dtype=self.dtype)
        dsT = self._state_parts("dstate", dstate, N, allow_none=True)
        dsT = [np.zeros(self.state_shape(N, n), self.dtype) if s is None else s for s, n in zip(dsT, self.state_names)]
        if isinstance(cache, ShardedCache):
            halves = (slice(0, cache.split), slice(cache.split, N))
            parts = run_pair(*(partial(self._backward, dy[h], [s[:, h] for s in dsT], c)
                               for h, c in zip(halves, cache.parts)))
            dx = np.concatenate([dx for dx, _, _ in parts])
            ds0 = [np.concatenate(pair, axis=1) for pair in zip(*(ds for _, ds, _ in parts))]
            (_, _, g0), (_, _, g1) = parts
            return dx, self._pack_state(ds0), {k: g0[k] + g1[k] for k in g0}
        dx, ds0, grads = self._backward(dy, dsT, cache)
        return dx, self._pack_state(ds0), grads

    def _check_cache(self, cache) -> tuple:
        """(N, T) of a forward's cache, after checking that this layer made one like it: the same
        layers and directions, input and hidden sizes and gate count."""
        what = _CacheOf(self)                           # its text is made only for an error message
        if isinstance(cache, ShardedCache):
            if len(cache.parts) != 2 or not all(isinstance(c, RecurrentCache) for c in cache.parts):
                raise ValueError(f"cache: expected {what}, got a ShardedCache of {len(cache.parts)} parts")
            for c in cache.parts:
                self._check_cache(c)
            return cache.split + cache.parts[1].x_shape[0], cache.parts[0].x_shape[1]
        if not isinstance(cache, RecurrentCache):
            raise ValueError(f"cache: expected {what}, got {type(cache).__name__}")
        if cache.config is not None and cache.config != self.config():
            mine = self.config()
            diff = {k: (cache.config.get(k), mine.get(k)) for k in set(cache.config) | set(mine)
                    if cache.config.get(k) != mine.get(k)}
            raise ValueError(f"cache: expected {what}; it comes from a layer with other options ("
                             + ", ".join(f"{k}={a!r} there, {b!r} here" for k, (a, b) in sorted(diff.items())) + ")")
        K = self.num_layers * self.directions
        if len(cache.directions) != K:
            raise ValueError(f"cache: expected {what}, with {K} (layer, direction) entries "
                             f"({self.num_layers} layers x {self.directions} directions), got {len(cache.directions)}")
        N, T, D = cache.x_shape
        if D != self.input_size:
            raise ValueError(f"cache: expected {what}, for inputs of {self.input_size} features, got {D}")
        H, G = self.hidden_size, self.gates
        if any(_without_backward(c.cell) for c in cache.directions):
            raise ValueError("cache: it was made within engine.inference() (Recurrent.infer, rnnlab.predict, "
                             "rnnlab.models.predicting), where the compiled LSTM and GRU loops keep no backward "
                             "cache; run forward outside it to backpropagate")
        for k, c in enumerate(cache.directions):
            want = self.input_size if k < self.directions else self.output_size
            U = getattr(c.cell, "U", None)
            if c.in_size != want or (U is not None and np.shape(U) != (self.h_size, G * H)):
                raise ValueError(f"cache: expected {what}; its entry {k} (layer {k // self.directions}, direction "
                                 f"{k % self.directions}) reads {c.in_size} features with recurrent weights of shape "
                                 f"{np.shape(U)}, this layer {want} and {(self.h_size, G * H)}")
        if cache.owner is not None and cache.owner is not owner_of(self):
            raise ValueError(f"cache: expected {what}; it comes from another layer's forward (the cache holds "
                             f"that layer's weights, so its gradients would be that layer's)")
        return N, T

    def _backward(self, dy, dsT: list, cache: RecurrentCache):
        """backward on checked arguments: dsT a list of (K, N, H) arrays; returns dx, [dstate0], grads."""
        N, T, D = cache.x_shape
        H = self.h_size
        if cache.carry is not None:
            dy = dy.copy()
            for d in range(self.directions):
                carry_outputs_backward(dy[:, :, d * H:(d + 1) * H], cache.carry, bool(d) or self.reverse)
        dinp = dy.transpose(1, 0, 2)                                    # (T, N, dirs*H), a view
        ds0 = [np.empty(self.state_shape(N, n), self.dtype) for n in self.state_names]
        grads: dict[str, np.ndarray] = {}
        dx = np.empty((N, T, D), self.dtype)                            # the bottom layer's, batch-first
        for layer in reversed(range(self.num_layers)):
            # where the layer's dx goes: the compiled loops write it through strides (the bottom layer's
            # straight into the batch-first dx) and add the second direction's part to the first's
            target = dx.transpose(1, 0, 2) if layer == 0 else np.empty((T, N, self.directions * H), self.dtype)
            written = []                                                # direction 0 filled target

            def run(direction, layer=layer, dinp=dinp, target=target, written=written):
                k = layer * self.directions + direction
                dy_d = dinp[:, :, direction * H:(direction + 1) * H]
                out, add = (target, False) if direction == 0 else ((target, True) if written else (None, False))
                result = self._cell_backward(dy_d, tuple(s[k] for s in dsT), cache.directions[k].cell, out, add)
                if direction == 0 and result[0] is target:
                    written.append(True)
                return result
            results = self._pair(dy, lambda: run(0), lambda: run(1)) if self.directions == 2 else (run(0),)
            for direction, (dx_d, ds, g) in enumerate(results):
                k = layer * self.directions + direction
                for d0, s in zip(ds0, ds):
                    d0[k] = s
                for name, value in g.items():
                    grads[f"{self.prefix(layer, direction)}.{name}"] = value
                if dx_d is target:
                    continue
                if direction == 1:
                    target += dx_d                                      # both directions read the input
                elif layer == 0 or self.directions == 2:
                    target[...] = dx_d
                else:
                    target = dx_d                                       # the next layer's dy, no copy
            dinp = target
        return dx, ds0, {k: grads[k] for k in self.params}

    # ----- streaming --------------------------------------------------------------------------
    def _check_streamable(self, name: str = "step") -> None:
        if self.reverse:
            raise ValueError(f"{name}: a {self.kind} with direction='reverse' cannot run step by step: it reads the "
                             f"sequence from its end, which a stream has not reached yet; use forward on the whole "
                             f"sequence")
        if self.bidirectional:
            raise ValueError(f"{name}: a bidirectional {self.kind} cannot run step by step: its reverse "
                             f"direction reads the sequence from its end, which a stream has not reached yet; "
                             f"use forward on the whole sequence")

    def initial_state(self, batch: int = 1):
        """The zero state that starts a stream: (K, N, H) with K = num_layers ((h, c) for the LSTM),
        in the layout of ``forward``'s state. batch: N, the number of streams run side by side."""
        self._check_streamable("initial_state")
        return self.zero_state(check_positive_int("batch", batch))

    def step(self, x_t, state=None):
        """y_t, state = step(x_t, state): one time step of every layer, for online use.

        x_t: (N, D), float (cast to the layer's dtype); state: what ``initial_state(N)`` or the
        previous ``step`` returned, or None for zeros. y_t: (N, H), the top layer's h_t. Feeding
        x[:, 0], x[:, 1], ... gives forward(x)'s y[:, t] and, after the last step, its final state.
        The returned state is new arrays; the ones passed in are left unchanged.

        Shapes and dtypes are checked, and x_t's values (NaN or inf: ValueError naming x_t or state,
        as ``forward`` checks x); the state's values are not (about 1 us per array per step, and a
        state that step returned is finite when its inputs were). A bidirectional layer refuses
        (ValueError): its reverse direction needs the end of the sequence.
        """
        return self._step(x_t, state, "x_t", "state", "step")

    def _step(self, x_t, state, x_name: str, state_name: str, where: str):
        self._check_streamable(where)
        r = self.reg
        if self.training and r.any:
            on = [k for k, v in (("zoneout", r.zoneout_h or r.zoneout_c), ("recurrent_dropout", r.recurrent_dropout),
                                 ("weight_drop", r.weight_drop)) if v]
            raise ValueError(f"{where}: a {self.kind} with {', '.join(on)} in training mode cannot run step by step "
                             f"(its masks are drawn per sequence); streaming runs in evaluation mode: call eval() first")
        given = "None" if x_t is None else None
        x_t = np.asarray(x_t)
        if x_t.dtype.kind != "f":
            raise ValueError(f"{x_name}: expected a floating-point array (float32 or float64), "
                             f"got {given or f'dtype {x_t.dtype}'}")
        if x_t.ndim != 2 or x_t.shape[1] != self.input_size or x_t.shape[0] < 1:
            raise ValueError(f"{x_name}: expected shape (N, {self.input_size}) (batch, input_size), got {x_t.shape}")
        if x_name == "x_t" and not np.isfinite(x_t).all():        # the caller's data (a layer inside a
            bad = np.argwhere(~np.isfinite(x_t))[0]                   # Sequential gets computed values)
            raise ValueError(f"{x_name}: expected finite values, got {x_t[tuple(bad)]} at index "
                             f"{tuple(int(i) for i in bad)}")
        if x_t.dtype != self.dtype:
            x_t = x_t.astype(self.dtype)
        parts = self._stream_state(state, x_t.shape[0], state_name)
        self.check_params()
        new = [np.empty(self.state_shape(x_t.shape[0], n), self.dtype) for n in self.state_names]
        params = self.params
        inp = x_t
        for layer, keys in enumerate(self._layer_keys()):
            p = {name: params[key] for name, key in keys}
            old = [s[layer] for s in parts]
            self._cell_step(inp, old, p, [s[layer] for s in new])
            for s, o, z in zip(new, old, (r.zoneout_h, r.zoneout_c)):
                if z:                                                    # zoneout's expectation
                    s[layer] = zoneout(s[layer], o, self.dtype.type(z))
            inp = new[0][layer]                                          # h_t of this layer
        return inp.copy(), self._pack_state(new)

    def _layer_keys(self) -> list:
        """Per layer, the (name, key) pairs of its forward direction's parameters ("W", "l0.W"); the
        names follow from the configuration, so they are listed once and the arrays looked up per step."""
        keys = self.__dict__.get("_stream_keys")
        if keys is None:
            keys = self._stream_keys = [[(name, f"{self.prefix(layer, 0)}.{name}")
                                         for name in self.direction_params(layer, 0)]
                                        for layer in range(self.num_layers)]
        return keys

    def _stream_state(self, state, batch: int, name: str) -> list:
        """A streamed state's (K, N, H) arrays, checked without copying: the exact shape and dtype."""
        shape = self.state_shape(batch)
        if state is None:
            return [np.zeros(self.state_shape(batch, n), self.dtype) for n in self.state_names]
        if len(self.state_names) == 1:
            parts = [state]
        elif not isinstance(state, (tuple, list)) or len(state) != len(self.state_names):
            raise ValueError(f"{name}: expected a tuple {tuple(self.state_names)} of arrays of shape {shape}, "
                             f"got {type(state).__name__}")
        else:
            parts = list(state)
        for part, sname in zip(parts, self.state_names):
            label = name if len(self.state_names) == 1 else f"{name}[{sname}]"
            shape = self.state_shape(batch, sname)
            if not isinstance(part, np.ndarray):
                raise ValueError(f"{label}: expected an array of shape {shape}, got {type(part).__name__}")
            if part.shape != shape:
                raise ValueError(f"{label}: expected shape {shape} (num_layers, batch of x_t, hidden_size), "
                                 f"got {part.shape}")
            if part.dtype != self.dtype:
                raise ValueError(f"{label}: expected dtype {self.dtype} (the layer's dtype), got {part.dtype}")
        return parts

    def _cell_step(self, x_t, state: list, p: dict, out: list) -> None:
        """One step of one forward direction: x_t (N, D_l), state a list of (N, H) arrays (h, or h
        and c); writes the new state into ``out``'s (N, H) arrays."""
        raise NotImplementedError
