"""Character-level text from any file (Tiny Shakespeare for the published comparison).

The vocabulary is the sorted set of characters of the file. The first 90% of the characters are the
training split, the last 10% the validation split (as nanoGPT's shakespeare_char), which also serves
as the test split. Each split is cut into non-overlapping chunks of T + 1 characters; a chunk gives
inputs c_0 .. c_{T-1} (one-hot, V features) and targets c_1 .. c_T: next-character prediction with
a head on every step, loss in nats per character.

With ``random_offset`` the training split is cut afresh every epoch, starting at an offset in
[0, T) drawn from (seed, epoch): the chunk boundaries move, so no chunk is seen twice (as nanoGPT
draws random windows), and resume stays exact. Every epoch has the same number of chunks,
(len - T) // T, so the learning-rate schedule does not depend on the offsets.
"""
from __future__ import annotations

import os

import numpy as np

from .dataset import ArrayDataset, Task
from .paths import candidates, find_file

TRAIN_FRACTION = 0.9


def read_text(path) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise ValueError(f"path: {str(path)!r} is not UTF-8 text ({err})") from err
    if len(text) < 2:
        raise ValueError(f"path: {str(path)!r} holds {len(text)} characters, expected at least 2")
    return text


def one_hot(V: int):
    eye = np.eye(V, dtype=np.float32)
    return lambda ids: eye[ids]                               # (N, T) -> (N, T, V)


def chunks(ids: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping chunks: inputs x (n, T) and next-character targets y (n, T)."""
    n = (len(ids) - 1) // T
    if n < 1:
        raise ValueError(f"seq_len: {T} is longer than a split of {len(ids)} characters")
    x = ids[:n * T].reshape(n, T)
    y = ids[1:n * T + 1].reshape(n, T)
    return x, y


class ShiftedChunks(ArrayDataset):
    """The training split as chunks whose start moves every epoch by an offset drawn from (seed, epoch);
    in file order (seed None) the offset is 0. ``x``, ``y`` hold the offset-0 chunks."""

    def __init__(self, ids: np.ndarray, T: int, encode):
        n = (len(ids) - T) // T
        if n < 1:
            raise ValueError(f"seq_len: {T} is too long to shift chunks in a split of {len(ids)} characters")
        self.ids, self.T, self.n = ids, T, n
        super().__init__(*self.cut(0), encode=encode)

    def cut(self, offset: int) -> tuple[np.ndarray, np.ndarray]:
        return chunks(self.ids[offset:offset + self.n * self.T + 1], self.T)     # n chunks at any offset

    def batches(self, batch_size: int, seed: int | None = None, epoch: int = 0, start: int = 0):
        offset = 0 if seed is None else int(np.random.default_rng([seed, epoch, 2]).integers(self.T))
        epoch_chunks = ArrayDataset(*self.cut(offset), encode=self.encode)
        yield from epoch_chunks.batches(batch_size, seed, epoch, start)


def task(path=None, data_dir=None, seq_len: int = 100, random_offset: bool = False) -> Task:
    """``path``: a text file; by default tinyshakespeare/input.txt under the data root."""
    if path is None:
        path = find_file(["input.txt"], candidates(data_dir, "tinyshakespeare"), "text (Tiny Shakespeare)")
    elif not os.path.isfile(path):
        raise FileNotFoundError(f"text: no file at {str(path)!r}")
    if seq_len < 1:
        raise ValueError(f"seq_len: expected a positive integer, got {seq_len!r}")
    text = read_text(path)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], np.int64)
    cut = int(len(ids) * TRAIN_FRACTION)
    encode = one_hot(len(chars))
    train = (ShiftedChunks(ids[:cut], seq_len, encode) if random_offset
             else ArrayDataset(*chunks(ids[:cut], seq_len), encode=encode))
    valid = ArrayDataset(*chunks(ids[cut:], seq_len), encode=encode)
    return Task("text", "classify_steps", len(chars), len(chars), train, valid, valid,
                {"chars": "".join(chars), "path": os.path.abspath(path), "seq_len": seq_len})
