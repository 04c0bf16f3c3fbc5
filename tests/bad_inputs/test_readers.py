"""Bad-input corpus for the file readers: malformed files through the Python API and the command line
(``rnnlab evaluate``, ``rnnlab convert``, ``rnnlab sst``). Each case asserts the exception type
(``FormatError``, or ``FileNotFoundError`` for a missing file) or, on the command line, exit code 2 and
one line ``rnnlab <command>: error: ...`` without a traceback; and that the message names the file and
the place in it. Then the security cases (HDF5 external storage, virtual datasets and links, ONNX
external data, recorded text paths), the decompression caps, the byte-order mark and deep trees."""
from __future__ import annotations

import gzip
import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest

import reader_seeds as seeds
from conftest import require_keras, require_onnx, require_torch
from rnnlab.cli import main
from rnnlab.errors import FormatError

HOSTNAME = os.path.join(os.sep, "etc", "hostname")


# ----- builders --------------------------------------------------------------------------------------
def npz_edit(data: bytes, drop=(), add=None) -> bytes:
    """An .npz with members dropped and others added ({name: array})."""
    replace = {f"{k}.npy": None for k in drop}
    for k, v in (add or {}).items():
        buf = io.BytesIO()
        np.save(buf, v, allow_pickle=True)
        replace[f"{k}.npy"] = buf.getvalue()
    return seeds.rezip(data, replace)


def npz_header(data: bytes, change, key="__rnnlab__") -> bytes:
    header = json.loads(str(np.load(io.BytesIO(data))[key]))
    header = change(header)
    return npz_edit(data, add={key: np.array(json.dumps(header) if not isinstance(header, str) else header)})


def npy_claiming(shape, dtype="<f4", body=b"") -> bytes:
    """A .npy member whose header declares ``shape`` but which holds ``body``."""
    head = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {tuple(shape)}, }}"
    head = head + " " * (63 - (len(head) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode() + body


def with_spec(spec):
    def change(h):
        h["model"] = spec
        return h
    return change


def idx(kind=0x08, dims=(2, 3), body=None, compress=False) -> bytes:
    body = bytes(int(np.prod(dims))) if body is None else body
    data = bytes([0, 0, kind, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + body
    return gzip.compress(data, mtime=0) if compress else data


# ----- the corpus: (id, file name, bytes or builder, reader, place in the message) --------------------
def read_ptb(p):
    from rnnlab.trees.ptb import read_trees
    return read_trees(p, 5)


def read_idx(p):
    from rnnlab.data.idx import read_idx as r
    return r(p)


def read_model(p):
    from rnnlab.saving import load
    return load(p)


def read_meta(p):
    from rnnlab.saving import read_meta as r
    return r(p)


def read_ckpt(p):
    from rnnlab.train import read_checkpoint
    return read_checkpoint(p)


def read_tree_model(p):
    from rnnlab.trees.saving import load_model
    return load_model(p)


def read_keras(p):
    require_keras()
    from rnnlab.interop.keras import load_model
    return load_model(p)


def read_onnx(p):
    require_onnx()
    from rnnlab.interop.onnx import load_model
    return load_model(p)


def read_torch(p):
    require_torch()
    from rnnlab.interop.torch import load_model
    return load_model(p)


def read_text(p):
    from rnnlab.data.text import read_text as r
    return r(p)


def read_mat(p):
    pytest.importorskip("scipy")
    from rnnlab.data.music import loadmat, read_split
    mat = loadmat(p)
    for key in ("traindata", "validdata", "testdata"):
        read_split(mat, key, p)


PTB_CASES = [
    ("unbalanced-open", b"(3 (2 a) (2 b)\n", "1:1", "unbalanced"),
    ("unbalanced-close", b"(3 (2 a) (2 b)))\n", "1:16", "without a matching"),
    ("missing-label", b"(3 ((2 a) (2 b)))\n", "1:5", "missing label"),
    ("word-label", b"(3 (The) (2 b))\n", "1:5", "missing label"),
    ("plus-label", b"(+3 x)\n", "1:2", "ASCII digits"),
    ("underscore-label", b"(1_0 x)\n", "1:2", "ASCII digits"),
    ("devanagari-label", "(\u0969 x)\n".encode(), "1:2", "ASCII digits"),
    ("fullwidth-label", "(\uff13 x)\n".encode(), "1:2", "ASCII digits"),
    ("arabic-indic-label", "(2 (\u0663 a) (2 b))\n".encode(), "1:5", "ASCII digits"),
    ("negative-label", b"(-1 x)\n", "1:2", "ASCII digits"),
    ("float-label", b"(2.0 x)\n", "1:2", "ASCII digits"),
    ("hex-label", b"(0x1 x)\n", "1:2", "ASCII digits"),
    ("huge-label", b"(" + b"9" * 5000 + b" x)\n", "1:2", "digits"),
    ("label-out-of-range", b"(7 x)\n", "1:2", "out of range"),
    ("empty-leaf", b"(3 (2 a) (2 ))\n", "1:13", "empty leaf"),
    ("two-words", b"(3 (2 a b))\n", "1:9", "expected ')'"),
    ("word-among-children", b"(3 (2 a) b)\n", "1:10", "among child nodes"),
    ("text-after-tree", b"(3 (2 a) (2 b)) (1 c)\n", "1:17", "after the tree"),
    ("bare-word", b"hello\n", "1:1", "outside any bracket"),
    ("second-line-bad", b"(3 (2 a) (2 b))\n(3 (2 a)\n", "2:1", "never closed"),
    ("crlf-bad-line", b"(3 (2 a) (2 b))\r\n(3 x y)\r\n", "2:6", "expected ')'"),
    ("latin-1", "(2 (2 caf\u00e9) (2 au))\n".encode("latin-1"), "1:10", "byte 0xe9 at byte position 9"),
    ("latin-1-line-3", b"(1 a)\n(1 b)\n(2 (2 na\xefve) (2 x))\n", "3:9", "byte position 20"),
    ("utf-16", "(2 a)\n".encode("utf-16"), "1:1", "not UTF-8"),
    ("nul-label", b"(\x00 x)\n", "1:2", "ASCII digits"),
    ("only-bracket", b"(\n", "1:2", "missing label"),
    ("close-only", b")\n", "1:1", "without a matching"),
    ("unclosed-deep", b"(2 " * 50 + b"(2 x)\n", "1:", "never closed"),
    ("nbsp-line", "\u00a0\n".encode(), "1:1", "outside any bracket"),
    ("bom-midfile", "(2 a)\n\ufeff(2 b)\n".encode(), "2:1", "outside any bracket"),
]

IDX_CASES = [
    ("not-idx", b"\x01\x02\x03\x04rest", "header", "not an IDX file"),
    ("empty", b"", "header", "not an IDX file"),
    ("bad-type", b"\x00\x00\x07\x01\x00\x00\x00\x01x", "header", "not an IDX file"),
    ("truncated-dims", b"\x00\x00\x08\x03\x00\x00\x00\x02", "header (3 dimensions)", "truncated"),
    ("short-body", idx(body=b"\x00" * 5), "data", "expected 6"),
    ("long-body", idx(body=b"\x00" * 7), "data", "expected 6"),
    ("dims-overflow", idx(dims=(2**32 - 1,) * 3, body=b""), "header", "MAX_IDX_BYTES"),
    ("dims-past-2^63", idx(kind=0x0E, dims=(2**32 - 1,) * 4, body=b""), "header", "MAX_IDX_BYTES"),
    ("gzip-short-body", idx(body=b"\x00" * 5, compress=True), "data", "expected 6"),
    ("gzip-long-body", idx(body=b"\x00" * 9, compress=True), "data", "more than 6"),
    ("gzip-truncated", idx(compress=True)[:-6], "gzip stream", "not a valid gzip"),
    ("gzip-bad-crc", idx(compress=True)[:-8] + b"\x00\x00\x00\x00" + idx(compress=True)[-4:], "gzip stream", "CRC"),
    ("gzip-not-idx", gzip.compress(b"hello world", mtime=0), "header", "not an IDX file"),
    ("gzip-short-of-header", idx(dims=(60000, 28, 28), body=b"", compress=True), "data",
        "holds 0 bytes of data, expected 47040000"),
    ("gzip-past-limit", idx(dims=(60000, 28, 28, 255), body=b"", compress=True), "header", "MAX_IDX_BYTES"),
    ("gzip-empty", gzip.compress(b"", mtime=0), "header", "not an IDX file"),
    ("zero-dim-and-huge-dims", idx(dims=(0, 2**32 - 1, 2**32 - 1), body=b""), "header", "MAX_IDX_BYTES"),
]


def model_cases():
    good = seeds.npz_model
    return [
        ("truncated", lambda: good()[:len(good()) // 2], "", "not a readable .npz"),
        ("truncated-tail", lambda: good()[:-10], "", "not a readable .npz"),
        ("not-zip", lambda: b"hello, not an npz", "", "not a readable .npz"),
        ("empty-file", lambda: b"", "", "not a readable .npz"),
        ("no-header", lambda: npz_edit(good(), drop=["__rnnlab__"]), "key '__rnnlab__'", "missing"),
        ("header-not-json", lambda: npz_edit(good(), add={"__rnnlab__": np.array("{nope")}), "key '__rnnlab__'",
            "not JSON"),
        ("header-a-list", lambda: npz_edit(good(), add={"__rnnlab__": np.array("[1, 2]")}), "key '__rnnlab__'",
            "JSON object"),
        ("header-numbers", lambda: npz_edit(good(), add={"__rnnlab__": np.arange(3)}), "key '__rnnlab__'",
            "0-d string"),
        ("deep-json", lambda: npz_edit(good(), add={"__rnnlab__": np.array("[" * 100000 + "]" * 100000)}),
         "key '__rnnlab__'", "not JSON"),
        ("wrong-format", lambda: npz_header(good(), lambda h: {**h, "format": "other"}), "key '__rnnlab__'",
            "expected 'rnnlab'"),
        ("wrong-version", lambda: npz_header(good(), lambda h: {**h, "version": 99}), "key '__rnnlab__'", "version"),
        ("meta-not-object", lambda: npz_header(good(), lambda h: {**h, "meta": [1]}), "meta", "JSON object"),
        ("missing-param", lambda: npz_edit(good(), drop=["param/0.l0.W"]), "parameters", "missing ['0.l0.W']"),
        ("extra-param", lambda: npz_edit(good(), add={"param/9.W": np.zeros(2, np.float32)}), "parameters",
            "unexpected ['9.W']"),
        ("param-shape", lambda: npz_edit(good(), add={"param/0.l0.W": np.zeros((3, 15), np.float32)}),
         "key 'param/0.l0.W'", "shape (3, 15)"),
        ("param-strings", lambda: npz_edit(good(), add={"param/2.b": np.array(["a", "b"])}), "key 'param/2.b'",
            "dtype"),
        ("pickled-object", lambda: npz_edit(good(), add={"param/2.b": np.array([{}, None], dtype=object)}),
         "key 'param/2.b'", "pickle"),
        ("huge-lstm-claim", lambda: npz_header(good(), with_spec({"kind": "Sequential", "layers": [
            {"kind": "LSTM", "config": {"input_size": 3, "hidden_size": 30000}}]})), "model", "at least 900090000"),
        ("huge-dense-claim", lambda: npz_header(good(), with_spec({"kind": "Dense", "config": {
            "input_size": 10**6, "output_size": 10**6}})), "model", "at least"),
        ("unknown-kind", lambda: npz_header(good(), with_spec({"kind": "Conv"})), "model", "spec.kind"),
        ("spec-not-dict", lambda: npz_header(good(), with_spec([1, 2])), "model", "spec"),
        ("spec-bad-config", lambda: npz_header(good(), with_spec({"kind": "Dense", "config": {"bogus": 1}})),
         "model", "TypeError"),
        ("spec-negative-size", lambda: npz_header(good(), with_spec({"kind": "Dense", "config": {
            "input_size": -4, "output_size": 2}})), "model", "input_size"),
        ("member-not-npy", lambda: seeds.rezip(good(), {"evil.txt": b"x"}), "member 'evil.txt'", ".npy"),
        ("npy-claims-huge", lambda: seeds.rezip(good(), {"param/2.b.npy": npy_claiming((10**10,))}),
         "key 'param/2.b'", "declares shape (10000000000,)"),
        ("npy-bad-header", lambda: seeds.rezip(good(), {"param/2.b.npy": b"\x93NUMPY\x01\x00\x05\x00garbage"}),
         "key 'param/2.b'", "header"),
        ("npy-not-npy", lambda: seeds.rezip(good(), {"param/2.b.npy": b"just text"}), "key 'param/2.b'", "header"),
    ]


def checkpoint_cases():
    good = lambda: seeds.checkpoint_and_model()[0]                  # noqa: E731
    return [
        ("ckpt-truncated", lambda: good()[:100], "", "not a readable .npz"),
        ("ckpt-no-state", lambda: npz_edit(good(), drop=["__state__"]), "key '__state__'", "missing"),
        ("ckpt-no-config", lambda: npz_header(good(), lambda h: {k: v for k, v in h.items() if k != "config"},
                                              "__state__"), "key '__state__' config", "JSON object"),
        ("ckpt-state-list", lambda: npz_header(good(), lambda h: {**h, "state": [1]}, "__state__"),
         "key '__state__' state", "JSON object"),
        ("ckpt-dropout-list", lambda: npz_header(good(), lambda h: {**h, "dropout": [1]}, "__state__"),
         "dropout", "JSON object"),
        ("ckpt-header-text", lambda: npz_edit(good(), add={"__state__": np.array("not json")}), "key '__state__'",
         "not JSON"),
        ("ckpt-object-array", lambda: npz_edit(good(), add={"opt/m": np.array([None], dtype=object)}),
         "key 'opt/m'", "pickle"),
    ]


def tree_cases():
    good = seeds.tree_model
    h = "__rnnlab_tree__"
    return [
        ("tree-truncated", lambda: good()[:-30], "", "not a readable .npz"),
        ("tree-no-header", lambda: npz_edit(good(), drop=[h]), f"key '{h}'", "missing"),
        ("tree-wrong-format", lambda: npz_header(good(), lambda x: {**x, "format": "rnnlab"}, h), f"key '{h}'",
            "format"),
        ("tree-vocab-not-list", lambda: npz_header(good(), lambda x: {**x, "vocab": "abc"}, h), "vocab", "list"),
        ("tree-model-bad", lambda: npz_header(good(), lambda x: {**x, "model": {"cell": "lstm"}}, h), "model", "cell"),
        ("tree-huge-vocab", lambda: npz_header(good(), lambda x: {**x, "model": {**x["model"], "vocab_size": 10**7,
                                                                                 "embed_dim": 10**4}}, h),
         "model", "at least"),
        ("tree-vocab-short", lambda: npz_header(good(), lambda x: {**x, "vocab": x["vocab"][:3]}, h), "vocab",
            "expected 6"),
        ("tree-param-shape", lambda: npz_edit(good(), add={"param/Ws": np.zeros((2, 2))}), "key 'param/Ws'", "shape"),
        ("tree-opt-key", lambda: npz_edit(good(), add={"opt/x": np.zeros(1)}), "key 'opt/x'", "opt/<optimizer>"),
        ("tree-vocab-dupes", lambda: npz_header(good(), lambda x: {**x, "vocab": ["<unk>"] * 6}, h), "vocab",
            "distinct"),
        ("tree-nonlinearity-unknown", lambda: npz_header(good(), lambda x: {**x, "model": {
            **x["model"], "nonlinearity": "sigmoid"}}, h), "model", "nonlinearity"),
        ("tree-nonlinearity-treelstm", lambda: npz_header(good(), lambda x: {**x, "model": {
            **x["model"], "nonlinearity": "identity"}}, h), "model", "expected 'tanh' for the treelstm cell"),
    ]


def h5_edit(data: bytes, edit) -> bytes:
    """The HDF5 file ``data`` after ``edit(h5py.File, first weight dataset name)``."""
    import tempfile

    import h5py
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "w.h5")
        with open(path, "wb") as f:
            f.write(data)
        with h5py.File(path, "r+") as f:
            names = []
            f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            edit(f, names[0], d)
        with open(path, "rb") as f:
            return f.read()


def secret_file(folder) -> str:
    path = os.path.join(folder, "secret.bin")
    with open(path, "wb") as f:
        f.write(b"TOP-SECRET-BYTES" * 64)
    return path


def make_external(f, name, folder):
    shape, dtype = f[name].shape, f[name].dtype
    del f[name]
    f.create_dataset(name, shape=shape, dtype=dtype,
                     external=[(secret_file(folder), 0, int(np.prod(shape)) * dtype.itemsize)])


def make_virtual(f, name, folder):
    import h5py
    src = os.path.join(folder, "src.h5")
    shape, dtype = f[name].shape, f[name].dtype
    with h5py.File(src, "w") as g:
        g["x"] = np.ones(shape, dtype)
    layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
    layout[...] = h5py.VirtualSource(src, "x", shape=shape)
    del f[name]
    f.create_virtual_dataset(name, layout)


def make_external_link(f, name, folder):
    import h5py
    del f[name]
    f[name] = h5py.ExternalLink(secret_file(folder), "/x")


def make_soft_link(f, name, folder):
    import h5py
    f["layers/loop"] = h5py.SoftLink("/layers")


def make_unwritten(f, name, folder):
    del f[name]
    f.create_dataset(name, shape=(10**5, 10**4), dtype="f8")          # 8 GB declared, nothing stored


def make_compressed(f, name, folder):
    del f[name]
    f.create_dataset(name, data=np.zeros((512, 512)), compression="gzip")


def make_strings(f, name, folder):
    del f[name]
    f[name] = np.array([b"a", b"b"])


def keras_member(name, value):
    return lambda: seeds.rezip(seeds.keras_file(), {name: value})


def keras_h5(edit):
    def build():
        z = zipfile.ZipFile(io.BytesIO(seeds.keras_file()))
        return seeds.rezip(seeds.keras_file(), {"model.weights.h5": h5_edit(z.read("model.weights.h5"), edit)})
    return build


def keras_cases():
    return [
        ("keras-no-config", "m.keras", keras_member("config.json", None), "member 'config.json'", "missing"),
        ("keras-no-weights", "m.keras", keras_member("model.weights.h5", None), "member 'model.weights.h5'", "missing"),
        ("keras-config-not-json", "m.keras", keras_member("config.json", b"{oops"), "member 'config.json'", "not JSON"),
        ("keras-config-list", "m.keras", keras_member("config.json", b"[]"), "member 'config.json'", "JSON object"),
        ("keras-config-no-layers", "m.keras", keras_member("config.json",
            b'{"class_name": "Functional", "config": {}}'),
         "member 'config.json'", "Sequential"),
        ("keras-layer-not-object", "m.keras", keras_member("config.json", b'{"config": {"layers": [3]}}'),
         "layers[0]", "class_name"),
        ("keras-weights-garbage", "m.keras", keras_member("model.weights.h5", b"not hdf5"), "", "Keras file"),
        ("keras-not-zip", "m.keras", lambda: b"plain text", "", ".keras archive"),
        ("keras-truncated", "m.keras", lambda: seeds.keras_file()[:-100], "", ""),
        ("keras-external-storage", "m.keras", keras_h5(make_external), "member 'model.weights.h5' dataset",
            "external storage"),
        ("keras-virtual", "m.keras", keras_h5(make_virtual), "dataset", "virtual"),
        ("keras-external-link", "m.keras", keras_h5(make_external_link), "link", "external link"),
        ("keras-soft-link", "m.keras", keras_h5(make_soft_link), "link '" + os.path.join(os.sep, 'layers',
            'loop') + "'", "SoftLink"),
        ("keras-unwritten", "m.keras", keras_h5(make_unwritten), "dataset", "declares shape (100000, 10000)"),
        ("keras-compressed", "m.keras", keras_h5(make_compressed), "dataset", "compressed"),
        ("keras-strings", "m.keras", keras_h5(make_strings), "dataset", "expected numbers"),
        ("h5-external-storage", "m.weights.h5", lambda: h5_edit(seeds.weights_h5(), make_external), "dataset",
         "external storage"),
        ("h5-virtual", "m.weights.h5", lambda: h5_edit(seeds.weights_h5(), make_virtual), "dataset", "virtual"),
        ("h5-external-link", "m.weights.h5", lambda: h5_edit(seeds.weights_h5(), make_external_link), "link",
         "external link"),
        ("h5-unwritten", "m.weights.h5", lambda: h5_edit(seeds.weights_h5(), make_unwritten), "dataset", "declares"),
        ("h5-not-hdf5", "m.weights.h5", lambda: b"\x89HDF\r\n\x1a\n" + b"\x00" * 40, "", "Keras file"),
        ("h5-no-layers", "m.weights.h5", lambda: h5_edit(seeds.weights_h5(), lambda f, n, d: f.__delitem__("layers")),
         "", "no 'layers' group"),
    ]


def onnx_model():
    import onnx
    return onnx.load_from_string(seeds.onnx_file())


def onnx_change(change):
    def build():
        m = onnx_model()
        change(m)
        return m.SerializeToString()
    return build


def _r_rank2(m):
    from onnx import numpy_helper
    node = next(n for n in m.graph.node if n.op_type == "LSTM")
    t = next(t for t in m.graph.initializer if t.name == node.input[2])
    t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t)[0], t.name))


def _external(m):
    from onnx import TensorProto
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", HOSTNAME


def _b_shape(m):
    from onnx import numpy_helper
    node = next(n for n in m.graph.node if n.op_type == "LSTM")
    t = next(t for t in m.graph.initializer if t.name == node.input[3])
    t.CopyFrom(numpy_helper.from_array(np.zeros((1, 5), np.float32), t.name))


def _dims_lie(m):
    t = m.graph.initializer[0]
    del t.dims[:]
    t.dims.extend([1000, 1000])


def _unknown_op(m):
    m.graph.node[0].op_type = "Conv"


def _w_missing(m):
    node = next(n for n in m.graph.node if n.op_type == "LSTM")
    node.input[1] = "nowhere"


def onnx_cases():
    return [
        ("onnx-r-rank2", onnx_change(_r_rank2), "LSTM node", "expected rank 3"),
        ("onnx-external-data", onnx_change(_external), "initializer", "outside the file"),
        ("onnx-b-shape", onnx_change(_b_shape), "LSTM node", "input B"),
        ("onnx-dims-lie", onnx_change(_dims_lie), "", ""),
        ("onnx-unknown-op", onnx_change(_unknown_op), "Conv node", "no counterpart"),
        ("onnx-w-not-constant", onnx_change(_w_missing), "LSTM node", "not constant"),
        ("onnx-garbage", lambda: b"\xff\xfe not protobuf at all \x00\x01", "", "not an ONNX model"),
        ("onnx-truncated", lambda: seeds.onnx_file()[:200], "", ""),
        ("onnx-empty-graph", lambda: b"", "", "no RNN"),
    ]


def torch_cases():
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    return [
        ("pt-truncated", lambda: seeds.torch_file()[:-50], "", "not a torch file"),
        ("pt-garbage", lambda: b"garbage bytes", "", "not a torch file"),
        ("pt-code-pickle", lambda: pickle.dumps(Boom(), protocol=2), "", "weights_only=True"),
        ("pt-wrong-keys", lambda: _torch_bytes({"a.weight": np.zeros((2, 2), np.float32)}), "", "weight_ih_l0"),
        ("pt-bad-shapes", lambda: _torch_bytes({"weight_ih_l0": np.zeros((5, 3), np.float32),
                                               "weight_hh_l0": np.zeros((4, 4), np.float32)}), "", "weight_ih_l0"),
    ]


def _torch_bytes(sd):
    import torch
    buf = io.BytesIO()
    torch.save({k: torch.from_numpy(v) for k, v in sd.items()}, buf)
    return buf.getvalue()


TEXT_CASES = [
    ("text-latin-1", "caf\u00e9 au lait".encode("latin-1"), "1:4", "byte 0xe9 at byte position 3"),
    ("text-one-char", b"x", "", "at least 2"),
    ("text-empty", b"", "", "at least 2"),
    ("text-bom-only", b"\xef\xbb\xbf", "", "at least 2"),
]


def mat_cases():
    def mat(content):
        def build():
            from scipy.io import savemat
            buf = io.BytesIO()
            savemat(buf, content)
            return buf.getvalue()
        return build
    roll = np.zeros((5, 88))

    def cell(*rolls):                                   # a MATLAB cell array of piano rolls
        out = np.empty((1, len(rolls)), object)
        for i, r in enumerate(rolls):
            out[0, i] = r
        return out
    return [
        ("mat-garbage", lambda: b"MATLAB garbage", "", "not a readable .mat"),
        ("mat-no-testdata", mat({"traindata": cell(roll), "validdata": cell(roll)}), "key 'testdata'", "missing"),
        ("mat-empty-train", mat({"traindata": np.zeros((1, 0), object), "validdata": cell(roll),
            "testdata": cell(roll)}),
         "key 'traindata'", "no sequences"),
        ("mat-wrong-notes", mat({"traindata": cell(np.zeros((5, 12))), "validdata": cell(roll),
            "testdata": cell(roll)}),
         "traindata[0]", "88"),
        ("mat-not-binary", mat({"traindata": cell(roll + 0.5), "validdata": cell(roll), "testdata": cell(roll)}),
         "traindata[0]", "0s and 1s"),
    ]


def api_cases():
    out = [pytest.param(read_ptb, "trees.txt", data, place, words, id=f"ptb-{name}")
           for name, data, place, words in PTB_CASES]
    out += [pytest.param(read_idx, "x-idx1-ubyte", data, place, words, id=f"idx-{name}")
            for name, data, place, words in IDX_CASES]
    out += [pytest.param(read_model, "model.npz", build, place, words, id=f"npz-{name}")
            for name, build, place, words in model_cases()]
    out += [pytest.param(read_ckpt, "checkpoint.npz", build, place, words, id=name)
            for name, build, place, words in checkpoint_cases()]
    out += [pytest.param(read_tree_model, "tree.npz", build, place, words, id=name)
            for name, build, place, words in tree_cases()]
    out += [pytest.param(read_keras, fname, build, place, words, id=name)
            for name, fname, build, place, words in keras_cases()]
    out += [pytest.param(read_onnx, "m.onnx", build, place, words, id=name) for name, build, place,
        words in onnx_cases()]
    out += [pytest.param(read_torch, "m.pt", build, place, words, id=name)
            for name, build, place, words in torch_cases()]
    out += [pytest.param(read_text, "input.txt", data, place, words, id=name) for name, data, place,
        words in TEXT_CASES]
    out += [pytest.param(read_mat, "music.mat", build, place, words, id=name) for name, build, place,
        words in mat_cases()]
    return out


@pytest.mark.parametrize("read, name, content, place, words", api_cases())
def test_reader_raises_format_error_naming_file_and_place(tmp_path, read, name, content, place, words):
    path = tmp_path / name
    path.write_bytes(content() if callable(content) else content)
    with pytest.raises(FormatError) as err:
        read(str(path))
    message = str(err.value)
    assert str(path) in message, message
    assert place in message and words in message, message
    assert err.value.path == str(path)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("read, name", [(read_ptb, "t.txt"), (read_idx, "x-idx"), (read_model, "m.npz"),
                                        (read_ckpt, "c.npz"), (read_tree_model, "t.npz"), (read_keras, "m.keras"),
                                        (read_onnx, "m.onnx"), (read_torch, "m.pt"), (read_text, "in.txt")])
def test_missing_file_is_file_not_found(tmp_path, read, name):
    with pytest.raises(FileNotFoundError, match=name):
        read(str(tmp_path / name))


# ----- command line ------------------------------------------------------------------------------------
def one_line_error(capsys, argv, command, path, place, words):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith(f"rnnlab {command}: error: ") and str(path) in err, err
    assert place in err and words in err, err


def evaluate_cases():
    good = lambda: seeds.checkpoint_and_model()[1]                  # noqa: E731
    ckpt = lambda: seeds.checkpoint_and_model()[0]                  # noqa: E731
    return [
        ("truncated-model", "model.npz", lambda: good()[:-40], "", "not a readable .npz"),
        ("half-model", "model.npz", lambda: good()[:300], "", "not a readable .npz"),
        ("garbage", "model.npz", lambda: b"PK\x03\x04garbage", "", "not a readable .npz"),
        ("no-header", "model.npz", lambda: npz_edit(good(), drop=["__rnnlab__"]), "key '__rnnlab__'", "missing"),
        ("huge-claim", "model.npz", lambda: npz_header(good(), with_spec({"kind": "LSTM", "config": {
            "input_size": 3, "hidden_size": 30000}})), "model", "at least"),
        ("bad-config", "model.npz", lambda: npz_header(good(), lambda h: {**h, "meta": {**h["meta"], "config": {
            **h["meta"]["config"], "hidden": -3}}}), "config", "hidden"),
        ("config-not-dict", "model.npz", lambda: npz_header(good(), lambda h: {**h, "meta": {**h["meta"],
                                                                                            "config": [1]}}),
         "config", "training configuration"),
        ("param-shape", "model.npz", lambda: npz_edit(good(), add={"param/0.l0.W": np.zeros((2, 2), np.float32)}),
         "key 'param/0.l0.W'", "shape (2, 2)"),
        ("ckpt-truncated", "checkpoint.npz", lambda: ckpt()[:-40], "", "not a readable .npz"),
        ("ckpt-missing-param", "checkpoint.npz", lambda: npz_edit(ckpt(), drop=["param/0.l0.U"]), "parameters",
         "missing ['0.l0.U']"),
        ("ckpt-param-shape", "checkpoint.npz", lambda: npz_edit(ckpt(), add={"param/2.W": np.zeros((9, 9),
            np.float32)}),
         "key 'param/2.W'", "shape (9, 9)"),
        ("ckpt-huge-hidden", "checkpoint.npz", lambda: npz_header(ckpt(), lambda h: {**h, "config": {
            **h["config"], "hidden": 100000}}, "__state__"), "config", "hidden: 100,000 needs"),
        ("ckpt-no-config", "checkpoint.npz", lambda: npz_header(ckpt(), lambda h: {**h, "config": None}, "__state__"),
         "key '__state__' config", "JSON object"),
        ("ckpt-pickle", "checkpoint.npz", lambda: npz_edit(ckpt(), add={"param/1.b": np.array([None], object)}),
         "key 'param/1.b'", "pickle"),
    ]


@pytest.mark.parametrize("name, fname, build, place, words", evaluate_cases(), ids=lambda v: v if isinstance(v,
    str) else "")
def test_cli_evaluate_on_a_bad_file_is_one_line(tmp_path, capsys, name, fname, build, place, words):
    path = tmp_path / fname
    path.write_bytes(build())
    one_line_error(capsys, ["evaluate", str(path)], "evaluate", path, place, words)


def convert_cases():
    cases = [(n, f, b, p, w) for n, f, b, p, w in keras_cases() if n in (
        "keras-no-config", "keras-config-not-json", "keras-external-storage", "keras-virtual", "keras-external-link",
        "keras-unwritten", "h5-external-storage", "h5-not-hdf5")]
    cases += [(n, "m.onnx", b, p, w) for n, b, p, w in onnx_cases() if n in (
        "onnx-r-rank2", "onnx-external-data", "onnx-garbage", "onnx-unknown-op")]
    cases += [(n, "m.pt", b, p, w) for n, b, p, w in torch_cases() if n in ("pt-truncated", "pt-code-pickle")]
    cases += [(n, "m.npz", b, p, w) for n, b, p, w in model_cases() if n in ("truncated", "huge-lstm-claim",
                                                                            "pickled-object", "npy-claims-huge")]
    return cases


@pytest.mark.parametrize("name, fname, build, place, words", convert_cases(), ids=lambda v: v if isinstance(v,
    str) else "")
def test_cli_convert_on_a_bad_file_is_one_line_and_writes_nothing(tmp_path, capsys, name, fname, build, place, words):
    if fname.endswith((".keras", ".h5")):
        require_keras()
    if fname.endswith(".onnx"):
        require_onnx()
    if fname.endswith(".pt"):
        require_torch()
    path = tmp_path / fname
    path.write_bytes(build())
    target = tmp_path / "out.npz"
    one_line_error(capsys, ["convert", str(path), str(target)], "convert", path, place, words)
    assert not target.exists()


@pytest.fixture
def tree_model_file(tmp_path):
    path = tmp_path / "tree.npz"
    path.write_bytes(seeds.tree_model())
    return path


SST_TREE_CASES = [
    ("plus-label", "(+3 x)", "--tree:1:2", "ASCII digits"),
    ("devanagari", "(\u0969 x)", "--tree:1:2", "ASCII digits"),
    ("unbalanced", "(3 (2 a)", "--tree:1:1", "never closed"),
    ("out-of-range", "(9 (2 a) (2 b))", "--tree:1:2", "out of range"),
    ("after-tree", "(2 a) (2 b)", "--tree:1:7", "after the tree"),
]


@pytest.mark.parametrize("name, text, place, words", SST_TREE_CASES, ids=[c[0] for c in SST_TREE_CASES])
def test_cli_sst_on_a_bad_tree_is_one_line(tree_model_file, capsys, name, text, place, words):
    one_line_error(capsys, ["sst", str(tree_model_file), "--tree", text], "sst", "--tree", place, words)


SST_FILE_CASES = [
    ("latin-1", "(2 (2 caf\u00e9) (2 au))\n".encode("latin-1"), "1:10", "byte 0xe9"),
    ("plus-label", b"(2 (2 a) (2 b))\n(+1 x)\n", "2:2", "ASCII digits"),
    ("underscore", b"(1_0 x)\n", "1:2", "ASCII digits"),
    ("unbalanced", b"(2 (2 a) (2 b)\n", "1:1", "never closed"),
]


@pytest.mark.parametrize("name, data, place, words", SST_FILE_CASES, ids=[c[0] for c in SST_FILE_CASES])
def test_cli_sst_evaluate_on_a_bad_tree_file_is_one_line(tree_model_file, tmp_path, capsys, name, data, place, words):
    path = tmp_path / "dev.txt"
    path.write_bytes(data)
    one_line_error(capsys, ["sst", str(tree_model_file), "--evaluate", str(path)], "sst", path, place, words)


@pytest.mark.parametrize("name, build, place, words", [c for c in tree_cases() if c[0] in (
    "tree-truncated", "tree-no-header", "tree-huge-vocab", "tree-vocab-short")], ids=lambda v: v if isinstance(v,
        str) else "")
def test_cli_sst_on_a_bad_model_is_one_line(tmp_path, capsys, name, build, place, words):
    path = tmp_path / "tree.npz"
    path.write_bytes(build())
    one_line_error(capsys, ["sst", str(path), "a", "film"], "sst", path, place, words)


# ----- security -----------------------------------------------------------------------------------
def test_convert_never_copies_a_local_file_through_hdf5_external_storage(tmp_path, capsys):
    require_keras()
    z = zipfile.ZipFile(io.BytesIO(seeds.keras_file()))
    folder = tmp_path / "attacker"
    folder.mkdir()
    source = tmp_path / "m.keras"
    source.write_bytes(seeds.rezip(seeds.keras_file(), {
        "model.weights.h5": h5_edit(z.read("model.weights.h5"), lambda f, n, d: make_external(f, n, str(folder)))}))
    for target in ("out.npz", "out.onnx", "out.pt"):
        assert main(["convert", str(source), str(tmp_path / target)]) == 2
        assert "external storage" in capsys.readouterr().err
        assert not (tmp_path / target).exists()
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and b"TOP-SECRET" in p.read_bytes()
              and p.name != "secret.bin"]
    assert leaked == []


def test_onnx_reader_never_opens_external_data(tmp_path, monkeypatch):
    require_onnx()
    import builtins
    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: opened.append(str(f)) or real_open(f, *a, **k))
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx_change(_external)())
    from rnnlab.interop.onnx import load_model
    with pytest.raises(FormatError, match=r"initializer 'rnnlab.0.l0.W'.*outside the file.*etc/hostname"):
        load_model(path)
    assert HOSTNAME not in opened


def _text_run(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be " * 30)
    out = tmp_path / "run"
    assert main(["train", "--task", "text", "--text", str(corpus), "--seq-len", "16", "--hidden", "8",
                 "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    return corpus, out


def test_evaluate_opens_a_recorded_text_path_only_when_its_fingerprint_matches(tmp_path, capsys):
    corpus, out = _text_run(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--split", "valid"]) == 0     # confirmed: same bytes
    capsys.readouterr()
    # a model file pointing its text path elsewhere (a private file the user never meant to read)
    private = tmp_path / "private.txt"
    private.write_text("ssh-rsa AAAA secret key material " * 10)
    model = tmp_path / "hostile.npz"
    model.write_bytes(npz_header((out / "model.npz").read_bytes(), lambda h: {
        **h, "meta": {**h["meta"], "config": {**h["meta"]["config"], "text_path": str(private)},
                      "task": {**h["meta"]["task"], "path": str(private)}}}))
    assert main(["evaluate", str(model), "--split", "valid"]) == 2
    err = capsys.readouterr().err
    assert "--text" in err and str(private) in err and "confirmed" in err
    # the user names the file: then it is read
    assert main(["evaluate", str(model), "--split", "valid", "--text", str(corpus)]) == 0
    # the recorded file changed since training: refused as well
    corpus.write_text("to be or not to be " * 31)
    assert main(["evaluate", str(out / "model.npz"), "--split", "valid"]) == 2
    assert "size" in capsys.readouterr().err


def test_recorded_text_path_to_a_device_is_never_opened(tmp_path):
    from rnnlab.data.text import confirm_recorded
    with pytest.raises(ValueError, match="not a regular file"):
        confirm_recorded(os.path.join(os.sep, "dev", "zero"), {"bytes": 10, "sha256": "0" * 64}, "m.npz")
    with pytest.raises(ValueError, match="records no size"):
        confirm_recorded(str(tmp_path), {}, "m.npz")


def test_npz_reader_never_unpickles(tmp_path, monkeypatch):
    import pickle
    path = tmp_path / "m.npz"
    path.write_bytes(npz_edit(seeds.npz_model(), add={"param/2.b": np.array([object()], dtype=object)}))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads called"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load called"))
    with pytest.raises(FormatError, match="pickle"):
        read_model(str(path))


# ----- caps ---------------------------------------------------------------------------------------
def test_small_npz_claiming_a_huge_lstm_is_refused_before_allocating(tmp_path, monkeypatch):
    from rnnlab import saving
    path = tmp_path / "m.npz"
    path.write_bytes(npz_header(seeds.npz_model(), with_spec({"kind": "Sequential", "layers": [
        {"kind": "LSTM", "config": {"input_size": 3, "hidden_size": 30000}}]})))
    assert path.stat().st_size < 5000
    monkeypatch.setattr(saving, "build", lambda spec: pytest.fail("build called before the size check"))
    with pytest.raises(FormatError, match="needs at least 900090000 parameters, but the file holds 138"):
        saving.load(path)


def test_gzip_idx_is_inflated_only_as_far_as_its_header_says(tmp_path, monkeypatch):
    from rnnlab.data import idx as idx_module
    body = b"\x00" * (50 * 2**20)                              # 50 MB of zeros: a 50 KB gzip
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 6) + body, mtime=0))
    assert path.stat().st_size < 200_000
    reads = []
    real = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda self, n=-1: reads.append(n) or real(self, n))
    with pytest.raises(FormatError, match="more than 6 bytes of data, expected 6"):
        idx_module.read_idx(path)
    assert -1 not in reads and max(reads) <= 7


def test_idx_header_past_the_limit_is_refused_before_reading(tmp_path):
    from rnnlab.data.idx import MAX_IDX_BYTES, read_idx
    path = tmp_path / "x-idx"
    path.write_bytes(idx(kind=0x0E, dims=(2**31, 2**31, 2**31), body=b""))
    with pytest.raises(FormatError, match=f"announce {8 * 2**93} bytes.*MAX_IDX_BYTES = {MAX_IDX_BYTES}"):
        read_idx(path)


def test_keras_zip_member_declaring_more_than_the_limit_is_refused(tmp_path, monkeypatch):
    require_keras()
    from rnnlab.interop import keras as ki
    monkeypatch.setattr(ki, "MAX_KERAS_BYTES", 10_000)           # the seed's weights take 16 KB
    path = tmp_path / "m.keras"
    path.write_bytes(seeds.keras_file())
    with pytest.raises(FormatError, match=r"member 'model.weights.h5': declares \d+ bytes, more than the limit 10000"):
        ki.load_model(path)


def test_keras_zip_bomb_member_is_refused_from_its_declared_size(tmp_path):
    require_keras()
    from rnnlab.interop import keras as ki
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", b"{" + b" " * (ki.MAX_KERAS_CONFIG_BYTES + 10) + b"}")
        z.writestr("model.weights.h5", b"")
    path = tmp_path / "bomb.keras"
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < 200_000
    with pytest.raises(FormatError, match=r"member 'config.json': declares \d+ bytes, more than the limit"):
        ki.load_model(path)


# ----- byte-order mark and deep input --------------------------------------------------------------
def test_utf8_byte_order_mark_is_skipped(tmp_path):
    from rnnlab.data.text import read_text
    from rnnlab.trees.ptb import read_trees
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbf(3 (2 a) (2 b))\r\n(1 c)\n")
    trees = read_trees(path, 5)
    assert [t.to_ptb() for t in trees] == ["(3 (2 a) (2 b))", "(1 c)"]
    assert read_text(path).startswith("(3 (2 a)")


def deep_text(depth: int) -> str:
    """A left-branching binary tree ``depth`` levels deep: (1 (2 (3 ... (2 w0) (2 w1)) ...) (2 wd))."""
    return "".join(f"({k % 5} " for k in range(depth)) + "(2 w0)" + \
        "".join(f" (2 w{k + 1}))" for k in range(depth))


def test_tree_3000_levels_deep_parses_and_runs_level_batched_and_per_node(tmp_path):
    from rnnlab.trees import TreeModel, TreeModelConfig, Vocabulary, encode, make_batch
    from rnnlab.trees.ptb import parse_tree, read_trees
    text = deep_text(3000)
    path = tmp_path / "deep.txt"
    path.write_text(text + "\n")
    tree = read_trees(path, 5)[0]
    assert tree.height() == 3000 and len(tree.leaves()) == 3001
    assert tree.to_ptb() == text and tree == parse_tree(text) and hash(tree) == hash(parse_tree(text))
    assert repr(tree).startswith("Tree((0 (1 (2")
    vocab = Vocabulary.build([tree])
    model = TreeModel(TreeModelConfig("treelstm", len(vocab), 3, 3, 5, "float64"), seed=0)
    batch = make_batch([encode(tree, vocab)])
    assert len(batch.levels) == 3001
    loss, z, grads = model.loss_and_grads(batch)
    loss_n, z_n, grads_n = model.loss_and_grads(batch, schedule="node")
    assert np.isfinite(loss) and loss == pytest.approx(loss_n, rel=1e-10)
    np.testing.assert_allclose(z, z_n, rtol=1e-9, atol=1e-12)
    for k in ("W", "U", "Ws"):
        if k in grads:
            np.testing.assert_allclose(grads[k], grads_n[k], rtol=1e-8, atol=1e-12)


def test_sst_command_on_a_1000_word_sentence_and_a_3000_deep_tree(tree_model_file, capsys):
    assert main(["sst", str(tree_model_file), *(["film"] * 1000)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1999 and lines[-1].startswith(" " * 2 * 999)
    assert main(["sst", str(tree_model_file), "--tree", deep_text(3000)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6001


def test_evaluate_on_a_text_checkpoint_borrows_the_runs_fingerprint_or_needs_text(tmp_path, capsys):
    corpus, out = _text_run(tmp_path)
    assert main(["evaluate", str(out / "checkpoint.npz"), "--split", "valid"]) == 0      # model.npz beside it
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    (alone / "checkpoint.npz").write_bytes((out / "checkpoint.npz").read_bytes())
    capsys.readouterr()
    assert main(["evaluate", str(alone / "checkpoint.npz"), "--split", "valid"]) == 2
    assert "records no size and SHA-256" in capsys.readouterr().err
    assert main(["evaluate", str(alone / "checkpoint.npz"), "--split", "valid", "--text", str(corpus)]) == 0
