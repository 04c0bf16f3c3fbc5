"""A tree classifier: word embeddings, a recursive cell, and a softmax classifier on every node.

    x = E[word] * m_x                  at each leaf; m_x inverted dropout on the embeddings
    h, (c) = cell(children or x)       recursive NN, binary Tree-LSTM, Child-Sum Tree-LSTM or
                                       Child-Sum recursive NN
    z = (h * m_h) Ws + bs              at every node; m_h dropout before the classifier only

Parameters are one dict: ``E`` (V, D), the cell's own keys, ``Ws`` (H, C), ``bs`` (C,); gradients a
dict with the same keys, ``E``'s a SparseGrad over the leaves' word ids.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Callable, NamedTuple

import numpy as np

from ..checks import check_dtype_name, check_positive_int
from ..layers.dropout import check_rate, dropout_mask
from ..training.config import TREE_CELLS
from . import child_sum, child_sum_recursive, levels, per_node, recursive, tree_lstm
from .batch import TreeBatch
from .head import node_loss

CELLS = dict(zip(TREE_CELLS, (recursive, tree_lstm, child_sum, child_sum_recursive)))    # name -> cell module
# h = phi(...) with a choice of phi, and the word vectors as leaf vectors (D = H)
RECURSIVE_CELLS = ("recursive", "childsum-recursive")


class Cell(NamedTuple):
    """A cell module's interface (see ``recursive.py``) with the model's options bound in."""
    state_names: tuple
    arity: int | None
    leaf_forward: Callable
    leaf_backward: Callable
    node_forward: Callable
    node_backward: Callable


def make_cell(name: str, nonlinearity: str = "tanh") -> Cell:
    """The cell ``name`` of CELLS, with ``nonlinearity`` bound into the recursive NNs' node_forward."""
    m = CELLS[name]
    node_forward = partial(m.node_forward, nonlinearity=nonlinearity) if name in RECURSIVE_CELLS else m.node_forward
    return Cell(m.state_names, m.arity, m.leaf_forward, m.leaf_backward, node_forward, m.node_backward)


@dataclass
class TreeModelConfig:
    cell: str = "treelstm"       # one of CELLS
    vocab_size: int = 1          # rows of E, the unknown word's included
    embed_dim: int = 300         # D; the recursive NNs need D = hidden
    hidden: int = 150            # H
    classes: int = 5             # C: 5 fine-grained, 2 binary
    dtype: str = "float32"
    nonlinearity: str = "tanh"   # phi of the recursive NNs' composition: tanh or identity; the Tree-LSTMs: tanh

    def check(self) -> "TreeModelConfig":
        if self.cell not in CELLS:
            raise ValueError(f"cell: expected one of {sorted(CELLS)}, got {self.cell!r}")
        recursive.check_nonlinearity("nonlinearity", self.nonlinearity)
        if self.nonlinearity != "tanh" and self.cell not in RECURSIVE_CELLS:
            raise ValueError(f"nonlinearity: expected 'tanh' for the {self.cell} cell (its sigmoid and tanh are "
                             f"fixed; other choices apply to the {' and '.join(RECURSIVE_CELLS)} cells), got "
                             f"{self.nonlinearity!r}")
        for name in ("vocab_size", "embed_dim", "hidden", "classes"):
            check_positive_int(name, getattr(self, name))
        check_dtype_name(self.dtype)
        return self


class TreeModel:
    def __init__(self, config: TreeModelConfig, seed=None):
        self.config = config.check()
        self.cell = make_cell(config.cell, config.nonlinearity)
        rng = np.random.default_rng(seed)
        c, dtype = config, np.dtype(config.dtype)
        self.params = {"E": rng.uniform(-0.1, 0.1, (c.vocab_size, c.embed_dim)).astype(dtype),
                       **CELLS[c.cell].init_params(c.embed_dim, c.hidden, rng, dtype),
                       "Ws": rng.uniform(-1 / np.sqrt(c.hidden), 1 / np.sqrt(c.hidden),
                                         (c.hidden, c.classes)).astype(dtype),
                       "bs": np.zeros(c.classes, dtype)}

    def __repr__(self):
        c = self.config
        phi = "" if c.nonlinearity == "tanh" else f", nonlinearity={c.nonlinearity}"
        return f"TreeModel({c.cell}, V={c.vocab_size}, D={c.embed_dim}, H={c.hidden}, C={c.classes}, {c.dtype}{phi})"

    def to_dict(self) -> dict:
        return asdict(self.config)

    def check_batch(self, batch: TreeBatch) -> None:
        if batch.labels.max() >= self.config.classes:
            raise ValueError(f"tree: label {int(batch.labels.max())} out of range for {self.config.classes} classes")
        if batch.words.max(initial=0) >= self.config.vocab_size:
            raise ValueError(f"tree: word id {int(batch.words.max())} out of range for a vocabulary of "
                             f"{self.config.vocab_size}")
        arity = self.cell.arity
        if arity is None or batch.num_nodes == batch.num_leaves:
            return
        counts = (batch.children < batch.num_nodes).sum(axis=1)
        if (counts != arity).any():
            bad = int(counts[counts != arity][0])
            raise ValueError(f"tree: the {self.config.cell} cell needs exactly {arity} children per internal "
                             f"node, got a node with {bad}; use the childsum or childsum-recursive cell "
                             f"for other trees")

    def dropout_masks(self, batch: TreeBatch, dropout: float, rng: np.random.Generator):
        """Inverted dropout masks (L, D) on the embeddings and (M, H) on h before the classifier
        (rnnlab.layers.dropout), from float64 uniforms whatever the parameters' dtype."""
        if not dropout:
            return None, None
        check_rate("dropout", dropout)
        dtype = self.params["E"].dtype
        shapes = (batch.num_leaves, self.config.embed_dim), (batch.num_nodes, self.config.hidden)
        return tuple(dropout_mask(rng, s, dropout, dtype, uniform_dtype=np.float64) for s in shapes)

    def forward(self, batch: TreeBatch, emb_mask=None, hid_mask=None):
        """Level-batched: logits (M, C), h (M, H), cache."""
        self.check_batch(batch)
        return levels.forward(self.cell, self.params, batch, emb_mask, hid_mask)

    def backward(self, dz, cache, dh=None) -> dict:
        return levels.backward(dz, cache, dh)

    def loss_and_grads(self, batch: TreeBatch, emb_mask=None, hid_mask=None, schedule: str = "level"):
        """(loss, logits (M, C), grads) by level batching or, with schedule="node", node by node."""
        if schedule == "node":
            self.check_batch(batch)
            return per_node.loss_and_grads(self.cell, self.params, batch, emb_mask, hid_mask)
        if schedule != "level":
            raise ValueError(f"schedule: expected 'level' or 'node', got {schedule!r}")
        z, _, cache = self.forward(batch, emb_mask, hid_mask)
        loss, dz = node_loss(z, batch.labels, len(batch.roots))
        return loss, z, self.backward(dz, cache)

    def predict(self, batch: TreeBatch) -> np.ndarray:
        """Class probabilities (M, C) of every node, without dropout."""
        z, _, _ = self.forward(batch)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
