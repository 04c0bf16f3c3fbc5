"""Where data files are looked for, and the error that says where when one is missing.

The data root is, in order: a ``--data-dir`` given by the user, the environment variable
``RNNLAB_DATA``, and ``../shared/data`` relative to the repository root (the project's read-only
copies). Each reader adds its own sub-folder and any system folder (e.g. the Debian package's
``/usr/share/datasets/fashion-mnist``).
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    if data_dir:
        return Path(data_dir)
    if os.environ.get("RNNLAB_DATA"):
        return Path(os.environ["RNNLAB_DATA"])
    return (REPO_ROOT / ".." / "shared" / "data").resolve()


def candidates(data_dir, subfolder: str, system: tuple = ()) -> list[Path]:
    """Folders to search, most specific first, without repeats."""
    folders = []
    if data_dir:
        folders += [Path(data_dir), Path(data_dir) / subfolder]
    root = data_root(None)
    folders += [root / subfolder, root] + [Path(s) for s in system]
    seen, out = set(), []
    for f in folders:
        key = os.path.abspath(f)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def find_file(names: list[str], folders: list[Path], what: str) -> Path:
    """The first folder/name that exists; else FileNotFoundError listing every path tried."""
    tried = []
    for folder in folders:
        for name in names:
            path = folder / name
            if path.is_file():
                return path
            tried.append(str(path))
    raise FileNotFoundError(f"{what}: no file found; looked for {' or '.join(names)} in "
                            f"{', '.join(str(f) for f in folders)}. Pass --data-dir or set RNNLAB_DATA.")
