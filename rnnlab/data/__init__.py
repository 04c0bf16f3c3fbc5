"""Data: synthetic long-range tasks, images row by row, character-level text, polyphonic music.

``load_task(name, ...)`` returns a ``Task`` (dataset.py) for any name in ``TASKS``.
"""
from __future__ import annotations

from . import adding, arrays, idx, memory, music, order, reber, text
from .dataset import ArrayDataset, Batch, GeneratedDataset, SequenceListDataset, Task

TASKS = ("adding", "copy", "reber", "order", "fashion-mnist", "mnist", "text",
         "jsb", "nottingham", "musedata", "piano-midi")


def load_task(name: str, T: int | None = None, train_size: int | None = None, data_dir=None,
              text_path=None, seq_len: int = 100, seed: int = 0, random_offset: bool = False,
              data=None, valid_data=None, valid_split: float = 0.1, as_ids: bool = False) -> Task:
    """The task ``name``; "data" is the user's .npz file ``data`` (rnnlab.data.arrays.npz_task), validated
    on ``valid_data`` or on ``valid_split`` of its rows. ``T``: sequence length of the synthetic tasks (default 100); ``train_size``:
    sequences per epoch of the synthetic tasks; ``seed``: their validation and test sets;
    ``random_offset``: text only, chunk boundaries that move every epoch; ``as_ids``: text only, character
    ids (N, T) in place of one-hot vectors, for a model with an Embedding first."""
    if name == "data":
        return arrays.npz_task(data, valid_data, valid_split, seed)
    if name not in TASKS:
        raise ValueError(f"task: expected one of {TASKS}, got {name!r}")
    sizes = {} if train_size is None else {"train_size": train_size}
    if name in ("adding", "copy", "order"):
        module = {"adding": adding, "copy": memory, "order": order}[name]
        return module.task(T=100 if T is None else T, seed=seed, **sizes)
    if name == "reber":
        return reber.task(seed=seed, **sizes)
    if name in ("fashion-mnist", "mnist"):
        return idx.task(name, data_dir)
    if name == "text":
        return text.task(text_path, data_dir, seq_len, random_offset, as_ids)
    return music.task(name, data_dir)


__all__ = ["ArrayDataset", "Batch", "GeneratedDataset", "SequenceListDataset", "Task", "TASKS", "load_task"]
