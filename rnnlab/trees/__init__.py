"""Recursive networks over trees: a PTB tree reader and vocabulary, the binary and Child-Sum
recursive NNs (tanh or identity), the binary (N-ary) and Child-Sum Tree-LSTMs with a classifier on
every node, level batching with a per-node reference, gradient checks, save/load, and training on
the Stanford Sentiment Treebank.

Modules: ptb (reader), vocab, batch (height-ordered node tables), recursive / child_sum_recursive /
tree_lstm / child_sum (cells), head (classifier and loss), levels (level-batched forward/backward), per_node
(reference), model, gradcheck, saving, data (SST paths), train.
"""
from .batch import TreeBatch, encode, make_batch
from .model import CELLS, TreeModel, TreeModelConfig
from .ptb import Tree, parse_tree, read_trees
from .vocab import Vocabulary

__all__ = ["CELLS", "Tree", "TreeBatch", "TreeModel", "TreeModelConfig", "Vocabulary", "encode",
           "make_batch", "parse_tree", "read_trees"]
