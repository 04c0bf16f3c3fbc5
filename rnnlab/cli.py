"""The ``rnnlab`` command: a thin dispatcher. Each subcommand lives in ``rnnlab/commands/<name>.py``
with ``add_parser(subparsers)`` and ``run(args) -> int``.

A command is a training or evaluation process, so ``main`` keeps freed memory for reuse
(``rnnlab.memory.keep_freed_memory``; ``RNNLAB_MALLOC=0`` turns it off)."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from .engine import check_environment as check_engine_environment
from .engine.threads import enabled as threads_enabled
from .extras import MissingExtra
from .memory import keep_freed_memory
from .training.distributed import maybe_guard as mpi_guard

# Commands in the order ``rnnlab --help`` lists them; a name whose module is not there yet is skipped.
COMMANDS = ["train", "predict", "evaluate", "sample", "compare", "gradflow", "gradcheck", "summary", "sst", "convert",
            "info", "viz", "data"]


class Parser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line, like the commands' own: ``rnnlab train: error:
    argument --hidden: invalid int value: 'abc'; see rnnlab train --help``, without the
    usage block argparse prints first (30 lines for ``rnnlab train``). Flags must be given whole:
    argparse would take ``rnnlab evaluate --data f`` as ``--data-dir f`` and go on silently."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def make_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="rnnlab", description="Recurrent networks whose math is the code.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")       # its parsers are Parser too
    parser.commands = {}
    for name in COMMANDS:
        if importlib.util.find_spec(f"rnnlab.commands.{name}") is None:
            continue
        module = importlib.import_module(f"rnnlab.commands.{name}")
        p = module.add_parser(sub)
        p.set_defaults(run=module.run)
        parser.commands[name] = p
    return parser


def innermost(parser: argparse.ArgumentParser, args) -> argparse.ArgumentParser:
    """The parser of the deepest subcommand ``args`` chose below ``parser`` (``rnnlab data fetch``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and getattr(args, action.dest, None) in action.choices:
            return innermost(action.choices[getattr(args, action.dest)], args)
    return parser


def main(argv=None) -> int:
    keep_freed_memory()
    parser = make_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:                                          # name the command they were given to
        given = list(sys.argv[1:] if argv is None else argv)
        before = args.command not in given or given.index(extra[0]) < given.index(args.command)
        owner = parser if before else innermost(parser.commands[args.command], args)
        owner.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        with mpi_guard(f"rnnlab {args.command}"):      # under mpiexec: an error on a rank ends the job
            threads_enabled()                          # a bad RNNLAB_THREADS is refused before any work,
            check_engine_environment()                 # and a bad RNNLAB_ENGINE or RNNLAB_ENGINE_THREADS
            return int(args.run(args) or 0)
    except BrokenPipeError:                            # the reader went away (`rnnlab info | head`)
        sys.stderr.close()
        return 0
    except (ValueError, OSError, MissingExtra) as err:  # FormatError (a malformed file) is a ValueError;
        message = " ".join(str(err).split())             # OSError: a path that cannot be read or written
        print(f"rnnlab {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
