"""``rnnlab gradcheck``: backward passes against central differences, one table row per configuration.

    rnnlab gradcheck            RNN (tanh, relu), LSTM, GRU (reset_after True and False) x 1-2 layers x
                                uni/bi x full or ragged lengths, with non-zero initial states; Dense with
                                each activation; an MLP; LSTM -> LastStep -> Dense and GRU -> Dense
    rnnlab gradcheck --torch    instead, rnnlab against PyTorch autograd over rnnlab.verify's grid

Embedding, Dropout and the tree cells have their checks in the tests (test_embedding.py,
test_dropout.py, test_trees_models.py). Exit status 1 when any row is over its limit.
"""
from __future__ import annotations

import time

import numpy as np

from ..gradcheck import MAX_EPS, default_input, gradcheck
from ..layers import GRU, LSTM, RNN, Dense
from ..models import LastStep, Sequential, mlp
from ._flags import check_flag_int, check_flag_real

THRESHOLD = 1e-6


def configurations():
    """(label, model, lengths) for every layer type and option; sequences of 5 steps, batch 3,
    non-zero initial states, ragged lengths on every other row."""
    ragged = np.array([5, 2, 4])
    rows = []
    for layers in (1, 2):
        for bi in (False, True):
            for lengths in (None, ragged):
                opts = dict(num_layers=layers, bidirectional=bi, seed=layers * 10 + bi)
                rows += [RNN(3, 4, nonlinearity="tanh", **opts), RNN(3, 4, nonlinearity="relu", **opts),
                         LSTM(3, 4, forget_bias=1.0, **opts),
                         GRU(3, 4, reset_after=True, **opts), GRU(3, 4, reset_after=False, **opts)]
                rows[-5:] = [(m, lengths) for m in rows[-5:]]
    rows += [(Dense(5, 4, act, seed=1), None) for act in ("sigmoid", "tanh", "relu", "identity", "softmax")]
    rows.append((mlp([10, 30, 10], seed=0), None))
    rows.append((Sequential([LSTM(3, 4, bidirectional=True, seed=2), LastStep(), Dense(8, 5, seed=3)]), ragged))
    rows.append((Sequential([GRU(3, 4, seed=4), Dense(4, 2, "tanh", seed=5)]), ragged))
    return rows


def add_parser(sub):
    p = sub.add_parser("gradcheck", help="check every layer's backward pass against central differences")
    p.add_argument("--max-checks", type=int, default=30, help="entries checked per array (default 30)")
    p.add_argument("--eps", type=float, default=1e-5,
                   help=f"finite-difference step, in (0, {MAX_EPS:g}] (default 1e-5)")
    p.add_argument("--torch", action="store_true",
                   help="instead, compare with PyTorch autograd over the grid (needs the torch extra)")
    return p


def run_torch() -> int:
    from ..verify import KINDS, grid, require_torch, worst_by_kind
    require_torch()                     # the extra's message, before any line of the table
    print(f"rnnlab vs PyTorch autograd, identical weights, {len(grid()) // len(KINDS)} configurations per "
          "layer type (1-3 layers, uni/bi, ragged or not, with/without state0); worst relative error over "
          "y, final state, dx, dstate0 and every parameter gradient.")
    limits = {"float64": 1e-9, "float32": 1e-4}
    worst = {dtype: worst_by_kind(dtype) for dtype in limits}
    print(f"{'layer':<8}{'float64':>12}{'float32':>12}")
    failures = 0
    for kind in KINDS:
        print(f"{kind:<8}{worst['float64'][kind]:>12.2e}{worst['float32'][kind]:>12.2e}")
        failures += sum(worst[d][kind] > limits[d] for d in limits)
    print(f"limits: float64 {limits['float64']:g}, float32 {limits['float32']:g}; "
          f"{'all within' if not failures else f'{failures} over'}")
    return 1 if failures else 0


def run(args) -> int:
    args.max_checks = check_flag_int("--max-checks", args.max_checks, low=1)
    args.eps = check_flag_real("--eps", args.eps, low=0, high=MAX_EPS, low_open=True)
    if args.torch:
        return run_torch()
    print(f"Central differences in float64, eps={args.eps}, up to {args.max_checks} entries per array; "
          f"pass when the worst relative error <= {THRESHOLD:g}.")
    head = f"{'model':<88}{'lengths':<10}{'worst rel err':>14}  {'at':<22}{'ok':>4}"
    print(head)
    print("-" * len(head))
    failures, start = 0, time.perf_counter()
    for model, lengths in configurations():
        x, state0 = default_input(model, batch=3, time=5)
        report = gradcheck(model, x, state0, lengths, eps=args.eps, max_checks=args.max_checks)
        ok = report.worst <= THRESHOLD
        failures += not ok
        name = repr(model).replace(", dtype='float64'", "").replace(", dtype='float32'", "")
        if len(name) > 86:
            name = name[:83] + "..."
        print(f"{name:<88}{'ragged' if lengths is not None else 'full':<10}{report.worst:>14.2e}  "
              f"{report.worst_name:<22}{'yes' if ok else 'NO':>4}")
    print("-" * len(head))
    total = len(configurations())
    print(f"{total - failures} passed, {failures} failed ({time.perf_counter() - start:.1f} s)")
    return 1 if failures else 0
