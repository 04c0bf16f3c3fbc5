"""Whole PyTorch models (one RNN/LSTM/GRU plus an nn.Linear head) through rnnlab.interop.torch:
saved .pt state_dicts of real torch modules run on ragged batches give torch's outputs and final
states, and rnnlab -> torch -> rnnlab returns identical arrays."""
import itertools
import zlib

import numpy as np
import pytest

import rnnlab
from rnnlab.interop import torch as ti
from rnnlab.models import LastStep, Sequential

from conftest import max_abs_err, require_torch

torch = require_torch()

TOL = {"float32": 1e-5, "float64": 1e-10}


class Net(torch.nn.Module):
    """The model users write: a recurrent module and a Linear on the final h or on every step."""

    def __init__(self, kind, D, H, O, layers, bi, head, nonlinearity="tanh"):
        super().__init__()
        cls = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind]
        kw = {"nonlinearity": nonlinearity} if kind == "RNN" else {}
        self.rnn = cls(D, H, num_layers=layers, bidirectional=bi, batch_first=True, **kw)
        self.fc = torch.nn.Linear(H * (2 if bi else 1), O)
        self.head, self.dirs = head, 2 if bi else 1

    def forward(self, x, lengths):
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=True,
                                                         enforce_sorted=False)
        out, state = self.rnn(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        h = state[0] if isinstance(state, tuple) else state
        if self.head == "last":
            return self.fc(torch.cat(list(h[-self.dirs:]), dim=1)), state
        return self.fc(out), state


def torch_case(kind, layers, bi, head, dtype):
    seed = zlib.crc32(repr((kind, layers, bi, head, dtype)).encode())
    torch.manual_seed(seed)
    nonlinearity = "relu" if kind == "RNN" and seed % 2 else "tanh"
    net = Net(kind, 5, 6, 3, layers, bi, head, nonlinearity).to(getattr(torch, dtype))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 7, 5)).astype(dtype)
    lengths = np.array([7, 2, 5, 1])
    return net, x, lengths, nonlinearity


CASES = list(itertools.product(["RNN", "LSTM", "GRU"], [1, 2], [False, True], ["last", "each"]))


def compare(kind, layers, bi, head, dtype, tmp_path) -> float:
    """Max abs error of the rnnlab model loaded from a saved .pt against torch (outputs and states)."""
    net, x, lengths, nonlinearity = torch_case(kind, layers, bi, head, dtype)
    path = tmp_path / "model.pt"
    torch.save(net.state_dict(), path)
    model = ti.load_model(path, head=head, nonlinearity=nonlinearity)
    with torch.no_grad():
        y_t, state_t = net(torch.tensor(x), lengths)
    y, cache = model.forward(x, lengths)
    state = cache.states[0] if kind == "LSTM" else (cache.states[0],)
    state_t = state_t if kind == "LSTM" else (state_t,)
    assert y.dtype == np.dtype(dtype)
    return max([max_abs_err(y, y_t.numpy())] + [max_abs_err(s, s_t.numpy()) for s, s_t in zip(state, state_t)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind,layers,bi,head", CASES)
def test_saved_torch_model_runs_identically(kind, layers, bi, head, dtype, tmp_path):
    assert compare(kind, layers, bi, head, dtype, tmp_path) <= TOL[dtype]


def test_module_and_pickled_module_load():
    net, x, lengths, _ = torch_case("GRU", 2, True, "last", "float32")
    model = ti.load_model(net)
    assert isinstance(model, Sequential) and isinstance(model[1], LastStep)
    with torch.no_grad():
        y_t, _ = net(torch.tensor(x), lengths)
    assert max_abs_err(model.forward(x, lengths)[0], y_t.numpy()) <= 1e-5
    bare = ti.load_model(net.rnn)
    assert isinstance(bare, rnnlab.GRU) and bare.num_layers == 2


def test_pickled_module_needs_weights_only_false(tmp_path):
    net, x, lengths, _ = torch_case("LSTM", 1, False, "each", "float64")
    path = tmp_path / "whole.pt"
    torch.save(net, path)
    with pytest.raises(ValueError, match="weights_only=True"):
        ti.load_model(path)
    model = ti.load_model(path, head="each", weights_only=False)
    with torch.no_grad():
        y_t, _ = net(torch.tensor(x), lengths)
    assert max_abs_err(model.forward(x, lengths)[0], y_t.numpy()) <= 1e-10


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("head", ["last", "each", None])
def test_round_trip_through_torch_is_exact(kind, head, tmp_path):
    layer = getattr(rnnlab, kind)(3, 4, num_layers=2, bidirectional=True, dtype="float64", seed=3)
    dense = rnnlab.Dense(8, 2, dtype="float64", seed=4)
    model = {"last": Sequential([layer, LastStep(), dense]), "each": Sequential([layer, dense]), None: layer}[head]
    path = tmp_path / "m.pt"
    ti.save_model(model, path)
    back = ti.load_model(path, head=head or "last")
    assert type(back) is type(model) and set(back.params) == set(model.params)
    for k, v in model.params.items():
        np.testing.assert_array_equal(back.params[k], v)
    rnn, lin = ti.to_torch(model)
    sd = {"rnn." + k: v for k, v in rnn.state_dict().items()}
    if lin is not None:
        sd.update({"head." + k: v for k, v in lin.state_dict().items()})
    again = ti.from_state_dict(sd, head=head or "last")
    for k, v in model.params.items():
        np.testing.assert_array_equal(again.params[k], v)


def test_forget_bias_survives_as_folded_bias(tmp_path):
    model = Sequential([rnnlab.LSTM(3, 4, forget_bias=1.0, dtype="float64", seed=1), LastStep(),
                        rnnlab.Dense(4, 2, dtype="float64", seed=2)])
    ti.save_model(model, tmp_path / "m.pt")
    back = ti.load_model(tmp_path / "m.pt")
    x = np.random.default_rng(0).standard_normal((3, 5, 3))
    assert max_abs_err(back.forward(x, [5, 2, 4])[0], model.forward(x, [5, 2, 4])[0]) <= 1e-12


def test_what_torch_cannot_hold_is_refused():
    with pytest.raises(ValueError, match="reset_after"):
        ti.to_torch(rnnlab.GRU(3, 4, reset_after=False))
    with pytest.raises(ValueError, match=r"layers\[2\]\.activation.*softmax"):
        ti.save_model(Sequential([rnnlab.LSTM(3, 4), LastStep(), rnnlab.Dense(4, 2, "softmax")]), "unused.pt")
    with pytest.raises(ValueError, match="layer.peepholes"):
        ti.to_torch(rnnlab.LSTM(3, 4, peepholes=True))
    sd = {"rnn." + k: v for k, v in torch.nn.GRU(3, 4).state_dict().items()}
    sd.update({"a.weight": torch.zeros(2, 4), "b.weight": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="at most one nn.Linear"):
        ti.from_state_dict(sd)
    with pytest.raises(ValueError, match="head"):
        ti.from_state_dict(sd, head="first")
    with pytest.raises(FileNotFoundError):
        ti.load_model("no/such/model.pt")
