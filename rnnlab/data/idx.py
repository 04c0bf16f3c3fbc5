"""The IDX file format of MNIST and Fashion-MNIST (LeCun et al. 1998), gzip-compressed or raw, and
the row-by-row image task built on it.

IDX layout: bytes 0-1 zero, byte 2 the element type (0x08 unsigned byte, ...), byte 3 the number of
dimensions d, then d big-endian uint32 sizes, then the elements in C order (big-endian).

Row by row: a 28 x 28 image is a sequence of T = 28 steps of D = 28 pixels scaled to [0, 1]; the
class (10) is read at the last step. The last 5,000 training images are the validation split.
"""
from __future__ import annotations

import gzip
import struct

import numpy as np

from .dataset import ArrayDataset, Task
from .paths import candidates, find_file

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
SYSTEM = {"fashion-mnist": ("/usr/share/datasets/fashion-mnist",), "mnist": ("/usr/share/datasets/mnist",)}
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
VALID_SIZE = 5_000


def read_idx(path) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` or raw, detected from the first bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise ValueError(f"path: {str(path)!r} is not a valid gzip file ({err})") from err
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in IDX_TYPES:
        raise ValueError(f"path: {str(path)!r} is not an IDX file (expected bytes 00 00 <type> <ndim>, "
                         f"got {data[:4].hex(' ')})")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"path: {str(path)!r} is truncated: its header announces {ndim} dimensions")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = data[4 + 4 * ndim:]
    if len(body) != expected:
        raise ValueError(f"path: {str(path)!r} holds {len(body)} bytes of data, expected {expected} "
                         f"for shape {shape}")
    return np.frombuffer(body, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def load_images(name: str = "fashion-mnist", data_dir=None) -> dict:
    """The four arrays of an MNIST-format data set: train/test images (N, 28, 28) uint8, labels (N,)."""
    if name not in SYSTEM:
        raise ValueError(f"name: expected one of {sorted(SYSTEM)}, got {name!r}")
    folders = candidates(data_dir, name, SYSTEM[name])
    out = {}
    for key, stem in FILES.items():
        out[key] = read_idx(find_file([stem + ".gz", stem], folders, f"{name} {key.replace('_', ' ')}"))
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
