"""Central-difference gradient checks of any rnnlab layer or model, in float64.

For random fixed probes P (one per output: y, and every final state), the scalar

    L(theta, x, s0) = sum(y * P_y) + sum_k sum(s_k * P_s_k)

has the analytic gradient that ``backward(P_y, P_s, cache)`` returns, and the numerical one

    dL/dtheta_j ~ (L(theta + eps e_j) - L(theta - eps e_j)) / (2 eps)

with O(eps^2) truncation error. For each array (every parameter, and the inputs x and initial state)
the report gives the worst absolute error over the checked entries and the relative error

    max_j |a_j - n_j| / max(max_j |n_j|, floor)

measured against the array's largest gradient, as PyTorch's comparison tests do: an entry-wise ratio
would flag round-off (about 1e-16 |L| / eps) in entries many orders smaller than their neighbours.

Random masks (Dropout, and the recurrent layers' zoneout, recurrent_dropout and weight_drop): the
float64 copy keeps the model's mode (training or evaluation) and its layers' generator states
(``layer.rng``), and every forward starts from those same states, so L sees the same masks at every
perturbation: the check is of the backward for the masks the first forward drew.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .checks import check_float_array, check_int, check_real
from .layers import Dense, Recurrent, ReverseSequence
from .models import LAYER_TYPES, LastStep, Sequential, clone

MAX_EPS = 1e-2   # the largest finite-difference step gradcheck takes (relative truncation error ~ eps^2)


@dataclass
class GradcheckRow:
    name: str
    shape: tuple
    checked: int
    max_abs_err: float
    max_rel_err: float


@dataclass
class GradcheckReport:
    model: str
    rows: list = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max((r.max_rel_err for r in self.rows), default=0.0)

    @property
    def worst_name(self) -> str:
        return max(self.rows, key=lambda r: r.max_rel_err).name if self.rows else ""

    def format(self) -> str:
        lines = [f"{self.model}", f"  {'array':<26}{'shape':<16}{'checked':>8}{'max abs err':>14}{'max rel err':>14}"]
        for r in self.rows:
            lines.append(f"  {r.name:<26}{str(r.shape):<16}{r.checked:>8}{r.max_abs_err:>14.2e}{r.max_rel_err:>14.2e}")
        return "\n".join(lines)


def _layers(model) -> list:
    return list(model.layers) if isinstance(model, Sequential) else [model]


def _freeze_masks(model, copy):
    """Give ``copy`` the mode and generator states of ``model``; returns a function that puts the
    generators back to those states (called before every forward: the same masks each time)."""
    pairs = list(zip(_layers(model), _layers(copy)))
    for a, b in pairs:
        if hasattr(b, "train"):
            b.train(bool(getattr(a, "training", False)))
    states = [(b.rng, a.rng.bit_generator.state) for a, b in pairs if getattr(a, "rng", None) is not None
              and getattr(b, "rng", None) is not None]

    def restore():
        for rng, state in states:
            rng.bit_generator.state = state
    return restore


def _parts(state) -> list:
    if state is None:
        return []
    return list(state) if isinstance(state, tuple) else [state]


def _pack(parts: list, like):
    return tuple(parts) if isinstance(like, tuple) else parts[0]


def _run(model, x, state0, lengths):
    """Forward once; returns (outputs, backward) where backward(probes) -> (input grads, param grads)."""
    if isinstance(model, Recurrent):
        y, state, cache = model.forward(x, state0, lengths)

        def backward(probes):
            dx, ds0, grads = model.backward(probes[0], _pack(probes[1:], state), cache)
            return [dx] + _parts(ds0), grads
        return [y] + _parts(state), backward
    if isinstance(model, Sequential):
        y, cache = model.forward(x, lengths, state0)
        sizes = [len(_parts(s)) for s in cache.states]

        def backward(probes):
            dstates, k = [], 1
            for s, n in zip(cache.states, sizes):
                dstates.append(_pack(probes[k:k + n], s) if n else None)
                k += n
            dx, ds0, grads = model.backward_states(probes[0], cache, dstates)
            return [dx] + [p for d in ds0 for p in _parts(d)], grads
        return [y] + [p for s in cache.states for p in _parts(s)], backward
    if isinstance(model, (LastStep, ReverseSequence)):
        y, cache = model.forward(x, lengths)
    else:
        y, cache = model.forward(x)

    def backward(probes):
        dx, grads = model.backward(probes[0], cache)
        return [dx], grads
    return [y], backward


def _input_names(model, state0) -> list:
    names = ["x"]
    if isinstance(model, Recurrent):
        names += [f"state0.{n}" for n in model.state_names]
    elif isinstance(model, Sequential):
        for i, layer in enumerate(model.layers):
            if isinstance(layer, Recurrent):
                names += [f"state0[{i}].{n}" for n in layer.state_names]
    return names


def default_input(model, batch: int = 3, time: int = 5, seed: int = 0):
    """A random x of the right shape for ``model``, with a non-zero initial state for every recurrent
    layer (zero states hide bugs in the state's gradient)."""
    rng = np.random.default_rng(seed)
    first = model.layers[0] if isinstance(model, Sequential) else model
    if isinstance(first, Dense):
        x = rng.standard_normal((batch, first.input_size))
    elif isinstance(first, LastStep):
        x = rng.standard_normal((batch, time, 4 * first.directions))
    else:                                    # ReverseSequence keeps any width
        x = rng.standard_normal((batch, time, getattr(first, "input_size", 4)))

    def state_for(layer):
        parts = [0.5 * rng.standard_normal(layer.state_shape(batch, n)) for n in layer.state_names]
        return tuple(parts) if len(parts) > 1 else parts[0]
    if isinstance(model, Recurrent):
        return x, state_for(model)
    if isinstance(model, Sequential):
        return x, [state_for(l) if isinstance(l, Recurrent) else None for l in model.layers]
    return x, None


def gradcheck(model, x=None, state0=None, lengths=None, eps: float = 1e-5, max_checks: int = 30,
              seed: int = 0, floor: float = 1e-8) -> GradcheckReport:
    """Check ``model``'s backward against central differences, on a float64 copy of it.

    x / state0 default to ``default_input(model)`` (random, with non-zero initial states). Up to
    ``max_checks`` entries of every parameter and input are checked (all of them if fewer).

    Arguments are checked first (ValueError naming the argument): ``eps`` in (0, MAX_EPS] (a larger
    step measures the truncation error O(eps^2) of the difference, not the backward), ``max_checks``
    an integer >= 1, ``seed`` an integer >= 0, ``floor`` a finite number > 0, ``model`` an rnnlab
    layer or Sequential.
    """
    eps = check_real("eps", eps, low=0, high=MAX_EPS, low_open=True)
    max_checks = check_int("max_checks", max_checks, low=1)
    seed = check_int("seed", seed, low=0)
    floor = check_real("floor", floor, low=0, low_open=True)
    if not isinstance(model, Sequential) and getattr(model, "kind", None) not in LAYER_TYPES:
        raise ValueError(f"model: expected an rnnlab layer or Sequential, got {type(model).__name__}")
    original, model = model, clone(model, "float64")
    restore = _freeze_masks(original, model)
    if x is None:
        x, default_state = default_input(model, seed=seed)
        state0 = default_state if state0 is None else state0
    x = check_float_array("x", x, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)

    restore()
    outputs, backward = _run(model, x, state0, lengths)
    probes = [rng.standard_normal(o.shape) for o in outputs]
    input_grads, param_grads = backward(probes)

    def loss() -> float:
        restore()
        outs, _ = _run(model, x, state0, lengths)
        return float(sum(np.sum(o * p) for o, p in zip(outs, probes)))

    inputs = [x]
    if state0 is not None:
        inputs += [p for s in (state0 if isinstance(state0, list) else [state0]) for p in _parts(s)]
    names = _input_names(model, state0)[:len(inputs)]
    checks = [(f"param {k}", model.params[k], param_grads[k]) for k in model.params]
    checks += [(f"input {n}", arr, g) for n, arr, g in zip(names, inputs, input_grads)]

    report = GradcheckReport(repr(model))
    for name, array, analytic in checks:
        idx = np.arange(array.size) if array.size <= max_checks else rng.choice(array.size, max_checks, replace=False)
        report.rows.append(check_entries(name, array, analytic, idx, loss, eps, floor))
    return report


def check_entries(name: str, array: np.ndarray, analytic: np.ndarray, idx, loss, eps: float,
                  floor: float) -> GradcheckRow:
    """Central differences of ``loss()`` at the flat entries ``idx`` of ``array`` (perturbed in place
    and restored) against ``analytic``; the row's relative error is the worst absolute error over the
    array's largest numerical gradient."""
    flat, a_flat = array.reshape(-1), analytic.reshape(-1)
    abs_errs, scale = [], 0.0
    for j in idx:
        old = flat[j]
        flat[j] = old + eps
        plus = loss()
        flat[j] = old - eps
        minus = loss()
        flat[j] = old
        numeric = (plus - minus) / (2 * eps)
        abs_errs.append(abs(a_flat[j] - numeric))
        scale = max(scale, abs(numeric))
    worst_abs = max(abs_errs)
    return GradcheckRow(name, array.shape, len(idx), worst_abs, worst_abs / max(scale, floor))
