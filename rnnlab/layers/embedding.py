"""Embedding: a lookup table that turns token ids into vectors, the first layer of a model that reads
words or characters as integer ids.

Shapes: ids (N, T) integers in [0, V), W (V, E), y (N, T, E); any leading shape of ids works.

Forward, one row of W per id:
    y[n, t] = W[ids[n, t]]

Backward: each row of W receives the gradients of every position that looked it up, so repeated ids
add up (np.add.at accumulates over repeated indices, where ``dW[ids] += dy`` would keep one):
    dW[v] = sum over (n, t) with ids[n, t] = v of dy[n, t]
The ids are not differentiable: ``backward`` returns None in place of dx.

``padding_idx`` (PyTorch's): that row starts at zero and receives no gradient, so padding tokens
stay zero vectors under training (dW[padding_idx] = 0). ``sparse=True`` (PyTorch's ``sparse``):
backward returns ``rnnlab.optim.SparseGrad(rows, values)``, the (N*T,) ids read and the (N*T, E)
gradients of the positions that read them, in place of the (V, E) array; the optimizers update only
those rows (rnnlab.optim) and ``clip_grad_norm`` counts them. The default is the dense array.

``mask_zero=True`` (Keras'): id 0 is padding. ``compute_mask(ids)`` gives m = (ids != 0), and a
``Sequential`` starting with this layer passes m as the per-step mask to every recurrent layer and
LastStep after it (masked steps carry the state, as in Keras), unless the caller passes ``lengths`` or
``mask`` explicitly. The lookup itself is unchanged (y = W[0] at id 0, as in Keras).

Initialised like PyTorch's nn.Embedding: W ~ N(0, 1).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..checks import check_dtype_name, check_float_array, check_param_arrays, check_positive_int, given
from ..memory import check_weights_fit, weights_error
from ..optim import SparseGrad


class EmbeddingCache(NamedTuple):
    ids: np.ndarray      # (N, T) int64


def check_ids(name: str, ids, num_embeddings: int) -> np.ndarray:
    """``ids`` as an int64 array of values in [0, num_embeddings); the error names the first bad index."""
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected integer token ids, got {given(ids, arr)}")
    bad = (arr < 0) | (arr >= num_embeddings)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}: expected token ids in [0, {num_embeddings}) (num_embeddings), "
                         f"got {int(arr[where])} at index {where}")
    return arr.astype(np.int64, copy=False)


def embedding_forward(ids, p):
    y = p["W"][ids]                                          # (N, T, E)
    return y, EmbeddingCache(ids)


def embedding_backward(dy, cache: EmbeddingCache, p, padding_idx: int | None = None, sparse: bool = False):
    rows, values = cache.ids.reshape(-1), dy.reshape(-1, dy.shape[-1])   # (N*T,), (N*T, E)
    if padding_idx is not None:                              # the padding row gets no gradient
        keep = rows != padding_idx
        rows, values = rows[keep], values[keep]
    if sparse:
        return None, {"W": SparseGrad(rows, values)}
    dW = np.zeros_like(p["W"])
    np.add.at(dW, rows, values)                              # y = W[ids]: scatter-add dy into the rows read
    return None, {"W": dW}


class Embedding:
    """y = W[ids]: ``Embedding(V, E)`` maps ids in [0, V) to E-dimensional vectors, e.g.
    ``Sequential([Embedding(5000, 64), LSTM(64, 128), LastStep(), Dense(128, 2)])``."""

    kind = "Embedding"

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype="float32", seed: int | None = None,
                 padding_idx: int | None = None, sparse: bool = False, mask_zero: bool = False):
        self.num_embeddings = check_positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.dtype = check_dtype_name(dtype)
        self.seed = seed
        V = self.num_embeddings
        if padding_idx is not None:
            if isinstance(padding_idx, (bool, np.bool_)) or not isinstance(padding_idx, (int, np.integer)) \
                    or not -V <= padding_idx < V:
                raise ValueError(f"padding_idx: expected None or an integer in [-{V}, {V}) (num_embeddings), "
                                 f"got {padding_idx!r}")
            padding_idx = int(padding_idx) % V              # PyTorch's: -1 is the last row
        if not isinstance(sparse, (bool, np.bool_)):
            raise ValueError(f"sparse: expected True or False, got {sparse!r}")
        if not isinstance(mask_zero, (bool, np.bool_)):
            raise ValueError(f"mask_zero: expected True or False, got {mask_zero!r}")
        self.padding_idx, self.sparse, self.mask_zero = padding_idx, bool(sparse), bool(mask_zero)
        rng = np.random.default_rng(seed)
        sizes, count = f"num_embeddings={V}, embedding_dim={self.embedding_dim}", V * self.embedding_dim
        check_weights_fit(sizes, count)
        try:
            self.params = {"W": rng.standard_normal((V, self.embedding_dim)).astype(self.dtype)}
        except MemoryError:
            raise weights_error(sizes, count) from None
        self._param_shapes = {"W": self.params["W"].shape}
        if padding_idx is not None:
            self.params["W"][padding_idx] = 0

    @property
    def output_size(self) -> int:
        return self.embedding_dim

    def config(self) -> dict:
        config = {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                  "dtype": self.dtype.name}
        if self.padding_idx is not None:
            config["padding_idx"] = self.padding_idx
        if self.sparse:
            config["sparse"] = True
        if self.mask_zero:
            config["mask_zero"] = True
        return config

    def num_params(self) -> int:
        return int(self.params["W"].size)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.config().items() if k in ("padding_idx", "sparse", "mask_zero"))
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{extra})"

    def compute_mask(self, ids) -> np.ndarray | None:
        """With mask_zero: m (N, T) bool, True where ids != 0; otherwise None (no mask)."""
        if not self.mask_zero:
            return None
        return check_ids("x", ids, self.num_embeddings) != 0

    def check_params(self) -> None:
        """ValueError naming a parameter no longer a float array of its shape (``check_param_arrays``)."""
        check_param_arrays(self.params, getattr(self, "_param_shapes", {}),
                           f"num_embeddings={self.num_embeddings}, embedding_dim={self.embedding_dim}")

    def forward(self, ids):
        """y, cache = forward(ids); ids: (N, T) integers in [0, num_embeddings)."""
        ids = check_ids("x", ids, self.num_embeddings)
        self.check_params()
        return embedding_forward(ids, self.params)

    def backward(self, dy, cache: EmbeddingCache):
        """None, grads = backward(dy, cache): ids have no gradient; grads["W"] is (V, E), or a
        SparseGrad with ``sparse=True``; the padding row's gradient is zero."""
        if not isinstance(cache, EmbeddingCache):
            raise ValueError(f"cache: expected the cache returned by Embedding.forward, got {type(cache).__name__}")
        dy = check_float_array("dy", dy, shape=cache.ids.shape + (self.embedding_dim,), dtype=self.dtype)
        return embedding_backward(dy, cache, self.params, self.padding_idx, self.sparse)
