"""TensorFlow 1 checkpoint files read without TensorFlow (rnnlab.interop.tf1.load_checkpoint,
rnnlab.interop.tf_bundle). The checkpoints in tests/fixtures/tf1 were written by TensorFlow 2.21's
tf.compat.v1.train.Saver from graph-mode cells under dynamic_rnn, and the .npz files beside them hold
what TensorFlow computed from them (make_fixtures.py there makes both)."""
import os
import shutil

import numpy as np
import pytest

from rnnlab.errors import FormatError
from rnnlab.interop import tf1, tf_bundle
from rnnlab.models import Sequential

from conftest import max_abs_err

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "tf1")
TOL = 1e-5


def fixture(name):
    return os.path.join(FIXTURES, f"{name}.ckpt"), dict(np.load(os.path.join(FIXTURES, f"{name}.npz")))


def final_errors(state, ref, kind, count):
    """Errors of rnnlab's final states against TF's (c<k>, h<k> for each layer / direction)."""
    if kind == "LSTM":
        h, c = state
        return [max_abs_err(h[k], ref[f"h{k}"]) for k in range(count)] + \
               [max_abs_err(c[k], ref[f"c{k}"]) for k in range(count)]
    return [max_abs_err(state[k], ref[f"h{k}"]) for k in range(count)]


@pytest.mark.parametrize("name,kind,count,forget_bias", [
    ("mnist", "LSTM", 1, 1.0),            # TF1's row-by-row MNIST model: BasicLSTMCell(128) over 28 x 28, 10-way head
    ("multi", "LSTM", 2, 0.5),            # MultiRNNCell of two LSTMCell, ragged batch
    ("bidirectional", "LSTM", 2, 0.0),    # bidirectional_dynamic_rnn, ragged batch
    ("gru", "GRU", 1, None),
    ("basic_rnn", "RNN", 1, None),        # float64
])
def test_checkpoints_written_by_tensorflow_compute_what_tensorflow_computed(name, kind, count, forget_bias):
    path, ref = fixture(name)
    model = tf1.load_checkpoint(path)                                  # forget_bias from the .meta graph
    rnn = model.layers[0] if isinstance(model, Sequential) else model
    assert rnn.kind == kind and rnn.dtype == ref["x"].dtype
    if forget_bias is not None:
        assert rnn.forget_bias == forget_bias
    lengths = ref.get("lengths")
    y, state, _ = rnn.forward(ref["x"], None, lengths)
    errs = [max_abs_err(y, ref["y"])] + final_errors(state, ref, kind, count)
    if "logits" in ref:
        logits, _ = model.forward(ref["x"], lengths)
        errs.append(max_abs_err(logits, ref["logits"]))
    assert max(errs) <= TOL, errs


def test_any_file_of_the_checkpoint_names_it():
    path, ref = fixture("gru")
    for given in (path, path + ".index", path + ".data-00000-of-00001"):
        y, _ = tf1.load_checkpoint(given).forward(ref["x"])
        assert max_abs_err(y, ref["logits"]) <= TOL


def test_an_encoder_and_a_decoder_in_two_shards_are_read_by_scope():
    path, ref = fixture("encoder_decoder")
    assert tf_bundle.Bundle(path).num_shards == 2
    with pytest.raises(ValueError, match=r"pass scope= one of \['decoder', 'encoder'\]") as err:
        tf1.load_checkpoint(path)
    assert "encoder/rnn/basic_lstm_cell" in str(err.value) and "decoder/rnn/lstm_cell" in str(err.value)
    encoder = tf1.load_checkpoint(path, scope="encoder")                # Adam slots are left out
    decoder = tf1.load_checkpoint(path, scope="decoder", head="each")   # its dense reads every step
    assert encoder.forget_bias == 1.0 and decoder.layers[0].forget_bias == 2.0   # each cell's, from the .meta
    ye, (h, c), _ = encoder.forward(ref["xe"])
    rnn, dense = decoder.layers
    yd, (hd, cd), _ = rnn.forward(ref["xd"], (h, c))                   # started from the encoder's state
    logits, _ = dense.forward(yd)
    errs = [max_abs_err(ye, ref["ye"]), max_abs_err(yd, ref["yd"]), max_abs_err(logits, ref["logits"]),
            max_abs_err(h[0], ref["h0"]), max_abs_err(cd[0], ref["c1"])]
    assert max(errs) <= TOL, errs


def copy_checkpoint(name, tmp_path, meta=True):
    for f in os.listdir(FIXTURES):
        if f.startswith(name + ".ckpt.") and (meta or not f.endswith(".meta")):
            shutil.copy(os.path.join(FIXTURES, f), tmp_path / f)
    return str(tmp_path / f"{name}.ckpt")


def test_forget_bias_without_a_graph_must_be_given(tmp_path):
    path = copy_checkpoint("multi", tmp_path, meta=False)
    with pytest.raises(ValueError, match=r"forget_bias: .* does not save in checkpoints.*multi\.ckpt\.meta"):
        tf1.load_checkpoint(path)
    _, ref = fixture("multi")
    model = tf1.load_checkpoint(path, forget_bias=0.5)
    logits, _ = model.forward(ref["x"], ref["lengths"])
    assert max_abs_err(logits, ref["logits"]) <= TOL
    wrong, _ = tf1.load_checkpoint(path, forget_bias=1.0).forward(ref["x"], ref["lengths"])
    assert max_abs_err(wrong, ref["logits"]) > 1e-3              # the argument matters: it is not stored


def test_cells_of_different_forget_bias_fold_into_one_layer():
    path, ref = fixture("encoder_decoder")
    # each cell read with its own forget_bias, then one layer: the difference goes into the bias
    variables = tf_bundle.read_checkpoint(path, ["decoder/rnn/lstm_cell/kernel", "decoder/rnn/lstm_cell/bias"])
    layer = tf1.from_variables(variables, forget_bias=2.0)
    decoder = tf1.load_checkpoint(path, scope="decoder", head="each").layers[0]
    np.testing.assert_array_equal(decoder.params["l0.W"], layer.params["l0.W"])
    np.testing.assert_array_equal(decoder.params["l0.b"], layer.params["l0.b"])


def test_round_trip_through_a_checkpoint_written_by_rnnlab(tmp_path):
    """make_fixtures.py --check-export restores such a file into TensorFlow's graph of "multi" and gets
    its outputs back."""
    path, ref = fixture("multi")
    model = tf1.load_checkpoint(path)
    out = str(tmp_path / "again.ckpt")
    tf1.save_checkpoint(model, out)
    back = tf1.load_checkpoint(out + ".index", forget_bias=0.5)
    for a, b in zip(model.layers, back.layers):
        for k, v in a.params.items():
            np.testing.assert_array_equal(b.params[k], v)
    # the tensors TensorFlow wrote and those rnnlab writes for them are the same arrays
    ours = tf_bundle.read_checkpoint(out)
    theirs = tf_bundle.read_checkpoint(path)
    assert sorted(ours) == sorted(theirs)
    for k in ours:
        np.testing.assert_array_equal(ours[k], theirs[k])


def test_the_bundle_format_round_trips_dtypes_shapes_and_names(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {"a": rng.standard_normal((3, 4)).astype(np.float32), "b/c": rng.standard_normal(5),
               "b/d": np.arange(7, dtype=np.int64), "scalar": np.float32(2.5), "empty": np.zeros((0, 3)),
               "ünïcode": np.array([True, False]), "big": rng.standard_normal(40_000)}   # 320 KB: NumPy CRC lanes
    tf_bundle.write_checkpoint(tmp_path / "t", tensors)
    back = tf_bundle.read_checkpoint(tmp_path / "t")
    assert sorted(back) == sorted(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == np.asarray(v).dtype and back[k].shape == np.shape(v)
        np.testing.assert_array_equal(back[k], v)


@pytest.mark.parametrize("n", [0, 1, 9, 100, 16383, 16384, 16385, 1 << 17, 300_007])
def test_crc32c_matches_the_bitwise_definition(n):
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    crc = 0xFFFFFFFF
    for b in data[:2000] if n > 2000 else data:            # bit by bit, reflected polynomial 0x82f63b78
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    if n <= 2000:
        assert tf_bundle.crc32c(data) == crc ^ 0xFFFFFFFF
    else:                                                   # the lanes path equals the byte-table path
        table = tf_bundle._crc_table().tolist()
        assert tf_bundle.crc32c(data) == tf_bundle._update(0xFFFFFFFF, data, table) ^ 0xFFFFFFFF
    assert tf_bundle.crc32c(b"123456789") == 0xE3069283       # the standard check value of CRC-32C


def damaged(tmp_path, name, file_ending, at, value=None):
    path = copy_checkpoint(name, tmp_path)
    target = path + file_ending
    data = bytearray(open(target, "rb").read())
    if value is None:
        data[at] ^= 0x40
        open(target, "wb").write(data)
    else:
        open(target, "wb").write(value(data))
    return path


def test_a_flipped_byte_in_the_data_fails_the_checksum(tmp_path):
    path = damaged(tmp_path, "gru", ".data-00000-of-00001", 100)
    with pytest.raises(FormatError, match=r"data-00000-of-00001: tensor '.*': checksum \(CRC-32C\) does not match"):
        tf1.load_checkpoint(path)


@pytest.mark.parametrize("at", [5, 40, -48, -47, -3])   # blocks, footer handles, magic
def test_a_flipped_byte_in_the_index_is_a_format_error(tmp_path, at):
    path = damaged(tmp_path, "gru", ".index", at)
    with pytest.raises(FormatError, match=r"gru\.ckpt\.index"):
        tf1.load_checkpoint(path)


@pytest.mark.parametrize("cut", [lambda d: d[:-1], lambda d: d[:10], lambda d: b"", lambda d: d[:40] + d[41:]])
def test_a_cut_index_is_a_format_error(tmp_path, cut):
    path = damaged(tmp_path, "gru", ".index", 0, cut)
    with pytest.raises(FormatError):
        tf1.load_checkpoint(path)


def test_a_short_shard_and_a_missing_shard(tmp_path):
    path = damaged(tmp_path, "gru", ".data-00000-of-00001", 0, lambda d: d[:-8])
    with pytest.raises(FormatError, match="run past the file"):
        tf1.load_checkpoint(path)
    os.remove(path + ".data-00000-of-00001")
    with pytest.raises(FileNotFoundError, match="data-00000-of-00001"):
        tf1.load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no TensorFlow checkpoint index"):
        tf1.load_checkpoint(tmp_path / "nothing.ckpt")


def test_sizes_are_checked_before_reading(tmp_path, monkeypatch):
    path, _ = fixture("mnist")
    monkeypatch.setattr(tf_bundle, "MAX_CHECKPOINT_BYTES", 100_000)
    with pytest.raises(FormatError, match="MAX_CHECKPOINT_BYTES"):
        tf1.load_checkpoint(path)
    monkeypatch.setattr(tf_bundle, "MAX_INDEX_BYTES", 100)
    with pytest.raises(FormatError, match="MAX_INDEX_BYTES"):
        tf1.load_checkpoint(path)


def test_what_the_checkpoint_lacks_is_named(tmp_path):
    tf_bundle.write_checkpoint(tmp_path / "w", {"weights/out": np.zeros((3, 2), np.float32)})
    with pytest.raises(FormatError, match=r"no TF1 RNN cell variables .* \['weights/out'\]"):
        tf1.load_checkpoint(tmp_path / "w")
    with pytest.raises(ValueError, match="scope: expected a variable scope"):
        tf1.load_checkpoint(fixture("gru")[0], scope="")
    with pytest.raises(ValueError, match="head: expected one of"):
        tf1.load_checkpoint(fixture("gru")[0], head="first")
    tf_bundle.write_checkpoint(tmp_path / "p", {"rnn/lstm_cell/kernel": np.zeros((5, 8), np.float32),
                                                "rnn/lstm_cell/bias": np.zeros(8, np.float32),
                                                "rnn/lstm_cell/w_f_diag": np.zeros(2, np.float32)})
    with pytest.raises(FormatError, match=r"p\.index: .*peepholes"):
        tf1.load_checkpoint(tmp_path / "p", forget_bias=1.0)


def test_rnnlab_convert_reads_and_writes_checkpoints(tmp_path, capsys):
    from rnnlab.cli import main
    from rnnlab.saving import load
    path, ref = fixture("mnist")
    assert main(["convert", path, str(tmp_path / "m.npz")]) == 0
    logits, _ = load(tmp_path / "m.npz").forward(ref["x"])
    assert max_abs_err(logits, ref["logits"]) <= TOL
    assert main(["convert", str(tmp_path / "m.npz"), str(tmp_path / "back.ckpt")]) == 0
    back = tf_bundle.read_checkpoint(tmp_path / "back.ckpt")        # written as LSTMCell's "lstm_cell"
    assert sorted(back) == ["dense/bias", "dense/kernel", "rnn/lstm_cell/bias", "rnn/lstm_cell/kernel"]
    for name, a in back.items():
        np.testing.assert_array_equal(a, tf_bundle.read_checkpoint(path, [name.replace("/lstm", "/basic_lstm")])
                                      [name.replace("/lstm", "/basic_lstm")])
    edpath, _ = fixture("encoder_decoder")
    assert main(["convert", edpath + ".index", str(tmp_path / "d.npz"), "--scope", "decoder", "--head", "each"]) == 0
    assert main(["convert", edpath, str(tmp_path / "e.npz")]) == 2
    assert "--scope: " in capsys.readouterr().err
    gone = copy_checkpoint("multi", tmp_path, meta=False)
    assert main(["convert", gone, str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "--forget-bias: " in err and "pass --forget-bias as the model's code" in err
    assert main(["convert", gone, str(tmp_path / "x.npz"), "--forget-bias", "0.5"]) == 0


def test_random_damage_to_the_index_gives_format_errors_only(tmp_path):
    """Any byte changed or any cut of a real .index: a FormatError, or a model (a change that only
    touches the footer's padding) -- never another exception."""
    path = copy_checkpoint("multi", tmp_path)
    good = open(path + ".index", "rb").read()
    rng = np.random.default_rng(0)
    for trial in range(300):
        data = bytearray(good)
        if trial % 3 == 0:
            data = data[:rng.integers(0, len(data))]
        else:
            for at in rng.integers(0, len(data), rng.integers(1, 4)):
                data[at] = rng.integers(0, 256)
        open(path + ".index", "wb").write(data)
        try:
            tf1.load_checkpoint(path)
        except FormatError as err:
            assert "multi.ckpt" in str(err)


def test_random_damage_to_the_meta_graph_gives_format_or_forget_bias_errors_only(tmp_path):
    path = copy_checkpoint("multi", tmp_path)
    good = open(path + ".meta", "rb").read()
    rng = np.random.default_rng(1)
    for trial in range(100):
        data = bytearray(good)
        if trial % 2 == 0:
            data = data[:rng.integers(0, len(data))]
        else:
            for at in rng.integers(0, len(data), rng.integers(1, 8)):
                data[at] = rng.integers(0, 256)
        open(path + ".meta", "wb").write(data)
        try:
            tf1.load_checkpoint(path)
        except FormatError as err:
            assert "multi.ckpt.meta" in str(err)
        except ValueError as err:
            assert str(err).startswith("forget_bias: ")
