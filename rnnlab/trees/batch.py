"""A minibatch of trees flattened into one node table ordered by height, for level batching.

Shape letters, used in every tree module:
    B trees, M nodes in all, L leaves, I = M - L internal nodes, K children per node (at most),
    D embedding size, H hidden units, C classes.

Nodes are sorted by (height, tree, pre-order position): the L leaves (height 0) come first, and the
nodes of each height form one contiguous range ``levels[h] = (start, end)``. Every child has a
smaller height than its parent, so computing the levels in order computes children before parents,
all nodes of a level in one matrix product (the dynamic batching of TensorFlow Fold and DGL).
Child lists are padded to K with the index M, which names an extra all-zero state row.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .ptb import Tree
from .vocab import Vocabulary

# SST labels 0-4 to the binary task: negative (0, 1) -> 0, positive (3, 4) -> 1, neutral not counted.
BINARY_LABELS = np.array([0, 0, -1, 1, 1])


class EncodedTree(NamedTuple):
    """One tree as arrays over its nodes in pre-order (the root is node 0)."""
    words: np.ndarray      # (n,) vocabulary id at leaves, -1 at internal nodes
    labels: np.ndarray     # (n,) label as read
    heights: np.ndarray    # (n,) 0 at leaves
    children: np.ndarray   # (n, K) local child indices, -1 padded


class TreeBatch(NamedTuple):
    words: np.ndarray      # (L,) vocabulary id of leaf nodes 0 .. L-1
    children: np.ndarray   # (I, K) children of internal nodes L .. M-1; index M pads
    labels: np.ndarray     # (M,) target class per node, -1 where the node is not counted
    levels: tuple          # ((start, end), ...) node ranges of equal height; levels[0] = leaves
    roots: np.ndarray      # (B,) node index of each tree's root
    rank: np.ndarray       # (M,) node index of each input node, input nodes in tree-then-pre-order

    @property
    def num_nodes(self) -> int:
        return len(self.labels)

    @property
    def num_leaves(self) -> int:
        return len(self.words)


def encode(tree: Tree, vocab: Vocabulary) -> EncodedTree:
    nodes = list(tree.nodes())
    position = {id(node): k for k, node in enumerate(nodes)}
    K = max(len(node.children) for node in nodes)
    words = np.full(len(nodes), -1, np.int64)
    labels = np.array([node.label for node in nodes], np.int64)
    heights = np.zeros(len(nodes), np.int64)
    children = np.full((len(nodes), max(K, 1)), -1, np.int64)
    for k in range(len(nodes) - 1, -1, -1):        # reversed pre-order: children before parents
        node = nodes[k]
        if node.is_leaf:
            words[k] = vocab.id(node.word)
            continue
        local = [position[id(c)] for c in node.children]
        children[k, :len(local)] = local
        heights[k] = 1 + heights[local].max()
    return EncodedTree(words, labels, heights, children)


def make_batch(trees: list[EncodedTree], label_map: np.ndarray | None = None) -> TreeBatch:
    """Flatten encoded trees into one height-ordered node table; ``label_map`` (e.g. BINARY_LABELS)
    maps each read label to a target, -1 for nodes not counted."""
    if not trees:
        raise ValueError("trees: expected at least one tree, got none")
    sizes = np.array([len(t.labels) for t in trees])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    M = int(sizes.sum())
    K = max(t.children.shape[1] for t in trees)
    heights = np.concatenate([t.heights for t in trees])
    words = np.concatenate([t.words for t in trees])
    labels = np.concatenate([t.labels for t in trees])
    children = np.full((M, K), -1, np.int64)
    for t, off in zip(trees, offsets):
        block = children[off:off + len(t.labels), :t.children.shape[1]]
        block[...] = np.where(t.children >= 0, t.children + off, -1)
    order = np.argsort(heights, kind="stable")       # (height, tree, pre-order)
    rank = np.empty(M, np.int64)
    rank[order] = np.arange(M)
    counts = np.bincount(heights)
    ends = np.cumsum(counts)
    levels = tuple((int(e - n), int(e)) for n, e in zip(counts, ends))
    L = int(counts[0])
    kids = children[order[L:]]
    kids = np.where(kids >= 0, rank[np.maximum(kids, 0)], M)
    targets = labels[order]
    if label_map is not None:
        targets = np.asarray(label_map)[targets]
    return TreeBatch(words[order[:L]], kids, targets, levels, rank[offsets], rank)
