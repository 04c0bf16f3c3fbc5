"""TensorFlow 1 LSTMCell(use_peepholes=True, num_proj=P, cell_clip=x) <-> rnnlab's LSTM(peepholes=True,
proj_size=P, cell_clip=x) (rnnlab.interop.tf1). The checkpoints in tests/fixtures/tf1 were written by
TensorFlow 2.21 from graph-mode LSTMCells under dynamic_rnn, MultiRNNCell and bidirectional_dynamic_rnn
(make_fixtures.py there, which also asserts that each cell_clip binds), and the .npz files beside them
hold what TensorFlow computed from them. Export is checked against TF1's LSTMCell.call written out in
NumPy here, and, outside CI, by make_fixtures.py --check-export (TensorFlow restoring rnnlab's files)."""
import os
import shutil

import numpy as np
import pytest

import rnnlab
from rnnlab.activations import sigmoid
from rnnlab.errors import FormatError
from rnnlab.interop import tf1, tf_bundle
from rnnlab.models import LastStep, Sequential

from conftest import max_abs_err

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "tf1")
TOL = 1e-5

# name: (the cells' options as rnnlab reads them, layers x directions, read with these arguments)
MODELS = {
    "peepholes": (dict(peepholes=True, proj_size=0, cell_clip=None, forget_bias=1.0), 1, dict(forget_bias=1.0)),
    "projection": (dict(peepholes=False, proj_size=3, cell_clip=None, forget_bias=0.5), 1, dict(forget_bias=0.5)),
    "cell_clip": (dict(peepholes=False, proj_size=0, cell_clip=0.5, forget_bias=1.0), 1, {}),
    "variants": (dict(peepholes=True, proj_size=4, cell_clip=0.6, forget_bias=0.7), 1, {}),
    "variants_multi": (dict(peepholes=True, proj_size=4, cell_clip=0.7, forget_bias=0.5), 2, {}),
    "variants_bidirectional": (dict(peepholes=True, proj_size=3, cell_clip=0.5, forget_bias=1.0), 2, {}),
}


def fixture(name):
    return os.path.join(FIXTURES, f"{name}.ckpt"), dict(np.load(os.path.join(FIXTURES, f"{name}.npz")))


def copy_checkpoint(name, tmp_path, meta=True):
    for f in os.listdir(FIXTURES):
        if f.startswith(name + ".ckpt.") and (meta or not f.endswith(".meta")):
            shutil.copy(os.path.join(FIXTURES, f), tmp_path / f)
    return str(tmp_path / f"{name}.ckpt")


def errors(model, ref, count):
    """Max abs errors of outputs, every final h and c, and the dense head's logits against TensorFlow's."""
    rnn = model.layers[0]
    y, (h, c), _ = rnn.forward(ref["x"], None, ref.get("lengths"))
    logits, _ = model.forward(ref["x"], ref.get("lengths"))
    return [max_abs_err(y, ref["y"]), max_abs_err(logits, ref["logits"])] + \
        [max_abs_err(h[k], ref[f"h{k}"]) for k in range(count)] + [max_abs_err(c[k], ref[f"c{k}"]) for k in range(count)]


@pytest.mark.parametrize("name", MODELS)
def test_lstmcell_variants_written_by_tensorflow_compute_what_tensorflow_computed(name):
    options, count, given = MODELS[name]
    path, ref = fixture(name)
    model = tf1.load_checkpoint(path, **given)        # the rest (cell_clip, forget_bias) from the .meta graph
    rnn = model.layers[0]
    assert isinstance(model, Sequential) and isinstance(model.layers[1], LastStep)
    assert {k: getattr(rnn, k) for k in options} == options
    assert model.layers[2].input_size == rnn.h_size * rnn.directions        # the head reads h: width P
    errs = errors(model, ref, count)
    assert max(errs) <= TOL, errs


def test_the_clip_read_from_the_graph_binds():
    """Read without its clip (a large one given in place of the graph's), the cell_clip model computes
    something else: TensorFlow's clip binds, and rnnlab's reading of it is what matches."""
    for name in ("cell_clip", "variants"):
        path, ref = fixture(name)
        unclipped = tf1.load_checkpoint(path, cell_clip=1e6)
        assert max(errors(unclipped, ref, 1)) > 1e-2
        assert max(errors(tf1.load_checkpoint(path), ref, 1)) <= TOL


def test_without_a_graph_forget_bias_is_needed_and_cell_clip_named(tmp_path):
    path = copy_checkpoint("variants", tmp_path, meta=False)
    _, ref = fixture("variants")
    with pytest.raises(ValueError, match=r"^forget_bias: .*no graph .*variants\.ckpt\.meta.*cell_clip="):
        tf1.load_checkpoint(path)
    assert max(errors(tf1.load_checkpoint(path, forget_bias=0.7, cell_clip=0.6), ref, 1)) <= TOL
    # not given, c_t is not clipped, as documented: this model then computes something else
    assert tf1.load_checkpoint(path, forget_bias=0.7).layers[0].cell_clip is None
    assert max(errors(tf1.load_checkpoint(path, forget_bias=0.7), ref, 1)) > 1e-2


def test_the_dict_of_arrays_api_reads_the_same_cells():
    path, ref = fixture("variants_multi")
    variables = tf_bundle.read_checkpoint(path)
    assert {n.split("/")[-1] for n in variables if "cell_1" in n} >= {"w_i_diag", "w_f_diag", "w_o_diag"}
    layer = tf1.from_variables(variables, forget_bias=0.5, cell_clip=0.7)
    from_file = tf1.load_checkpoint(path).layers[0]
    assert sorted(layer.params) == sorted(from_file.params)
    for k, v in from_file.params.items():
        np.testing.assert_array_equal(layer.params[k], v)
    y, _, _ = layer.forward(ref["x"], None, ref["lengths"])
    assert max_abs_err(y, ref["y"]) <= TOL


def test_one_cell_from_its_arrays():
    path, ref = fixture("variants")
    v = {k.split("lstm_cell/")[-1]: a for k, a in tf_bundle.read_checkpoint(path).items() if "lstm_cell/" in k}
    layer = tf1.lstm_from_tf1(v["kernel"], v["bias"], 0.7, v["w_i_diag"], v["w_f_diag"], v["w_o_diag"],
                              projection=v["projection/kernel"], cell_clip=0.6)
    y, _, _ = layer.forward(ref["x"], None, ref["lengths"])
    assert max_abs_err(y, ref["y"]) <= TOL
    np.testing.assert_array_equal(layer.params["l0.p"][:7], v["w_i_diag"])       # (p_i, p_f, p_o)
    np.testing.assert_array_equal(layer.params["l0.p"][7:14], v["w_f_diag"])
    np.testing.assert_array_equal(layer.params["l0.W_hr"], v["projection/kernel"])


@pytest.mark.parametrize("name", MODELS)
def test_round_trip_through_a_checkpoint_written_by_rnnlab(name, tmp_path):
    """make_fixtures.py --check-export PREFIX NAME restores such a file into TensorFlow's graph of NAME
    and gets its outputs back; here rnnlab reads it back and the tensors are TensorFlow's own."""
    options, count, _ = MODELS[name]
    path, ref = fixture(name)
    model = tf1.load_checkpoint(path, **MODELS[name][2])
    out = str(tmp_path / "again.ckpt")
    tf1.save_checkpoint(model, out)
    back = tf1.load_checkpoint(out, forget_bias=options["forget_bias"], cell_clip=options["cell_clip"])
    for a, b in zip(model.layers, back.layers):
        assert type(a) is type(b) and sorted(a.params) == sorted(b.params)
        for k, v in a.params.items():
            np.testing.assert_array_equal(b.params[k], v)
    assert max(errors(back, ref, count)) <= TOL
    ours, theirs = tf_bundle.read_checkpoint(out), tf_bundle.read_checkpoint(path)
    if name == "variants_bidirectional":     # rnnlab writes stack_bidirectional_dynamic_rnn's names
        ours = {k.replace("stack_bidirectional_rnn/cell_0/", ""): v for k, v in ours.items()}
    assert sorted(ours) == sorted(theirs)
    for k in ours:
        np.testing.assert_array_equal(ours[k], theirs[k])


def lstm_cell(x, state, v, forget_bias, cell_clip):
    """One step of TF1's LSTMCell.call (tensorflow/python/keras/layers/legacy_rnn/rnn_cell_impl.py),
    written out with the variables as that cell names them; state (c, m)."""
    c_prev, m_prev = state
    i, j, f, o = np.split(np.concatenate([x, m_prev], 1) @ v["kernel"] + v["bias"], 4, axis=1)
    if "w_f_diag" in v:
        c = (sigmoid(f + forget_bias + v["w_f_diag"] * c_prev) * c_prev
             + sigmoid(i + v["w_i_diag"] * c_prev) * np.tanh(j))
    else:
        c = sigmoid(f + forget_bias) * c_prev + sigmoid(i) * np.tanh(j)
    if cell_clip is not None:
        c = np.clip(c, -cell_clip, cell_clip)
    if "w_o_diag" in v:
        m = sigmoid(o + v["w_o_diag"] * c) * np.tanh(c)
    else:
        m = sigmoid(o) * np.tanh(c)
    if "projection/kernel" in v:
        m = m @ v["projection/kernel"]
    return c, m


def dynamic_rnn(variables, x, lengths, args):
    """dynamic_rnn of a MultiRNNCell of LSTMCells with these per-level variables: past a sequence's
    length its outputs are zero and its state is carried."""
    N, T, _ = x.shape
    states = [(np.zeros((N, args["num_units"])), np.zeros((N, args["num_proj"] or args["num_units"])))
              for _ in variables]
    ys = []
    for t in range(T):
        inp, live = x[:, t], (t < lengths)[:, None]
        for level, v in enumerate(variables):
            c, m = lstm_cell(inp, states[level], v, args["forget_bias"], args["cell_clip"])
            states[level] = (np.where(live, c, states[level][0]), np.where(live, m, states[level][1]))
            inp = m * live
        ys.append(inp)
    return np.stack(ys, 1), states


@pytest.mark.parametrize("options", [dict(peepholes=True), dict(proj_size=3), dict(cell_clip=0.4),
                                     dict(peepholes=True, proj_size=2, cell_clip=0.3, forget_bias=0.7)])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_exported_variables_compute_in_tf1_equations_what_rnnlab_computes(options, num_layers):
    """rnnlab -> to_variables / cell_arguments -> TF1's LSTMCell equations (float64, random weights
    large enough that the clip binds, ragged batch)."""
    rng = np.random.default_rng(num_layers)
    layer = rnnlab.LSTM(3, 5, num_layers=num_layers, dtype="float64", seed=0, **options)
    for k in layer.params:
        layer.params[k] = 1.5 * rng.standard_normal(layer.params[k].shape)
    x, lengths = 2 * rng.standard_normal((3, 6, 3)), np.array([6, 2, 4])
    y, (h, c), _ = layer.forward(x, None, lengths)
    args = tf1.cell_arguments(layer)
    assert args == {"num_units": 5, "use_peepholes": bool(options.get("peepholes")),
                    "num_proj": options.get("proj_size"), "cell_clip": options.get("cell_clip"),
                    "forget_bias": options.get("forget_bias", 0.0)}
    names = tf1.to_variables(layer)
    cells = ["rnn/lstm_cell"] if num_layers == 1 else [f"rnn/multi_rnn_cell/cell_{k}/lstm_cell" for k in range(2)]
    variables = [{n[len(cell) + 1:]: a for n, a in names.items() if n.startswith(cell + "/")} for cell in cells]
    y_tf, states = dynamic_rnn(variables, x, lengths, args)
    errs = [max_abs_err(y, y_tf)] + [max_abs_err(h[k], states[k][1]) for k in range(num_layers)] + \
        [max_abs_err(c[k], states[k][0]) for k in range(num_layers)]
    assert max(errs) <= 1e-12, errs
    if options.get("cell_clip"):
        assert np.isclose(np.abs(c), options["cell_clip"]).any()       # the clip binds
    back = tf1.from_variables(names, forget_bias=args["forget_bias"], cell_clip=args["cell_clip"])
    for k, v in layer.params.items():
        np.testing.assert_array_equal(back.params[k], v)


def test_proj_clip_in_the_graph_is_refused_naming_it():
    path, _ = fixture("proj_clip")
    for kw in ({}, dict(forget_bias=1.0, cell_clip=1.0)):      # seen in the .meta even when both are given
        with pytest.raises(FormatError, match=r"proj_clip\.ckpt\.meta: cell 'rnn/lstm_cell': "
                                              r"LSTMCell\(proj_clip=0\.3\).*rnnlab's LSTM has no proj_clip"):
            tf1.load_checkpoint(path, **kw)


def test_rnnlab_convert_reads_and_writes_lstmcell_variants(tmp_path, capsys):
    from rnnlab.cli import main
    from rnnlab.saving import load
    path, ref = fixture("variants_multi")
    assert main(["convert", path, str(tmp_path / "m.npz")]) == 0
    assert max(errors(load(tmp_path / "m.npz"), ref, 2)) <= TOL
    assert main(["convert", str(tmp_path / "m.npz"), str(tmp_path / "back.ckpt")]) == 0
    back = tf_bundle.read_checkpoint(tmp_path / "back.ckpt")
    theirs = tf_bundle.read_checkpoint(path)
    assert sorted(back) == sorted(theirs)
    for k in back:
        np.testing.assert_array_equal(back[k], theirs[k])
    # no .meta beside rnnlab's file: forget_bias is asked for, naming --cell-clip too
    assert main(["convert", str(tmp_path / "back.ckpt"), str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "--forget-bias: " in err and "--cell-clip if it gave LSTMCell one" in err
    assert main(["convert", str(tmp_path / "back.ckpt"), str(tmp_path / "again.npz"),
                 "--forget-bias", "0.5", "--cell-clip", "0.7"]) == 0
    assert max(errors(load(tmp_path / "again.npz"), ref, 2)) <= TOL
    assert main(["convert", str(tmp_path / "m.npz"), str(tmp_path / "y.npz"), "--cell-clip", "0.7"]) == 2
    assert "--cell-clip: applies to tf1 sources" in capsys.readouterr().err
    assert main(["convert", fixture("proj_clip")[0], str(tmp_path / "p.npz")]) == 2
    assert "proj_clip" in capsys.readouterr().err
    assert not (tmp_path / "p.npz").exists()


def test_levels_clipping_at_different_values_are_refused_unless_one_clip_is_given(monkeypatch):
    """One rnnlab layer has one cell_clip: MultiRNNCell levels whose graphs clip at different values
    (here the graph's reading altered for level 1) are refused naming cell_clip."""
    path, ref = fixture("variants_multi")
    read = tf1._cell_constants

    def altered(meta, cells):
        out = read(meta, cells)
        return {c: k._replace(cell_clip={0.9}) if "cell_1" in c.scope else k for c, k in out.items()}
    monkeypatch.setattr(tf1, "_cell_constants", altered)
    with pytest.raises(ValueError, match=r"^cell_clip: .*variants_multi\.ckpt\.meta: the cells clip c_t at "
                                         r"\{.*cell_0/lstm_cell': \[0\.7\], .*cell_1/lstm_cell': \[0\.9\]\}"):
        tf1.load_checkpoint(path)
    assert max(errors(tf1.load_checkpoint(path, cell_clip=0.7), ref, 2)) <= TOL
