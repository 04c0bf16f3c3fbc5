"""rnnlab against PyTorch autograd on identical weights: the reference comparison behind
``tests/test_torch_reference.py`` and ``rnnlab gradcheck --torch``.

For one configuration, a torch module is built with random weights, converted with ``from_torch``,
and both run forward and backward on the same ragged batch, initial state and output gradients
(dL/dy and dL/d(final state)); every output, final state, dx, initial-state gradient and parameter
gradient is compared as a norm-wise relative error max|a - b| / max|b|. PyTorch (the ``torch``
extra) is imported only when called.
"""
from __future__ import annotations

import itertools
import zlib

import numpy as np

from .extras import require

KINDS = ("RNN", "LSTM", "GRU")


def rel_err(a, b) -> float:
    """Norm-wise relative error max|a - b| / max|b| in float64 (max|b| floored at 1e-12; 0 for empty
    arrays). Raises ValueError when the shapes differ."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)) if a.size else 0.0


def require_torch():
    return require("torch", "PyTorch is needed for the reference comparison: pip install 'rnnlab[torch]'")


def _run_torch(m, x, lengths, state0, dy, dstate):
    """Forward and backward in torch, packed sequences for ragged batches."""
    torch = require_torch()
    xt = torch.tensor(x, requires_grad=True)
    st = None if state0 is None else tuple(torch.tensor(s, requires_grad=True) for s in state0)
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=True,
                                                      enforce_sorted=False)
    out, fin = m(inp, st if st is None or len(st) == 2 else st[0])
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    fin = fin if isinstance(fin, tuple) else (fin,)
    loss = (out * torch.tensor(dy)).sum() + sum((f * torch.tensor(d)).sum() for f, d in zip(fin, dstate))
    m.zero_grad()
    loss.backward()
    return (out.detach().numpy(), [f.detach().numpy() for f in fin], xt.grad.numpy(),
            None if st is None else [s.grad.numpy() for s in st],
            {k: v.grad.numpy() for k, v in m.named_parameters()})


def torch_named_grads(layer, grads) -> dict:
    """rnnlab grads under torch's names: weights re-laid out, and b's gradient feeding both torch biases
    (for the GRU, bias_hh's candidate block is b_hn's gradient)."""
    from .interop.torch import to_state_dict
    from .layers import GRU
    sd = to_state_dict(layer, grads)
    H = layer.hidden_size
    for k in list(sd):
        if k.startswith("bias_hh"):
            b_ih = sd[k.replace("bias_hh", "bias_ih")]
            sd[k] = np.concatenate([b_ih[:2 * H], sd[k][2 * H:]]) if isinstance(layer, GRU) else b_ih
    return sd


def compare_with_torch(kind, layers=1, bidirectional=False, ragged=False, with_state=False,
                       dtype="float64", nonlinearity=None, N=4, T=6, D=5, H=7, proj_size=0) -> dict:
    """Relative errors of rnnlab against torch for one configuration: {"y", "state", "dx",
    "dstate0", "params", "padding_zero"} (the last one True when outputs and dx are exactly zero on
    padded steps). ``proj_size``: an LSTM's projection (torch ``proj_size``)."""
    from .interop.torch import from_torch
    torch = require_torch()
    seed = zlib.crc32(repr((kind, layers, bidirectional, ragged, with_state) + ((proj_size,) if proj_size else ()))
                      .encode())
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    cls = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind]
    kw = {}
    if kind == "RNN":
        kw["nonlinearity"] = nonlinearity or ("relu" if seed % 2 else "tanh")
    if proj_size:
        kw["proj_size"] = proj_size
    m = cls(D, H, num_layers=layers, bidirectional=bidirectional, batch_first=True, **kw).to(getattr(torch, dtype))
    layer = from_torch(m)
    K = layers * (2 if bidirectional else 1)
    n_state = 2 if kind == "LSTM" else 1
    x = rng.standard_normal((N, T, D)).astype(dtype)
    lengths = np.minimum(np.resize([T, 3, 1, 5], N), T) if ragged else None    # the first row full length
    widths = [proj_size or H, H][:n_state]                       # h (K, N, P), the LSTM's c (K, N, H)
    state0 = [0.5 * rng.standard_normal((K, N, w)).astype(dtype) for w in widths] if with_state else None
    dy = rng.standard_normal((N, T, layer.output_size)).astype(dtype)
    dstate = [rng.standard_normal((K, N, w)).astype(dtype) for w in widths]

    pack = (lambda parts: tuple(parts)) if n_state == 2 else (lambda parts: parts[0])
    y, state, cache = layer.forward(x, None if state0 is None else pack(state0), lengths)
    dx, ds0, grads = layer.backward(dy, pack(dstate), cache)
    y_t, fin_t, dx_t, ds0_t, g_t = _run_torch(m, x, lengths, state0, dy, dstate)

    unpack = (lambda s: list(s)) if n_state == 2 else (lambda s: [s])
    expected = torch_named_grads(layer, grads)
    if set(expected) != set(g_t):
        raise AssertionError(f"parameter names differ: {sorted(expected)} vs {sorted(g_t)}")
    errors = {"y": rel_err(y, y_t),
              "state": max(rel_err(a, b) for a, b in zip(unpack(state), fin_t)),
              "dx": rel_err(dx, dx_t),
              "dstate0": 0.0 if ds0_t is None else max(rel_err(a, b) for a, b in zip(unpack(ds0), ds0_t)),
              "params": max(rel_err(expected[k], g_t[k]) for k in g_t),
              "dtype_ok": y.dtype == np.dtype(dtype) and dx.dtype == np.dtype(dtype)}
    if ragged:
        pad = np.arange(T)[None, :] >= lengths[:, None]
        errors["padding_zero"] = bool(np.all(y[pad] == 0) and np.all(dx[pad] == 0))
    return errors


def grid():
    """Every configuration the tests and the table cover: kind x layers 1-3 x uni/bi x ragged x state0."""
    return list(itertools.product(KINDS, [1, 2, 3], [False, True], [False, True], [False, True]))


def worst_by_kind(dtype="float64") -> dict:
    """{kind: worst relative error over the grid and over all compared arrays}."""
    worst = {k: 0.0 for k in KINDS}
    for kind, layers, bi, ragged, with_state in grid():
        e = compare_with_torch(kind, layers, bi, ragged, with_state, dtype)
        worst[kind] = max(worst[kind], *(e[k] for k in ("y", "state", "dx", "dstate0", "params")))
    return worst
