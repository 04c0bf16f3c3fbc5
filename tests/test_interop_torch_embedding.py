"""nn.Embedding -> nn.LSTM/GRU/RNN -> nn.Linear, the most common text model, through
rnnlab.interop.torch: modules, state_dicts and saved files import and compute what torch computes
(float32, <= 1e-5); padding_idx is kept (the row is zero and gets no gradient, in both); rnnlab ->
torch -> rnnlab returns identical arrays."""
import numpy as np
import pytest

import rnnlab
from rnnlab.interop import torch as ti
from rnnlab.models import LastStep, Sequential

from conftest import max_abs_err, require_torch

torch = require_torch()
V, E, H, C = 13, 5, 6, 3


class TextNet(torch.nn.Module):
    def __init__(self, kind, bi=False, padding_idx=None, head_first=False):
        super().__init__()
        if head_first:                                    # registered in another order than used
            self.fc = torch.nn.Linear(H * (2 if bi else 1), C)
        self.embedding = torch.nn.Embedding(V, E, padding_idx=padding_idx)
        self.rnn = getattr(torch.nn, kind)(E, H, batch_first=True, bidirectional=bi)
        if not head_first:
            self.fc = torch.nn.Linear(H * (2 if bi else 1), C)
        self.bi = bi

    def forward(self, ids):
        _, s = self.rnn(self.embedding(ids))
        h_n = s[0] if isinstance(s, tuple) else s
        return self.fc(torch.cat((h_n[-2], h_n[-1]), 1) if self.bi else h_n[-1])


@pytest.mark.parametrize("kind,bi,padding_idx", [("LSTM", False, 0), ("GRU", True, None), ("RNN", False, 3),
                                                 ("LSTM", True, None)])
def test_text_model_imports_from_module_state_dict_and_file(kind, bi, padding_idx, tmp_path):
    torch.manual_seed(0)
    net = TextNet(kind, bi, padding_idx).eval()
    ids = torch.randint(0, V, (4, 7))
    ids[1, 5:] = 0 if padding_idx is None else padding_idx
    with torch.no_grad():
        want = net(ids).numpy()
    torch.save(net.state_dict(), tmp_path / "net.pt")
    for model in (ti.load_model(net), ti.load_model(net.state_dict(), padding_idx=padding_idx),
                  ti.load_model(tmp_path / "net.pt", padding_idx=padding_idx)):
        assert [type(layer).__name__ for layer in model.layers] == ["Embedding", kind, "LastStep", "Dense"]
        assert model.layers[0].padding_idx == padding_idx
        y, _ = model.forward(ids.numpy())
        assert max_abs_err(y, want) <= 1e-5


def test_module_registered_head_first_and_a_lone_embedding():
    net = TextNet("GRU", head_first=True).eval()
    ids = torch.randint(0, V, (2, 4))
    with torch.no_grad():
        want = net(ids).numpy()
    assert max_abs_err(ti.load_model(net).forward(ids.numpy())[0], want) <= 1e-5
    emb = ti.from_torch(torch.nn.Embedding(V, E, padding_idx=2, sparse=True))
    assert isinstance(emb, rnnlab.Embedding) and emb.padding_idx == 2 and emb.sparse


def test_padding_row_gets_no_gradient_in_either():
    torch.manual_seed(1)
    t_emb = torch.nn.Embedding(V, E, padding_idx=4).double()
    emb = ti.from_torch(t_emb)
    ids = torch.tensor([[4, 1, 4, 2], [3, 4, 4, 4]])
    y, cache = emb.forward(ids.numpy())
    dy = np.random.default_rng(0).standard_normal(y.shape)
    t_emb(ids).backward(torch.from_numpy(dy))
    dW = emb.backward(dy, cache)[1]["W"]
    np.testing.assert_allclose(dW, t_emb.weight.grad.numpy(), rtol=0, atol=1e-12)
    assert not dW[4].any()


def test_round_trip_through_torch_is_exact(tmp_path):
    model = Sequential([rnnlab.Embedding(V, E, seed=1, padding_idx=0), rnnlab.GRU(E, H, seed=2), LastStep(),
                        rnnlab.Dense(H, C, seed=3)])
    ti.save_model(model, tmp_path / "m.pt")
    sd = torch.load(tmp_path / "m.pt")
    assert list(sd)[0] == "embedding.weight"
    back = ti.load_model(tmp_path / "m.pt", padding_idx=0)
    assert repr(back) == repr(model)
    for k, v in model.params.items():
        np.testing.assert_array_equal(back.params[k], v)
    t_emb = ti.embedding_to_torch(model.layers[0])
    assert t_emb.padding_idx == 0
    np.testing.assert_array_equal(t_emb.weight.detach().numpy(), model.layers[0].params["W"])
    with pytest.raises(ValueError, match="embedding_to_torch"):
        ti.to_torch(model)
    with pytest.raises(ValueError, match="padding_idx: given 0, but the state_dict holds no nn.Embedding"):
        ti.from_state_dict({k: v for k, v in sd.items() if k != "embedding.weight"}, padding_idx=0)
