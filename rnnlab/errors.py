"""The one exception every rnnlab file reader raises on malformed input.

Each reader (PTB trees, IDX, rnnlab .npz models and checkpoints, PyTorch .pt, Keras .keras and
.weights.h5, ONNX, .mat piano rolls, text) raises ``FormatError`` when a file exists but is not what
it expects, and ``FileNotFoundError`` when there is no file. ``FormatError`` subclasses ``ValueError``,
so ``except ValueError`` keeps working. Its message names the file, the place in it (``line:column``,
a key, a node, a dataset) and what was expected, e.g.

    train.txt:3:7: label '+3' is not a class number: expected ASCII digits 0-9
    model.npz: key 'param/l0.W': shape (3, 16), expected (3, 20) for LSTM(3, 5)
    model.keras: dataset 'layers/lstm/cell/vars/0': uses HDF5 external storage; refused
"""
from __future__ import annotations

import os


class FormatError(ValueError):
    """A file exists but its content is malformed or unsupported.

    Attributes: ``path`` (the file, as given), ``place`` (where in it: ``"3:7"``, ``"key 'param/W'"``,
    ``"dataset 'layers/lstm'"``, or ``""`` for the file as a whole) and ``message`` (what was expected
    and what was found). ``str(err)`` is ``"<path>:<line>:<col>: <message>"`` for a line:column place
    and ``"<path>: <place>: <message>"`` otherwise.
    """

    def __init__(self, path, place: str, message: str):
        self.path = os.fspath(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
        self.place = str(place)
        self.message = str(message)
        if not self.place:
            text = f"{self.path}: {self.message}"
        elif self.place[:1].isdigit():                       # line:column, as compilers write it
            text = f"{self.path}:{self.place}: {self.message}"
        else:
            text = f"{self.path}: {self.place}: {self.message}"
        super().__init__(text)

    def __reduce__(self):                                    # picklable (multiprocessing) despite 3 args
        return (type(self), (self.path, self.place, self.message))


def describe(err: BaseException) -> str:
    """``"TypeName: first line of the message"`` of a stray exception, for wrapping it."""
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}"[:300] if text else type(err).__name__


def decode_utf8(data: bytes, path: str) -> str:
    """``data`` as UTF-8 text, a leading byte-order mark dropped; a ``FormatError`` naming the line,
    column and byte position of the first byte that is not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise FormatError(path, f"{line}:{col}", f"byte 0x{data[err.start]:02x} at byte position {err.start} "
                                                  f"is not UTF-8 ({err.reason}); expected UTF-8 text") from None
    return text[1:] if text.startswith("\ufeff") else text
