"""Downloading a registered data set (rnnlab.data.registry) into the user cache folder with pooch:
each file from its canonical URL, with a progress bar, checked against its checksum, and moved into
place only once checked, so that an interrupted, truncated or corrupted download leaves nothing in the
data set's folder. Needs the ``fetch`` extra: ``pip install 'rnnlab[fetch]'`` (pooch, platformdirs).

A file whose checksum is not known is not downloaded: ``fetch`` refuses the whole data set and says
which file, before contacting any server.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from ..extras import require
from . import paths, registry


class FetchError(FileNotFoundError):
    """A data set's files could not be had: a failed download, a checksum that does not match, or a
    file of unknown checksum. A FileNotFoundError, since the data the caller asked for is missing."""


def require_pooch():
    return require("pooch", "downloading data sets needs pooch: pip install 'rnnlab[fetch]'")


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _keep_lines(path: Path, n: int) -> None:
    with open(path, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    with open(path, "wb") as f:
        f.write(b"".join(lines[:n]))


def _is_good(path: Path, remote: registry.Remote) -> bool:
    """Whether a file already in place is the registered one: its SHA-256, else the served bytes' hash."""
    if not path.is_file():
        return False
    if remote.sha256 is not None:
        return sha256(path) == remote.sha256
    algorithm, _, digest = remote.served_hash.partition(":")
    return require_pooch().file_hash(str(path), alg=algorithm) == digest


def _download(ds: registry.DataSet, remote: registry.Remote, folder: Path, progress: bool) -> None:
    """Download ``remote`` into a temporary folder inside ``folder``, check it, then move it into place."""
    pooch = require_pooch()
    import requests
    by_hand = (f"Download {remote.url} yourself and put it in {folder} (or in a folder given by --data-dir "
               f"or $RNNLAB_DATA).")
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder) as tmp:
        try:
            got = Path(pooch.retrieve(remote.url, known_hash=remote.served_hash, fname=remote.name, path=tmp,
                                      progressbar=progress))
        except requests.HTTPError as err:
            raise FetchError(f"{ds.name}: {remote.url} answered HTTP {err.response.status_code} "
                             f"({err.response.reason}). {by_hand}") from None
        except requests.RequestException as err:
            raise FetchError(f"{ds.name}: could not download {remote.url} ({type(err).__name__}: {err}); "
                             f"offline, or the connection broke off. {by_hand}") from None
        except ValueError as err:                        # pooch: the served bytes do not match their hash
            raise FetchError(f"{ds.name}: {remote.name} downloaded from {remote.url} does not match its "
                             f"checksum ({' '.join(str(err).split())}); nothing was kept.") from None
        if remote.keep_lines is not None:
            _keep_lines(got, remote.keep_lines)
        if remote.sha256 is not None and sha256(got) != remote.sha256:
            raise FetchError(f"{ds.name}: {remote.name} from {remote.url} has SHA-256 {sha256(got)}, expected "
                             f"{remote.sha256}; nothing was kept.")
        os.replace(got, folder / remote.name)


def fetch(name: str, dest: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Download registered data set ``name`` (or the data set a task reads, e.g. "jsb") into
    ``dest``/<its folder>, by default the user cache folder (rnnlab.data.paths.cache_dir), and return
    that folder. Files already there with the right checksum are kept. Raises FetchError (nothing
    half-written is left) and ImportError without the ``fetch`` extra."""
    ds = registry.dataset(name)
    unknown = [f.name for f in ds.files if not f.verified]
    if unknown:
        raise FetchError(f"{ds.name}: no checksum is recorded for {', '.join(unknown)}, so rnnlab does not "
                         f"download it unverified. Put the files in a folder by hand ({paths.WHERE}).")
    require_pooch()
    folder = Path(dest if dest is not None else paths.cache_dir()) / ds.folder
    folder.mkdir(parents=True, exist_ok=True)
    for remote in ds.files:
        if not _is_good(folder / remote.name, remote):
            _download(ds, remote, folder, progress)
    return folder
