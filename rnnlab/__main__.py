"""``python -m rnnlab``: the ``rnnlab`` command (rnnlab.cli)."""
import sys

from .cli import main

sys.exit(main())
