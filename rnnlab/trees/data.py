"""The Stanford Sentiment Treebank splits: where they are, reading them, the binary task's subset.

The folder holding train.txt / dev.txt / test.txt is looked for, or fetched, as rnnlab.data.paths
says (the ``data_dir`` given, or a data root with an ``sst/`` folder inside, first).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..data.paths import dataset_file
from .ptb import Tree, read_trees

SPLITS = ("train", "dev", "test")
NUM_CLASSES = 5
LABEL_NAMES = ("very negative", "negative", "neutral", "positive", "very positive")


def sst_dir(data_dir: str | os.PathLike | None = None) -> Path:
    return dataset_file("sst", "train.txt", data_dir).parent


def load_split(name: str, data_dir=None) -> list[Tree]:
    if name not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {name!r}")
    return read_trees(sst_dir(data_dir) / f"{name}.txt", NUM_CLASSES)


def is_polar(tree: Tree) -> bool:
    """Kept in the binary task: the root is not neutral."""
    return tree.label != 2
