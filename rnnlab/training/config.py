"""Names that the command line needs before a model family's package is imported.

The tree cells are chosen by ``--model`` beside the sequence cells; listing their names here lets
``rnnlab train`` parse ``--task sst`` without importing rnnlab.trees, whose ``model.CELLS`` maps these
same names to the cell modules.
"""
from __future__ import annotations

# recursive NN (Socher et al. 2013), binary and Child-Sum Tree-LSTM (Tai et al. 2015), Child-Sum recursive NN
TREE_CELLS = ("recursive", "treelstm", "childsum", "childsum-recursive")
TREE_NONLINEARITIES = ("tanh", "identity")    # phi of the recursive NNs' composition (--nonlinearity)
