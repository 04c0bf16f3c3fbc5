"""LSTM variants (proj_size, peepholes, cell_clip, gate_clip, input_forget): central-difference
gradchecks (float64, 6 steps, non-zero initial states, ragged batches, 2 layers, both directions),
alone and combined; a deliberately broken backward term fails each; the projection against PyTorch
nn.LSTM(proj_size=P) and through the torch converters; streaming, save/load, refusals."""
import numpy as np
import pytest

import rnnlab
import rnnlab.saving
import rnnlab.models
import rnnlab.layers.lstm_variants as lv
from rnnlab.commands.gradcheck import THRESHOLD
from rnnlab.gradcheck import default_input, gradcheck

from conftest import rel_err, require_torch

OPTIONS = {
    "proj_size": {"proj_size": 2},
    "peepholes": {"peepholes": True},
    "cell_clip": {"cell_clip": 0.3},
    "gate_clip": {"gate_clip": 0.5},
    "input_forget": {"input_forget": True},
    "peepholes+proj+clip": {"proj_size": 3, "peepholes": True, "cell_clip": 0.4, "gate_clip": 0.8},
    "layer_norm": {"layer_norm": True},
    "all": {"layer_norm": True, "proj_size": 2, "peepholes": True, "cell_clip": 0.5, "gate_clip": 1.0, "input_forget": True,
            "forget_bias": 1.0},
}
LENGTHS = np.array([6, 3, 1])


def randomize_norm(layer, seed=0):
    """Gains 1 and bias 0 (the initial values) would hide a gain or bias confused with another."""
    rng = np.random.default_rng(seed)
    for k, v in layer.params.items():
        if k.split(".")[1] in ("g_x", "g_h", "g_c", "b_c"):
            v += 0.3 * rng.standard_normal(v.shape)
    return layer


def check(layer, lengths=LENGTHS):
    """A clip is a kink: a central difference whose +-eps straddles a bound measures the kink, not the
    backward; eps = 1e-7 makes that unlikely (float64 round-off stays near 1e-9 relative)."""
    x, s0 = default_input(layer, batch=3, time=6, seed=1)
    return gradcheck(layer, x, s0, lengths, max_checks=25, eps=1e-7)


@pytest.mark.parametrize("name", OPTIONS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradcheck(name, bidirectional):
    layer = randomize_norm(rnnlab.LSTM(3, 4, num_layers=2, bidirectional=bidirectional, seed=0, dtype="float64",
                                       **OPTIONS[name]))
    assert not layer._plain
    report = check(layer)
    assert report.worst <= THRESHOLD, report.format()
    names = {r.name for r in report.rows}
    assert {f"param {k}" for k in layer.params} <= names
    assert {"input x", "input state0.h", "input state0.c"} <= names


def test_clips_are_active_in_the_gradcheck():
    """The clip tests mean something only if some values sit beyond the bounds."""
    layer = rnnlab.LSTM(3, 4, seed=0, dtype="float64", cell_clip=0.3, gate_clip=0.5)
    x, s0 = default_input(layer, batch=3, time=6, seed=1)
    _, _, cache = layer.forward(x, s0, LENGTHS)
    steps = cache.directions[0].cell.steps
    assert np.mean([(~s.cell_keep).mean() for s in steps]) > 0.05
    assert np.mean([(~s.gate_keep).mean() for s in steps]) > 0.05
    assert np.all(np.abs(np.stack([s.c for s in steps])) <= 0.3)


def _broken_step_backward(term):
    good = lv.lstmv_step_backward

    def broken(dh, dc, cache, p, opt):
        if term == "cell_clip":                      # forget the clip's zero derivative
            cache = cache._replace(cell_keep=np.ones_like(cache.cell_keep))
        if term == "gate_clip":
            cache = cache._replace(gate_keep=np.ones_like(cache.gate_keep))
        if term == "proj_size":                      # dm = dh W_hr^T without the transpose's columns right
            p = {**p, "W_hr": p["W_hr"] * 1.01}
        if term == "peepholes":                      # drop the peephole path into dc_{t-1}
            p = {**p, "p": np.concatenate([0 * p["p"][:2 * p["U"].shape[1] // 4], p["p"][2 * p["U"].shape[1] // 4:]])}
        if term == "input_forget":                   # treat f as an independent gate
            opt = opt._replace(input_forget=False)
        return good(dh, dc, cache, p, opt)
    return broken


def _broken_layer_norm_backward(dn, n, s):
    """LN's backward without the term through the variance."""
    return (dn - dn.mean(axis=-1, keepdims=True)) / s


@pytest.mark.parametrize("name", ["proj_size", "peepholes", "cell_clip", "gate_clip", "input_forget", "layer_norm"])
def test_broken_backward_fails(name, monkeypatch):
    layer = randomize_norm(rnnlab.LSTM(3, 4, num_layers=2, seed=0, dtype="float64", **OPTIONS[name]))
    assert check(layer).worst <= THRESHOLD
    if name == "layer_norm":
        monkeypatch.setattr(lv, "layer_norm_backward", _broken_layer_norm_backward)
    else:
        monkeypatch.setattr(lv, "lstmv_step_backward", _broken_step_backward(name))
    report = check(layer)
    assert report.worst > 1e-3, report.format()


def test_broken_peephole_gradient_fails(monkeypatch):
    """dp summed with c_t for the input gate too (instead of c_{t-1}) must be caught in param p."""
    layer = rnnlab.LSTM(3, 4, seed=0, dtype="float64", peepholes=True)
    good = lv.lstmv_backward

    def broken(dy, dstateT, cache):
        dx, ds, grads = good(dy, dstateT, cache)
        grads["p"] = grads["p"] * np.r_[np.full(4, 1.05), np.ones(8)]
        return dx, ds, grads
    monkeypatch.setattr(lv, "lstmv_backward", broken)
    import rnnlab.layers.lstm as lstm_module
    monkeypatch.setattr(lstm_module, "lstmv_backward", broken)
    report = check(layer)
    assert report.worst > 1e-3 and report.worst_name == "param l0.p", report.format()


def test_without_options_the_variant_path_is_the_plain_cell():
    """The variant step functions with every option off compute the plain LSTM exactly."""
    plain = rnnlab.LSTM(3, 5, num_layers=2, bidirectional=True, forget_bias=0.5, seed=4, dtype="float64")
    x, s0 = default_input(plain, batch=3, time=6)
    y, st, cache = plain.forward(x, s0, LENGTHS)
    dy = np.random.default_rng(0).standard_normal(y.shape)
    dx, ds0, g = plain.backward(dy, st, cache)
    p = plain.direction_params(1, 1)
    mask = (np.arange(6)[:, None] < LENGTHS[None]).astype(float)[:, :, None]
    xin = np.random.default_rng(1).standard_normal((6, 3, 10))
    s = (s0[0][3], s0[1][3])
    a = rnnlab.layers.lstm.lstm_forward(xin, s, p, mask, True, 0.5)
    b = lv.lstmv_forward(xin, s, p, mask, True, lv.LSTMOptions(0.5))
    assert rel_err(a[0], b[0]) <= 1e-14 and rel_err(a[1][1], b[1][1]) <= 1e-14
    da = rnnlab.layers.lstm.lstm_backward(a[0], a[1], a[2])
    db = lv.lstmv_backward(b[0], b[1], b[2])
    assert rel_err(da[0], db[0]) <= 1e-13
    for k in da[2]:
        assert rel_err(da[2][k], db[2][k]) <= 1e-13


def test_input_forget_ignores_the_forget_block_and_peepholes_read_the_cell():
    layer = rnnlab.LSTM(3, 4, seed=0, dtype="float64", input_forget=True)
    x, s0 = default_input(layer, batch=2, time=5)
    y, _, _ = layer.forward(x, s0)
    layer.params["l0.W"][:, 4:8] += 1.0                      # the f block is not read
    layer.params["l0.b"][4:8] -= 3.0
    assert np.array_equal(layer.forward(x, s0)[0], y)
    # with f = 1 - i and a constant cell candidate, c_t is a convex mix of c_{t-1} and g
    peep = rnnlab.LSTM(3, 4, seed=0, dtype="float64", peepholes=True)
    y0, _, _ = peep.forward(x, s0)
    peep.params["l0.p"][:] = 0
    plain = rnnlab.LSTM(3, 4, seed=0, dtype="float64")
    for k in ("W", "U", "b"):
        plain.params[f"l0.{k}"][...] = peep.params[f"l0.{k}"]
    assert rel_err(peep.forward(x, s0)[0], plain.forward(x, s0)[0]) <= 1e-15
    assert rel_err(y0, plain.forward(x, s0)[0]) > 1e-3


def test_written_out_step_with_every_option():
    """One step written out from the equations of rnnlab.layers.lstm_variants."""
    rng = np.random.default_rng(5)
    N, D, H, P, cc, gc = 3, 2, 4, 3, 0.6, 0.9
    p = {"W": rng.standard_normal((D, 4 * H)), "U": rng.standard_normal((P, 4 * H)),
         "b": rng.standard_normal(4 * H), "p": rng.standard_normal(3 * H), "W_hr": rng.standard_normal((H, P))}
    x, h0, c0 = rng.standard_normal((N, D)), rng.standard_normal((N, P)), rng.standard_normal((N, H))
    sig = lambda z: 1 / (1 + np.exp(-z))
    a = x @ p["W"] + p["b"] + h0 @ p["U"]
    a_i = np.clip(a[:, :H] + p["p"][:H] * c0, -gc, gc)
    i = sig(a_i)
    f = 1 - i
    g = np.tanh(np.clip(a[:, 3 * H:], -gc, gc))
    c = np.clip(f * c0 + i * g, -cc, cc)
    o = sig(np.clip(a[:, 2 * H:3 * H] + p["p"][2 * H:] * c, -gc, gc))
    h = (o * np.tanh(c)) @ p["W_hr"]
    opt = lv.LSTMOptions(0.0, True, cc, gc, True)
    (h1, c1), _ = lv.lstmv_step_forward(lv.lstmv_input_part(x, p)[0], h0, c0, p, opt)
    assert rel_err(h1, h) <= 1e-14 and rel_err(c1, c) <= 1e-14


def test_written_out_layer_norm_step():
    """Ba et al. 2016 eqs. (15)-(16), as haste's LayerNormLSTM: a = LN(x W) g_x + b + LN(h U) g_h,
    c = f c_{t-1} + i g, h = o tanh(LN(c) g_c + b_c), with LN over the features of each row."""
    rng = np.random.default_rng(6)
    N, D, H = 3, 2, 4
    p = {"W": rng.standard_normal((D, 4 * H)), "U": rng.standard_normal((H, 4 * H)), "b": rng.standard_normal(4 * H),
         "g_x": rng.standard_normal(4 * H), "g_h": rng.standard_normal(4 * H), "g_c": rng.standard_normal(H),
         "b_c": rng.standard_normal(H)}
    x, h0, c0 = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    sig = lambda z: 1 / (1 + np.exp(-z))

    def LN(z):
        return (z - z.mean(1, keepdims=True)) / np.sqrt(z.var(1, keepdims=True) + 1e-5)
    a = LN(x @ p["W"]) * p["g_x"] + p["b"] + LN(h0 @ p["U"]) * p["g_h"]
    i, f, o, g = sig(a[:, :H]), sig(a[:, H:2 * H] + 1.0), sig(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
    c = f * c0 + i * g
    h = o * np.tanh(LN(c) * p["g_c"] + p["b_c"])
    opt = lv.LSTMOptions(1.0, layer_norm=True)
    (h1, c1), _ = lv.lstmv_step_forward(lv.lstmv_input_part(x, p, 1.0, True)[0], h0, c0, p, opt)
    assert rel_err(h1, h) <= 1e-14 and rel_err(c1, c) <= 1e-14


@pytest.mark.parametrize("name", OPTIONS)
def test_step_equals_forward(name):
    layer = rnnlab.LSTM(3, 5, num_layers=2, seed=2, dtype="float64", **OPTIONS[name])
    x, s0 = default_input(layer, batch=2, time=6)
    y, state, _ = layer.forward(x, s0)
    s = s0
    for t in range(6):
        y_t, s = layer.step(x[:, t], s)
        assert rel_err(y_t, y[:, t]) <= 1e-13
    assert all(rel_err(a, b) <= 1e-13 for a, b in zip(s, state))
    assert y.shape == (2, 6, layer.h_size) and state[0].shape[2] == layer.h_size and state[1].shape[2] == 5


@pytest.mark.parametrize("name", OPTIONS)
def test_save_load_round_trip(name, tmp_path):
    layer = rnnlab.LSTM(3, 5, num_layers=2, bidirectional=True, seed=2, **OPTIONS[name])
    path = tmp_path / "m.npz"
    rnnlab.saving.save(path, layer)
    back = rnnlab.saving.load(path)
    assert back.config() == layer.config()
    assert set(back.params) == set(layer.params)
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype("float32")
    assert np.array_equal(back.forward(x)[0], layer.forward(x)[0])


def test_parameter_shapes_and_count():
    layer = rnnlab.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, peepholes=True)
    assert layer.params["l0.U"].shape == (2, 20)
    assert layer.params["l0.W_hr"].shape == (5, 2)
    assert layer.params["l0.p"].shape == (15,)
    assert layer.params["l1.W"].shape == (4, 20)             # reads both directions' P-wide outputs
    per = lambda D: D * 20 + 2 * 20 + 20 + 15 + 5 * 2
    assert layer.num_params() == 2 * (per(3) + per(4))
    assert layer.output_size == 4


@pytest.mark.parametrize("kw, message", [
    ({"proj_size": -1}, "proj_size"), ({"proj_size": 1.5}, "proj_size"), ({"proj_size": 4}, "proj_size"), ({"peepholes": 1}, "peepholes"),
    ({"cell_clip": 0}, "cell_clip"), ({"gate_clip": -1.0}, "gate_clip"), ({"input_forget": "yes"}, "input_forget")])
def test_bad_options_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        rnnlab.LSTM(3, 4, **kw)


# ----- PyTorch ------------------------------------------------------------------------------------
@pytest.mark.parametrize("layers, bi, ragged, with_state",
                         [(1, False, False, False), (1, False, True, True), (2, True, True, True),
                          (2, False, True, False), (1, True, False, True)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_proj_size_matches_torch(layers, bi, ragged, with_state, dtype):
    require_torch()
    from rnnlab.verify import compare_with_torch
    e = compare_with_torch("LSTM", layers, bi, ragged, with_state, dtype, proj_size=3)
    tol = 1e-9 if dtype == "float64" else 1e-4
    for k in ("y", "state", "dx", "dstate0", "params"):
        assert e[k] <= tol, (k, e)
    assert e["dtype_ok"]
    if ragged:
        assert e["padding_zero"]


def test_proj_size_torch_round_trip(tmp_path):
    torch = require_torch()
    from rnnlab.interop.torch import from_torch, load_model, save_model, to_torch
    layer = rnnlab.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, forget_bias=1.0, dtype="float64",
                        seed=3)
    rnn, head = to_torch(layer)
    assert rnn.proj_size == 2 and head is None
    x = np.random.default_rng(0).standard_normal((2, 6, 3))
    y, (h, c), _ = layer.forward(x)
    y_t, (h_t, c_t) = rnn(torch.tensor(x))
    assert rel_err(y, y_t.detach().numpy()) <= 1e-13 and rel_err(h, h_t.detach().numpy()) <= 1e-13
    assert rel_err(c, c_t.detach().numpy()) <= 1e-13
    back = from_torch(rnn)
    assert back.proj_size == 2 and rel_err(back.forward(x)[0], y) <= 1e-13
    model = rnnlab.models.Sequential([layer, rnnlab.models.LastStep(), rnnlab.layers.Dense(4, 2, dtype="float64")])
    save_model(model, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.layers[0].proj_size == 2
    assert rel_err(loaded.forward(x)[0], model.forward(x)[0]) <= 1e-13


@pytest.mark.parametrize("kw", [{"peepholes": True}, {"cell_clip": 1.0}, {"gate_clip": 1.0}, {"input_forget": True},
                                {"layer_norm": True}])
def test_torch_refuses_what_it_cannot_hold(kw):
    from rnnlab.interop.torch import to_state_dict
    name = next(iter(kw))
    with pytest.raises(ValueError, match=f"layer.{name}"):
        to_state_dict(rnnlab.LSTM(3, 5, **kw))


@pytest.mark.parametrize("kw", [{"proj_size": 2}, {"peepholes": True}, {"cell_clip": 1.0}, {"gate_clip": 1.0},
                                {"input_forget": True}, {"layer_norm": True}])
def test_keras_and_tf1_refuse_the_variants_by_name(kw):
    from rnnlab.interop.keras import keras_weights
    from rnnlab.interop.tf1 import to_tf1
    name = next(iter(kw))
    layer = rnnlab.LSTM(3, 4, **kw)
    # TF1's LSTMCell holds use_peepholes, num_proj and cell_clip (tests/test_tf1_variants.py)
    for export in (keras_weights, to_tf1) if name in ("gate_clip", "input_forget", "layer_norm") else (keras_weights,):
        with pytest.raises(ValueError, match=f"layer.{name}"):
            export(layer)


def test_summary_counts_the_variant_parameters():
    from rnnlab.summary import summary, torch_param_count
    layer = rnnlab.LSTM(28, 128, proj_size=32)
    assert layer.num_params() == (28 + 32) * 512 + 512 + 128 * 32
    assert torch_param_count(layer) == 4 * 128 * (28 + 32) + 2 * 512 + 32 * 128     # torch.nn.LSTM(28, 128, proj_size=32)
    text = summary(rnnlab.LSTM(3, 4, peepholes=True, proj_size=2))
    assert "p 12" in text and "W_hr 8" in text and "n/a" in text


@pytest.mark.parametrize("kw", [{}, {"proj_size": 2, "peepholes": True}])
@pytest.mark.parametrize("bi", [False, True])
def test_cell_states_at_every_step(kw, bi):
    """cells[:, t] is c_t: the final c for the forward direction's last valid step, the streamed c at
    every step, the reverse direction's c at t = 0; zero on padding; the same y as a plain forward."""
    layer = rnnlab.LSTM(3, 5, num_layers=2, bidirectional=bi, seed=1, dtype="float64", **kw)
    x, s0 = default_input(layer, batch=3, time=6)
    y, (h, c), _, cells = layer.forward(x, s0, LENGTHS, return_cell_states=True)
    y2, _, _ = layer.forward(x, s0, LENGTHS)
    assert rel_err(y, y2) <= 1e-14
    H = 5
    assert cells.shape == (3, 6, layer.directions * H)
    top = 2 * layer.directions - layer.directions
    for n, L in enumerate(LENGTHS):
        assert np.array_equal(cells[n, L - 1, :H], c[top, n])
        assert np.all(cells[n, L:] == 0)
        if bi:
            assert np.array_equal(cells[n, 0, H:], c[top + 1, n])
    if not bi:
        one = rnnlab.LSTM(3, 5, seed=1, dtype="float64", **kw)
        one.params = {k: v for k, v in layer.params.items() if k.startswith("l0.")}
        s = (s0[0][:1], s0[1][:1])
        for t in range(6):
            _, s = one.step(x[:, t], s)
            assert rel_err(one.forward(x[:, :t + 1], (s0[0][:1], s0[1][:1]), return_cell_states=True)[3][:, t],
                           s[1][0]) <= 1e-13
    with pytest.raises(ValueError, match="return_cell_states"):
        layer.forward(x, s0, return_cell_states="yes")
