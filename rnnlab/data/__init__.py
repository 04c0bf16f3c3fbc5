"""Data: synthetic long-range tasks, images row by row, character-level text, polyphonic music, and
the user's own arrays (arrays.py), CSV series (csv_series.py) and folders of text files (text_classes.py).

``load_task(name, ...)`` returns a ``Task`` (dataset.py) for any name in ``TASKS``.
"""
from __future__ import annotations

from ..checks import flag
from . import adding, arrays, csv_series, idx, memory, music, order, reber, text, text_classes
from .dataset import ArrayDataset, Batch, GeneratedDataset, SequenceListDataset, Task

TASKS = ("adding", "copy", "reber", "order", "fashion-mnist", "mnist", "text",
         "jsb", "nottingham", "musedata", "piano-midi")


def load_task(name: str, T: int | None = None, train_size: int | None = None, data_dir=None,
              text_path=None, seq_len: int = 100, seed: int = 0, random_offset: bool = False,
              data=None, valid_data=None, valid_split: float = 0.1, own: dict | None = None,
              as_ids: bool = False) -> Task:
    """The task ``name``; "data" is the user's .npz file ``data`` (rnnlab.data.arrays.npz_task), validated
    on ``valid_data`` or on ``valid_split`` of its rows. ``T``: sequence length of the synthetic tasks (default 100); ``train_size``:
    sequences per epoch of the synthetic tasks; ``seed``: their validation and test sets;
    ``random_offset``: text only, chunk boundaries that move every epoch. "csv" and "text-classes":
    the user's CSV series or folder of text files, as the settings in ``own`` say (own_files_task);
    ``as_ids``: text only, character ids (N, T) in place of one-hot vectors, for a model with an
    Embedding first."""
    if name == "data":
        return arrays.npz_task(data, valid_data, valid_split, seed)
    if name in ("csv", "text-classes"):          # ``own``: the Config fields of rnnlab.train.OWN_FILE_FIELDS
        return own_files_task(name, own or {}, valid_split, seed)
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


def own_files_task(name: str, own: dict, valid_split: float, seed: int) -> Task:
    """The CSV series (rnnlab.data.csv_series) or text folder (text_classes) of ``own``, a dict of the
    Config fields of the same names; errors name the command-line flags."""
    if name == "csv":
        keys = ("csv", "target", "window", "horizon", "features", "test_split")
        names = {k: flag(k) for k in keys + ("valid_split",)}
        return csv_series.csv_task(own["csv"], own["target"], own.get("window", 50), own.get("horizon", 1),
                                   own.get("features"), valid_split, own.get("test_split", 0.1), names)
    names = {k: flag(k) for k in ("text_classes", "tokens", "max_len", "min_count", "valid_split", "test_split")}
    return text_classes.text_task(own["text_classes"], own.get("tokens", "chars"), own.get("max_len", 200),
                                  own.get("min_count", 1), valid_split, own.get("test_split", 0.1), seed, names)


__all__ = ["ArrayDataset", "Batch", "GeneratedDataset", "SequenceListDataset", "Task", "TASKS", "load_task"]
