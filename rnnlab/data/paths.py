"""Where data files are looked for, fetching a known data set on first use, and the error that says
where when a file cannot be had.

Data roots, in order: a ``--data-dir`` given by the user, the environment variable ``RNNLAB_DATA``,
the user cache folder (``cache_dir()``: ``$RNNLAB_CACHE``, else platformdirs' user cache folder for
"rnnlab", e.g. ``~/.cache/rnnlab`` on Linux), and, for development and CI, ``../shared/data`` beside
the repository when it exists. Each data set of rnnlab.data.registry has its own sub-folder (``sst``,
``polyphonic``, ...), looked for under each root and at the root itself, and then any system folder a
package installs it in (Debian's ``/usr/share/datasets/fashion-mnist``).

When none holds a file of a registered data set, ``dataset_file`` downloads the data set into the
cache folder (rnnlab.data.fetch) unless ``RNNLAB_OFFLINE=1``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import registry

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = (REPO_ROOT / ".." / "shared" / "data").resolve()      # the project's read-only copies, if present
WHERE = "--data-dir, $RNNLAB_DATA, the user cache folder, ../shared/data beside the repository"


def cache_dir() -> Path:
    """``$RNNLAB_CACHE`` if set, else the platform's user cache folder for rnnlab (platformdirs, part
    of the ``fetch`` extra; without it ``$XDG_CACHE_HOME/rnnlab``, by default ``~/.cache/rnnlab``)."""
    if os.environ.get("RNNLAB_CACHE"):
        return Path(os.environ["RNNLAB_CACHE"])
    try:
        from platformdirs import user_cache_dir
    except ImportError:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "rnnlab"
    return Path(user_cache_dir("rnnlab", appauthor=False))


def roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The data roots in the order they are searched (see the module docstring). A ``data_dir`` given
    must be a folder: FileNotFoundError otherwise."""
    if data_dir and not Path(data_dir).is_dir():
        raise FileNotFoundError(f"data_dir (--data-dir): expected a folder, got {str(data_dir)!r}, which is not one")
    out = [Path(data_dir)] if data_dir else []
    if os.environ.get("RNNLAB_DATA"):
        out.append(Path(os.environ["RNNLAB_DATA"]))
    out.append(cache_dir())
    if SHARED.is_dir():
        out.append(SHARED)
    return out


def candidates(data_dir, subfolder: str, system: tuple = ()) -> list[Path]:
    """Folders to search, most specific first, without repeats: each root's ``subfolder``, then the
    root itself, then the ``system`` folders."""
    folders = [f for root in roots(data_dir) for f in (root / subfolder, root)] + [Path(s) for s in system]
    seen, out = set(), []
    for f in folders:
        key = os.path.abspath(f)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def search(names: list[str], folders: list[Path]) -> Path | None:
    """The first folder/name that is a file, or None."""
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def find_file(names: list[str], folders: list[Path], what: str) -> Path:
    """The first folder/name that exists; else FileNotFoundError listing every path tried."""
    found = search(names, folders)
    if found is None:
        raise FileNotFoundError(f"{what}: no file found; looked for {' or '.join(names)} in "
                                f"{', '.join(str(f) for f in folders)}. Pass --data-dir or set RNNLAB_DATA.")
    return found


def accepted_names(filename: str) -> list[str]:
    """A ``.gz`` file of the registry may also be kept unpacked."""
    return [filename, filename[:-3]] if filename.endswith(".gz") else [filename]


def locate(name: str, data_dir=None) -> dict:
    """{file name: path or None} for each file of registered data set ``name``, as found now."""
    ds = registry.dataset(name)
    folders = candidates(data_dir, ds.folder, ds.system)
    return {f.name: search(accepted_names(f.name), folders) for f in ds.files}


def offline() -> bool:
    return os.environ.get("RNNLAB_OFFLINE", "") not in ("", "0")


def dataset_file(name: str, filename: str, data_dir=None) -> Path:
    """The path of ``filename`` of registered data set ``name``: found under the data roots, or else
    downloaded with the rest of the data set into the cache folder. Raises FileNotFoundError (when
    offline: naming every folder tried, the URL and where to put the file by hand) or
    rnnlab.data.fetch.FetchError (a FileNotFoundError) when the download fails."""
    ds = registry.dataset(name)
    remote = registry.remote(ds, filename)
    folders = candidates(data_dir, ds.folder, ds.system)
    found = search(accepted_names(filename), folders)
    if found is not None:
        return found
    where = cache_dir() / ds.folder
    missing = (f"{ds.name}: no {filename} in {', '.join(str(f) for f in folders)}, and {{why}}. Download "
               f"{remote.url} and put it in {where} (or in a folder given by --data-dir or $RNNLAB_DATA).")
    if offline():
        raise FileNotFoundError(missing.format(why=f"RNNLAB_OFFLINE is set (`rnnlab data fetch {ds.name}` "
                                                   f"downloads it online)"))
    try:
        from .fetch import fetch, require_pooch
        require_pooch()
    except ImportError:
        raise FileNotFoundError(missing.format(why="fetching it needs pooch: pip install 'rnnlab[fetch]'")) from None
    print(f"{ds.name}: {filename} not found in {WHERE}; fetching it into {where}", file=sys.stderr)
    return fetch(ds.name) / filename
