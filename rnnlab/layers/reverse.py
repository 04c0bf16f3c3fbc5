"""Reverse each sequence in time: ONNX's ``ReverseSequence`` and TensorFlow's ``tf.reverse_sequence``,
batch-major. With L_n = lengths[n] (T for every sequence when lengths is None):

    y[n, t] = x[n, L_n - 1 - t]    for t < L_n
    y[n, t] = x[n, t]              for t >= L_n (the padding stays where it is)

Shapes: x and y (N, T, F). The map is a permutation of the steps of each sequence and its own inverse,
so the backward applies it to dy:

    dx[n, t] = dy[n, L_n - 1 - t]  for t < L_n,   dx[n, t] = dy[n, t] after

Why rnnlab has it: a reverse-only recurrent layer (``direction="reverse"``) returns its outputs in input
order, y[:, t] being its state after reading x[:, T-1] .. x[:, t]; Keras' ``go_backwards=True`` returns
them in processing order, its output s being the state after reading s + 1 steps from the end. So

    Keras LSTM(H, go_backwards=True, return_sequences=True)  = [LSTM(D, H, direction="reverse"), ReverseSequence()]
    Keras LSTM(H, go_backwards=True)                         = the same, then LastStep()

for batches without padding. With ``lengths`` (rnnlab's convention: each sequence padded at its end)
the padding stays at the end, so the layers after it read ``lengths`` as before.

With a per-step ``mask`` (N, T) instead (Keras' masks, from Masking or Embedding(mask_zero=True)), the
whole padded time axis is reversed, as Keras' go_backwards returns it (keras.src.backend rnn: the
inputs and the mask are flipped in time, the outputs stay in processing order):

    y[n, t] = x[n, T - 1 - t]      for every t, masked or not

so the outputs at masked steps go with the steps they were computed at: a sequence padded at the end
gets its padding's outputs first. The mask itself is not moved: Keras' ``compute_mask`` passes the
input mask on unchanged to the next layer, which so reads mask[n, t] with y[n, t] (rnnlab.models.
Sequential does the same). The last output of the sweep, y[n, T - 1] = x[n, 0], is the output after
the last valid step in processing order (the first in input order) with carried outputs; Sequential
gives a LastStep right after ReverseSequence the mask reversed in time, mask[:, ::-1], whose last valid
step is that one.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..checks import check_float_array, check_lengths
from .recurrent import check_mask


class ReverseSequenceCache(NamedTuple):
    index: np.ndarray    # (N, T) the step y[n, t] reads: L_n - 1 - t, or t in the padding


def reverse_index(N: int, T: int, lengths) -> np.ndarray:
    """(N, T) ints: L_n - 1 - t for t < L_n, else t."""
    t = np.arange(T)[None, :]
    L = np.full((N, 1), T) if lengths is None else np.asarray(lengths).reshape(N, 1)
    return np.where(t < L, L - 1 - t, t)


class ReverseSequence:
    """Each sequence's valid steps in reverse order (see the module docstring). No parameters."""

    kind = "ReverseSequence"

    def __init__(self):
        self.params: dict = {}

    def config(self) -> dict:
        return {}

    def num_params(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "ReverseSequence()"

    def forward(self, x, lengths=None, mask=None):
        """y, cache = forward(x, lengths=None, mask=None); x: (N, T, F) floats; lengths: (N,) ints in
        [1, T], each sequence's valid steps reversed in place; or mask: (N, T) 0/1, the whole axis
        reversed (Keras' go_backwards order, see the module docstring); neither: the whole axis.
        ValueError naming ``x``, ``lengths`` or ``mask`` for a wrong shape or value, or for both given."""
        x = check_float_array("x", x, ndim=3)
        N, T, _ = x.shape
        lengths = check_lengths(lengths, N, T)
        check_mask(mask, N, T, lengths)                               # validated; the mask reverses all T steps
        index = reverse_index(N, T, lengths)
        y = np.take_along_axis(x, index[:, :, None], axis=1)          # y[n, t] = x[n, L_n - 1 - t]
        return y, ReverseSequenceCache(index)

    def backward(self, dy, cache: ReverseSequenceCache):
        """dx, grads = backward(dy, cache); grads is empty."""
        if not isinstance(cache, ReverseSequenceCache):
            raise ValueError(f"cache: expected the cache returned by ReverseSequence.forward, got "
                             f"{type(cache).__name__}")
        dy = check_float_array("dy", dy, ndim=3)
        if dy.shape[:2] != cache.index.shape:
            raise ValueError(f"dy: expected shape ({cache.index.shape[0]}, {cache.index.shape[1]}, F) like the "
                             f"forward's output, got {dy.shape}")
        # y[n, t] = x[n, index[n, t]], a permutation that is its own inverse
        return np.take_along_axis(dy, cache.index[:, :, None], axis=1), {}
