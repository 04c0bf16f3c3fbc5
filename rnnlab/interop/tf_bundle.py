"""TensorFlow checkpoints (the "tensor bundle" format of ``tf.compat.v1.train.Saver`` V2 and
``tf.train.Checkpoint``) read and written with NumPy alone; TensorFlow is never imported.

A checkpoint with prefix ``P`` is the files

    P.index                   a LevelDB-style sorted table: key "" -> BundleHeaderProto,
                              key = tensor name -> BundleEntryProto
    P.data-00000-of-0000n     shard k: the tensors' bytes, little-endian, C order, end to end
    P.meta                    (optional) the MetaGraphDef, a serialized graph

The table (TensorFlow's ``core/lib/io/table_builder.cc``, ``block_builder.cc``, ``format.cc``, after
LevelDB) ends with a 48-byte footer: two block handles (varint offset, varint size: the metaindex
block and the index block), zero padding to 40 bytes, then the magic number 0xdb4775248b80fb57.
Each block is followed by a 5-byte trailer: a compression byte (0: none) and the masked CRC-32C of
the block and that byte. A block is a run of entries

    varint shared, varint non_shared, varint value_length, key[shared:] bytes, value bytes

(each key is the previous key's first ``shared`` bytes plus its own), then uint32 restart offsets
and their uint32 count. The index block's values are the handles of the data blocks.

Protobuf messages are decoded by ``fields``: each field is a varint key (number << 3 | wire type)
then a varint (type 0), 8 bytes (1), a varint length and bytes (2) or 4 bytes (5). The messages used
(``core/protobuf/tensor_bundle.proto``, ``tensor_shape.proto``) and their field numbers:

    BundleHeaderProto   1 num_shards, 2 endianness (0 little), 3 version
    BundleEntryProto    1 dtype, 2 shape, 3 shard_id, 4 offset, 5 size, 6 crc32c (fixed32, masked),
                        7 slices (a partitioned variable: refused)
    TensorShapeProto    2 dim (repeated Dim: 1 size)

Every tensor's CRC-32C (Castagnoli) is checked; TensorFlow stores it masked,
``((crc >> 15 | crc << 17) + 0xa282ead8) mod 2**32``. Bad files raise ``rnnlab.errors.FormatError``
naming the file and the place (the footer, a block, a tensor). Nothing outside the checkpoint's own
files is opened, and sizes are checked before anything is allocated: the index at most
``MAX_INDEX_BYTES``, all tensors read together at most ``MAX_CHECKPOINT_BYTES``, each inside its
shard file.
"""
from __future__ import annotations

import functools
import os
import re
import struct
import tempfile
from typing import NamedTuple

import numpy as np

from ..errors import FormatError

MAX_INDEX_BYTES = 1 << 28
"""Largest .index file read (256 MiB; it holds names and offsets, not tensors)."""
MAX_CHECKPOINT_BYTES = 1 << 31
"""Most tensor bytes read from one checkpoint (2 GiB), as the other readers' limits."""
MAX_META_BYTES = 1 << 28
"""Largest .meta graph read (256 MiB)."""

MAGIC = 0xdb4775248b80fb57
FOOTER = 48
# DataType enum (core/framework/types.proto) -> NumPy dtype, for the numeric types NumPy has
DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?", 17: "<u2",
          19: "<f2", 22: "<u4", 23: "<u8"}
DTYPE_ENUM = {np.dtype(v): k for k, v in DTYPES.items()}
DATA_NAME = re.compile(r"\.data-(\d{5})-of-(\d{5})$")


# ----- CRC-32C -----------------------------------------------------------------------------------
@functools.cache
def _crc_table() -> np.ndarray:
    """table[b]: the CRC-32C register (reflected polynomial 0x82f63b78) after shifting byte b out."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0x82F63B78), table >> 1).astype(np.uint32)
    return table


def _update(reg: int, data: bytes, table: list) -> int:
    for b in data:
        reg = table[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


def _gf2_apply(op: list, v: int) -> int:
    """op (32 column images) applied to the 32-bit vector v over GF(2)."""
    out, i = 0, 0
    while v:
        if v & 1:
            out ^= op[i]
        v >>= 1
        i += 1
    return out


@functools.cache
def _zeros_operator(n: int) -> tuple:
    """The linear map reg -> register after n zero bytes, as 32 column images (by squaring)."""
    table = _crc_table().tolist()
    power = [table[(1 << i) & 0xFF] ^ ((1 << i) >> 8) for i in range(32)]     # one zero byte
    result = [1 << i for i in range(32)]
    while n:
        if n & 1:
            result = [_gf2_apply(power, c) for c in result]
        power = [_gf2_apply(power, c) for c in power]
        n >>= 1
    return tuple(result)


def crc32c(data) -> int:
    """CRC-32C (Castagnoli) of ``data`` (bytes-like), as ``crc32c.crc32c`` or TensorFlow compute it.

    The register update reg -> table[(reg ^ b) & 0xff] ^ (reg >> 8) is linear over GF(2), so long
    inputs run as K lanes side by side in NumPy, each lane from register 0 (lane 0 from the initial
    0xffffffff), and lane k's register joins the total as total = Z_L(total) ^ reg_k, Z_L being the
    map "L more zero bytes" (zlib's crc32_combine)."""
    buf = memoryview(data).cast("B")
    n = len(buf)
    table = _crc_table()
    if n < 1 << 14:
        return _update(0xFFFFFFFF, bytes(buf), table.tolist()) ^ 0xFFFFFFFF
    K = 1024
    L = n // K
    lanes = np.frombuffer(buf, np.uint8, K * L).reshape(K, L).T.copy()   # (L, K): one row per step
    reg = np.zeros(K, np.uint32)
    reg[0] = 0xFFFFFFFF
    for row in lanes:
        reg = table[(reg ^ row) & 0xFF] ^ (reg >> 8)
    Z = _zeros_operator(L)
    total = 0
    for r in reg.tolist():
        total = _gf2_apply(Z, total) ^ r
    return _update(total, bytes(buf[K * L:]), table.tolist()) ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    """TensorFlow's masked CRC (core/lib/hash/crc32c.h), stored so a CRC of CRCs stays informative."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ----- protobuf wire format ----------------------------------------------------------------------
class _Bad(Exception):
    """A decoding failure, turned into FormatError by the caller that knows the file and the place."""


def _varint(buf: bytes, pos: int, end: int) -> tuple:
    value, shift = 0, 0
    while True:
        if pos >= end:
            raise _Bad("a varint runs past its end")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _Bad("a varint longer than 10 bytes")


def fields(buf: bytes, start: int = 0, end: int | None = None) -> list:
    """[(field number, wire type, value)] of one protobuf message: value an int for wire types
    0 (varint), 1 (fixed64) and 5 (fixed32), a memoryview-able bytes slice for 2 (length-delimited)."""
    end = len(buf) if end is None else end
    out, pos = [], start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Bad("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 1:
            if pos + 8 > end:
                raise _Bad("a fixed64 runs past its end")
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 5:
            if pos + 4 > end:
                raise _Bad("a fixed32 runs past its end")
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        elif wire == 2:
            size, pos = _varint(buf, pos, end)
            if pos + size > end:
                raise _Bad(f"field {number}: {size} bytes declared, {end - pos} left")
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise _Bad(f"field {number}: wire type {wire} (groups) is not used by these messages")
        out.append((number, wire, value))
    return out


def _put_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _put_field(number: int, value) -> bytes:
    """A varint field (int) or a length-delimited one (bytes)."""
    if isinstance(value, int):
        return _put_varint(number << 3) + _put_varint(value)
    return _put_varint(number << 3 | 2) + _put_varint(len(value)) + bytes(value)


def _int64(v: int) -> int:
    """A varint read as int64 (negative numbers are 10-byte two's complement)."""
    return v - (1 << 64) if v >= 1 << 63 else v


# ----- the sorted table --------------------------------------------------------------------------
def _block(data: bytes, offset: int, size: int, path: str, what: str) -> bytes:
    """The contents of the block at (offset, size), its trailer's CRC checked."""
    if offset + size + 5 > len(data) - FOOTER:
        raise FormatError(path, what, f"block at offset {offset} of {size} bytes runs past the table "
                                      f"({len(data)} bytes)")
    contents = data[offset:offset + size]
    kind = data[offset + size]
    stored = int.from_bytes(data[offset + size + 1:offset + size + 5], "little")
    if mask(crc32c(data[offset:offset + size + 1])) != stored:
        raise FormatError(path, what, "block checksum (CRC-32C) does not match: the file is damaged")
    if kind != 0:
        raise FormatError(path, what, f"block compression {kind} (1 is Snappy); TensorFlow writes checkpoint "
                                      f"indexes uncompressed (0)")
    return contents


def _entries(block: bytes, path: str, what: str) -> list:
    """[(key, value)] of a table block, keys rebuilt from their shared prefixes."""
    if len(block) < 4:
        raise FormatError(path, what, f"a block of {len(block)} bytes; expected at least its restart count")
    restarts = int.from_bytes(block[-4:], "little")
    end = len(block) - 4 - 4 * restarts
    if restarts < 1 or end < 0:
        raise FormatError(path, what, f"{restarts} restart points do not fit a block of {len(block)} bytes")
    out, key, pos = [], b"", 0
    try:
        while pos < end:
            shared, pos = _varint(block, pos, end)
            own, pos = _varint(block, pos, end)
            size, pos = _varint(block, pos, end)
            if shared > len(key) or pos + own + size > end:
                raise _Bad(f"entry at byte {pos} overruns its block")
            key = key[:shared] + block[pos:pos + own]
            out.append((key, block[pos + own:pos + own + size]))
            pos += own + size
    except _Bad as err:
        raise FormatError(path, what, str(err)) from None
    return out


def read_table(path: str) -> list:
    """[(key, value)] of every entry of a LevelDB-style table file, in order, all checksums checked."""
    size = os.path.getsize(path)
    if size > MAX_INDEX_BYTES:
        raise FormatError(path, "", f"{size} bytes, more than MAX_INDEX_BYTES = {MAX_INDEX_BYTES}")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < FOOTER or int.from_bytes(data[-8:], "little") != MAGIC:
        raise FormatError(path, "footer", "no table magic number 0xdb4775248b80fb57 at the end: not a "
                                          "TensorFlow checkpoint index")
    try:
        meta_offset, pos = _varint(data, len(data) - FOOTER, len(data) - 8)
        meta_size, pos = _varint(data, pos, len(data) - 8)
        index_offset, pos = _varint(data, pos, len(data) - 8)
        index_size, pos = _varint(data, pos, len(data) - 8)
    except _Bad as err:
        raise FormatError(path, "footer", str(err)) from None
    _entries(_block(data, meta_offset, meta_size, path, "metaindex block"), path, "metaindex block")  # checked only
    out = []
    for handle_key, handle in _entries(_block(data, index_offset, index_size, path, "index block"),
                                       path, "index block"):
        try:
            offset, pos = _varint(handle, 0, len(handle))
            block_size, _ = _varint(handle, pos, len(handle))
        except _Bad as err:
            raise FormatError(path, f"index entry {handle_key!r}", str(err)) from None
        what = f"data block at offset {offset}"
        out += _entries(_block(data, offset, block_size, path, what), path, what)
    keys = [k for k, _ in out]
    if any(a >= b for a, b in zip(keys, keys[1:])):
        raise FormatError(path, "", "table keys are not strictly increasing: the file is damaged")
    return out


def _block_bytes(entries: list) -> bytes:
    """A table block holding ``entries`` [(key, value)], each a restart point (no shared prefixes)."""
    body, restarts = bytearray(), []
    for key, value in entries:
        restarts.append(len(body))
        body += _put_varint(0) + _put_varint(len(key)) + _put_varint(len(value)) + key + value
    restarts = restarts or [0]
    body += b"".join(r.to_bytes(4, "little") for r in restarts) + len(restarts).to_bytes(4, "little")
    return bytes(body)


def table_bytes(entries: list) -> bytes:
    """A table file of ``entries`` [(key, value)] sorted by key: one data block, an empty metaindex
    block, an index block, the footer."""
    out = bytearray()

    def put(block: bytes) -> bytes:
        handle = _put_varint(len(out)) + _put_varint(len(block))
        out.extend(block + b"\0" + mask(crc32c(block + b"\0")).to_bytes(4, "little"))
        return handle

    data = put(_block_bytes(entries))
    meta = put(_block_bytes([]))
    index = put(_block_bytes([(entries[-1][0], data)] if entries else []))
    footer = meta + index
    return bytes(out + footer + b"\0" * (40 - len(footer)) + MAGIC.to_bytes(8, "little"))


# ----- the bundle --------------------------------------------------------------------------------
class Entry(NamedTuple):
    dtype: int           # DataType enum
    shape: tuple
    shard: int
    offset: int
    size: int
    crc: int             # masked CRC-32C of the bytes
    sliced: bool         # a partitioned variable's full-tensor entry


def prefix_of(path) -> str:
    """The checkpoint prefix of ``path``: the prefix itself or any of its files (.index, .meta,
    .data-0000k-of-0000n)."""
    path = os.fspath(path)
    for ending in (".index", ".meta"):
        if path.endswith(ending):
            return path[:-len(ending)]
    m = DATA_NAME.search(path)
    return path[:m.start()] if m else path


def _entry(value: bytes, path: str, name: str) -> Entry:
    try:
        f = fields(value)
        shape, slices = [], False
        scalars = {n: v for n, w, v in f if w != 2}
        for n, w, v in f:
            if n == 2 and w == 2:
                for dn, dw, dv in fields(v):
                    if dn == 3 and dw == 0 and dv:
                        raise _Bad("a shape of unknown rank")
                    if dn == 2 and dw == 2:
                        size = next((_int64(s) for sn, sw, s in fields(dv) if sn == 1 and sw == 0), 0)
                        if size < 0:
                            raise _Bad(f"dimension {size}")
                        shape.append(size)
            elif n == 7:
                slices = True
    except _Bad as err:
        raise FormatError(path, f"tensor {name!r}", f"BundleEntryProto: {err}") from None
    return Entry(scalars.get(1, 0), tuple(shape), scalars.get(3, 0), _int64(scalars.get(4, 0)),
                 _int64(scalars.get(5, 0)), scalars.get(6, 0), slices)


class Bundle:
    """The index of a checkpoint: ``entries`` {tensor name: Entry}; ``read(name)`` loads one tensor,
    its size, place and checksum checked. ``path`` is the .index file (named in errors)."""

    def __init__(self, prefix):
        self.prefix = prefix_of(prefix)
        self.path = self.prefix + ".index"
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"no TensorFlow checkpoint index at {self.path!r} (checkpoint prefix "
                                    f"{self.prefix!r})")
        table = read_table(self.path)
        if not table or table[0][0] != b"":
            raise FormatError(self.path, "key ''", "no BundleHeaderProto under the empty key: not a tensor bundle")
        try:
            header = {n: v for n, w, v in fields(table[0][1]) if w == 0}
        except _Bad as err:
            raise FormatError(self.path, "key ''", f"BundleHeaderProto: {err}") from None
        self.num_shards = header.get(1, 0)
        if not 1 <= self.num_shards <= 99999:
            raise FormatError(self.path, "key ''", f"num_shards {self.num_shards}, expected 1 to 99999")
        if header.get(2, 0) != 0:
            raise FormatError(self.path, "key ''", "a big-endian bundle; rnnlab reads little-endian ones "
                                                   "(those of x86 and ARM machines)")
        self.entries = {}
        for key, value in table[1:]:
            try:
                name = key.decode("utf-8")
            except UnicodeDecodeError:
                raise FormatError(self.path, f"key {key!r}", "a tensor name that is not UTF-8") from None
            e = _entry(value, self.path, name)
            if not 0 <= e.shard < self.num_shards:
                raise FormatError(self.path, f"tensor {name!r}", f"shard {e.shard} of {self.num_shards}")
            self.entries[name] = e
        self.bytes_read = 0

    def shard_path(self, k: int) -> str:
        return f"{self.prefix}.data-{k:05d}-of-{self.num_shards:05d}"

    def read(self, name: str) -> np.ndarray:
        """The tensor ``name`` as a NumPy array (a copy owning its memory)."""
        e = self.entries[name]
        where = f"tensor {name!r}"
        if e.sliced:
            raise FormatError(self.path, where, "a partitioned variable (saved in slices); rnnlab reads whole "
                                                "tensors only")
        if e.dtype not in DTYPES:
            raise FormatError(self.path, where, f"DataType {e.dtype}; rnnlab reads the numeric types "
                                                f"{sorted(DTYPES)} (1 is float32, 2 float64)")
        dtype = np.dtype(DTYPES[e.dtype])
        count = int(np.prod(e.shape, dtype=object))
        if e.size != count * dtype.itemsize or e.offset < 0:
            raise FormatError(self.path, where, f"{e.size} bytes at offset {e.offset} for shape {e.shape} of "
                                                f"{dtype.name}: expected {count * dtype.itemsize}")
        if self.bytes_read + e.size > MAX_CHECKPOINT_BYTES:
            raise FormatError(self.path, where, f"tensors of more than MAX_CHECKPOINT_BYTES = "
                                                f"{MAX_CHECKPOINT_BYTES} bytes in all")
        shard = self.shard_path(e.shard)
        if not os.path.isfile(shard):
            raise FileNotFoundError(f"{self.path}: {where} lives in shard {shard!r}, which is missing")
        if e.offset + e.size > os.path.getsize(shard):
            raise FormatError(shard, where, f"{e.size} bytes at offset {e.offset} run past the file's "
                                            f"{os.path.getsize(shard)} bytes")
        with open(shard, "rb") as f:
            f.seek(e.offset)
            raw = f.read(e.size)
        if mask(crc32c(raw)) != e.crc:
            raise FormatError(shard, where, "checksum (CRC-32C) does not match the index: the file is damaged "
                                            "or belongs to another checkpoint")
        self.bytes_read += e.size
        return np.frombuffer(raw, dtype).reshape(e.shape).astype(dtype.newbyteorder("="))


def read_checkpoint(prefix, names=None) -> dict:
    """{tensor name: array} of a TensorFlow checkpoint (``names``: only these; default every tensor of
    a numeric type). ``prefix`` is the checkpoint prefix ("model.ckpt") or any of its files."""
    bundle = Bundle(prefix)
    if names is None:
        names = [n for n, e in bundle.entries.items() if e.dtype in DTYPES and not e.sliced]
    missing = [n for n in names if n not in bundle.entries]
    if missing:
        raise FormatError(bundle.path, "", f"no tensors {missing} in the checkpoint; it holds "
                                           f"{sorted(bundle.entries)[:20]}")
    return {n: bundle.read(n) for n in names}


def _atomic_write(path: str, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_checkpoint(prefix, tensors: dict) -> None:
    """Write {name: array} as a one-shard checkpoint ``prefix``.index / ``prefix``.data-00000-of-00001,
    which ``tf.train.load_checkpoint(prefix)`` and ``tf.compat.v1.train.Saver().restore`` read. Each
    file is written to a temporary name and then renamed."""
    prefix = os.fspath(prefix)
    folder = os.path.dirname(os.path.abspath(prefix))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"prefix: no folder {folder!r} to write the checkpoint {prefix!r} in")
    data, entries = bytearray(), []
    for name in sorted(tensors, key=lambda n: n.encode("utf-8")):
        a = np.asarray(tensors[name])
        dtype = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if np.dtype(dtype) not in DTYPE_ENUM:
            raise ValueError(f"tensors[{name!r}]: dtype {a.dtype} has no TensorFlow DataType rnnlab writes; "
                             f"expected one of {sorted({d.name for d in DTYPE_ENUM})}")
        raw = np.ascontiguousarray(a, dtype).tobytes()
        shape = b"".join(_put_field(2, _put_field(1, int(s))) for s in a.shape)
        entry = (_put_field(1, DTYPE_ENUM[np.dtype(dtype)]) + _put_field(2, shape) + _put_field(4, len(data))
                 + _put_field(5, len(raw)) + _put_varint(6 << 3 | 5) + mask(crc32c(raw)).to_bytes(4, "little"))
        entries.append((name.encode("utf-8"), entry))
        data += raw
    header = _put_field(1, 1) + _put_field(3, _put_field(1, 1))        # one shard, little-endian, version 1
    _atomic_write(f"{prefix}.data-00000-of-00001", bytes(data))
    _atomic_write(f"{prefix}.index", table_bytes([(b"", header)] + entries))


# ----- the .meta graph ---------------------------------------------------------------------------
class Node(NamedTuple):
    name: str            # "rnn/while/basic_lstm_cell/Add_1"
    op: str              # "AddV2"
    inputs: tuple        # names of the data inputs, output indices and control inputs left out
    value: np.ndarray | None     # a Const node's value


def _const(attr_value: bytes) -> np.ndarray | None:
    """The value of an AttrValue holding a TensorProto (field 8): 1 dtype, 2 shape, 4 tensor_content,
    5 float_val, 6 double_val (packed or not); None for other kinds."""
    tensor = next((v for n, w, v in fields(attr_value) if n == 8 and w == 2), None)
    if tensor is None:
        return None
    f = fields(tensor)
    dtype = next((v for n, w, v in f if n == 1 and w == 0), 0)
    content = next((v for n, w, v in f if n == 4 and w == 2), None)
    if content is not None and dtype in DTYPES:
        if len(content) % np.dtype(DTYPES[dtype]).itemsize:
            raise _Bad("tensor_content not a whole number of elements")
        return np.frombuffer(content, DTYPES[dtype]).copy()
    values = []
    for n, w, v in f:
        if n == 5:
            values += list(np.frombuffer(v, "<f4")) if w == 2 else [struct.unpack("<f", v.to_bytes(4, "little"))[0]]
        elif n == 6:
            values += list(np.frombuffer(v, "<f8")) if w == 2 else [struct.unpack("<d", v.to_bytes(8, "little"))[0]]
    return np.array(values, np.float64) if values else None


def _node(buf: bytes) -> Node:
    """A NodeDef: 1 name, 2 op, 3 input (repeated), 5 attr (map entries 1 key, 2 AttrValue)."""
    name, op, inputs, value = "", "", [], None
    for n, w, v in fields(buf):
        if w != 2:
            continue
        if n == 1:
            name = v.decode("utf-8", "replace")
        elif n == 2:
            op = v.decode("utf-8", "replace")
        elif n == 3 and not v.startswith(b"^"):
            inputs.append(v.decode("utf-8", "replace").split(":")[0])
        elif n == 5 and op == "Const":
            entry = {en: ev for en, ew, ev in fields(v) if ew == 2}
            if entry.get(1) == b"value" and 2 in entry:
                value = _const(entry[2])
    return Node(name, op, tuple(inputs), value)


def read_graph(path) -> list:
    """The nodes of a MetaGraphDef file (``model.ckpt.meta``): those of its GraphDef (MetaGraphDef
    field 2; GraphDef 1 node) and of the functions in its library (GraphDef 2 library, 1 function,
    FunctionDef 3 node_def), where TensorFlow 2's control flow puts a while loop's body."""
    path = os.fspath(path)
    size = os.path.getsize(path)
    if size > MAX_META_BYTES:
        raise FormatError(path, "", f"{size} bytes, more than MAX_META_BYTES = {MAX_META_BYTES}")
    with open(path, "rb") as f:
        data = f.read()
    try:
        nodes = []
        for n, w, graph in fields(data):
            if n != 2 or w != 2:
                continue
            for gn, gw, gv in fields(graph):
                if gn == 1 and gw == 2:
                    nodes.append(_node(gv))
                elif gn == 2 and gw == 2:
                    for ln, lw, function in fields(gv):
                        if ln == 1 and lw == 2:
                            nodes += [_node(v) for fn, fw, v in fields(function) if fn == 3 and fw == 2]
    except (_Bad, ValueError) as err:
        raise FormatError(path, "MetaGraphDef", f"not a readable TensorFlow graph ({err})") from None
    return nodes
