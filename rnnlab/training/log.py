"""The metrics a run writes: one JSON line per epoch, and the final numbers as one JSON file."""
from __future__ import annotations

import json

from ..saving import atomic_write


def log_line(path, line: dict) -> None:
    """Append ``line`` as one JSON line to ``path`` (None: nowhere)."""
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def write_lines(path, lines: list) -> None:
    """Replace ``path`` atomically by ``lines``, one JSON line each (a resumed run's log up to its checkpoint)."""
    atomic_write(path, lambda f: f.write("".join(json.dumps(h) + "\n" for h in lines).encode()))


def write_json(path, data: dict) -> None:
    """``data`` as indented JSON, written atomically."""
    atomic_write(path, lambda f: f.write((json.dumps(data, indent=2) + "\n").encode()))


def format_line(line: dict, skip=("engine",)) -> str:
    """A log line for people: ``epoch 3 train_loss 0.1234 ...``, floats to 4 significant digits."""
    return " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in line.items() if k not in skip)
