"""Subcommands of the ``rnnlab`` command line, one module each."""
