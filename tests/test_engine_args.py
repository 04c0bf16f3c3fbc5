"""The public loop functions of rnnlab.engine refuse, by the argument's name, what the compiled loops
would read or write out of bounds (the C takes raw pointers): missing states and caches, arrays of
another shape or dtype, and bad option values."""
import numpy as np
import pytest

from rnnlab import engine

from test_engine import needs_engine

T, N, D, H = 4, 3, 5, 6


def _f(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture
def lstm(monkeypatch):
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    rng = np.random.default_rng(0)
    args = dict(x=_f(rng, T, N, D), h0=_f(rng, N, H), c0=_f(rng, N, H), W=_f(rng, D, 4 * H), U=_f(rng, H, 4 * H),
                b=_f(rng, 4 * H))
    y, gates, hs, cs, tanh_c = engine.lstm_forward(**args)
    return rng, args, dict(gates=gates, hs=hs, cs=cs, tanh_c=tanh_c)


def _forward(args, **change):
    a = dict(args, **change)
    return engine.lstm_forward(a.pop("x"), a.pop("h0"), a.pop("c0"), a.pop("W"), a.pop("U"), a.pop("b"), **a)


@needs_engine
@pytest.mark.parametrize("name,value,match", [
    ("h0", None, "h0: expected"), ("c0", None, "c0: expected"), ("h0", np.zeros((1, H), np.float32), "h0: expected"),
    ("b", np.zeros(3, np.float32), "b: expected"), ("W", np.zeros((D, 10), np.float32), "W, U: expected"),
    ("W", np.zeros((3, 4 * H), np.float32), "W, U: expected"), ("x", np.zeros((T, D), np.float32), "x: expected"),
    ("U", np.zeros((3, 4 * H), np.float32), "U: expected shape"), ("mask", np.ones((1, 1, 1), np.float32), "mask: expected"),
    ("peepholes", np.zeros(2, np.float32), "peepholes: expected"),
    ("zoneout", (np.ones((1, 1)), np.ones((1, 1))), "zoneout: expected"),
    ("cell_clip", -1.0, "cell_clip: expected a positive"), ("gate_clip", "abc", "gate_clip: expected a positive"),
    ("gate_clip", 0.0, "gate_clip: expected a positive")])
def test_lstm_forward_names_a_bad_argument(lstm, name, value, match):
    _, args, _ = lstm
    with pytest.raises(ValueError, match=match):
        _forward(args, **{name: value})


@needs_engine
@pytest.mark.parametrize("name,value,match", [
    ("dh", None, "dh: expected"), ("dc", None, "dc: expected"), ("dy", None, "dy: expected"),
    ("gates", None, "gates: expected"), ("gates", "f64", "gates: expected a C-contiguous float32"),
    ("gates", "short", "gates: expected"), ("hs", "short", "hs: expected"),
    ("tanh_c", np.zeros((T, N, H + 1), np.float32), "tanh_c: expected"),
    ("dh", np.zeros((1, H), np.float32), "dh: expected")])
def test_lstm_backward_names_a_bad_argument(lstm, name, value, match):
    rng, args, cache = lstm
    call = dict(dy=_f(rng, T, N, H), dh=_f(rng, N, H), dc=_f(rng, N, H), x=args["x"], W=args["W"], U=args["U"],
                **cache)
    if isinstance(value, str) and value == "f64":
        value = cache[name].astype(np.float64)
    elif isinstance(value, str) and value == "short":
        value = cache[name][:1]
    call[name] = value
    with pytest.raises(ValueError, match=match):
        engine.lstm_backward(call.pop("dy"), call.pop("dh"), call.pop("dc"), call.pop("x"), call.pop("W"),
                             call.pop("U"), call.pop("gates"), call.pop("hs"), call.pop("cs"), call.pop("tanh_c"))


@needs_engine
def test_lstm_backward_computes_tanh_c_again_only_where_the_forward_kept_none(lstm):
    """The plain cell's forward without a mask keeps no tanh(c_t): its backward computes it again from
    cs, the same bits as reading the one a forward keeps (with an all-ones mask, the same run). With
    a mask the loop reads it, and None is refused by name."""
    rng, args, cache = lstm
    assert cache["tanh_c"] is None
    dy, dh, dc = _f(rng, T, N, H), _f(rng, N, H), _f(rng, N, H)
    ones = np.ones((T, N, 1), np.float32)
    y, gates, hs, cs, tanh_c = engine.lstm_forward(**args, mask=ones)
    assert tanh_c is not None and np.array_equal(gates, cache["gates"]) and np.array_equal(cs, cache["cs"])
    common = (dy, dh, dc, args["x"], args["W"], args["U"], gates, hs, cs)
    again, read = engine.lstm_backward(*common, None), engine.lstm_backward(*common, tanh_c)
    for a, b in zip(again[:3], read[:3]):
        np.testing.assert_array_equal(a, b)
    for name in again[3]:
        np.testing.assert_array_equal(again[3][name], read[3][name])
    with pytest.raises(ValueError, match=r"^tanh_c: expected a float32 array of shape \(4, 3, 6\) \(with a mask"):
        engine.lstm_backward(*common, None, ones)


@needs_engine
def test_gru_and_rnn_name_a_bad_argument(monkeypatch):
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    rng = np.random.default_rng(1)
    x, h0 = _f(rng, T, N, D), _f(rng, N, H)
    W3, U3, b3 = _f(rng, D, 3 * H), _f(rng, H, 3 * H), _f(rng, 3 * H)
    with pytest.raises(ValueError, match="b_hn: expected"):
        engine.gru_forward(x, h0, W3, U3, b3, np.zeros(1, np.float32))
    with pytest.raises(ValueError, match=r"layer_norm\['g_x'\]: expected"):
        engine.gru_forward(x, h0, W3, U3, b3, _f(rng, H), layer_norm={"g_x": _f(rng, 1), "g_h": _f(rng, 1)},
                           ln_cache={})
    y, gates, q, hs = engine.gru_forward(x, h0, W3, U3, b3, _f(rng, H))
    with pytest.raises(ValueError, match="q: expected"):
        engine.gru_backward(_f(rng, T, N, H), _f(rng, N, H), x, W3, U3, gates, None, hs)
    with pytest.raises(ValueError, match="U: expected a square"):
        engine.rnn_forward(x, h0[:, :1], _f(rng, D, 1), _f(rng, 2, 1), _f(rng, 1))
    with pytest.raises(ValueError, match="h0: expected"):
        engine.rnn_forward(x, None, _f(rng, D, H), _f(rng, H, H), _f(rng, H))
    y, h_new, hs = engine.rnn_forward(x, h0, _f(rng, D, H), _f(rng, H, H), _f(rng, H))
    with pytest.raises(ValueError, match="h_new: expected"):
        engine.rnn_backward(_f(rng, T, N, H), _f(rng, N, H), x, _f(rng, D, H), _f(rng, H, H), h_new[:1], hs)


@needs_engine
@pytest.mark.parametrize("name,value,match", [
    ("mask", np.ones((T, N, 2), np.float32), "mask: expected a"), ("mask", np.ones((1, T, N, 1), np.float32), "mask: expected a"),
    ("mask", np.full((T, N, 1), 0.5, np.float32), r"mask: expected values 0 and 1, got 0.5 at \(t, n\) = \(0, 0\)"),
    ("mask", np.where(np.arange(T * N).reshape(T, N, 1) == T * N - 1, np.nan, 1.0), "mask: expected values 0 and 1, got nan"),
    ("mask", -np.ones((T, N, 1), np.int64), "mask: expected values 0 and 1, got -1.0"),
    ("zoneout", np.ones((N, H), np.float32), "zoneout: expected a pair"), ("zoneout", 0.2, "zoneout: expected a pair"),
    ("zoneout", (np.ones(H, np.float32), None), "zoneout: expected a number or an array"),
    ("U", np.zeros((H - 1, 4 * H), np.float32), "U: expected shape"),
    ("W_hr", np.zeros((2, H), np.float32), "W_hr: expected shape")])
def test_lstm_forward_names_bad_options(lstm, name, value, match):
    rng, args, _ = lstm
    change = {name: value}
    if name == "W_hr":                          # a projection to P = 2: h0 and U of width 2
        change.update(U=_f(rng, 2, 4 * H), h0=_f(rng, N, 2), m=np.empty((T, N, H), np.float32))
    with pytest.raises(ValueError, match=match):
        _forward(args, **change)


@needs_engine
def test_rnn_recurrent_dropout_and_list_caches_are_named(monkeypatch):
    monkeypatch.setenv("RNNLAB_ENGINE", "auto")
    rng = np.random.default_rng(2)
    x, h0, W, U, b = _f(rng, T, N, D), _f(rng, N, H), _f(rng, D, H), _f(rng, H, H), _f(rng, H)
    with pytest.raises(ValueError, match="recurrent_dropout: expected"):
        engine.rnn_forward(x, h0, W, U, b, recurrent_dropout=np.ones((N, H + 1), np.float32),
                           h_rec=np.zeros((T + 1, N, H), np.float32))
    y, h_new, hs = engine.rnn_forward(x, h0, W, U, b)
    with pytest.raises(ValueError, match="h_new: expected a float32 array .* got list"):
        engine.rnn_backward(_f(rng, T, N, H), _f(rng, N, H), x, W, U, h_new.tolist(), hs)


@needs_engine
def test_a_nan_passes_the_compiled_relu(monkeypatch):
    """relu keeps a NaN as np.maximum does (a diverged weight shows in the output)."""
    from test_engine import _engines
    for isa in _engines():
        monkeypatch.setenv("RNNLAB_ENGINE", isa)
        W = np.zeros((5, 37), np.float32)
        W[0, :] = np.nan
        y, _, _ = engine.rnn_forward(np.ones((3, 2, 5), np.float32), np.zeros((2, 37), np.float32), W,
                                     np.zeros((37, 37), np.float32), np.zeros(37, np.float32), nonlinearity="relu")
        assert np.isnan(y).all(), isa



@needs_engine
@pytest.mark.parametrize("value", [-1, 2, 0.5, np.float32(0.5), None, [1], "yes"])
@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_forward_names_a_reverse_that_is_not_a_bool(lstm, cell, value):
    """The loops index the carried states with reverse: anything but True / False (1 / 0) is refused,
    never passed on (reverse=-1 read and wrote outside hs)."""
    _, a, _ = lstm
    calls = {"LSTM": lambda: _forward(a, reverse=value),
             "GRU": lambda: engine.gru_forward(a["x"], a["h0"], a["W"][:, :3 * H], a["U"][:, :3 * H], a["b"][:3 * H],
                                               a["b"][:H], reverse=value),
             "RNN": lambda: engine.rnn_forward(a["x"], a["h0"], a["W"][:, :H], a["U"][:, :H], a["b"][:H],
                                               reverse=value)}
    with pytest.raises(ValueError, match="reverse: expected True or False"):
        calls[cell]()


@needs_engine
def test_reverse_accepts_numpy_bools_and_ints(lstm):
    _, a, _ = lstm
    want = _forward(a, reverse=True)[0]
    for value in (np.bool_(True), np.int64(1), 1):
        np.testing.assert_array_equal(_forward(a, reverse=value)[0], want)


def _read_only(a):
    a.flags.writeable = False
    return a


@needs_engine
@pytest.mark.parametrize("name,options", [
    ("c_hat", lambda rng: dict(peepholes=_f(rng, 3 * H), zoneout=(np.ones((N, H), np.float32), None),
                               c_hat=_read_only(np.zeros((T, N, H), np.float32)))),
    ("gate_keep", lambda rng: dict(gate_clip=1.0, gate_keep=_read_only(engine.gate_keep_array(T, N, H)))),
    ("h_rec", lambda rng: dict(recurrent_dropout=np.ones((N, H), np.float32),
                               h_rec=_read_only(np.zeros((T + 1, N, H), np.float32)))),
    ("m", lambda rng: dict(W_hr=_f(rng, H, 3), m=_read_only(np.zeros((T, N, H), np.float32))))])
def test_forward_refuses_a_read_only_array_it_would_write(lstm, name, options):
    rng, a, _ = lstm
    change = options(rng)
    if name == "m":                                  # with a projection, U and h0 have P = 3 rows
        change.update(U=_f(rng, 3, 4 * H), h0=_f(rng, N, 3))
    with pytest.raises(ValueError, match=f"{name}: expected a writeable array"):
        _forward(a, **change)


@needs_engine
def test_backward_takes_read_only_caches(lstm):
    """The backward only reads the forward's arrays: read-only ones (a memory map, a shared cache) do."""
    rng, a, cache = lstm
    call = dict(dy=_f(rng, T, N, H), dh=_f(rng, N, H), dc=_f(rng, N, H), x=a["x"], W=a["W"], U=a["U"])
    want = engine.lstm_backward(**call, **cache)
    got = engine.lstm_backward(**call, **{k: None if v is None else _read_only(v.copy()) for k, v in cache.items()})
    np.testing.assert_array_equal(got[0], want[0])


@needs_engine
@pytest.mark.parametrize("name,options,match", [
    ("c_hat", dict(peepholes=np.zeros(3 * H, np.float32), zoneout=(np.ones((N, H), np.float32), None), c_hat=[1, 2]),
     "c_hat: expected .* got list"),
    ("gate_keep", dict(gate_clip=1.0, gate_keep="abc"), "gate_keep: expected .* got str"),
    ("h_rec", dict(recurrent_dropout=np.ones((N, H), np.float32), h_rec=[1]), "h_rec: expected .* got list"),
    ("gate_activation", dict(gate_activation=["hard_sigmoid"]), "gate_activation: expected one of")])
def test_forward_names_an_option_array_of_another_type(lstm, name, options, match):
    _, a, _ = lstm
    with pytest.raises(ValueError, match=match):
        _forward(a, **options)


@needs_engine
def test_a_failed_allocation_is_a_memory_error(lstm, monkeypatch):
    """rn_run returns -2 when its scratch cannot be allocated: that is MemoryError, not a refused
    argument."""
    _, a, _ = lstm
    lib = engine._library()[0]

    class OutOfMemory:
        def __getattr__(self, name):
            return getattr(lib, name)

        def rn_run(self, *args):
            return -2
    monkeypatch.setitem(engine._state, "lib", OutOfMemory())
    with pytest.raises(MemoryError, match="could not allocate"):
        _forward(a)


_GAINS = dict(g_x=np.ones(4 * H, np.float32), g_h=np.ones(4 * H, np.float32), g_c=np.ones(H, np.float32),
              b_c=np.zeros(H, np.float32))


@needs_engine
@pytest.mark.parametrize("options,match", [
    (dict(peepholes="abc"), "peepholes: expected an array of real numbers, got str"),
    (dict(peepholes={}), "peepholes: expected an array of real numbers, got dict"),
    (dict(peepholes=np.empty(3 * H, object)), "peepholes: expected an array of real numbers, got object"),
    (dict(peepholes=np.ones(3 * H, np.complex64)), "peepholes: expected an array of real numbers, got complex64"),
    (dict(zoneout=("abc", None)), "zoneout: expected a number or an array"),
    (dict(zoneout=(None, object())), "zoneout: expected a number or an array"),
    (dict(recurrent_dropout={}, h_rec=np.zeros((T + 1, N, H), np.float32)), "recurrent_dropout: expected a number"),
    (dict(cell_clip=1e-300), r"cell_clip: expected a positive finite number \(in float32\)"),
    (dict(cell_clip=1e39), r"cell_clip: expected a positive finite number \(in float32\)"),
    (dict(gate_clip=np.float64(1e-50)), r"gate_clip: expected a positive finite number \(in float32\)"),
    (dict(input_forget="yes"), "input_forget: expected True or False"),
    (dict(input_forget=np.array([1, 0])), "input_forget: expected True or False"),
    (dict(layer_norm=dict(_GAINS, g_x="abc"), ln_cache={}), r"layer_norm\['g_x'\]: expected an array of real numbers"),
    (dict(layer_norm=dict(_GAINS, b_c={}), ln_cache={}), r"layer_norm\['b_c'\]: expected an array of real numbers")])
def test_forward_names_an_option_value_that_is_not_a_number(lstm, options, match):
    """Option values go through float32 conversions before the shape checks: a string, a dict, an
    object or complex array, or a clip that is 0 or infinite in float32 is refused by name, never
    converted to NaN or passed to the loop."""
    _, a, _ = lstm
    with pytest.raises(ValueError, match=match):
        _forward(a, **options)


@needs_engine
@pytest.mark.parametrize("value", [["tanh"], {}, np.array("tanh")])
def test_rnn_forward_names_a_nonlinearity_that_is_not_a_name(lstm, value):
    _, a, _ = lstm
    with pytest.raises(ValueError, match="nonlinearity: expected one of"):
        engine.rnn_forward(a["x"], a["h0"], a["W"][:, :H], a["U"][:, :H], a["b"][:H], nonlinearity=value)


@needs_engine
@pytest.mark.parametrize("key,value,match", [("nx", None, r"ln_cache\['nx'\]: expected the array"),
                                             ("sx", [1], r"ln_cache\['sx'\]: expected the array"),
                                             ("sx", np.zeros((2, 2), np.float32), r"ln_cache\['sx'\]: expected a C-contig")])
def test_layer_norm_backward_names_a_bad_cache_entry(lstm, key, value, match):
    rng, a, _ = lstm
    ln_cache = {}
    _, gates, hs, cs, tanh_c = _forward(a, layer_norm=_GAINS, ln_cache=ln_cache)
    ln_cache[key] = value
    with pytest.raises(ValueError, match=match):
        engine.lstm_backward(_f(rng, T, N, H), _f(rng, N, H), _f(rng, N, H), a["x"], a["W"], a["U"], gates, hs, cs,
                             tanh_c, layer_norm=_GAINS, ln_cache=ln_cache)


@needs_engine
def test_rnn_forward_takes_every_mask_form_the_others_take():
    """rnn_forward scales y by the converted float32 (T, N) mask: a (T, N) or integer mask gives the
    float32 y of the (T, N, 1) float32 one (it multiplied by the raw mask after the loop)."""
    rng = np.random.default_rng(5)
    x, h0, W, U, b = _f(rng, T, N, D), _f(rng, N, H), _f(rng, D, H), _f(rng, H, H), _f(rng, H)
    m = (rng.uniform(size=(T, N, 1)) < 0.7)
    ref = engine.rnn_forward(x, h0, W, U, b, m.astype(np.float32))[0]
    for mask in (m[:, :, 0], m.astype(np.int64), m.astype(np.float64), m):
        y = engine.rnn_forward(x, h0, W, U, b, mask)[0]
        assert y.dtype == np.float32 and np.array_equal(y, ref)
