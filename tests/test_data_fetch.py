"""Fetching data sets (rnnlab.data.fetch, rnnlab.data.paths, `rnnlab data`) against a local HTTP server
serving small fixture files: good, corrupted, truncated, with a wrong registered checksum, and server
errors. Every failure is a clear error and leaves nothing in the cache folder."""
import hashlib
import http.server
import socket
import threading

import pytest

from rnnlab.cli import main
from rnnlab.data import paths, registry, text
from rnnlab.data.registry import DataSet, Remote

pytest.importorskip("pooch")

GOOD = b"".join(f"line {i}: to be, or not to be\n".encode() for i in range(200))
SHA = hashlib.sha256(GOOD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}     # path -> (status, body, Content-Length announced)
    seen: list = []

    def do_GET(self):
        self.seen.append(self.path)
        status, body, length = self.routes.get(self.path, (404, b"not here", None))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, tmp_path):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("RNNLAB_OFFLINE")
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    Handler.routes, Handler.seen = {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def register(monkeypatch, name, *files, folder="toy"):
    monkeypatch.setitem(registry.DATASETS, name, DataSet(name, folder, (), files, "test licence", "a fixture"))


def left_in_cache(tmp_path) -> list:
    return sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "cache").rglob("*") if p.is_file())


def test_a_good_file_is_downloaded_checked_and_kept_once(server, monkeypatch, tmp_path):
    from rnnlab.data.fetch import fetch
    Handler.routes["/good.txt"] = (200, GOOD, None)
    register(monkeypatch, "toy", Remote("input.txt", server + "/good.txt", SHA, len(GOOD)))
    folder = fetch("toy", progress=False)
    assert folder == tmp_path / "cache" / "toy" and (folder / "input.txt").read_bytes() == GOOD
    assert left_in_cache(tmp_path) == ["cache/toy/input.txt"]          # no temporary folder left
    fetch("toy", progress=False)
    assert Handler.seen == ["/good.txt"]                               # a checked file is not fetched again


@pytest.mark.parametrize("case", ["corrupted", "truncated", "wrong checksum", "404", "500"])
def test_a_bad_download_is_a_clear_error_and_leaves_nothing(server, monkeypatch, tmp_path, case):
    from rnnlab.data.fetch import FetchError, fetch
    bad = bytearray(GOOD)
    bad[100] ^= 1
    route, sha, expect = {
        "corrupted": ((200, bytes(bad), None), SHA, "does not match its checksum"),
        "truncated": ((200, GOOD[:1000], len(GOOD)), SHA, "could not download .*connection broke off"),
        "wrong checksum": ((200, GOOD, None), hashlib.sha256(b"other").hexdigest(), "does not match its checksum"),
        "404": ((404, b"gone", None), SHA, "answered HTTP 404"),
        "500": ((500, b"oops", None), SHA, "answered HTTP 500"),
    }[case]
    Handler.routes["/f.txt"] = route
    register(monkeypatch, "toy", Remote("input.txt", server + "/f.txt", sha, len(GOOD)))
    with pytest.raises(FetchError, match=f"toy: .*{expect}") as err:
        fetch("toy", progress=False)
    assert "/f.txt" in str(err.value)
    assert left_in_cache(tmp_path) == []


def test_an_unknown_checksum_is_refused_before_any_request(server, monkeypatch, tmp_path):
    from rnnlab.data.fetch import FetchError, fetch
    Handler.routes["/good.txt"] = (200, GOOD, None)
    register(monkeypatch, "toy", Remote("a.txt", server + "/good.txt", SHA, None),
             Remote("b.txt", server + "/good.txt", None, None))
    with pytest.raises(FetchError, match="no checksum is recorded for b.txt.*unverified"):
        fetch("toy", progress=False)
    assert Handler.seen == [] and left_in_cache(tmp_path) == []


def test_keep_lines_then_the_kept_file_is_checked(server, monkeypatch, tmp_path):
    from rnnlab.data.fetch import FetchError, fetch
    Handler.routes["/long.txt"] = (200, GOOD + b"appended split\n" * 5, None)
    head = b"".join(GOOD.splitlines(keepends=True)[:120])
    register(monkeypatch, "toy", Remote("train.txt", server + "/long.txt", hashlib.sha256(head).hexdigest(),
                                        len(head), keep_lines=120))
    assert (fetch("toy", progress=False) / "train.txt").read_bytes() == head
    register(monkeypatch, "toy2", Remote("train.txt", server + "/long.txt", SHA, None, keep_lines=121),
             folder="toy2")
    with pytest.raises(FetchError, match="has SHA-256 .* expected"):
        fetch("toy2", progress=False)
    assert left_in_cache(tmp_path) == ["cache/toy/train.txt"]


def test_offline_message_names_the_data_set_url_and_where_to_put_it(monkeypatch, tmp_path):
    from rnnlab.data.fetch import FetchError, fetch
    monkeypatch.delenv("RNNLAB_OFFLINE")
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    with socket.socket() as s:                      # a port nothing listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/input.txt"
    register(monkeypatch, "toy", Remote("input.txt", url, SHA, None))
    with pytest.raises(FetchError, match=f"toy: could not download {url}.*offline.*put it in "
                                         f".*cache/toy.*--data-dir"):
        fetch("toy", progress=False)
    assert left_in_cache(tmp_path) == []


def test_a_task_fetches_its_data_on_first_use(server, monkeypatch, tmp_path):
    Handler.routes["/input.txt"] = (200, GOOD, None)
    shakespeare = registry.DATASETS["tinyshakespeare"]
    monkeypatch.setitem(registry.DATASETS, "tinyshakespeare", DataSet(
        shakespeare.name, shakespeare.folder, shakespeare.tasks,
        (Remote("input.txt", server + "/input.txt", SHA, len(GOOD)),), shakespeare.license, shakespeare.source))
    monkeypatch.delenv("RNNLAB_DATA", raising=False)
    monkeypatch.setattr(paths, "SHARED", tmp_path / "no-shared")
    task = text.task(seq_len=10)
    assert set(task.meta["chars"]) == set(GOOD.decode())
    assert (tmp_path / "cache" / "tinyshakespeare" / "input.txt").read_bytes() == GOOD
    text.task(seq_len=10)                                               # found in the cache the second time
    assert Handler.seen == ["/input.txt"]


def test_data_list_and_fetch_commands(server, monkeypatch, tmp_path, capsys):
    Handler.routes["/good.txt"] = (200, GOOD, None)
    register(monkeypatch, "toy", Remote("input.txt", server + "/good.txt", SHA, len(GOOD)))
    monkeypatch.setattr(paths, "SHARED", tmp_path / "no-shared")
    monkeypatch.delenv("RNNLAB_DATA", raising=False)
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "toy (missing; tasks: )" in out and f"missing; from {server}/good.txt" in out
    assert "fashion-mnist" in out and "MIT (Zalando SE)" in out
    assert main(["data", "fetch", "toy", "--data-dir", str(tmp_path / "mine"), "--no-progress"]) == 0
    assert (tmp_path / "mine" / "toy" / "input.txt").read_bytes() == GOOD
    assert main(["data", "list", "--data-dir", str(tmp_path / "mine")]) == 0
    assert f"input.txt ({len(GOOD) / 1e3:.1f} kB, sha256 {SHA[:12]}...): {tmp_path / 'mine' / 'toy' / 'input.txt'}" in capsys.readouterr().out
    Handler.routes["/good.txt"] = (500, b"", None)
    assert main(["data", "fetch", "toy", "--no-progress"]) == 2
    assert "rnnlab data: error: toy: " in capsys.readouterr().err and left_in_cache(tmp_path) == []
    assert main(["data", "fetch", "nothing-known"]) == 2
    assert "NAME: expected one of" in capsys.readouterr().err


def test_registered_checksums_and_sizes_match_the_shared_copies():
    from rnnlab.data.fetch import sha256
    checked = 0
    for ds in registry.DATASETS.values():
        for f in ds.files:
            path = paths.SHARED / ds.folder / f.name
            if f.sha256 and path.is_file():
                assert (sha256(path), path.stat().st_size) == (f.sha256, f.size), path
                checked += 1
    if not checked:
        pytest.skip("no ../shared/data beside the repository")
    assert checked == 8                    # SST's three splits, Tiny Shakespeare, the four piano-roll files
