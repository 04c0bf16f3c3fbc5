"""Models with Dropout through every converter. Dropout is the identity in evaluation mode, so each
exporter writes the inference graph: PyTorch, ONNX and TF1 leave it out, Keras keeps it as its own
Dropout (the identity at inference too). A model that ``train --dropout`` builds with several layers
is a chain of recurrent layers with Dropout between them: PyTorch holds it as the levels of one
module, Keras as stacked layers, ONNX as operators in a row, TF1 as the cells of one stack. Each
export, run by the real library on a ragged batch (TF1: read back by rnnlab, whose TF1 layouts
tests/test_interop_tf1.py checks), gives rnnlab's evaluation-mode outputs, whatever mode the model
was in; what a format cannot hold is refused with the model's layers named."""
import numpy as np
import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.data import load_task
from rnnlab.interop import keras as ki
from rnnlab.interop import onnx as oi
from rnnlab.interop import tf1
from rnnlab.interop import torch as ti
from rnnlab.interop._layout import layers_of
from rnnlab.layers import Dropout, Recurrent
from rnnlab.models import LastStep, Sequential, evaluation
from rnnlab.saving import load, save
from rnnlab.train import Config, build_model

from conftest import max_abs_err, require_keras, require_onnx, require_torch

TOL = 1e-5                                       # float32 peers
LENGTHS = np.array([6, 2, 4, 1])
N, T = 4, 6


def built(task: str, model: str, layers: int):
    """The model ``rnnlab train --task <task> --model <model> --layers <layers> --dropout 0.3`` trains."""
    t = load_task(task, T=12, train_size=8, seed=0)            # the sizes only; batches here have T = 6
    return build_model(t, Config(task=task, model=model, hidden=4, layers=layers, dropout=0.3, T=12, seed=1))


MODELS = {
    "lstm_dropout_dense": lambda: Sequential([rnnlab.LSTM(5, 4, forget_bias=1.0, seed=1), Dropout(0.5, seed=2),
                                              rnnlab.Dense(4, 3, seed=3)]),
    "lstm_chain_last": lambda: built("order", "lstm", 2),     # LSTM, Dropout, LSTM, LastStep, Dropout, Dense
    "gru_chain_each": lambda: built("copy", "gru", 2),        # GRU, Dropout, GRU, Dropout, Dense
    "rnn_chain3_last": lambda: built("order", "rnn", 3),
    "bigru_chain_last": lambda: Sequential([rnnlab.GRU(5, 4, bidirectional=True, seed=4), Dropout(0.2, seed=5),
                                            rnnlab.GRU(8, 4, bidirectional=True, seed=6), LastStep(),
                                            Dropout(0.2, seed=7), rnnlab.Dense(8, 3, seed=8)]),
}


def trained(name: str):
    """A model of MODELS with every parameter moved off its initialisation (biases non-zero), left in
    training mode, where its Dropout layers draw masks: an export must not depend on the mode."""
    model = MODELS[name]()
    rng = np.random.default_rng(len(name))
    for v in model.params.values():
        v += (0.3 * rng.standard_normal(v.shape)).astype(v.dtype)
    return model.train()


def batch(model, seed=0):
    D = model.layers[0].input_size
    return np.random.default_rng(seed).standard_normal((N, T, D)).astype("float32")


def reference(model, x, lengths=LENGTHS):
    """(y, states) of ``model`` in evaluation mode: states one entry per layer (None if not recurrent)."""
    with evaluation(model):
        y, cache = model.forward(x, lengths)
    assert model.training                                   # the mode is restored
    return y, cache.states


def reduced(model) -> bool:
    return any(isinstance(layer, LastStep) for layer in model.layers)


def valid(y, model, lengths=LENGTHS):
    """Every-step outputs at valid steps only (libraries differ in what they write at padded steps)."""
    return y if reduced(model) else y[np.arange(y.shape[1])[None, :] < lengths[:, None]]


def stacked_states(model, states) -> list:
    """The recurrent layers' final states stacked as one module's: [h (K, N, H)] or [h, c]."""
    parts = [s if isinstance(s, tuple) else (s,) for layer, s in zip(model.layers, states)
             if isinstance(layer, Recurrent)]
    return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]


def torch_forward(torch, rnn, lin, x, model, lengths=LENGTHS):
    """(y, final states) of the torch modules on a ragged batch, the head as ``model`` has it."""
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), torch.tensor(lengths), batch_first=True,
                                                     enforce_sorted=False)
    with torch.no_grad():
        out, state = rnn(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        h = state[0] if isinstance(state, tuple) else state
        dirs = 2 if rnn.bidirectional else 1
        y = lin(torch.cat(list(h[-dirs:]), 1)) if reduced(model) else lin(out)
    state = state if isinstance(state, tuple) else (state,)
    return y.numpy(), [s.numpy() for s in state]


@pytest.mark.parametrize("name", list(MODELS))
def test_torch_export_runs_like_rnnlab_in_evaluation_mode(name, tmp_path):
    torch = require_torch()
    model = trained(name)
    x = batch(model)
    y, states = reference(model, x)
    rnn, lin = ti.to_torch(model)
    recurrent = [layer for layer in model.layers if isinstance(layer, Recurrent)]
    assert rnn.num_layers == sum(layer.num_layers for layer in recurrent) and rnn.dropout == 0
    y_t, states_t = torch_forward(torch, rnn, lin, x, model)
    assert max_abs_err(valid(y_t, model), valid(y, model)) <= TOL
    stacked = stacked_states(model, states)
    assert len(states_t) == len(stacked)
    for s_t, s in zip(states_t, stacked):
        assert max_abs_err(s_t, s) <= TOL
    ti.save_model(model, tmp_path / "m.pt")                 # and back: one stacked layer, same outputs
    back = ti.load_model(tmp_path / "m.pt", head="last" if reduced(model) else "each")
    assert not any(isinstance(layer, Dropout) for layer in layers_of(back))
    assert max_abs_err(back.forward(x, LENGTHS)[0], y) <= TOL


@pytest.mark.parametrize("name", list(MODELS))
def test_keras_export_keeps_dropout_and_runs_like_rnnlab(name, tmp_path):
    keras = require_keras()
    model = trained(name)
    x = batch(model)
    mask = np.arange(T)[None, :] < LENGTHS[:, None]
    x = x * mask[:, :, None]
    y, _ = reference(model, x)
    kmodel = ki.to_keras(model)
    rates = [layer.rate for layer in kmodel.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [layer.rate for layer in model.layers if isinstance(layer, Dropout)]
    y_k = keras.ops.convert_to_numpy(kmodel(x, mask=mask))
    assert max_abs_err(valid(y_k, model), valid(y, model)) <= TOL
    ki.save_model(model, tmp_path / "m.keras")              # read back without Keras: Dropout skipped
    back = ki.load_model(tmp_path / "m.keras")
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in model.layers
                                                      if not isinstance(layer, Dropout)]
    assert max_abs_err(back.forward(x, LENGTHS)[0], y) <= TOL
    ki.save_model(model, tmp_path / "m.weights.h5")         # Dropout's empty weight group is no obstacle
    bare = ki.load_model(tmp_path / "m.weights.h5", head="last" if reduced(model) else "each")
    assert max_abs_err(bare.forward(x, LENGTHS)[0], y) <= TOL


@pytest.mark.parametrize("name", list(MODELS))
def test_onnx_export_runs_like_rnnlab_in_onnxruntime(name):
    _, ort = require_onnx()
    model = trained(name)
    x = batch(model)
    y, states = reference(model, x)
    proto = oi.to_onnx(model)
    assert "Dropout" not in {n.op_type for n in proto.graph.node}
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = dict(zip(names, sess.run(None, {"x": x, "lengths": LENGTHS.astype(np.int32)})))
    assert max_abs_err(outs["y"], y) <= TOL
    for i, (layer, s) in enumerate(zip(model.layers, states)):
        if isinstance(layer, Recurrent):
            for letter, part in zip("hc", s if isinstance(s, tuple) else (s,)):
                assert max_abs_err(outs[f"{letter}{i}"], part) <= TOL
    back = oi.load_model(proto)                             # the chain stays a chain of layers
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in model.layers
                                                      if not isinstance(layer, Dropout)]
    assert max_abs_err(back.forward(x, LENGTHS)[0], y) <= TOL


TF1_MODELS = {
    "lstm_chain_last": lambda: trained("lstm_chain_last"),
    "rnn_chain3_last": lambda: trained("rnn_chain3_last"),
    "bigru_before_chain_each": lambda: Sequential([
        rnnlab.GRU(5, 4, bidirectional=True, reset_after=False, seed=1), Dropout(0.4, seed=2),
        rnnlab.GRU(8, 4, bidirectional=True, reset_after=False, seed=3), Dropout(0.4, seed=4),
        rnnlab.Dense(8, 3, seed=5)]).train(),
}


@pytest.mark.parametrize("name", list(TF1_MODELS))
def test_tf1_variables_leave_dropout_out(name):
    model = TF1_MODELS[name]()
    x = batch(model)
    y, _ = reference(model, x)
    variables = tf1.to_variables(model)
    assert not any("dropout" in k for k in variables)
    recurrent = [layer for layer in model.layers if isinstance(layer, Recurrent)]
    cells = {int(k.split("cell_")[1].split("/")[0]) for k in variables if "cell_" in k}
    assert cells == set(range(len(recurrent)))
    back = tf1.from_variables(variables, forget_bias=getattr(recurrent[0], "forget_bias", 1.0))
    dense = rnnlab.Dense(*variables["dense/kernel"].shape)
    dense.params["W"][...], dense.params["b"][...] = variables["dense/kernel"], variables["dense/bias"]
    again = Sequential([back, LastStep(), dense] if reduced(model) else [back, dense])
    assert max_abs_err(again.forward(x, LENGTHS)[0], y) <= TOL


def test_convert_a_saved_dropout_model_to_every_format(tmp_path, capsys):
    """``rnnlab convert model.npz`` for a model trained with --dropout and 2 layers: the torch, Keras and
    ONNX files run in their libraries like the model in evaluation mode, and convert back to .npz."""
    torch, keras, (_, ort) = require_torch(), require_keras(), require_onnx()
    model = trained("lstm_chain_last")
    save(tmp_path / "m.npz", model)
    x = batch(model)
    full = np.full(N, T)
    y, _ = reference(model, x, full)
    for ending in (".pt", ".keras", ".onnx"):
        assert main(["convert", str(tmp_path / "m.npz"), str(tmp_path / f"m{ending}")]) == 0
        assert "Dropout(rate=0.3)" in capsys.readouterr().out
        assert main(["convert", str(tmp_path / f"m{ending}"), str(tmp_path / "back.npz")]) == 0
        assert max_abs_err(load(tmp_path / "back.npz").forward(x)[0], y) <= TOL
    sd = torch.load(tmp_path / "m.pt")
    rnn, lin = torch.nn.LSTM(8, 4, num_layers=2, batch_first=True), torch.nn.Linear(4, 4)
    rnn.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("rnn.")})
    lin.load_state_dict({k[5:]: v for k, v in sd.items() if k.startswith("head.")})
    assert max_abs_err(torch_forward(torch, rnn, lin, x, model, full)[0], y) <= TOL
    y_k = keras.ops.convert_to_numpy(keras.saving.load_model(tmp_path / "m.keras")(x))
    assert max_abs_err(y_k, y) <= TOL
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert max_abs_err(sess.run(["y"], {"x": x, "lengths": full.astype(np.int32)})[0], y) <= TOL


def test_torch_modules_with_dropout_import_as_their_evaluation_mode():
    """nn.Dropout (no parameters) and nn.LSTM's own ``dropout`` between levels: the identity there."""
    torch = require_torch()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(5, 4, num_layers=2, dropout=0.3, batch_first=True)
            self.drop = torch.nn.Dropout(0.3)
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            _, (h, _) = self.rnn(x)
            return self.fc(self.drop(h[-1]))

    torch.manual_seed(0)
    net = Net().train()
    model = ti.load_model(net)
    assert [layer.kind for layer in model.layers] == ["LSTM", "LastStep", "Dense"]
    x = np.random.default_rng(0).standard_normal((N, T, 5)).astype("float32")
    with torch.no_grad():
        y_t = net.eval()(torch.tensor(x)).numpy()
    assert max_abs_err(model.forward(x)[0], y_t) <= TOL


def test_onnx_dropout_node_imports_as_the_identity():
    """A graph with an ONNX Dropout (as other exporters may leave one) reads like the same graph without;
    one whose training_mode is true is refused."""
    onnx, ort = require_onnx()
    from onnx import helper, numpy_helper
    model = Sequential([rnnlab.LSTM(5, 4, seed=1), rnnlab.Dense(4, 3, seed=2)])
    x = batch(model)
    proto = oi.to_onnx(model)
    matmul = next(n for n in proto.graph.node if n.op_type == "MatMul")
    drop = helper.make_node("Dropout", [matmul.input[0], "ratio"], ["dropped"], name="drop")
    matmul.input[0] = "dropped"
    proto.graph.node.insert(list(proto.graph.node).index(matmul), drop)
    proto.graph.initializer.append(numpy_helper.from_array(np.array(0.5, np.float32), "ratio"))
    onnx.checker.check_model(proto)
    back = oi.load_model(proto)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    y_o = sess.run(["y"], {"x": x, "lengths": LENGTHS.astype(np.int32)})[0]
    assert max_abs_err(back.forward(x, LENGTHS)[0], y_o) <= TOL
    next(n for n in proto.graph.node if n.op_type == "Dropout").input.append("on")   # training_mode
    proto.graph.initializer.append(numpy_helper.from_array(np.array(True), "on"))
    with pytest.raises(ValueError, match="Dropout node 'drop'.*training_mode 'on'"):
        oi.load_model(proto)


def chain_of_two_sizes():
    return Sequential([rnnlab.LSTM(3, 4, seed=1), Dropout(0.3), rnnlab.LSTM(4, 5, seed=2), LastStep(),
                       Dropout(0.3), rnnlab.Dense(5, 2, seed=3)]).train()


def test_layouts_a_format_cannot_hold_are_named():
    """Recurrent layers in a row that one torch module cannot stack, layers after the head, mixed
    directions in one TF1 stack, a model of Dropout alone: refused, naming the model's layers."""
    kinds = r"\['LSTM', 'Dropout', 'LSTM', 'LastStep', 'Dropout', 'Dense'\]"
    with pytest.raises(ValueError, match=r"model\.layers\[2\]: .*one kind, hidden size.*" + kinds):
        ti.model_state_dict(chain_of_two_sizes())
    mixed = Sequential([rnnlab.LSTM(3, 4), Dropout(0.3), rnnlab.GRU(4, 4), rnnlab.Dense(4, 2)])
    with pytest.raises(ValueError, match=r"model\.layers\[2\].*LSTM\(3, 4.*GRU\(4, 4"):
        ti.model_state_dict(mixed)
    heads = Sequential([rnnlab.LSTM(3, 4), LastStep(), rnnlab.Dense(4, 4), Dropout(0.3), rnnlab.Dense(4, 2)])
    with pytest.raises(ValueError, match=r"PyTorch holds one RNN/LSTM/GRU.*'Dense', 'Dropout', 'Dense'\]"):
        ti.model_state_dict(heads)
    directions = Sequential([rnnlab.GRU(3, 4, reset_after=False, bidirectional=True), Dropout(0.3),
                             rnnlab.GRU(8, 4, reset_after=False)])
    with pytest.raises(ValueError, match=r"model\.layers\[2\]: TF1 stacks.*bidirectional=True, "
                                         r"model\.layers\[2\] False.*\['GRU', 'Dropout', 'GRU'\]"):
        tf1.to_variables(directions)
    with pytest.raises(ValueError, match=r"TF1 variables hold.*\['LSTM', 'Dense', 'Dropout', 'LSTM'\]"):
        tf1.to_variables(Sequential([rnnlab.LSTM(3, 4), rnnlab.Dense(4, 4), Dropout(0.3), rnnlab.LSTM(4, 4)]))
    with pytest.raises(ValueError, match=r"\['Dropout', 'Dropout'\] are all Dropout"):
        ti.model_state_dict(Sequential([Dropout(0.1), Dropout(0.2)]))


def test_chains_torch_cannot_stack_export_to_keras_and_onnx():
    keras, (_, ort) = require_keras(), require_onnx()
    model = chain_of_two_sizes()
    x = batch(model)
    y, _ = reference(model, x, np.full(N, T))
    assert max_abs_err(keras.ops.convert_to_numpy(ki.to_keras(model)(x)), y) <= TOL
    sess = ort.InferenceSession(oi.to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    assert max_abs_err(sess.run(["y"], {"x": x, "lengths": np.full(N, T, np.int32)})[0], y) <= TOL


def test_export_refuses_a_last_step_that_reads_the_reverse_direction_at_the_end():
    """An explicit LastStep(directions=1) after a bidirectional layer reads the reverse direction at
    the last step: no exporter can express that (each writes every direction's final state), so each
    says so instead of exporting, with or without Dropout between them. LastStep() infers
    directions=2 through the Dropout, and exports."""
    for between in ([], [rnnlab.Dropout(0.2)]):
        model = Sequential([rnnlab.LSTM(3, 4, bidirectional=True, seed=0), *between,
                            LastStep(directions=1), rnnlab.Dense(8, 2, seed=1)])
        i = 1 + len(between)
        for export in (ti.to_torch, oi.to_onnx, ki.to_keras):
            with pytest.raises(ValueError, match=rf"model.layers\[{i}\]: exported, LastStep reads each "
                                                 r"direction's final state, which is LastStep\(directions=2\)"):
                export(model)
    inferred = Sequential([rnnlab.LSTM(3, 4, bidirectional=True, seed=0), rnnlab.Dropout(0.2),
                           LastStep(), rnnlab.Dense(8, 2, seed=1)])
    assert inferred[2].directions == 2
    rnn, head = ti.to_torch(inferred)                              # the inferred one exports
    assert rnn.bidirectional and head.in_features == 8
