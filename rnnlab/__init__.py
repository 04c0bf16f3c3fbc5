"""rnnlab: recurrent neural networks whose math is the code.

RNN, LSTM and GRU layers (stacked, bidirectional, ragged batches), Dense and Dropout layers, each with a
hand-derived backward pass checked against finite differences and PyTorch autograd. NumPy, and a
compiled cell engine (rnnlab.engine) where it is built.
"""
from .layers import GRU, LSTM, RNN, Dense, Dropout, Embedding, Masking

__version__ = "0.1.0"
__all__ = ["Dense", "Dropout", "Embedding", "GRU", "LSTM", "Masking", "RNN", "evaluate", "fit", "predict", "predict_proba"]
FIT = ("evaluate", "fit", "predict", "predict_proba")       # from rnnlab.fitting, imported on first use


def __getattr__(name):
    if name in FIT:
        from . import fitting as module
        return getattr(module, name)
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")
