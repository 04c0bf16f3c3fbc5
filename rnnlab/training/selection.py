"""Model selection on a validation score, and early stopping.

Scores are lower-is-better (a loss, or minus an accuracy). ``state`` is any object with the fields
``best_score``, ``best_epoch`` and ``bad_epochs`` (a trainer's State dataclass), kept in its checkpoint
so that a resumed run selects as the uninterrupted one would.
"""
from __future__ import annotations


def select(state, score: float, epoch: int, params: dict, best: dict) -> bool:
    """When ``score`` beats ``state.best_score`` (strictly), record it with ``epoch``, reset the count
    of bad epochs and copy ``params`` into ``best`` (same keys, in place); else count a bad epoch.
    Returns whether the score was the best so far."""
    if score < state.best_score:
        state.best_score, state.best_epoch, state.bad_epochs = score, epoch, 0
        for k, v in params.items():
            best[k][...] = v
        return True
    state.bad_epochs += 1
    return False


def patience_spent(state, patience: int) -> bool:
    """Early stopping: ``patience`` epochs in a row without a better score (0: never)."""
    return bool(patience) and state.bad_epochs >= patience
