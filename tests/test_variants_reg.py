"""Regularizers of RNN, LSTM and GRU (zoneout, recurrent_dropout, weight_drop), GRU layer_norm and the
identity RNN: central-difference gradchecks (float64, 6 steps, non-zero initial states, ragged batches,
2 layers, both directions) in training and evaluation mode with the masks repeated by the generator
state; a backward that forgets a mask fails; written-out equations; evaluation mode; Keras'
recurrent_dropout; streaming; save/load; a run and its resume; the flags; exporters' refusals."""
import numpy as np
import pytest

import rnnlab
import rnnlab.layers.gru as gru_mod
import rnnlab.layers.lstm as lstm_mod
import rnnlab.layers.rnn as rnn_mod
from rnnlab.activations import sigmoid
from rnnlab.cli import main
from rnnlab.commands.gradcheck import THRESHOLD
from rnnlab.gradcheck import default_input, gradcheck
from rnnlab.layers.lstm_variants import layer_norm_forward
from rnnlab.saving import load, save
from rnnlab.train import Config

from conftest import assert_same_run, interrupted_and_full, require_keras, run_quiet

LENGTHS = np.array([6, 3, 1])
REG = {"zoneout": {"zoneout": 0.3}, "recurrent_dropout": {"recurrent_dropout": 0.4},
       "weight_drop": {"weight_drop": 0.3},
       "all": {"zoneout": 0.25, "recurrent_dropout": 0.3, "weight_drop": 0.2}}
CELLS = {"LSTM": rnnlab.LSTM, "GRU": rnnlab.GRU, "RNN": rnnlab.RNN}
LN_ON = {"LSTM": {"layer_norm": True}, "GRU": {"layer_norm": True}, "RNN": {"nonlinearity": "relu"}}


def make(kind, training=True, **kw):
    layer = CELLS[kind](3, 4, num_layers=2, bidirectional=True, seed=0, dtype="float64", **kw).train(training)
    rng = np.random.default_rng(5)
    for k, v in layer.params.items():                  # gains 1 would hide a gain confused with another
        if k.split(".")[1] in ("g_x", "g_h", "g_c", "b_c"):
            v += 0.3 * rng.standard_normal(v.shape)
    return layer


def check(layer):
    x, s0 = default_input(layer, batch=3, time=6, seed=1)
    return gradcheck(layer, x, s0, LENGTHS, max_checks=25, eps=1e-6)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("option", REG)
@pytest.mark.parametrize("kind", CELLS)
def test_gradcheck(kind, option, training):
    layer = make(kind, training, **REG[option])
    assert layer._plain == (not training and option in ("recurrent_dropout", "weight_drop"))   # off: compiled
    report = check(layer)
    assert report.worst <= THRESHOLD, report.format()
    assert {f"param {k}" for k in layer.params} <= {r.name for r in report.rows}


@pytest.mark.parametrize("kind", CELLS)
def test_gradcheck_combined_with_layer_norm(kind):
    """LSTM: layer norm + zoneout (+ the dropouts, projection, peepholes); GRU: layer norm + all three
    (and reset before with all three); RNN: relu with all three."""
    extra = {"proj_size": 2, "peepholes": True} if kind == "LSTM" else {}
    layer = make(kind, True, zoneout=(0.3, 0.2) if kind == "LSTM" else 0.3, recurrent_dropout=0.3, weight_drop=0.2,
                 **LN_ON[kind], **extra)
    report = check(layer)
    assert report.worst <= THRESHOLD, report.format()
    if kind == "GRU":
        report = check(make(kind, True, reset_after=False, **REG["all"]))
        assert report.worst <= THRESHOLD, report.format()


@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_gru_layer_norm_and_identity_rnn(training):
    for layer in (make("GRU", training, layer_norm=True), make("RNN", training, nonlinearity="identity")):
        assert not layer._plain
        report = check(layer)
        assert report.worst <= THRESHOLD, report.format()


BACKWARDS = {"LSTM": (lstm_mod, "lstmv_backward"), "GRU": (gru_mod, "gruv_backward"), "RNN": (rnn_mod, "rnnv_backward")}


@pytest.mark.parametrize("field, option", [("zh", "zoneout"), ("rh", "recurrent_dropout"), ("rU", "weight_drop")])
@pytest.mark.parametrize("kind", CELLS)
def test_a_backward_that_forgets_a_mask_fails(monkeypatch, kind, field, option):
    """The backward reads the masks from its cache; dropping one from it (as a backward that forgot that
    term would) must fail the gradcheck, while the same check passes with the cache intact."""
    module, name = BACKWARDS[kind]
    good = getattr(module, name)

    def broken(dy, dstateT, cache):
        return good(dy, dstateT, cache._replace(reg=cache.reg._replace(**{field: None})))
    layer = make(kind, True, **REG[option])
    assert check(layer).worst <= THRESHOLD
    monkeypatch.setattr(module, name, broken)
    assert check(layer).worst > 1e-3


def test_a_broken_gru_layer_norm_backward_fails(monkeypatch):
    import rnnlab.layers.gru_variants as gv
    good = gv.layer_norm_backward
    monkeypatch.setattr(gv, "layer_norm_backward", lambda dn, n, s: good(dn, n, s) + 0.05 * dn)
    assert check(make("GRU", True, layer_norm=True)).worst > 1e-3


def masks_of(layer, N):
    """The masks the next training forward of ``layer`` draws, without moving its generator."""
    state = layer.rng.bit_generator.state
    masks = layer._draw_masks(N)
    layer.rng.bit_generator.state = state
    return masks


def test_lstm_written_out_equations():
    """Zoneout (Krueger et al. 2016, sec. 3.1), recurrent dropout (Gal & Ghahramani 2016) and weight
    drop (Merity et al. 2017) written out in NumPy, one loop, against the layer."""
    layer = rnnlab.LSTM(3, 4, seed=2, dtype="float64", zoneout=(0.4, 0.3), recurrent_dropout=0.5,
                        weight_drop=0.5).train()
    rng = np.random.default_rng(0)
    x, h, c = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    (d_h, d_c, s_r, S), = masks_of(layer, 2)
    assert set(np.unique(d_h)) <= {0, 1} and set(np.unique(s_r)) <= {0, 2} and set(np.unique(S)) <= {0, 2}
    assert 0 < d_h.mean() < 1 and 0 < s_r.mean() and 0 < S.mean()
    y, (hT, cT), _ = layer.forward(x, (h[None], c[None]))
    W, U, b = layer.params["l0.W"], layer.params["l0.U"], layer.params["l0.b"]
    for t in range(5):
        a = x[:, t] @ W + (h * s_r) @ (U * S) + b                        # h~ U', U' = U * S
        i, f, o, g = sigmoid(a[:, :4]), sigmoid(a[:, 4:8]), sigmoid(a[:, 8:12]), np.tanh(a[:, 12:])
        c_hat = f * c + i * g
        h_hat = o * np.tanh(c_hat)                                       # reads the un-zoned c^_t
        c = d_c * c + (1 - d_c) * c_hat
        h = d_h * h + (1 - d_h) * h_hat
        np.testing.assert_allclose(y[:, t], h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cT[0], c, rtol=1e-12, atol=1e-12)
    layer.eval()                                                         # evaluation: the expectation
    y, _, _ = layer.forward(x, (h[None] * 0, c[None] * 0))
    h, c = np.zeros((2, 4)), np.zeros((2, 4))
    for t in range(5):
        a = x[:, t] @ W + h @ U + b
        i, f, o, g = sigmoid(a[:, :4]), sigmoid(a[:, 4:8]), sigmoid(a[:, 8:12]), np.tanh(a[:, 12:])
        c_hat = f * c + i * g
        h, c = 0.4 * h + 0.6 * o * np.tanh(c_hat), 0.3 * c + 0.7 * c_hat
    np.testing.assert_allclose(y[:, -1], h, rtol=1e-12, atol=1e-12)


def test_gru_and_rnn_written_out_equations():
    rng = np.random.default_rng(1)
    x, h0 = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4))
    gru = rnnlab.GRU(3, 4, seed=2, dtype="float64", layer_norm=True, zoneout=0.4, recurrent_dropout=0.5,
                     weight_drop=0.5).train()
    for k, v in gru.params.items():
        v += 0.2 * rng.standard_normal(v.shape)
    (d, _, s_r, S), = masks_of(gru, 2)
    y, _, _ = gru.forward(x, h0[None])
    p = {k[3:]: v for k, v in gru.params.items()}
    ln = lambda z: layer_norm_forward(z)[0]                                # noqa: E731
    h = h0
    for t in range(5):
        ax = ln(x[:, t] @ p["W"]) * p["g_x"] + p["b"]                     # LN(x W) g_x + b
        ah = ln((h * s_r) @ (p["U"] * S)) * p["g_h"]                      # LN(h~ U') g_h
        r, z = sigmoid(ax[:, :4] + ah[:, :4]), sigmoid(ax[:, 4:8] + ah[:, 4:8])
        n = np.tanh(ax[:, 8:] + r * (ah[:, 8:] + p["b_hn"]))
        h = d * h + (1 - d) * ((1 - z) * n + z * h)                       # interpolation reads h_{t-1}
        np.testing.assert_allclose(y[:, t], h, rtol=1e-12, atol=1e-12)
    rnn = rnnlab.RNN(3, 4, seed=2, dtype="float64", nonlinearity="identity", zoneout=0.4, recurrent_dropout=0.5,
                     weight_drop=0.5).train()
    (d, _, s_r, S), = masks_of(rnn, 2)
    y, _, _ = rnn.forward(x, h0[None])
    h = h0
    for t in range(5):
        h_hat = x[:, t] @ rnn.params["l0.W"] + (h * s_r) @ (rnn.params["l0.U"] * S) + rnn.params["l0.b"]
        h = d * h + (1 - d) * h_hat
        np.testing.assert_allclose(y[:, t], h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", CELLS)
def test_masks_per_sequence_fresh_per_forward_and_from_the_seed(kind):
    a = CELLS[kind](3, 8, seed=4, recurrent_dropout=0.5, zoneout=0.5, weight_drop=0.5).train()
    b = CELLS[kind](3, 8, seed=4, recurrent_dropout=0.5, zoneout=0.5, weight_drop=0.5).train()
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype("float32")
    y1, y2 = a.forward(x)[0], a.forward(x)[0]
    assert not np.array_equal(y1, y2)                                  # new masks at each forward
    np.testing.assert_array_equal(b.forward(x)[0], y1)                 # the same seed, the same masks
    masks = a._draw_masks(4)[0]
    assert masks.zh.shape == masks.rh.shape == (4, 8)                  # one row per sequence


@pytest.mark.parametrize("kind", CELLS)
def test_evaluation_mode(kind):
    """Dropouts off (the plain layer, compiled path included); zoneout is the expectation, which
    streaming computes too; training-mode streaming is refused."""
    x = np.random.default_rng(0).standard_normal((3, 7, 3)).astype("float32")
    plain = CELLS[kind](3, 5, num_layers=2, seed=1)
    drops = CELLS[kind](3, 5, num_layers=2, seed=1, recurrent_dropout=0.5, weight_drop=0.5)
    assert drops._plain and not drops.train()._plain
    drops.eval()
    np.testing.assert_array_equal(drops.forward(x)[0], plain.forward(x)[0])
    zone = CELLS[kind](3, 5, num_layers=2, seed=1, zoneout=0.3)
    y, state, _ = zone.forward(x)
    assert np.abs(y - plain.forward(x)[0]).max() > 1e-3
    s = zone.initial_state(3)
    for t in range(7):
        y_t, s = zone.step(x[:, t], s)
        np.testing.assert_allclose(y_t, y[:, t], rtol=1e-5, atol=1e-6)
    zone.train()
    with pytest.raises(ValueError, match="zoneout in training mode.*eval"):
        zone.step(x[:, 0], None)


def test_keras_recurrent_dropout_eval_and_training_with_the_same_mask():
    keras = require_keras()
    import torch
    from rnnlab.interop.keras import to_keras
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6, 4)).astype("float32")
    for kind in ("LSTM", "GRU", "RNN"):
        layer = CELLS[kind](4, 5, seed=3, recurrent_dropout=0.4)
        km = to_keras(layer)
        klayer = km.layers[-1]
        assert klayer.recurrent_dropout == pytest.approx(0.4)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(km(x)), layer.forward(x)[0][:, -1] if not klayer.return_sequences
                                   else layer.forward(x)[0], atol=1e-5)
        layer.train()
        (_, _, s_r, _), = masks_of(layer, 3)
        cell = klayer.cell
        count = getattr(cell, "dropout_mask_count", None)
        mask = torch.tensor(s_r)
        cell._recurrent_dropout_mask = mask if count is None else [mask] * count
        out = keras.ops.convert_to_numpy(klayer(x, training=True))
        ours = layer.forward(x)[0]
        np.testing.assert_allclose(out, ours[:, -1] if out.ndim == 2 else ours, atol=1e-5)


def tiny(**kw):
    base = dict(task="adding", T=6, train_size=96, hidden=5, layers=1, epochs=2, batch_size=32, lr=0.01, seed=3)
    return Config(**{**base, **kw})


@pytest.mark.parametrize("model, extra", [("lstm", {"zoneout": [0.2, 0.1], "recurrent_dropout": 0.3}),
                                          ("gru", {"weight_drop": 0.3, "layer_norm": True}),
                                          ("rnn", {"zoneout": 0.2, "recurrent_dropout": 0.2, "dropout": 0.2,
                                                   "layers": 2})])
def test_resume_equals_an_uninterrupted_run(tmp_path, model, extra):
    """Stopped at step 2 of 6 and resumed: the layers' mask streams come back from the checkpoint, so
    parameters, metrics and log equal one uninterrupted run; and the regularizers change training."""
    cfg = tiny(model=model, **extra)
    done, full = interrupted_and_full(cfg, tmp_path, stop_after_steps=2)
    assert done["complete"] and done["steps"] == full["steps"] == 6
    assert_same_run(done, full)
    plain = run_quiet(tiny(model=model, **{k: v for k, v in extra.items() if k in ("layer_norm", "layers")}))
    assert plain["test"] != full["test"]


def test_save_load_round_trip(tmp_path):
    for layer in (rnnlab.LSTM(3, 4, zoneout=(0.2, 0.1), recurrent_dropout=0.3, weight_drop=0.1, seed=0),
                  rnnlab.GRU(3, 4, layer_norm=True, zoneout=0.2, seed=0), rnnlab.RNN(3, 4, nonlinearity="identity")):
        save(tmp_path / "m.npz", layer)
        back = load(tmp_path / "m.npz")
        assert back.config() == layer.config() and back.reg == layer.reg
        x = np.ones((2, 3, 3), "float32")
        np.testing.assert_array_equal(back.forward(x)[0], layer.forward(x)[0])


def test_bad_options_are_named():
    with pytest.raises(ValueError, match=r"^zoneout: expected one rate"):
        rnnlab.GRU(3, 4, zoneout=(0.1, 0.2))
    with pytest.raises(ValueError, match=r"^recurrent_dropout: expected a number in \[0, 1\)"):
        rnnlab.RNN(3, 4, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match=r"^weight_drop:"):
        rnnlab.LSTM(3, 4, weight_drop=-0.1)
    with pytest.raises(ValueError, match=r"^layer_norm: True needs reset_after=True"):
        rnnlab.GRU(3, 4, layer_norm=True, reset_after=False)
    with pytest.raises(ValueError, match=r"^nonlinearity:"):
        rnnlab.RNN(3, 4, nonlinearity="linear")


@pytest.mark.parametrize("args, message", [
    (["--model", "gru", "--zoneout", "0.1,0.2"], "--zoneout: expected one rate"),
    (["--model", "rnn", "--layer-norm"], "--layer-norm: an LSTM and GRU option"),
    (["--recurrent-dropout", "1"], "--recurrent-dropout: expected a number in [0, 1)"),
    (["--weight-drop", "-1"], "--weight-drop: expected a number in [0, 1)"),
    (["--zoneout", "0.1,0.2,0.3"], "--zoneout"),
])
def test_flags_are_checked_by_name(capsys, args, message):
    try:                                                               # argparse exits, Config's checks return 2
        code = main(["train", "--task", "adding", "--T", "5", "--train-size", "32", "--epochs", "1", "--quiet", *args])
    except SystemExit as exit:
        code = exit.code
    assert code != 0
    assert message in capsys.readouterr().err


def test_flags_train_and_summary_counts_gru_layer_norm(tmp_path, capsys):
    assert main(["train", "--task", "adding", "--T", "5", "--train-size", "64", "--epochs", "1", "--hidden", "6",
                 "--model", "gru", "--layer-norm", "--zoneout", "0.1", "--recurrent-dropout", "0.2",
                 "--weight-drop", "0.2", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    model = load(tmp_path / "run" / "model.npz")
    gru = model.layers[0]
    assert gru.layer_norm and gru.reg.zoneout_h == 0.1 and gru.reg.weight_drop == 0.2
    capsys.readouterr()
    assert main(["summary", "gru:28:16:layer_norm=true"]) == 0
    out = capsys.readouterr().out
    assert "g_x 48 + g_h 48" in out and rnnlab.GRU(28, 16, layer_norm=True).num_params() == \
        rnnlab.GRU(28, 16).num_params() + 96


@pytest.mark.parametrize("layer, option", [
    (rnnlab.LSTM(3, 4, zoneout=0.1), "zoneout"), (rnnlab.GRU(3, 4, weight_drop=0.1), "weight_drop"),
    (rnnlab.RNN(3, 4, recurrent_dropout=0.1), "recurrent_dropout"), (rnnlab.GRU(3, 4, layer_norm=True), "layer_norm"),
    (rnnlab.RNN(3, 4, nonlinearity="identity"), "nonlinearity")])
def test_exporters_refuse_naming_the_option(layer, option):
    from rnnlab.interop import onnx as ox, tf1
    from rnnlab.interop.torch import to_state_dict
    for export in (lambda: ox.onnx_weights(layer, 0), lambda: to_state_dict(layer), lambda: tf1.to_tf1(layer)):
        with pytest.raises(ValueError, match=rf"layer\.{option}"):
            export()
