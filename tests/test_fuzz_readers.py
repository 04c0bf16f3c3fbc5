"""Property-based fuzzing of every file reader: generated and mutated files (valid seeds with bytes
flipped, cut, inserted or deleted; zip members corrupted inside a valid zip; JSON headers and ONNX
graphs altered field by field; PTB text built from a grammar of good and bad pieces) must either read
or raise the documented ``FormatError`` (or ``FileNotFoundError``); nothing else may escape.

Small in CI (``RNNLAB_FUZZ_EXAMPLES`` unset: a few dozen inputs per reader, derandomized). ``make fuzz``
sets ``RNNLAB_FUZZ_EXAMPLES`` (inputs per reader; PTB gets twice as many) and, with
``RNNLAB_FUZZ_REPORT=FILE``, writes the inputs run and undocumented exception types per reader as JSON.
"""
from __future__ import annotations

import collections
import json
import os
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reader_seeds as seeds
from conftest import require_keras, require_onnx, require_torch
from rnnlab.errors import FormatError

LONG = int(os.environ.get("RNNLAB_FUZZ_EXAMPLES", "0"))
CI_EXAMPLES = 40
DOCUMENTED = (FormatError, FileNotFoundError)
RUN = collections.Counter()                                   # inputs run per reader
FOUND = collections.defaultdict(collections.Counter)          # undocumented exception types per reader


def fuzz(weight: int = 1):
    """Hypothesis settings: CI_EXAMPLES derandomized inputs, or LONG * weight random ones."""
    return settings(max_examples=LONG * weight if LONG else CI_EXAMPLES, deadline=None, database=None,
                    derandomize=not LONG, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if os.environ.get("RNNLAB_FUZZ_REPORT"):
        with open(os.environ["RNNLAB_FUZZ_REPORT"], "a") as f:
            f.write(json.dumps({"inputs": dict(RUN), "undocumented": {k: dict(v) for k, v in FOUND.items()}}) + "\n")


@pytest.fixture(scope="module")
def work():
    folder = tempfile.mkdtemp(prefix="rnnlab-fuzz-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def check(reader: str, read, data: bytes, path: str):
    """Write ``data`` to ``path`` and read it: a result or a documented exception, nothing else."""
    with open(path, "wb") as f:
        f.write(data)
    RUN[reader] += 1
    try:
        read(path)
    except DOCUMENTED as err:
        assert os.path.basename(path) in str(err), f"the message does not name the file: {err}"
    except Exception as err:
        FOUND[reader][type(err).__name__] += 1
        raise AssertionError(f"{reader}: undocumented {type(err).__name__}: {err}") from err


# ----- mutations ------------------------------------------------------------------------------------
EDITS = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2**31), st.binary(min_size=1, max_size=8)),
                 min_size=1, max_size=6)


def mutate(data: bytes, edits) -> bytes:
    """Apply edits (op, position, bytes): 0 flip bits, 1 truncate, 2 insert, 3 delete, 4 overwrite."""
    b = bytearray(data)
    for op, pos, chunk in edits:
        i = pos % (len(b) + 1)
        if op == 0 and b:
            b[i % len(b)] ^= chunk[0] or 1
        elif op == 1:
            del b[i:]
        elif op == 2:
            b[i:i] = chunk
        elif op == 3:
            del b[i:i + 1 + chunk[0] % 64]
        else:
            b[i:i + len(chunk)] = chunk
    return bytes(b)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=12)


def set_path(obj, path: list, value):
    """A copy of JSON ``obj`` with the value at ``path`` (keys / indices, followed while they exist)
    replaced by ``value``."""
    obj = json.loads(json.dumps(obj))
    if not path:
        return value
    node = obj
    for key in path[:-1]:
        nxt = None
        if isinstance(node, dict):
            nxt = node.get(key)
        elif isinstance(node, list) and node and isinstance(key, int):
            nxt = node[key % len(node)]
        if not isinstance(nxt, (dict, list)):
            break
        node = nxt
    if isinstance(node, dict):
        node[path[-1] if isinstance(path[-1], str) else str(path[-1])] = value
    elif isinstance(node, list) and node:
        node[path[-1] % len(node) if isinstance(path[-1], int) else 0] = value
    return obj


def json_paths(obj, limit: int = 200) -> list:
    """Every key path of a JSON value (breadth first, at most ``limit``)."""
    out, queue = [], [([], obj)]
    while queue and len(out) < limit:
        path, node = queue.pop(0)
        out.append(path)
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        queue.extend((path + [k], v) for k, v in items)
    return out


# ----- PTB trees ------------------------------------------------------------------------------------
LABELS = st.sampled_from(["0", "1", "2", "3", "4", "7", "", "+3", "-1", "1_0", "\u0969", "\uff13", "x", "0x1",
                          "99999999999999999999999", "2.0", "(", "3 3"])
WORDS = st.text(alphabet=st.sampled_from(list("ab.'-\u00e9\u0939() \t\r\x00\ufeff\u2028\x0b")), max_size=6)


def tree_text(depth_budget=4):
    leaf = st.builds(lambda l, w: f"({l} {w})", LABELS, WORDS)
    return st.recursive(leaf, lambda kids: st.builds(lambda l, cs, sep: f"({l}{sep}" + sep.join(cs) + ")", LABELS,
                                                     st.lists(kids, min_size=0, max_size=3),
                                                     st.sampled_from([" ", "", "  ", "\t", "\n"])),
                        max_leaves=12)


PTB_FILES = st.one_of(
    st.builds(lambda lines, enc, bom, nl: (b"\xef\xbb\xbf" if bom else b"") +
              nl.join(line.encode(enc, "replace") for line in lines),
              st.lists(tree_text(), min_size=1, max_size=4), st.sampled_from(["utf-8", "latin-1", "utf-16"]),
              st.booleans(), st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\n"])),
    st.builds(mutate, st.just(seeds.PTB.encode()), EDITS),
    st.binary(max_size=200),
    st.builds(lambda n: ("(2 " * n + "(2 x)" + ")" * n).encode(), st.integers(0, 3000)),
)


@fuzz(weight=2)
@given(data=PTB_FILES, classes=st.sampled_from([None, 5]))
def test_fuzz_ptb_reader(work, data, classes):
    from rnnlab.trees.ptb import read_trees
    check("ptb", lambda p: read_trees(p, classes), data, os.path.join(work, "trees.txt"))


# ----- IDX ------------------------------------------------------------------------------------------
def idx_generated(kind, ndim, dims, body, compress):
    import gzip
    import struct
    data = bytes([0, 0, kind, ndim]) + struct.pack(f">{len(dims)}I", *dims) + body
    return gzip.compress(data, mtime=0) if compress else data


IDX_FILES = st.one_of(
    st.builds(mutate, st.sampled_from([seeds.idx_bytes(), seeds.idx_bytes(compress=True)]), EDITS),
    st.builds(idx_generated, st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]), st.integers(0, 255),
              st.lists(st.sampled_from([0, 1, 2, 3, 28, 2**16, 2**31, 2**32 - 1]), max_size=6),
              st.binary(max_size=64), st.booleans()),
    st.builds(lambda b: __import__("gzip").compress(b, mtime=0), st.binary(max_size=64)),
)


@fuzz()
@given(data=IDX_FILES)
def test_fuzz_idx_reader(work, data):
    from rnnlab.data.idx import read_idx
    check("idx", read_idx, data, os.path.join(work, "x-idx3-ubyte"))


# ----- .npz models, checkpoints, tree models ---------------------------------------------------------
def npz_member_edit(data: bytes, which: int, edits) -> bytes:
    import zipfile
    import io
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    name = names[which % len(names)]
    return seeds.rezip(data, {name: mutate(zipfile.ZipFile(io.BytesIO(data)).read(name), edits)})


def npz_header_edit(data: bytes, which: int, value) -> bytes:
    import io
    import zipfile
    z = zipfile.ZipFile(io.BytesIO(data))
    key = next(n for n in z.namelist() if n.startswith("__"))
    header = json.loads(str(np.load(io.BytesIO(data), allow_pickle=False)[key[:-4]]))
    paths = json_paths(header)
    new = set_path(header, paths[which % len(paths)], value)
    buf = io.BytesIO()
    np.save(buf, np.array(json.dumps(new)))
    return seeds.rezip(data, {key: buf.getvalue()})


NPZ_SEEDS = ["model", "checkpoint", "tree"]


def npz_seed(name):
    return {"model": seeds.npz_model, "tree": seeds.tree_model,
            "checkpoint": lambda: seeds.checkpoint_and_model()[0]}[name]()


def npz_read(name):
    from rnnlab.saving import load, read_meta
    from rnnlab.train import read_checkpoint
    from rnnlab.trees.saving import load_model

    def model(p):
        read_meta(p)
        load(p)
    return {"model": model, "checkpoint": read_checkpoint, "tree": load_model}[name]


@fuzz()
@given(name=st.sampled_from(NPZ_SEEDS), how=st.integers(0, 2), which=st.integers(0, 2**16), edits=EDITS,
       value=JSON)
def test_fuzz_npz_readers(work, name, how, which, edits, value):
    seed = npz_seed(name)
    data = (mutate(seed, edits) if how == 0 else npz_member_edit(seed, which, edits) if how == 1
            else npz_header_edit(seed, which, value))
    check("npz", npz_read(name), data, os.path.join(work, f"{name}.npz"))


# ----- Keras ----------------------------------------------------------------------------------------
def keras_edit(how: int, which: int, edits, value) -> tuple[bytes, str]:
    import io
    import zipfile
    seed = seeds.keras_file()
    if how == 0:
        return mutate(seed, edits), "m.keras"
    if how == 1:
        return mutate(seeds.weights_h5(), edits), "m.weights.h5"
    z = zipfile.ZipFile(io.BytesIO(seed))
    if how == 2:
        return seeds.rezip(seed, {"model.weights.h5": mutate(z.read("model.weights.h5"), edits)}), "m.keras"
    config = json.loads(z.read("config.json"))
    paths = json_paths(config)
    return seeds.rezip(seed, {"config.json": json.dumps(set_path(config, paths[which % len(paths)], value))}), "m.keras"


@fuzz()
@given(how=st.integers(0, 3), which=st.integers(0, 2**16), edits=EDITS, value=JSON)
def test_fuzz_keras_reader(work, how, which, edits, value):
    require_keras()
    from rnnlab.interop.keras import load_model
    data, name = keras_edit(how, which, edits, value)
    check("keras", load_model, data, os.path.join(work, name))


# ----- ONNX -----------------------------------------------------------------------------------------
def onnx_edit(how: int, which: int, edits, dims, text) -> bytes:
    import onnx
    seed = seeds.onnx_file()
    if how == 0:
        return mutate(seed, edits)
    m = onnx.load_from_string(seed)
    g = m.graph
    if how == 1:                                     # an initializer's shape, disagreeing with its data
        t = g.initializer[which % len(g.initializer)]
        del t.dims[:]
        t.dims.extend(dims)
    elif how == 2:                                   # a node's inputs rewired or dropped
        n = g.node[which % len(g.node)]
        ins = list(n.input)
        del n.input[:]
        n.input.extend(ins[:which % (len(ins) + 1)] + [text] * (which % 3))
    elif how == 3:                                   # a node's operator renamed
        g.node[which % len(g.node)].op_type = text or "LSTM"
    else:                                            # an attribute's value replaced
        nodes = [n for n in g.node if n.attribute]
        a = nodes[which % len(nodes)].attribute[which % len(nodes[which % len(nodes)].attribute)]
        if a.type == onnx.AttributeProto.INT:
            a.i = dims[0] if dims else -1
        elif a.type == onnx.AttributeProto.STRING:
            a.s = text.encode()
        elif a.type == onnx.AttributeProto.INTS:
            del a.ints[:]
            a.ints.extend(dims)
    return m.SerializeToString()


@fuzz()
@given(how=st.integers(0, 4), which=st.integers(0, 2**16), edits=EDITS,
       dims=st.lists(st.integers(-3, 2**40), max_size=4), text=st.sampled_from(["", "x", "W", "Gemm", "LSTM", "Loop"]))
def test_fuzz_onnx_reader(work, how, which, edits, dims, text):
    require_onnx()
    from rnnlab.interop.onnx import load_model
    check("onnx", load_model, onnx_edit(how, which, edits, dims, text), os.path.join(work, "m.onnx"))


# ----- PyTorch and text -----------------------------------------------------------------------------
@fuzz()
@given(edits=EDITS)
def test_fuzz_torch_reader(work, edits):
    require_torch()
    from rnnlab.interop.torch import load_model
    check("torch", load_model, mutate(seeds.torch_file(), edits), os.path.join(work, "m.pt"))


@fuzz()
@given(data=st.one_of(st.binary(max_size=64), st.builds(mutate, st.just("to be or not to be\n".encode()), EDITS)))
def test_fuzz_text_reader(work, data):
    from rnnlab.data.text import read_text
    check("text", read_text, data, os.path.join(work, "input.txt"))
