"""Optional extras, imported when a feature needs them: one place for the lazy import and its message."""
from __future__ import annotations

import importlib


class MissingExtra(ImportError):
    """An optional dependency (an extra of rnnlab's package) is not installed; the message names the
    extra to install. The command line prints it as a one-line error."""


def require(module: str, message: str):
    """``importlib.import_module(module)``; where it is not installed, an ImportError with ``message``
    (which names the feature and the extra to install, e.g. ``pip install 'rnnlab[torch]'``)."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtra(message) from err
