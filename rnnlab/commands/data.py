"""``rnnlab data``: the public data sets rnnlab knows, where they are, and downloading them.

    rnnlab data list                    # each data set: tasks, license, source, files present and where
    rnnlab data fetch sst               # download into the user cache folder, checked by checksum
    rnnlab data fetch jsb --data-dir D  # a task's data set, into D/polyphonic
"""
from __future__ import annotations

from ..data import paths, registry


def add_parser(subparsers):
    p = subparsers.add_parser("data", help="list the known data sets and where they are; fetch one",
                              description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="each data set: tasks, license, source, and its files present or missing")
    ls.add_argument("--data-dir", default=None, help=f"looked in first (then {paths.WHERE.split(', ', 1)[1]})")
    fetch = sub.add_parser("fetch", help="download a data set from its canonical address, checking its checksum")
    fetch.add_argument("name", metavar="NAME", help=f"one of {', '.join(registry.DATASETS)}, or a task that reads one")
    fetch.add_argument("--data-dir", default=None, help="download into this folder (default: the user cache folder)")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _size(n: int | None) -> str:
    return "size unknown" if n is None else f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def _checksum(f: registry.Remote) -> str:
    if f.sha256:
        return "sha256 " + f.sha256[:12] + "..."
    if f.served_hash:
        algorithm, _, digest = f.served_hash.partition(":")
        return f"{algorithm} {digest[:12]}... (publisher's)"
    return "no known checksum: not fetched"


def format_list(data_dir=None) -> str:
    lines = [f"data roots searched: {', '.join(str(r) for r in paths.roots(data_dir))}",
             f"fetched into: {paths.cache_dir()}"]
    for ds in registry.DATASETS.values():
        found = paths.locate(ds.name, data_dir)
        state = "present" if all(found.values()) else "missing" if not any(found.values()) else "partly present"
        lines += ["", f"{ds.name} ({state}; tasks: {', '.join(ds.tasks)})", f"  source: {ds.source}",
                  f"  license: {ds.license}"]
        for f in ds.files:
            where = str(found[f.name]) if found[f.name] else f"missing; from {f.url}"
            lines.append(f"  {f.name} ({_size(f.size)}, {_checksum(f)}): {where}")
    return "\n".join(lines)


def run(args) -> int:
    if args.action == "list":
        print(format_list(args.data_dir))
        return 0
    from ..data.fetch import fetch
    folder = fetch(args.name, args.data_dir, progress=not args.no_progress)
    print(f"{registry.dataset(args.name).name}: {folder}")
    return 0
