"""The Stanford Sentiment Treebank splits: where they are, reading them, the binary task's subset.

The folder is, first found: the ``data_dir`` given (flag), the environment variable RNNLAB_DATA,
then ``../shared/data`` beside the repository root. Either the folder holding train.txt / dev.txt /
test.txt or a data root with an ``sst/`` folder inside is accepted.
"""
from __future__ import annotations

import os
from pathlib import Path

from .ptb import Tree, read_trees

SPLITS = ("train", "dev", "test")
NUM_CLASSES = 5
LABEL_NAMES = ("very negative", "negative", "neutral", "positive", "very positive")
REPO_ROOT = Path(__file__).resolve().parents[2]


def sst_dir(data_dir: str | os.PathLike | None = None) -> Path:
    given = data_dir or os.environ.get("RNNLAB_DATA")
    base = Path(given) if given else REPO_ROOT.parent / "shared" / "data"
    for folder in (base, base / "sst"):
        if (folder / "train.txt").is_file():
            return folder
    origin = "data_dir" if data_dir else "RNNLAB_DATA" if given else "the default path"
    raise FileNotFoundError(f"{origin}: no SST split train.txt in {str(base)!r} or {str(base / 'sst')!r}")


def load_split(name: str, data_dir=None) -> list[Tree]:
    if name not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {name!r}")
    return read_trees(sst_dir(data_dir) / f"{name}.txt", NUM_CLASSES)


def is_polar(tree: Tree) -> bool:
    """Kept in the binary task: the root is not neutral."""
    return tree.label != 2
