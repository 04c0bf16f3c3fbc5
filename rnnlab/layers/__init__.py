"""Layers: each module one concept, forward and backward side by side."""
from .dense import Dense
from .gru import GRU
from .lstm import LSTM
from .recurrent import Recurrent
from .rnn import RNN

__all__ = ["Dense", "GRU", "LSTM", "RNN", "Recurrent"]
