"""Optimizers over dicts of named arrays: ``step(params, grads)`` updates ``params`` in place from the
``grads`` dict with the same keys (STYLE.md, principle 4).

With g the gradient (plus weight decay lambda * theta when ``weight_decay`` > 0, L2 as in PyTorch;
``AdamW`` decays decoupled), lr the learning rate and t the step count:

    SGD       v = mu v + g;  theta -= lr (g + mu v) if nesterov else lr v     (mu = 0: theta -= lr g)
    Adagrad   G += g^2;      theta -= lr g / (sqrt(G) + eps)
    RMSprop   s = rho s + (1 - rho) g^2;  theta -= lr g / (sqrt(s) + eps)
    Adam      m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
              theta -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

A gradient may be a ``SparseGrad(rows, values)``: only those rows of the parameter (an embedding
table) received gradient. SGD without momentum and Adagrad update just those rows, exactly as the
dense update would; Adam and RMSprop update the rows' moments lazily (TensorFlow's LazyAdam), which
differs from the dense update only in that untouched rows' moments do not decay.

``clip_grad_norm`` rescales all gradients together when their global L2 norm exceeds a bound
(Pascanu et al. 2013), the standard cure for exploding gradients. Schedules map a step count to a
learning-rate factor.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .checks import check_int, check_real


class SparseGrad(NamedTuple):
    rows: np.ndarray     # (R,) row indices, may repeat
    values: np.ndarray   # (R, ...) gradient of each listed row

    def dense(self, shape, dtype) -> np.ndarray:
        out = np.zeros(shape, dtype)
        np.add.at(out, self.rows, self.values)
        return out

    def coalesce(self) -> "SparseGrad":
        """Unique rows with their gradients summed."""
        rows, inverse = np.unique(self.rows, return_inverse=True)
        values = np.zeros((len(rows),) + self.values.shape[1:], self.values.dtype)
        np.add.at(values, inverse, self.values)
        return SparseGrad(rows, values)


def global_norm(grads: dict) -> float:
    total = 0.0
    for g in grads.values():
        v = g.values if isinstance(g, SparseGrad) else g
        if isinstance(g, SparseGrad):
            v = g.coalesce().values
        total += float(np.sum(np.square(v, dtype=np.float64)))
    return math.sqrt(total)


def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """Scale every gradient in place by min(1, max_norm / ||g||); returns the norm before clipping.
    ``max_norm``: a finite number > 0 (ValueError otherwise)."""
    max_norm = check_real("max_norm", max_norm, low=0, low_open=True)
    if not isinstance(grads, dict):
        raise ValueError(f"grads: expected a dict of named arrays, got {type(grads).__name__}")
    norm = global_norm(grads)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-12)
        for k, g in grads.items():
            if isinstance(g, SparseGrad):
                grads[k] = SparseGrad(g.rows, g.values * scale)
            else:
                g *= scale
    return norm


class Optimizer:
    """Base: hyper-parameters, per-parameter state arrays, the step count and the schedule.

    Every hyper-parameter is checked where it enters: a Python or NumPy number (never a bool), finite,
    in its range (``lr`` > 0, ``weight_decay`` >= 0, ``eps`` > 0, ``momentum``, ``rho`` and each of
    ``betas`` in [0, 1)); otherwise ValueError naming the argument. ``schedule``: None or a callable
    from the step count to a factor on ``lr``."""

    def __init__(self, lr: float, weight_decay: float = 0.0, schedule=None):
        self.lr = check_real("lr", lr, low=0, low_open=True)
        self.weight_decay = check_real("weight_decay", weight_decay, low=0)
        if schedule is not None and not callable(schedule):
            raise ValueError(f"schedule: expected None or a callable step -> factor, got {type(schedule).__name__}")
        self.schedule = schedule
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}   # slot name -> param key -> array

    def current_lr(self) -> float:
        if not self.schedule:
            return self.lr
        factor = self.schedule(self.t)
        if not (isinstance(factor, (int, float, np.integer, np.floating)) and np.isfinite(factor) and factor >= 0):
            raise ValueError(f"schedule: expected a finite factor >= 0 at step {self.t}, got {factor!r}")
        return self.lr * float(factor)

    def slot(self, name: str, key: str, like: np.ndarray) -> np.ndarray:
        slots = self.state.setdefault(name, {})
        if key not in slots:
            slots[key] = np.zeros_like(like)
        return slots[key]

    def step(self, params: dict, grads: dict) -> None:
        for name, arg in (("params", params), ("grads", grads)):
            if not isinstance(arg, dict):
                raise ValueError(f"{name}: expected a dict of named arrays, got {type(arg).__name__}")
        missing = sorted(set(grads) - set(params))
        if missing:
            raise ValueError(f"grads: expected keys of params, got keys {missing} that are not in params")
        self.t += 1
        lr = self.current_lr()
        for k, g in grads.items():
            p = params[k]
            if isinstance(g, SparseGrad):
                g = g.coalesce()
                if self.weight_decay:
                    g = SparseGrad(g.rows, g.values + self.weight_decay * p[g.rows])
                self._update_rows(k, p, g.rows, g.values.astype(p.dtype, copy=False), lr)
            else:
                if g.shape != p.shape:
                    raise ValueError(f"grads[{k!r}]: expected shape {p.shape}, got {g.shape}")
                if self.weight_decay and self.decay_in_gradient:
                    g = g + self.weight_decay * p
                self._update(k, p, g.astype(p.dtype, copy=False), lr)

    decay_in_gradient = True   # L2 added to g; AdamW decays the weights directly instead
    slot_names: tuple = ()     # per-parameter state arrays of the rule, e.g. ("m", "v")

    def _update(self, key, p, g, lr):
        self._rule(p, g, lr, {name: self.slot(name, key, p) for name in self.slot_names})

    def _update_rows(self, key, p, rows, g, lr):
        """The rule applied to the touched rows only (rows are unique after coalescing)."""
        slots = {name: self.slot(name, key, p) for name in self.slot_names}
        p_rows, slot_rows = p[rows], {name: s[rows] for name, s in slots.items()}
        self._rule(p_rows, g, lr, slot_rows)
        p[rows] = p_rows
        for name, s in slots.items():
            s[rows] = slot_rows[name]

    def _rule(self, p, g, lr, slots):
        """Update ``p`` and its ``slots`` in place from gradient ``g``."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Arrays and numbers that ``load_state_dict`` restores exactly (for --resume)."""
        out = {"t": np.array(self.t)}
        for name, slots in self.state.items():
            for key, value in slots.items():
                out[f"{name}/{key}"] = value
        return out

    def load_state_dict(self, state: dict) -> None:
        self.t = int(state["t"])
        self.state = {}
        for k, v in state.items():
            if k == "t":
                continue
            name, key = k.split("/", 1)
            self.state.setdefault(name, {})[key] = np.array(v)


class SGD(Optimizer):
    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, schedule=None):
        super().__init__(lr, weight_decay, schedule)
        momentum = check_real("momentum", momentum, low=0, high=1, high_open=True)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ValueError(f"nesterov: expected True or False, got {nesterov!r}")
        if nesterov and not momentum:
            raise ValueError("nesterov: needs momentum > 0, got momentum=0")
        self.momentum, self.nesterov = momentum, bool(nesterov)
        self.slot_names = ("v",) if momentum else ()

    def _rule(self, p, g, lr, slots):
        if not self.momentum:
            p -= lr * g
            return
        v = slots["v"]
        v *= self.momentum
        v += g
        p -= lr * (g + self.momentum * v) if self.nesterov else lr * v


class Adagrad(Optimizer):
    slot_names = ("G",)

    def __init__(self, lr=0.01, eps=1e-10, weight_decay=0.0, schedule=None):
        super().__init__(lr, weight_decay, schedule)
        self.eps = check_real("eps", eps, low=0, low_open=True)

    def _rule(self, p, g, lr, slots):
        G = slots["G"]
        G += g * g
        p -= lr * g / (np.sqrt(G) + self.eps)


class RMSprop(Optimizer):
    slot_names = ("s",)

    def __init__(self, lr=0.001, rho=0.9, eps=1e-8, weight_decay=0.0, schedule=None):
        super().__init__(lr, weight_decay, schedule)
        self.rho = check_real("rho", rho, low=0, high=1, high_open=True)
        self.eps = check_real("eps", eps, low=0, low_open=True)

    def _rule(self, p, g, lr, slots):
        s = slots["s"]
        s *= self.rho
        s += (1 - self.rho) * g * g
        p -= lr * g / (np.sqrt(s) + self.eps)


class Adam(Optimizer):
    slot_names = ("m", "v")

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, schedule=None):
        super().__init__(lr, weight_decay, schedule)
        if not isinstance(betas, (tuple, list, np.ndarray)) or len(betas) != 2:
            raise ValueError(f"betas: expected a pair (beta1, beta2) of numbers in [0, 1), got {betas!r}")
        # beta = 1 would divide by the bias correction 1 - beta^t = 0 (Kingma & Ba 2015, Algorithm 1)
        self.b1 = check_real("betas[0]", betas[0], low=0, high=1, high_open=True)
        self.b2 = check_real("betas[1]", betas[1], low=0, high=1, high_open=True)
        self.eps = check_real("eps", eps, low=0, low_open=True)

    def _rule(self, p, g, lr, slots):
        m, v = slots["m"], slots["v"]
        m *= self.b1
        m += (1 - self.b1) * g
        v *= self.b2
        v += (1 - self.b2) * g * g
        m_hat = m / (1 - self.b1 ** self.t)
        v_hat = v / (1 - self.b2 ** self.t)
        p -= lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): theta -= lr lambda theta."""
    decay_in_gradient = False

    def _rule(self, p, g, lr, slots):
        if self.weight_decay:
            p -= lr * self.weight_decay * p
        super()._rule(p, g, lr, slots)


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}


def make_optimizer(name: str, **kwargs) -> Optimizer:
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](**kwargs)


# ----- learning-rate schedules: step count t (1-based) -> factor on lr ---------------------------
def constant():
    return lambda t: 1.0


def step_decay(every: int, gamma: float = 0.5):
    """lr * gamma^floor((t - 1) / every)."""
    every = check_int("every", every, low=1)
    gamma = check_real("gamma", gamma, low=0, low_open=True)
    return lambda t: gamma ** ((t - 1) // every)


def exponential_decay(gamma: float):
    gamma = check_real("gamma", gamma, low=0, low_open=True)
    return lambda t: gamma ** (t - 1)


def cosine(total: int, warmup: int = 0, floor: float = 0.0):
    """Linear warm-up over ``warmup`` steps, then cosine from 1 down to ``floor`` at ``total``."""
    total = check_int("total", total, low=1)
    warmup = check_int("warmup", warmup, low=0, high=total)
    floor = check_real("floor", floor, low=0, high=1)
    def factor(t):
        if warmup and t <= warmup:
            return t / warmup
        progress = min(1.0, (t - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor
