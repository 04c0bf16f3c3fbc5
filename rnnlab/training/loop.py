"""The training loop's skeleton, shared by every model family, in named steps:

    1. start or resume    the trainer builds data, model, optimizer and state (fresh or from its checkpoint)
    2. run an epoch       or the rest of one, on resume; it may stop early (a time limit, an interruption)
    3. validate and select
    4. checkpoint
    5. stop?              early stopping, a callback
    6. finish             the trainer tests the best parameters and writes its final files

``held`` holds the run folder for steps 1-6 (the previous run, replaced, is removed after step 1); ``epochs`` runs steps 2-5 until the epochs are done.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, NamedTuple

import numpy as np

from .run_folder import open_run, writing


class EpochEnd(NamedTuple):
    """How an epoch ended. ``stopped``: cut short (no further epoch runs); ``validate``: the epoch,
    whole or cut short, is validated and checkpointed (else the trainer checkpointed where it stopped)."""
    stopped: bool = False
    validate: bool = True


@contextmanager
def held(out, run_files, resume: bool = False, overwrite: bool = False, flag: str = "--out"):
    """Hold the run folder ``out`` (None: no folder) for a run: its lock and rules (run_folder.open_run),
    errors named by ``flag`` (the command's --out, or rnnlab.fit's out=). Yields ``begin``: call it once everything that can fail before
    training (config, data, memory, model) passed; with ``overwrite`` it removes the previous run then,
    so a refused run keeps it (a no-op without a folder or on resume). NumPy's overflow warnings are silenced: the divergence checks stop
    the run with its epoch and step, the warnings would only print before that message."""
    with np.errstate(over="ignore", invalid="ignore"):
        if not out:
            yield lambda: None
            return
        with open_run(out, run_files, resume=resume, overwrite=overwrite, flag=flag) as begin, writing(out, flag):
            yield begin


def epochs(state, num_epochs: int, run_epoch: Callable[[], EpochEnd], validate_and_select: Callable[[], None],
           checkpoint: Callable[[], None], should_stop: Callable[[], bool]) -> bool:
    """Steps 2-5 from ``state.epoch`` (epochs finished; ``validate_and_select`` moves it on) until
    ``num_epochs``. Returns True when the run was interrupted inside an epoch (not validated)."""
    while state.epoch < num_epochs:
        end = run_epoch()                       # 2. run an epoch
        if end.stopped and not end.validate:
            return True
        validate_and_select()                   # 3. validate and select
        checkpoint()                            # 4. checkpoint
        if should_stop() or end.stopped:        # 5. stop?
            break
    return False
