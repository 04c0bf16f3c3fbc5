"""Checks of command-line flags, in one line each: the message names the flag as the user typed it
(``--temperature``, not ``temperature``), says what was expected and what came. argparse has already
turned the text into an int or float (so ``nan`` and ``inf`` arrive as floats); these checks add
finiteness and range. ``rnnlab.cli`` prints the ValueError as one line, without a traceback."""
from __future__ import annotations

import os

from ..checks import check_int, check_real


def check_flag_real(flag: str, value, low: float | None = None, high: float | None = None,
                    low_open: bool = False, high_open: bool = False) -> float:
    """``value`` of ``flag`` as a finite float within [low, high] (ends excluded when open)."""
    return check_real(flag, value, low=low, high=high, low_open=low_open, high_open=high_open)


def check_flag_int(flag: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` of ``flag`` as an int within [low, high]."""
    return check_int(flag, value, low=low, high=high)


def reword(flag: str, err: ValueError) -> ValueError:
    """A ValueError from the library, reworded to start with the flag the value came from."""
    return ValueError(f"{flag}: {err}")


def check_flag_output(flag: str, path: str | None, ending: str, inputs: dict[str, str]) -> None:
    """``path`` of ``flag``, a file to write, ends in ``ending`` (e.g. ``.html``, any case), is not a
    folder and is none of ``inputs`` (what the command reads, by the name the user knows it as):
    writing a picture or predictions must never replace the model or the data they come from.
    ``None`` (flag not given) passes."""
    if path is None:
        return
    if not path or os.path.isdir(path):
        raise ValueError(f"{flag}: expected a file path, got {path!r}" + (" (a folder)" if path else ""))
    if not path.lower().endswith(ending):
        raise ValueError(f"{flag}: expected a file name ending in {ending}, got {path!r}")
    for name, source in inputs.items():
        if source and os.path.exists(path) and os.path.exists(source) and os.path.samefile(path, source):
            raise ValueError(f"{flag}: {path!r} is the {name} file; write the output to another path")


def check_output(flag: str, path: str | None, ending: str, inputs: dict, folders: dict | None = None) -> None:
    """An output file of a command (``flag``), checked before the work, so that writing it never replaces
    or adds to what a run reads or keeps: a file path ending in ``ending``, none of ``inputs`` (the
    files the command or the run reads, by the names the user knows them as: ``check_flag_output``),
    outside each of ``folders`` (a --text-classes folder: a new file there would be read as an
    example), not a run's own file (metrics.json, metrics.jsonl, model.npz, checkpoint.npz in a folder
    that holds a run), in a folder that exists or can be made and takes a new file. A ValueError naming
    ``flag`` otherwise; None passes."""
    if path is None:
        return
    check_flag_output(flag, path, ending, inputs)
    where = os.path.realpath(path)
    for name, folder in (folders or {}).items():
        if folder and os.path.isdir(folder) and os.path.commonpath([os.path.realpath(folder), where]) == \
                os.path.realpath(folder):
            raise ValueError(f"{flag}: {path!r} is inside the {name} folder {folder!r}, whose files the run reads; "
                             f"write to another path")
    check_outside_runs(flag, path)
    check_writable(flag, path)


def holds_run(folder: str, but: str | None = None) -> bool:
    """Whether ``folder`` holds a training run: its checkpoint beside its lock file (.lock, which a run
    folder keeps) or another of its files; ``but``: a path not counted (the output itself)."""
    from ..train import CHECKPOINT, RUN_FILES
    from ..training.run_folder import LOCK
    there = [f for f in (LOCK, *RUN_FILES) if os.path.exists(os.path.join(folder, f)) and os.path.join(folder, f) != but]
    return CHECKPOINT in there and len(there) > 1


def check_outside_runs(flag: str, path: str) -> None:
    """A ValueError naming ``flag`` when the file ``path`` would be a run's own file or land in a run
    folder or below it (``holds_run``: its --overwrite refuses any other file)."""
    from ..train import RUN_FILES
    where = os.path.realpath(path)
    folder = os.path.dirname(where)
    while True:
        if holds_run(folder, where):
            what = "a file of the run in" if os.path.dirname(where) == folder and os.path.basename(where) in \
                RUN_FILES else "inside the run folder"
            raise ValueError(f"{flag}: {path!r} is {what} {folder!r}, which holds the run's own files only "
                             f"(--overwrite refuses others); write to another path")
        up = os.path.dirname(folder)
        if up == folder:
            return
        folder = up


def check_writable(flag: str, path: str) -> None:
    """A ValueError naming ``flag`` unless the file ``path`` can be made: its folder exists and takes a new
    file, or the missing folders can be made in the nearest one that exists."""
    folder = os.path.dirname(os.path.abspath(path))
    parent = folder
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise ValueError(f"{flag}: cannot write {path!r}: {parent!r} is a file, not a folder")
    import tempfile                                     # a file (or the missing folders) can be made there
    try:
        if parent == folder:
            with tempfile.TemporaryFile(dir=folder):
                pass
        else:
            with tempfile.TemporaryDirectory(dir=parent):
                pass
    except OSError as err:
        raise ValueError(f"{flag}: cannot write {path!r} ({err.strerror or err})") from None


def check_metrics_json(path: str | None, inputs: dict, folders: dict | None = None) -> None:
    """--metrics-json: a .json file, checked as ``check_output`` checks a command's output."""
    check_output("--metrics-json", path, ".json", inputs, folders)


def run_inputs(cfg) -> tuple[dict, dict]:
    """({"run's --flag": file}, {"run's --flag": folder}) of the data a run's configuration ``cfg`` (a Config,
    or the dict a model file records) reads, named for ``check_output``'s messages."""
    get = cfg.get if isinstance(cfg, dict) else (lambda k: getattr(cfg, k, None))
    files = {f"run's {flag}": get(dest) for flag, dest in (("--data", "data"), ("--valid", "valid_data"),
                                                           ("--csv", "csv"), ("--text", "text_path"))}
    return files, {"run's --text-classes": get("text_classes")}


def write_metrics_json(path: str | None, metrics: dict) -> None:
    """``metrics`` to --metrics-json's ``path`` (atomically), an OSError named by the flag; None: nothing."""
    if path is None:
        return
    from ..training.log import write_json
    try:
        write_json(path, metrics)
    except OSError as err:
        raise ValueError(f"--metrics-json: cannot write {path!r} ({err.strerror or err})") from None


def check_model_file(path: str, command: str, checkpoint_ok: bool = False) -> None:
    """The positional ``model`` argument of ``rnnlab <command>``: an existing file (FileNotFoundError
    naming ``model`` otherwise), and, unless ``checkpoint_ok``, not a run's training checkpoint
    (ValueError pointing at the model file a run writes beside it)."""
    from ..train import MODEL, is_checkpoint
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model: no file at {path!r}" + (" (it is a folder)" if os.path.isdir(path) else ""))
    if not checkpoint_ok and is_checkpoint(path):
        raise ValueError(f"model: {path!r} is a run's training checkpoint (for --resume and rnnlab evaluate); "
                         f"rnnlab {command} reads a saved model, such as the run's {MODEL} beside it")


def read_data_file(path: str, command: str) -> tuple:
    """(x, y, lengths) of the --data .npz file ``path`` (rnnlab.data.arrays.read_npz), saying on stderr
    which of its keys ``rnnlab <command>`` does not read (a misspelt 'lenghts')."""
    import sys
    from ..data.arrays import read_npz, unread_note
    unread: list = []
    arrays = read_npz(path, "--data", unread)
    if unread:
        print(f"rnnlab {command}: {unread_note('--data', path, unread)}", file=sys.stderr)
    return arrays
