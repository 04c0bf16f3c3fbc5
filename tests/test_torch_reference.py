"""rnnlab against PyTorch autograd on identical weights: outputs, final states, dx, dstate0 and every
parameter gradient, for RNN / LSTM / GRU x 1-3 layers x uni/bi x ragged lengths x with/without state0."""
import itertools
import zlib

import numpy as np
import pytest

import rnnlab
from rnnlab.interop.torch import from_torch, to_state_dict

from conftest import rel_err, require_torch

torch = require_torch()

TOL = {"float64": 1e-9, "float32": 1e-4}


def torch_module(kind, D, H, layers, bi, dtype, seed, nonlinearity="tanh"):
    torch.manual_seed(seed)
    cls = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind]
    kw = {"nonlinearity": nonlinearity} if kind == "RNN" else {}
    m = cls(D, H, num_layers=layers, bidirectional=bi, batch_first=True, **kw)
    return m.to(getattr(torch, dtype))


def run_torch(m, x, lengths, state0, dy, dstate):
    """Forward and backward in torch with packed sequences for ragged batches."""
    xt = torch.tensor(x, requires_grad=True)
    st = None
    if state0 is not None:
        st = tuple(torch.tensor(s, requires_grad=True) for s in state0)
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


def expected_torch_grads(layer, grads):
    """rnnlab grads in torch's names: weights re-laid out; b feeds both torch biases
    (for the GRU, bias_hh's candidate block is b_hn)."""
    sd = to_state_dict(layer, grads)
    H = layer.hidden_size
    for k in list(sd):
        if k.startswith("bias_hh"):
            if isinstance(layer, rnnlab.GRU):
                sd[k] = np.concatenate([sd[k.replace("bias_hh", "bias_ih")][:2 * H], sd[k][2 * H:]])
            else:
                sd[k] = sd[k.replace("bias_hh", "bias_ih")]
    return sd


CASES = list(itertools.product(["RNN", "LSTM", "GRU"], [1, 2, 3], [False, True], [False, True], [False, True]))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind,layers,bi,ragged,with_state", CASES)
def test_matches_torch(kind, layers, bi, ragged, with_state, dtype):
    seed = zlib.crc32(repr((kind, layers, bi, ragged, with_state)).encode())
    rng = np.random.default_rng(seed)
    N, T, D, H = 4, 6, 5, 7
    m = torch_module(kind, D, H, layers, bi, dtype, seed, nonlinearity="relu" if seed % 2 else "tanh")
    layer = from_torch(m)
    assert layer.dtype == np.dtype(dtype)
    K = layers * (2 if bi else 1)
    x = rng.standard_normal((N, T, D)).astype(dtype)
    lengths = np.array([T, 3, 1, 5]) if ragged else None
    n_state = 2 if kind == "LSTM" else 1
    state0 = [rng.standard_normal((K, N, H)).astype(dtype) * 0.5 for _ in range(n_state)] if with_state else None
    dy = rng.standard_normal((N, T, layer.output_size)).astype(dtype)
    dstate = [rng.standard_normal((K, N, H)).astype(dtype) for _ in range(n_state)]

    s0 = None if state0 is None else (tuple(state0) if n_state == 2 else state0[0])
    y, state, cache = layer.forward(x, s0, lengths)
    dx, ds0, grads = layer.backward(dy, tuple(dstate) if n_state == 2 else dstate[0], cache)
    y_t, fin_t, dx_t, ds0_t, g_t = run_torch(m, x, lengths, state0, dy, dstate)

    tol = TOL[dtype]
    state = state if n_state == 2 else (state,)
    ds0 = ds0 if n_state == 2 else (ds0,)
    assert y.dtype == np.dtype(dtype) and dx.dtype == np.dtype(dtype)
    assert rel_err(y, y_t) <= tol
    for s, s_t in zip(state, fin_t):
        assert rel_err(s, s_t) <= tol
    assert rel_err(dx, dx_t) <= tol
    if ds0_t is not None:
        for d, d_t in zip(ds0, ds0_t):
            assert rel_err(d, d_t) <= tol
    expected = expected_torch_grads(layer, grads)
    assert set(expected) == set(g_t)
    for k in g_t:
        assert rel_err(expected[k], g_t[k]) <= tol, k
    if ragged:
        pad = np.arange(T)[None, :] >= lengths[:, None]
        assert np.all(y[pad] == 0)
        assert np.all(dx[pad] == 0)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_to_state_dict_round_trip_through_torch(kind):
    """rnnlab -> torch state_dict -> torch module -> from_torch gives back identical params."""
    layer = getattr(rnnlab, kind)(3, 4, num_layers=2, bidirectional=True, dtype="float64", seed=1)
    m = torch_module(kind, 3, 4, 2, True, "float64", 0)
    m.load_state_dict({k: torch.tensor(v) for k, v in to_state_dict(layer).items()})
    back = from_torch(m)
    for k, v in layer.params.items():
        np.testing.assert_allclose(back.params[k], v, rtol=0, atol=1e-15)


def test_forget_bias_folds_into_torch_bias():
    layer = rnnlab.LSTM(3, 4, forget_bias=1.0, dtype="float64", seed=2)
    m = torch_module("LSTM", 3, 4, 1, False, "float64", 0)
    m.load_state_dict({k: torch.tensor(v) for k, v in to_state_dict(layer).items()})
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    y, (h, c), _ = layer.forward(x)
    y_t, (h_t, c_t) = m(torch.tensor(x))
    assert rel_err(y, y_t.detach().numpy()) <= 1e-12
    assert rel_err(c, c_t.detach().numpy()) <= 1e-12


def test_import_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys, rnnlab, rnnlab.interop.torch; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
