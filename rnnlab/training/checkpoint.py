"""Checkpoints: named arrays and a JSON header in one .npz, written atomically, read without pickle.

    arrays   param/<key>, and what the trainer adds (best/<key>, opt/<slot>/<key>, ...)
    header   a 0-d string array under ``header_key`` holding JSON: configuration, where training
             stands, random generator states

Exact resume needs every input of the next floating-point operation: parameters, optimizer state
(moments, step count), the position in the data stream and the random generators' states; the
trainers put these in their checkpoints and restore them with the helpers below.
"""
from __future__ import annotations

import json

import numpy as np

from ..saving import atomic_write


def write_npz(path, header_key: str, header: dict, arrays: dict) -> None:
    """Write ``arrays`` and ``header`` (JSON under ``header_key``) to ``path`` atomically: a crash
    leaves the previous file whole."""
    arrays = {**arrays, header_key: np.array(json.dumps(header))}
    atomic_write(path, lambda f: np.savez(f, **arrays))


def prefixed(prefix: str, arrays: dict) -> dict:
    """``{prefix + key: array}``, e.g. ``prefixed("param/", model.params)``."""
    return {prefix + k: v for k, v in arrays.items()}


def unprefixed(prefix: str, arrays: dict) -> dict:
    """The arrays under ``prefix``, without it: the inverse of ``prefixed``."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def generator_state(rng: np.random.Generator) -> dict:
    """A NumPy generator's state as JSON-able data (its bit generator's state dict)."""
    return rng.bit_generator.state


def set_generator_state(rng: np.random.Generator, state: dict) -> None:
    """Put a generator back where ``generator_state`` found it: the same draws follow."""
    rng.bit_generator.state = state
