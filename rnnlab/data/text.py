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

import hashlib
import os

import numpy as np

from ..errors import FormatError, decode_utf8
from .dataset import ArrayDataset, Task
from .paths import dataset_file

TRAIN_FRACTION = 0.9


def read_text(path) -> str:
    """The UTF-8 text of ``path`` (a leading byte-order mark dropped). Raises ``FileNotFoundError``
    when there is no file and ``rnnlab.errors.FormatError`` naming the line, column and byte position
    of the first byte that is not UTF-8, or when the text has fewer than 2 characters."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"text: no file at {path!r}")
    with open(path, "rb") as f:
        text = decode_utf8(f.read(), path)
    if len(text) < 2:
        raise FormatError(path, "", f"holds {len(text)} characters, expected at least 2")
    return text


def fingerprint(path) -> dict:
    """{"bytes": size, "sha256": hex digest} of a file, recorded with a text model so that a later
    ``rnnlab evaluate`` can confirm that the path it records still holds the run's data."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"bytes": size, "sha256": digest.hexdigest()}


def confirm_recorded(path: str, recorded: dict, model_path) -> str:
    """``path``, a text file named inside a saved model, if it is confirmed to be the data the run used:
    a regular file whose size and SHA-256 equal the ``bytes`` and ``sha256`` recorded beside it. A path
    read from a file is never opened otherwise (it could name any file on the machine, a device or a
    pipe); the ValueError says to pass ``--text``. Only the recorded number of bytes is ever read."""
    what = (f"--text: {str(model_path)!r} records the text file {str(path)!r}, which is opened only when it is "
            f"confirmed to be the run's data")
    size, sha = recorded.get("bytes"), recorded.get("sha256")
    if not isinstance(size, int) or not isinstance(sha, str):
        raise ValueError(f"{what}, and the file records no size and SHA-256 to confirm it by; pass --text PATH")
    if not isinstance(path, str) or not os.path.isfile(path) or os.path.getsize(path) != size:
        raise ValueError(f"{what}: it is not a regular file of the recorded size ({size} bytes); pass --text PATH")
    if fingerprint(path)["sha256"] != sha:
        raise ValueError(f"{what}: its SHA-256 differs from the recorded one; pass --text PATH")
    return path


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


def task(path=None, data_dir=None, seq_len: int = 100, random_offset: bool = False, as_ids: bool = False,
         chars: str | None = None) -> Task:
    """``path``: a text file; by default tinyshakespeare/input.txt under the data root. Inputs are
    one-hot (N, T, V), or with ``as_ids`` the character ids (N, T) for a model with an Embedding first
    (meta["inputs"] = "ids"). ``chars``: the vocabulary to use (a trained model's, to score another
    text with it) instead of the file's own; a character outside it is a FormatError naming the line
    and column of its first occurrence."""
    if path is None:
        path = dataset_file("tinyshakespeare", "input.txt", data_dir)
    if seq_len < 1:
        raise ValueError(f"seq_len: expected a positive integer, got {seq_len!r}")
    text = read_text(path)
    if chars is not None:
        unknown = set(text) - set(chars)
        if unknown:
            at = min(text.index(c) for c in unknown)
            line = text.count("\n", 0, at) + 1
            column = at - (text.rfind("\n", 0, at) + 1) + 1
            raise FormatError(path, f"{line}:{column}", f"character {text[at]!r} is not in the model's vocabulary "
                                                        f"of {len(chars)} characters ({len(unknown)} such characters)")
    chars = sorted(set(text)) if chars is None else list(chars)
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], np.int64)
    cut = int(len(ids) * TRAIN_FRACTION)
    encode = None if as_ids else one_hot(len(chars))
    train = (ShiftedChunks(ids[:cut], seq_len, encode) if random_offset
             else ArrayDataset(*chunks(ids[:cut], seq_len), encode=encode))
    valid = ArrayDataset(*chunks(ids[cut:], seq_len), encode=encode)
    return Task("text", "classify_steps", len(chars), len(chars), train, valid, valid,
                {"chars": "".join(chars), "path": os.path.abspath(path), "seq_len": seq_len, **fingerprint(path),
                 **({"inputs": "ids"} if as_ids else {})})
