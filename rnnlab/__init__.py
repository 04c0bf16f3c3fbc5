"""rnnlab: recurrent neural networks whose math is the code.

RNN, LSTM and GRU layers (stacked, bidirectional, ragged batches), Dense and Dropout layers, each with a
hand-derived backward pass checked against finite differences and PyTorch autograd. NumPy only.
"""
from .layers import GRU, LSTM, RNN, Dense, Dropout

__version__ = "0.1.0"
__all__ = ["Dense", "Dropout", "GRU", "LSTM", "RNN"]
