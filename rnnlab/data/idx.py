"""The IDX file format of MNIST and Fashion-MNIST (LeCun et al. 1998), gzip-compressed or raw, and
the row-by-row image task built on it.

IDX layout: bytes 0-1 zero, byte 2 the element type (0x08 unsigned byte, ...), byte 3 the number of
dimensions d, then d big-endian uint32 sizes, then the elements in C order (big-endian).

Row by row: a 28 x 28 image is a sequence of T = 28 steps of D = 28 pixels scaled to [0, 1]; the
class (10) is read at the last step. The last 5,000 training images are the validation split.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from ..errors import FormatError, describe
from .dataset import ArrayDataset, Task
from .paths import dataset_file

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
NAMES = ("fashion-mnist", "mnist")        # data sets of rnnlab.data.registry in this format
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
VALID_SIZE = 5_000


MAX_IDX_BYTES = 1 << 31
"""Largest element data an IDX file may announce (2 GiB; MNIST's training images take 47 MB). The
header's dimensions are multiplied in Python integers (no overflow) and checked against this before
anything is allocated, and a gzip file is inflated only up to what its header announces, so a small
file cannot drive a huge allocation."""


def _read_exactly(f, n: int, path: str, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FormatError(path, what, f"the file ends after {len(data)} of its {n} bytes (truncated)")
    return data


def read_idx(path) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` or raw, detected from the first bytes).

    Raises ``FileNotFoundError`` when there is no file, and ``rnnlab.errors.FormatError`` naming the
    file and the place (header, dimension, data) when it is not a well-formed IDX file, is truncated,
    has bytes after its data, or announces more than ``MAX_IDX_BYTES`` of data."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no IDX file at {path!r}")
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        try:
            f = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
            return _read_idx(f, path, None if gz else os.fstat(raw.fileno()).st_size)
        except (OSError, EOFError, zlib.error) as err:          # gzip.BadGzipFile is an OSError
            raise FormatError(path, "gzip stream", f"not a valid gzip file ({describe(err)})") from err


def _read_idx(f, path: str, size: int | None) -> np.ndarray:
    head = f.read(4)
    if len(head) < 4 or head[:2] != b"\x00\x00" or head[2] not in IDX_TYPES:
        raise FormatError(path, "header", f"not an IDX file (expected bytes 00 00 <type> <ndim> with type one "
                                          f"of {', '.join(f'{t:02x}' for t in IDX_TYPES)}, got {head.hex(' ')})")
    ndim = head[3]
    dims = _read_exactly(f, 4 * ndim, path, f"header ({ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = np.dtype(IDX_TYPES[head[2]])
    expected, span = dtype.itemsize, dtype.itemsize
    for n in shape:
        expected *= n                                           # Python ints: no overflow
        span *= max(n, 1)                                       # NumPy refuses (0, 2**32, 2**32) as well
    if span > MAX_IDX_BYTES:
        raise FormatError(path, "header", f"dimensions {shape} announce {span} bytes of data, more than the "
                                          f"limit MAX_IDX_BYTES = {MAX_IDX_BYTES}")
    if size is not None and size != 4 + 4 * ndim + expected:
        raise FormatError(path, "data", f"holds {size - 4 - 4 * ndim} bytes of data, expected {expected} for "
                                        f"shape {shape}")
    body = f.read(expected + 1)                                 # inflates at most one byte past the data
    if len(body) != expected:
        got = "more than " + str(expected) if len(body) > expected else str(len(body))
        raise FormatError(path, "data", f"holds {got} bytes of data, expected {expected} for shape {shape}")
    return np.frombuffer(body, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def load_images(name: str = "fashion-mnist", data_dir=None) -> dict:
    """The four arrays of an MNIST-format data set: train/test images (N, 28, 28) uint8, labels (N,).
    The files (gzip-compressed or not) are looked for, or fetched, as rnnlab.data.paths says."""
    if name not in NAMES:
        raise ValueError(f"name: expected one of {list(NAMES)}, got {name!r}")
    out = {}
    for key, stem in FILES.items():
        out[key] = read_idx(dataset_file(name, stem + ".gz", data_dir))
    for split in ("train", "test"):
        images, labels = out[f"{split}_images"], out[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{name}: {split} images {images.shape} and labels {labels.shape} do not match "
                             "(expected (N, rows, cols) and (N,))")
    return out


def task(name: str = "fashion-mnist", data_dir=None, valid_size: int = VALID_SIZE) -> Task:
    arrays = load_images(name, data_dir)
    scale = lambda a: (a / 255.0).astype(np.float32)            # noqa: E731
    train_x, train_y = arrays["train_images"], arrays["train_labels"].astype(np.int64)
    if not 0 < valid_size < len(train_x):
        raise ValueError(f"valid_size: expected 0 < valid_size < {len(train_x)}, got {valid_size!r}")
    cut = len(train_x) - valid_size
    rows, cols = train_x.shape[1:]
    return Task(name, "classify", cols, int(train_y.max()) + 1,
                ArrayDataset(train_x[:cut], train_y[:cut], encode=scale),
                ArrayDataset(train_x[cut:], train_y[cut:], encode=scale),
                ArrayDataset(arrays["test_images"], arrays["test_labels"].astype(np.int64), encode=scale),
                {"rows": rows})
