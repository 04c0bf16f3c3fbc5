"""Checks of command-line flags, in one line each: the message names the flag as the user typed it
(``--temperature``, not ``temperature``), says what was expected and what came. argparse has already
turned the text into an int or float (so ``nan`` and ``inf`` arrive as floats); these checks add
finiteness and range. ``rnnlab.cli`` prints the ValueError as one line, without a traceback."""
from __future__ import annotations

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
