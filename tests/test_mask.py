"""Per-step masks, ``forward(x, mask=...)``: masked steps carry the state (h and c), outputs there are
carried from the step before in processing order or zero (``zero_output_for_mask``), for every cell,
direction and stack; checked against running each sequence on its valid steps only, by central
differences in float64 (and proof that the check catches a wrong backward), engine against NumPy, and
through LastStep, Masking, Embedding(mask_zero=True), Sequential and save/load."""
import numpy as np
import pytest

import rnnlab
import rnnlab.layers.recurrent as recurrent
from rnnlab.models import LastStep, Sequential
from rnnlab.saving import load, save

from conftest import max_abs_err, rel_err

N, T, D, H = 4, 6, 3, 5


def masks():
    """(N, T) masks: a full row, one padded at the front (pad_sequences' default), one with holes in
    the middle and at the front, one padded at the end."""
    return np.array([[1, 1, 1, 1, 1, 1],
                     [0, 0, 0, 1, 1, 1],
                     [0, 1, 0, 0, 1, 1],
                     [1, 1, 0, 1, 0, 0]], bool)


LAYERS = [
    ("RNN", {"nonlinearity": "tanh"}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("LSTM", {"forget_bias": 1.0}),
    ("GRU", {"reset_after": True}), ("GRU", {"reset_after": False}),
]
VARIANTS = [("LSTM", {"peepholes": True, "proj_size": 2}), ("LSTM", {"layer_norm": True}), ("GRU", {"layer_norm": True}),
            ("LSTM", {"zoneout": 0.2}), ("RNN", {"zoneout": 0.3})]
DIRECTIONS = [{"direction": "forward"}, {"direction": "reverse"}, {"direction": "bidirectional"}]


def make(kind, options, dtype="float64", seed=0, **kw):
    return getattr(rnnlab, kind)(D, H, dtype=dtype, seed=seed, **options, **kw)


def inputs(layer, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, D)).astype(layer.dtype)
    state0 = tuple(0.5 * rng.standard_normal(layer.state_shape(N, n)).astype(layer.dtype) for n in layer.state_names)
    return x, state0 if len(state0) > 1 else state0[0]


def parts(state):
    return list(state) if isinstance(state, tuple) else [state]


# ----- semantics ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,options", LAYERS + VARIANTS)
@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_masked_steps_are_skipped(kind, options, direction):
    """Each sequence computes what it computes on its valid steps alone (the masked ones removed):
    the same outputs at its valid steps and the same final state; a sequence padded at the front keeps
    state0 until its first valid step."""
    layer = make(kind, options, direction=direction, num_layers=2)
    x, state0 = inputs(layer)
    m = masks()
    y, state, _ = layer.forward(x, state0, mask=m)
    for n in range(N):
        keep = np.flatnonzero(m[n])
        s0 = tuple(s[:, n:n + 1] for s in parts(state0))
        y_n, state_n, _ = layer.forward(x[n:n + 1, keep], s0 if len(s0) > 1 else s0[0])
        assert max_abs_err(y[n, keep], y_n[0]) <= 1e-12
        for got, want in zip(parts(state), parts(state_n)):
            assert max_abs_err(got[:, n], want[:, 0]) <= 1e-12


@pytest.mark.parametrize("kind,options", LAYERS)
def test_outputs_at_masked_steps_carry_the_step_before_or_are_zero(kind, options):
    """zero_output_for_mask=False (one direction's default, Keras'): a masked step repeats the output of
    the step before in processing order, zero before the first valid one; True: zero. Bidirectional:
    True by default (Keras' Bidirectional returning sequences), each direction in its own order."""
    m = masks()
    for direction, zero in [("forward", None), ("reverse", None), ("forward", True), ("bidirectional", None),
                            ("bidirectional", False)]:
        layer = make(kind, options, direction=direction, zero_output_for_mask=zero)
        assert layer.zero_output_for_mask == (direction == "bidirectional" if zero is None else zero)
        x, state0 = inputs(layer)
        y, _, _ = layer.forward(x, state0, mask=m)
        for d in range(layer.directions):
            yd = y[:, :, d * H:(d + 1) * H]
            reverse = bool(d) or direction == "reverse"
            for n in range(N):
                seen = None
                for t in (range(T - 1, -1, -1) if reverse else range(T)):
                    if m[n, t]:
                        seen = t
                        continue
                    want = 0 if layer.zero_output_for_mask or seen is None else yd[n, seen]
                    assert np.array_equal(yd[n, t], np.broadcast_to(want, (H,)))
                    if not layer.zero_output_for_mask and seen is None:
                        assert np.all(yd[n, t] == 0)        # never the state0 carried through


@pytest.mark.parametrize("kind,options", LAYERS)
def test_full_mask_is_no_mask_and_end_padding_is_lengths(kind, options):
    layer = make(kind, options, direction="bidirectional", num_layers=2)
    x, state0 = inputs(layer)
    y, state, _ = layer.forward(x, state0)
    y_m, state_m, _ = layer.forward(x, state0, mask=np.ones((N, T), np.float32))
    assert np.array_equal(y, y_m) and all(np.array_equal(a, b) for a, b in zip(parts(state), parts(state_m)))
    lengths = np.array([6, 2, 4, 1])
    end = np.arange(T)[None, :] < lengths[:, None]
    y_l, state_l, _ = layer.forward(x, state0, lengths)
    y_m, state_m, _ = layer.forward(x, state0, mask=end.astype(int))   # bidirectional: zeros there, as lengths
    assert max_abs_err(y_l, y_m) == 0
    assert all(max_abs_err(a, b) == 0 for a, b in zip(parts(state_l), parts(state_m)))


@pytest.mark.parametrize("kind,options", LAYERS)
def test_fully_masked_sequence_keeps_state0_and_outputs_zero(kind, options):
    layer = make(kind, options)
    x, state0 = inputs(layer)
    m = masks()
    m[2] = False
    y, state, _ = layer.forward(x, state0, mask=m)
    assert np.all(y[2] == 0)
    for got, want in zip(parts(state), parts(state0)):
        assert np.array_equal(got[:, 2], want[:, 2])


def test_infer_equals_forward_and_return_cell_states_follow_y():
    layer = make("LSTM", {}, dtype="float32", direction="bidirectional", zero_output_for_mask=False)
    x, state0 = inputs(layer)
    y, state, _ = layer.forward(x, state0, mask=masks())
    y_i, state_i = layer.infer(x, state0, mask=masks())
    assert np.array_equal(y, y_i) and all(np.array_equal(a, b) for a, b in zip(state, state_i))
    y_c, _, _, cells = layer.forward(x, state0, mask=masks(), return_cell_states=True)   # NumPy steps
    assert max_abs_err(y, y_c) <= 1e-6
    # c is carried like h: at a masked step after a valid one, c repeats the c of that step
    assert np.all(cells[1, 2, :H] == 0) and np.array_equal(cells[3, 4, :H], cells[3, 3, :H])
    assert np.all(cells[3, 4, H:] == 0) and np.array_equal(cells[2, 3, H:], cells[2, 4, H:])   # reverse: t = 4 first


# ----- gradients ------------------------------------------------------------------------------------
def numeric_check(layer, x, state0, m, seed=2, checks=12):
    """(worst, name): the largest norm-wise relative error (rnnlab.verify.rel_err) between backward and
    central differences of L = sum(wy * y) + sum(ws * s), each over ``checks`` random entries of x, of
    each state0 part and of each parameter, and the array it was found in."""
    rng = np.random.default_rng(seed)
    y, state, cache = layer.forward(x, state0, mask=m)
    wy = rng.standard_normal(y.shape)
    ws = [rng.standard_normal(s.shape) for s in parts(state)]

    def loss():
        y, state, _ = layer.forward(x, state0, mask=m)
        return float(np.sum(wy * y) + sum(np.sum(w * s) for w, s in zip(ws, parts(state))))

    dx, ds0, grads = layer.backward(wy, tuple(ws) if len(ws) > 1 else ws[0], cache)
    arrays = [("x", x, dx)] + [(f"state0[{i}]", s, d) for i, (s, d) in enumerate(zip(parts(state0), parts(ds0)))]
    arrays += [(k, layer.params[k], grads[k]) for k in layer.params]
    worst, eps = (0.0, ""), 1e-6
    for name, a, g in arrays:
        num, ana = [], []
        for _ in range(checks):
            i = tuple(int(rng.integers(s)) for s in a.shape)
            old = a[i]
            a[i] = old + eps
            up = loss()
            a[i] = old - eps
            down = loss()
            a[i] = old
            num.append((up - down) / (2 * eps))
            ana.append(g[i])
        worst = max(worst, (rel_err(ana, num), name))
    return worst


@pytest.mark.parametrize("kind,options", LAYERS + VARIANTS)
@pytest.mark.parametrize("direction", DIRECTIONS, ids=lambda d: d["direction"])
@pytest.mark.parametrize("zero", [False, True])
def test_gradcheck_with_masks(kind, options, direction, zero):
    layer = make(kind, options, num_layers=2, zero_output_for_mask=zero, **direction)
    x, state0 = inputs(layer)
    err, name = numeric_check(layer, x, state0, masks())
    assert err <= 1e-6, (name, err)


def test_gradcheck_catches_a_wrong_carry_backward(monkeypatch):
    """Drop the carried outputs' gradient (dy_{t-1} += (1 - m_t) dy_t): the check must fail on x."""
    layer = make("GRU", {})
    x, state0 = inputs(layer)
    assert numeric_check(layer, x, state0, masks())[0] <= 1e-6
    monkeypatch.setattr(recurrent, "carry_outputs_backward", lambda dy, m, reverse: None)
    err, name = numeric_check(layer, x, state0, masks())
    assert err > 1e-2


def test_sharded_batch_equals_whole(monkeypatch):
    """A wide batch run as two halves at once (ShardedCache) gives the same outputs and gradients."""
    layer = make("LSTM", {})
    x, state0 = inputs(layer)
    dy = np.random.default_rng(3).standard_normal((N, T, H))
    y, _, cache = layer.forward(x, state0, mask=masks())
    whole = layer.backward(dy, None, cache)
    monkeypatch.setattr(recurrent, "shard_batch", lambda n, h: True)
    y_s, _, cache_s = layer.forward(x, state0, mask=masks())
    assert isinstance(cache_s, recurrent.ShardedCache)
    halves = layer.backward(dy, None, cache_s)
    assert max_abs_err(y, y_s) <= 1e-14 and max_abs_err(whole[0], halves[0]) <= 1e-14
    assert all(max_abs_err(whole[2][k], halves[2][k]) <= 1e-12 for k in layer.params)


@pytest.mark.parametrize("kind,options", LAYERS)
def test_engine_equals_numpy_with_masks(kind, options, monkeypatch):
    """float32 with a mask runs in the compiled engine where it is built: the same numbers as the
    NumPy step functions (the engine's per-step 0/1 mask is the cells' mask)."""
    from rnnlab import engine
    out, calls, real = {}, [], engine._run
    monkeypatch.setattr(engine, "_run", lambda *a, **k: (calls.append(a[0]), real(*a, **k))[1])
    for flag in ("numpy", "auto"):
        monkeypatch.setenv("RNNLAB_ENGINE", flag)
        layer = make(kind, options, dtype="float32", direction="bidirectional", num_layers=2,
                     zero_output_for_mask=False)
        x, state0 = inputs(layer)
        y, state, cache = layer.forward(x, state0, mask=masks())
        dy = np.random.default_rng(4).standard_normal(y.shape).astype(np.float32)
        out[flag] = (y, parts(state), layer.backward(dy, None, cache))
        if flag == "numpy":
            assert calls == []
    compiled = engine.active() != "numpy" and options.get("reset_after", True)
    assert len(calls) == (8 if compiled else 0)         # 2 layers x 2 directions, forward and backward
    (y0, s0, (dx0, _, g0)), (y1, s1, (dx1, _, g1)) = out["numpy"], out["auto"]
    assert max_abs_err(y0, y1) <= 1e-5 and all(max_abs_err(a, b) <= 1e-5 for a, b in zip(s0, s1))
    assert max_abs_err(dx0, dx1) <= 1e-4
    assert all(max_abs_err(g0[k], g1[k]) <= 1e-4 * max(1.0, np.abs(g0[k]).max()) for k in g0)


# ----- LastStep, Masking, Embedding, Sequential -----------------------------------------------------
def test_last_step_reads_the_last_and_first_valid_steps():
    x = np.random.default_rng(0).standard_normal((N, T, 4))
    m = masks()
    m[3] = False
    y, cache = LastStep(directions=2).forward(x, mask=m)
    assert np.array_equal(y[1, :2], x[1, 5, :2]) and np.array_equal(y[1, 2:], x[1, 3, 2:])
    assert np.array_equal(y[2, :2], x[2, 5, :2]) and np.array_equal(y[2, 2:], x[2, 1, 2:])
    assert np.all(y[3] == 0)
    dx, _ = LastStep(directions=2).backward(np.ones((N, 4)), cache)
    assert dx[2, 1, 2:].tolist() == [1, 1] and dx[2, 5, :2].tolist() == [1, 1] and dx.sum() == 3 * 4
    with pytest.raises(ValueError, match="mask: expected lengths .* or mask"):
        LastStep().forward(x, lengths=[1, 2, 3, 4], mask=m)


def test_masking_layer():
    x = np.random.default_rng(0).standard_normal((N, T, D))
    x[1, :3] = -1.0
    x[2, 4] = -1.0
    x[0, 2, 0] = -1.0                               # one feature at the mask value does not mask the step
    layer = rnnlab.Masking(mask_value=-1)
    want = np.ones((N, T), bool)
    want[1, :3] = want[2, 4] = False
    assert np.array_equal(layer.compute_mask(x), want)
    y, cache = layer.forward(x)
    assert np.all(y[1, :3] == 0) and np.array_equal(y[0], x[0])
    dx, grads = layer.backward(np.ones_like(x), cache)
    assert np.array_equal(dx, np.broadcast_to(want[:, :, None], x.shape).astype(float)) and grads == {}
    with pytest.raises(ValueError, match="mask_value"):
        rnnlab.Masking(mask_value="zero")


def sequential(first, direction="bidirectional"):
    return Sequential([first, rnnlab.GRU(D, H, seed=1, direction=direction, dtype="float64"), LastStep(),
                       rnnlab.Dense(2 * H if direction == "bidirectional" else H, 2, seed=2, dtype="float64")])


def test_sequential_computes_the_mask_of_masking_and_mask_zero():
    rng = np.random.default_rng(0)
    m = masks()
    x = rng.standard_normal((N, T, D)) * m[:, :, None]
    model = sequential(rnnlab.Masking(0.0))
    y, _ = model.forward(x)
    y_m, _ = Sequential(model.layers[1:]).forward(x, mask=m)
    assert max_abs_err(y, y_m) == 0
    ids = rng.integers(1, 9, (N, T)) * m
    emb = rnnlab.Embedding(9, D, seed=0, dtype="float64", mask_zero=True)
    model = sequential(emb, "forward")
    y, _ = model.forward(ids)
    y_m, _ = Sequential(model.layers[1:]).forward(emb.forward(ids)[0], mask=m)
    assert max_abs_err(y, y_m) == 0
    # an explicit mask or lengths is never overridden
    y_all, _ = model.forward(ids, mask=np.ones((N, T)))
    y_none, _ = Sequential(model.layers[1:]).forward(emb.forward(ids)[0])
    assert max_abs_err(y_all, y_none) == 0
    with pytest.raises(ValueError, match="mask: expected lengths"):
        model.forward(ids, lengths=[6, 6, 6, 6], mask=m)
    assert rnnlab.Embedding(9, D).compute_mask(ids) is None


def central_differences(model, x, w, names, rng, eps=1e-6, per=6):
    """Largest |numeric - analytic| / max(1, |numeric|) over ``per`` random entries of x (valid steps
    only: a change at a masked step would unmask it) and of every parameter."""
    y, cache = model.forward(x)
    dx, grads = model.backward(w, cache)
    m = model.layers[0].compute_mask(x)
    assert np.all(dx[~m] == 0)
    worst = 0.0
    for name, a, g in [("x", x, dx)] + [(k, model.params[k], grads[k]) for k in names]:
        for _ in range(per):
            i = tuple(int(rng.integers(s)) for s in a.shape)
            if name == "x" and not m[i[:2]]:
                continue
            old = a[i]
            a[i] = old + eps
            up = np.sum(w * model.forward(x)[0])
            a[i] = old - eps
            down = np.sum(w * model.forward(x)[0])
            a[i] = old
            num = (up - down) / (2 * eps)
            worst = max(worst, abs(num - g[i]) / max(1.0, abs(num)))
    return worst


def test_sequential_gradcheck_through_masking():
    """Masking -> bidirectional GRU -> LastStep -> Dense: backward equals central differences in x and
    every parameter, the masked steps included (their gradient is zero)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, D)) * masks()[:, :, None]
    model = sequential(rnnlab.Masking(0.0))
    w = rng.standard_normal(model.forward(x)[0].shape)
    assert central_differences(model, x, w, list(model.params), rng, per=8) <= 1e-6


def test_save_and_load_keep_the_masks(tmp_path):
    model = Sequential([rnnlab.Embedding(9, D, mask_zero=True, seed=0), rnnlab.LSTM(D, H, seed=1),
                        rnnlab.LSTM(H, H, seed=2, direction="bidirectional", zero_output_for_mask=False),
                        rnnlab.Masking(0.5), rnnlab.LSTM(2 * H, H, seed=3, zero_output_for_mask=True)])
    save(tmp_path / "m.npz", model)
    back = load(tmp_path / "m.npz")
    assert repr(back) == repr(model)
    assert back.layers[0].mask_zero and back.layers[3].mask_value == 0.5
    assert [back.layers[i].zero_output_for_mask for i in (1, 2, 4)] == [False, False, True]
    ids = np.random.default_rng(0).integers(0, 9, (N, T))
    assert np.array_equal(model.forward(ids)[0], back.forward(ids)[0])


def test_formats_without_per_step_masks_refuse_mask_zero():
    from conftest import require_onnx, require_torch
    require_torch()
    require_onnx()
    from rnnlab.interop import onnx as onnx_interop, torch as torch_interop
    model = Sequential([rnnlab.Embedding(9, D, mask_zero=True), rnnlab.LSTM(D, H), LastStep(), rnnlab.Dense(H, 2)])
    for export in (torch_interop.to_torch, onnx_interop.to_onnx):
        with pytest.raises(ValueError, match=r"model\.layers\[0\]\.mask_zero"):
            export(model)
