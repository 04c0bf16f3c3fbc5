"""Small valid files of every format rnnlab reads, as bytes, for the bad-input corpus and the fuzz
tests to break. Each is built once per test process (functools.cache) in a private folder."""
from __future__ import annotations

import functools
import gzip
import io
import os
import struct
import tempfile
import zipfile

import numpy as np

PTB = ("(3 (2 (2 The) (2 Rock)) (4 (3 is) (2 .)))\n"
       "(1 (2 a) (0 (1 dull) (2 film)))\n"
       "(2 (2 It) (2 (2 's) (2 fine)))\n")


@functools.cache
def folder() -> str:
    return tempfile.mkdtemp(prefix="rnnlab-seeds-")


def _bytes(name: str, write) -> bytes:
    path = os.path.join(folder(), name)
    write(path)
    with open(path, "rb") as f:
        return f.read()


def small_model(kind: str = "LSTM"):
    from rnnlab import Dense
    from rnnlab.layers import GRU, LSTM, RNN
    from rnnlab.models import LastStep, Sequential
    cell = {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}[kind]
    return Sequential([cell(3, 4, seed=0), LastStep(), Dense(4, 2, seed=1)])


def idx_bytes(array=None, compress: bool = False) -> bytes:
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256 if array is None else array
    data = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + \
        np.asarray(array, np.uint8).tobytes()
    return gzip.compress(data, mtime=0) if compress else data


@functools.cache
def npz_model() -> bytes:
    from rnnlab.saving import save
    return _bytes("model.npz", lambda p: save(p, small_model()))


@functools.cache
def checkpoint_and_model() -> tuple[bytes, bytes]:
    """(checkpoint.npz, model.npz) of a finished tiny adding-problem run."""
    from rnnlab.train import Config, train
    out = os.path.join(folder(), "run")
    train(Config(task="adding", T=5, train_size=16, hidden=4, epochs=1, batch_size=8), out=out, progress=False,
          echo=lambda *a, **k: None)
    with open(os.path.join(out, "checkpoint.npz"), "rb") as f, open(os.path.join(out, "model.npz"), "rb") as g:
        return f.read(), g.read()


@functools.cache
def tree_model() -> bytes:
    from rnnlab.trees import TreeModel, TreeModelConfig, Vocabulary
    from rnnlab.trees.saving import save_model
    vocab = Vocabulary(["<unk>", "a", "dull", "film", "The", "Rock"])
    model = TreeModel(TreeModelConfig("treelstm", len(vocab), 4, 3, 5, "float64"), seed=0)
    return _bytes("tree.npz", lambda p: save_model(p, model, vocab))


@functools.cache
def keras_file() -> bytes:
    from rnnlab.interop import keras as ki
    return _bytes("m.keras", lambda p: ki.save_model(small_model("GRU"), p))


@functools.cache
def weights_h5() -> bytes:
    from rnnlab.interop import keras as ki
    return _bytes("m.weights.h5", lambda p: ki.save_model(small_model("LSTM"), p))


@functools.cache
def onnx_file() -> bytes:
    from rnnlab.interop import onnx as oi
    return _bytes("m.onnx", lambda p: oi.save_model(small_model("LSTM"), p))


@functools.cache
def torch_file() -> bytes:
    from rnnlab.interop import torch as ti
    return _bytes("m.pt", lambda p: ti.save_model(small_model("GRU"), p))


def rezip(data: bytes, replace: dict) -> bytes:
    """A zip archive with members of ``data`` replaced ({name: bytes}, None drops the member)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in replace:
                if replace[info.filename] is not None:
                    dst.writestr(info.filename, replace[info.filename])
            else:
                dst.writestr(info, src.read(info))
        for name, value in replace.items():
            if value is not None and name not in src.namelist():
                dst.writestr(name, value)
    return out.getvalue()


def npz_with(header: dict | None = None, arrays: dict | None = None, key: str = "__rnnlab__") -> bytes:
    """An .npz with a JSON header under ``key`` (omitted if None) and the given arrays."""
    import json
    out = io.BytesIO()
    content = dict(arrays or {})
    if header is not None:
        content[key] = np.array(json.dumps(header))
    np.savez(out, **content)
    return out.getvalue()
