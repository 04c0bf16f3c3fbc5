"""Layers: each module one concept, forward and backward side by side."""
from .dense import Dense
from .dropout import Dropout
from .gru import GRU
from .lstm import LSTM
from .recurrent import Recurrent
from .rnn import RNN

__all__ = ["Dense", "Dropout", "GRU", "LSTM", "RNN", "Recurrent"]
