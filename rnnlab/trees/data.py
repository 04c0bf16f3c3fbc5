"""The Stanford Sentiment Treebank splits: where they are, reading them, the binary task's subset.

The folder is under the data root of rnnlab.data.paths (the ``data_dir`` given, else $RNNLAB_DATA,
else the default): either the folder holding train.txt / dev.txt / test.txt or a data root with an
``sst/`` folder inside is accepted. A ``data_dir`` given is the only place looked in.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..data.paths import data_root
from .ptb import Tree, read_trees

SPLITS = ("train", "dev", "test")
NUM_CLASSES = 5
LABEL_NAMES = ("very negative", "negative", "neutral", "positive", "very positive")


def sst_dir(data_dir: str | os.PathLike | None = None) -> Path:
    base = data_root(data_dir)
    for folder in (base, base / "sst"):
        if (folder / "train.txt").is_file():
            return folder
    origin = "data_dir" if data_dir else "RNNLAB_DATA" if os.environ.get("RNNLAB_DATA") else "the default path"
    raise FileNotFoundError(f"{origin}: no SST split train.txt in {str(base)!r} or {str(base / 'sst')!r}")


def load_split(name: str, data_dir=None) -> list[Tree]:
    if name not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {name!r}")
    return read_trees(sst_dir(data_dir) / f"{name}.txt", NUM_CLASSES)


def is_polar(tree: Tree) -> bool:
    """Kept in the binary task: the root is not neutral."""
    return tree.label != 2
