"""The ``rnnlab`` command: a thin dispatcher. Each subcommand lives in ``rnnlab/commands/<name>.py``
with ``add_parser(subparsers)`` and ``run(args) -> int``.

A command is a training or evaluation process, so ``main`` keeps freed memory for reuse
(``rnnlab.memory.keep_freed_memory``; ``RNNLAB_MALLOC=0`` turns it off)."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from .extras import MissingExtra
from .memory import keep_freed_memory
from .training.distributed import maybe_guard as mpi_guard

# Commands in the order ``rnnlab --help`` lists them; a name whose module is not there yet is skipped.
COMMANDS = ["train", "predict", "evaluate", "sample", "compare", "gradflow", "gradcheck", "summary", "sst", "convert",
            "info", "viz", "data"]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnlab", description="Recurrent networks whose math is the code.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if importlib.util.find_spec(f"rnnlab.commands.{name}") is None:
            continue
        module = importlib.import_module(f"rnnlab.commands.{name}")
        p = module.add_parser(sub)
        p.set_defaults(run=module.run)
    return parser


def main(argv=None) -> int:
    keep_freed_memory()
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        with mpi_guard(f"rnnlab {args.command}"):      # under mpiexec: an error on a rank ends the job
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
