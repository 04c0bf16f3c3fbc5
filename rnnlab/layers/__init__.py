"""Layers: each module one concept, forward and backward side by side."""
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .gru import GRU
from .lstm import LSTM
from .masking import Masking
from .merge import MergeDirections
from .recurrent import Recurrent
from .reverse import ReverseSequence
from .rnn import RNN

__all__ = ["Dense", "Dropout", "Embedding", "GRU", "LSTM", "Masking", "MergeDirections", "RNN", "Recurrent",
           "ReverseSequence"]
