"""Bad input fails at the boundary with a ValueError that names the argument, the expected and the
actual shape or value."""
import re

import numpy as np
import pytest

import rnnlab
from rnnlab.models import LastStep, Sequential

from conftest import require_onnx


@pytest.fixture
def lstm():
    return rnnlab.LSTM(3, 4, num_layers=2, seed=0)


def x_ok(n=2, t=5, d=3):
    return np.zeros((n, t, d), np.float32)


@pytest.mark.parametrize("x,words", [
    (np.zeros((2, 5)), ["x", "3 dimensions", "(2, 5)"]),
    (np.zeros((2, 5, 7)), ["x", "input_size", "3", "(2, 5, 7)"]),
    (np.zeros((2, 5, 3), np.int64), ["x", "floating", "int64"]),
    (np.zeros((0, 5, 3)), ["x", "at least one", "(0, 5, 3)"]),
])
def test_bad_x(lstm, x, words):
    with pytest.raises(ValueError) as err:
        lstm.forward(x)
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_x(lstm, bad):
    x = x_ok()
    x[1, 2, 0] = bad
    with pytest.raises(ValueError, match=r"x: expected finite values, got .* at index \(1, 2, 0\)"):
        lstm.forward(x)


@pytest.mark.parametrize("lengths,words", [
    ([5, 6], ["lengths", "[1, 5]", "6"]),
    ([0, 5], ["lengths", "[1, 5]", "0"]),
    ([5, 5, 5], ["lengths", "(2,)", "(3,)"]),
    ([2.5, 3], ["lengths", "integers"]),
])
def test_bad_lengths(lstm, lengths, words):
    with pytest.raises(ValueError) as err:
        lstm.forward(x_ok(), lengths=lengths)
    for w in words:
        assert w in str(err.value)


def test_bad_state(lstm):
    h = np.zeros((2, 2, 4), np.float32)
    with pytest.raises(ValueError, match=r"state0\[c\]: expected shape \(2, 2, 4\), got \(1, 2, 4\)"):
        lstm.forward(x_ok(), (h, np.zeros((1, 2, 4), np.float32)))
    with pytest.raises(ValueError, match=r"state0: expected a tuple \('h', 'c'\)"):
        lstm.forward(x_ok(), h)
    gru = rnnlab.GRU(3, 4)
    with pytest.raises(ValueError, match=r"state0: expected shape \(1, 2, 4\), got \(2, 4\)"):
        gru.forward(x_ok(), np.zeros((2, 4)))


def test_bad_backward_inputs(lstm):
    y, state, cache = lstm.forward(x_ok())
    with pytest.raises(ValueError, match=r"dy: expected shape \(2, 5, 4\), got \(2, 5, 3\)"):
        lstm.backward(np.zeros((2, 5, 3)), None, cache)
    with pytest.raises(ValueError, match=r"dstate\[h\]: expected shape \(2, 2, 4\)"):
        lstm.backward(None, (np.zeros((2, 4)), None), cache)
    with pytest.raises(ValueError, match="cache: expected the cache returned by LSTM.forward"):
        lstm.backward(np.zeros((2, 5, 4)), None, ("not", "a", "cache"))
    with pytest.raises(ValueError, match=re.escape("dstate: got the cache LSTM.forward returned; the arguments "
                                                   "are backward(dy, dstate, cache)")):
        lstm.backward(y, cache, None)                               # the cache where dstate goes


@pytest.mark.parametrize("kwargs,words", [
    (dict(input_size=0, hidden_size=4), ["input_size", "positive integer", "0"]),
    (dict(input_size=3, hidden_size=2.5), ["hidden_size", "2.5"]),
    (dict(input_size=3, hidden_size=4, num_layers=-1), ["num_layers", "-1"]),
    (dict(input_size=3, hidden_size=4, dtype="int32"), ["dtype", "float32", "int32"]),
    (dict(input_size=3, hidden_size=4, bidirectional="yes"), ["bidirectional", "'yes'"]),
    (dict(input_size=3, hidden_size=4, forget_bias="x"), ["forget_bias", "'x'"]),
])
def test_bad_constructor_arguments(kwargs, words):
    with pytest.raises(ValueError) as err:
        rnnlab.LSTM(**kwargs)
    for w in words:
        assert w in str(err.value)


def test_bad_options_of_each_layer():
    with pytest.raises(ValueError, match="nonlinearity: expected one of .*got 'sigmoid'"):
        rnnlab.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="reset_after: expected True or False, got 1"):
        rnnlab.GRU(3, 4, reset_after=1)
    with pytest.raises(ValueError, match="activation: expected one of .*got 'gelu'"):
        rnnlab.Dense(3, 4, "gelu")
    with pytest.raises(ValueError, match=r"x: expected last dimension 3, got shape \(2, 4\)"):
        rnnlab.Dense(3, 4).forward(np.zeros((2, 4)))


def test_float64_input_runs_in_the_layer_dtype():
    layer = rnnlab.GRU(3, 4)                          # float32
    y, h, _ = layer.forward(np.zeros((2, 5, 3), np.float64))
    assert y.dtype == np.float32 and h.dtype == np.float32


def test_sequential_checks_its_layers():
    with pytest.raises(ValueError, match="layers: expected at least one layer"):
        Sequential([])
    with pytest.raises(ValueError, match=r"layers\[1\]: expected an rnnlab layer, got int"):
        Sequential([rnnlab.Dense(2, 2), 3])
    with pytest.raises(ValueError, match=r"layers: expected a list of layers, got one layer \(LSTM\): Sequential\(\[layer\]\)"):
        Sequential(rnnlab.LSTM(3, 4))
    with pytest.raises(ValueError, match="layers: expected a list of layers, got int"):
        Sequential(5)
    with pytest.raises(ValueError, match="directions: expected 1, 2 or None"):
        LastStep(3)


def test_backward_refuses_the_cache_of_a_layer_with_other_options():
    """A cache carries the options of the forward that made it; another layer's backward names the
    difference instead of computing its own options' gradients on the other cell's arrays."""
    x = np.ones((2, 3, 4), np.float32)
    dy = np.ones((2, 3, 6), np.float32)
    for mine, theirs in (({"layer_norm": True}, {}), ({"gate_clip": 1.0, "recurrent_dropout": 0.2}, {}),
                         ({}, {"peepholes": True})):
        cache = rnnlab.LSTM(4, 6, seed=0, **theirs).forward(x)[2]
        with pytest.raises(ValueError, match="cache: expected .* other options"):
            rnnlab.LSTM(4, 6, seed=0, **mine).backward(dy, None, cache)
    layer = rnnlab.GRU(4, 6, seed=0, zoneout=0.1).train()
    y, _, cache = layer.forward(x)
    layer.eval()                                   # the mode is not an option: the same layer's cache works
    assert layer.backward(dy, None, cache)[0].shape == x.shape


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_a_hidden_size_too_large_for_memory_is_named(kind):
    """Weights that do not fit in the machine's memory: a MemoryError naming the sizes given, raised
    before allocating (NumPy's own said only how many TiB it could not allocate; a billion small
    layers would have been allocated one by one)."""
    with pytest.raises(MemoryError, match=r"^input_size=3, hidden_size=100000000, num_layers=1: the layer's weights"):
        getattr(rnnlab, kind)(3, 10 ** 8)
    for args, kwargs in (((10 ** 11, 8), {}), ((3, 8), {"num_layers": 10 ** 9}), ((3, 2 ** 64), {})):
        with pytest.raises(MemoryError, match=r"do not fit in this machine's memory$"):   # before allocating
            getattr(rnnlab, kind)(*args, **kwargs)


@pytest.mark.parametrize("make,sizes", [(lambda: rnnlab.Dense(10 ** 6, 10 ** 6), "input_size=1000000, output_size=1000000"),
                                        (lambda: rnnlab.Embedding(10 ** 9, 512), "num_embeddings=1000000000, embedding_dim=512")])
def test_a_dense_or_embedding_too_large_for_memory_is_named(make, sizes):
    """Dense and Embedding refuse weights beyond the machine's memory as the recurrent layers do."""
    with pytest.raises(MemoryError, match=re.escape(sizes) + r": the layer's weights, about [0-9,]+ numbers .* do not "
                                                             r"fit in this machine's memory$"):
        make()


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_weight_replaced_by_another_shape_is_named_by_its_key(kind, dtype):
    """A parameter set to an array of another shape, a list, None or integers: forward and step name it
    as params keys it, with the shape the layer was built with (not the cells' W, U and their
    time-major x)."""
    layer = getattr(rnnlab.layers, kind)(3, 4, num_layers=2, bidirectional=True, dtype=dtype)
    x = np.zeros((2, 5, 3), dtype)
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    for key, good, bad in (("l0.W", (3, 4 * G), (5, 4 * G)), ("l1_reverse.U", (4, 4 * G), (4, 4 * G - 1)),
                           ("l1.b", (4 * G,), (4 * G - 1,))):
        kept = layer.params[key]
        assert kept.shape == good
        layer.params[key] = np.zeros(bad, dtype)
        for value, got in ((np.zeros(bad, dtype), f"{dtype} of shape {bad}"), (kept.tolist(), "list"), (None, "NoneType"),
                           (kept.astype(np.int64), f"int64 of shape {good}"), (kept.astype(np.float16),
                                                                              f"float16 of shape {good}")):
            layer.params[key] = value
            with pytest.raises(ValueError, match=re.escape(f"params[{key!r}]: expected a float32 or float64 array of shape {good} "
                                                           f"(input_size=3, hidden_size=4), got {got}")):
                layer.forward(x)
        layer.params[key] = kept
    layer.forward(x)                                            # restored: runs
    stream = getattr(rnnlab.layers, kind)(3, 4, dtype=dtype)
    for value in (np.zeros((4, 4 * G + 1), dtype), stream.params["l0.U"].tolist()):
        stream.params["l0.U"] = value                           # a GRU step sliced a wider U without a word
        with pytest.raises(ValueError, match=re.escape("params['l0.U']: expected a float32 or float64 array of shape")):
            stream.step(x[:, 0])


def test_an_lstm_option_weight_set_to_none_is_refused():
    """Peepholes replaced by None: refused by name (forward ran without them, a different model)."""
    layer = rnnlab.LSTM(3, 5, peepholes=True)
    layer.params["l0.p"] = None
    with pytest.raises(ValueError, match=re.escape("params['l0.p']: expected a float32 or float64 array of shape (15,)")):
        layer.forward(np.zeros((2, 4, 3), np.float32))


def test_a_deleted_weight_is_said_missing():
    layer = rnnlab.GRU(3, 4)
    del layer.params["l0.b_hn"]
    with pytest.raises(ValueError, match=re.escape("params['l0.b_hn']: expected a float32 or float64 array of shape "
                                                   "(4,) (input_size=3, hidden_size=4), got nothing (the key is missing)")):
        layer.forward(np.zeros((2, 3, 3), np.float32))


def test_a_layer_inside_a_sequential_names_its_input_as_the_output_below():
    """Non-finite values a layer made from finite x (its weights hold NaN): the next layer's check names
    its input as the output of the layer below, not as the user's x."""
    model = Sequential([rnnlab.LSTM(2, 3), LastStep(), rnnlab.Dense(3, 2)])
    model.layers[0].params["l0.U"][:] = np.nan
    with pytest.raises(ValueError, match=re.escape("x as layers[1] receives it (the output of layers[0]): expected "
                                                   "finite values")):
        model.forward(np.zeros((4, 3, 2), np.float32))


def test_sequential_params_refuse_a_change_that_would_be_lost_and_dense_weights_are_checked(tmp_path):
    """model.params of a Sequential is gathered on each access: setting or deleting a key is refused,
    naming the layer's own dict (it changed nothing); the arrays are the layers' own. A Dense or
    Embedding weight replaced by another shape or None is named by the model's key in forward, and
    save refuses such a model before writing (the good file stays)."""
    from rnnlab.saving import load, save
    model = Sequential([rnnlab.Embedding(5, 2), rnnlab.LSTM(2, 3), LastStep(), rnnlab.Dense(3, 2)])
    with pytest.raises(ValueError, match=re.escape("params['1.l0.W']: a Sequential's params are gathered from its "
                                                   "layers on each access, so this change would be lost; assign "
                                                   "model.layers[1].params['l0.W']")):
        model.params["1.l0.W"] = np.zeros((2, 12))
    for change in (lambda p: p.pop("3.W"), lambda p: p.update({}), lambda p: p.__delitem__("3.b")):
        with pytest.raises(ValueError, match="a Sequential's params are gathered"):
            change(model.params)
    model.params["3.b"][...] = 1.0                                    # in place: the layer's own array
    assert (model.layers[3].params["b"] == 1.0).all()
    path = tmp_path / "m.npz"
    save(path, model)
    good = path.read_bytes()
    ids = np.zeros((2, 4), np.int64)
    for index, name, value, got in ((3, "W", np.zeros((8, 3), np.float32), "float32 of shape (8, 3)"),
                                    (3, "b", None, "NoneType"), (0, "W", [[0.0]], "list")):
        kept = model.layers[index].params[name]
        model.layers[index].params[name] = value
        with pytest.raises(ValueError, match=re.escape(f"params['{index}.{name}']: expected a float32 or float64 "
                                                       f"array of shape {kept.shape}")):
            model.forward(ids)
        with pytest.raises(ValueError, match=re.escape(f"model: params['{index}.{name}']: expected a float32 or "
                                                       f"float64 array") + f".*got {re.escape(got)}; nothing was written"):
            save(path, model)
        assert path.read_bytes() == good
        model.layers[index].params[name] = kept
    load(path).forward(ids)


def test_an_extra_weight_key_is_refused_before_a_save_writes_it(tmp_path):
    from rnnlab.saving import load, save
    model = Sequential([rnnlab.LSTM(2, 3), LastStep(), rnnlab.Dense(3, 2)])
    path = tmp_path / "m.npz"
    save(path, model)
    model.layers[0].params["l0.extra"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=re.escape("model: params['0.l0.extra']: not a parameter of this layer")):
        save(path, model)
    load(path)


def test_exporters_refuse_weights_that_no_longer_fit_the_model(tmp_path):
    """onnx, torch, Keras and TF1 exports check the weights as save does (they wrote files that onnxruntime
    refused, or that read back as another architecture)."""
    from rnnlab.interop import tf1, torch as rtorch
    model = Sequential([rnnlab.LSTM(3, 4), LastStep(), rnnlab.Dense(4, 2)])
    model.layers[0].params["l0.W"] = np.zeros((5, 16), np.float32)
    with pytest.raises(ValueError, match=re.escape("model: params['0.l0.W']: expected a float32 or float64 array")):
        rtorch.model_state_dict(model)
    with pytest.raises(ValueError, match=re.escape("model: params['0.l0.W']")):
        tf1.to_variables(model)
    require_onnx()
    from rnnlab.interop import onnx as ronnx
    with pytest.raises(ValueError, match=re.escape("model: params['0.l0.W']")):
        ronnx.save_model(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_save_and_exports_refuse_mixed_dtypes_and_non_finite_weights(tmp_path):
    """A float64 weight in a float32 layer (an ONNX graph of both is refused by onnxruntime) and NaN
    weights (training never saves them) are refused by save and the exports, by the model's key."""
    from rnnlab.interop import torch as rtorch
    from rnnlab.saving import save
    model = Sequential([rnnlab.LSTM(3, 4), LastStep(), rnnlab.Dense(4, 2)])
    model.layers[0].params["l0.W"] = model.layers[0].params["l0.W"].astype(np.float64)
    with pytest.raises(ValueError, match=re.escape("model: params['0.l0.W'] is float64 in a float32 layer; cast it "
                                                   "(astype('float32')); nothing was written")):
        save(tmp_path / "m.npz", model)
    with pytest.raises(ValueError, match=re.escape("model: params['0.l0.W'] is float64 in a float32 layer")):
        rtorch.model_state_dict(model)
    model.layers[0].params["l0.W"] = model.layers[0].params["l0.W"].astype(np.float32)
    model.layers[2].params["b"][1] = np.nan
    with pytest.raises(ValueError, match=re.escape("model: params['2.b'] holds nan at index (1,); expected finite "
                                                   "weights; nothing was written")):
        save(tmp_path / "m.npz", model)
    assert not (tmp_path / "m.npz").exists()
