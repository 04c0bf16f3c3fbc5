"""Embedding: a lookup table that turns token ids into vectors, the first layer of a model that reads
words or characters as integer ids.

Shapes: ids (N, T) integers in [0, V), W (V, E), y (N, T, E); any leading shape of ids works.

Forward, one row of W per id:
    y[n, t] = W[ids[n, t]]

Backward: each row of W receives the gradients of every position that looked it up, so repeated ids
add up (np.add.at accumulates over repeated indices, where ``dW[ids] += dy`` would keep one):
    dW[v] = sum over (n, t) with ids[n, t] = v of dy[n, t]
The ids are not differentiable: ``backward`` returns None in place of dx.

Initialised like PyTorch's nn.Embedding: W ~ N(0, 1).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..checks import check_dtype_name, check_float_array, check_positive_int


class EmbeddingCache(NamedTuple):
    ids: np.ndarray      # (N, T) int64


def check_ids(name: str, ids, num_embeddings: int) -> np.ndarray:
    """``ids`` as an int64 array of values in [0, num_embeddings); the error names the first bad index."""
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected integer token ids, got dtype {arr.dtype}")
    bad = (arr < 0) | (arr >= num_embeddings)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}: expected token ids in [0, {num_embeddings}) (num_embeddings), "
                         f"got {int(arr[where])} at index {where}")
    return arr.astype(np.int64, copy=False)


def embedding_forward(ids, p):
    y = p["W"][ids]                                          # (N, T, E)
    return y, EmbeddingCache(ids)


def embedding_backward(dy, cache: EmbeddingCache, p):
    dW = np.zeros_like(p["W"])
    np.add.at(dW, cache.ids, dy)                             # y = W[ids]: scatter-add dy into the rows read
    return None, {"W": dW}


class Embedding:
    """y = W[ids]: ``Embedding(V, E)`` maps ids in [0, V) to E-dimensional vectors, e.g.
    ``Sequential([Embedding(5000, 64), LSTM(64, 128), LastStep(), Dense(128, 2)])``."""

    kind = "Embedding"

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype="float32", seed: int | None = None):
        self.num_embeddings = check_positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.dtype = check_dtype_name(dtype)
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.params = {"W": rng.standard_normal((self.num_embeddings, self.embedding_dim)).astype(self.dtype)}

    @property
    def output_size(self) -> int:
        return self.embedding_dim

    def config(self) -> dict:
        return {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                "dtype": self.dtype.name}

    def num_params(self) -> int:
        return int(self.params["W"].size)

    def __repr__(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"

    def forward(self, ids):
        """y, cache = forward(ids); ids: (N, T) integers in [0, num_embeddings)."""
        return embedding_forward(check_ids("x", ids, self.num_embeddings), self.params)

    def backward(self, dy, cache: EmbeddingCache):
        """None, grads = backward(dy, cache): ids have no gradient."""
        if not isinstance(cache, EmbeddingCache):
            raise ValueError(f"cache: expected the cache returned by Embedding.forward, got {type(cache).__name__}")
        dy = check_float_array("dy", dy, shape=cache.ids.shape + (self.embedding_dim,), dtype=self.dtype)
        return embedding_backward(dy, cache, self.params)
