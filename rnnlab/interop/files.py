"""Read and write any model file rnnlab knows, chosen by the file name's ending:

    .npz                     rnnlab's own format (rnnlab.saving)
    .pt, .pth                PyTorch state_dict (rnnlab.interop.torch)
    .keras, .weights.h5      Keras 3 (rnnlab.interop.keras)
    .h5                      Keras 2 full model (model.save("model.h5")) or Keras 3 .weights.h5
    .onnx                    ONNX (rnnlab.interop.onnx)
    .ckpt, .index            TensorFlow 1 checkpoint (rnnlab.interop.tf1): the prefix, as given to
                             Saver.save, or its .index file; any path P with a file P.index beside it

Each library is imported only when its format is used.
"""
from __future__ import annotations

import os

FORMATS = {".npz": "rnnlab", ".pt": "torch", ".pth": "torch", ".keras": "keras", ".weights.h5": "keras",
           ".h5": "keras", ".onnx": "onnx", ".ckpt": "tf1", ".index": "tf1"}


def format_of(path) -> str:
    """The format name of ``path`` from its ending, or a ValueError naming the endings known."""
    from ..checks import check_path
    path = check_path("path", path)
    name = path.lower()
    if os.path.isfile(os.fspath(path) + ".index"):           # a checkpoint prefix such as model.ckpt-1000
        return "tf1"
    for ending in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ending):
            return FORMATS[ending]
    raise ValueError(f"path: cannot tell the format of {os.fspath(path)!r}; expected a name ending in "
                     f"{', '.join(sorted(FORMATS))}")


def load_any(path, head: str = "last", nonlinearity: str = "tanh", scope=None, forget_bias=None,
             masking: str = "keras", cell_clip=None):
    """An rnnlab model from any supported file. ``head`` and ``nonlinearity`` fill in what a PyTorch
    state_dict or a bare Keras .weights.h5 does not record (see those modules); ``scope``,
    ``forget_bias`` and ``cell_clip`` are those of ``rnnlab.interop.tf1.load_checkpoint``, ``masking``
    that of ``rnnlab.interop.keras.load_model``."""
    fmt = format_of(path)
    if fmt == "tf1":
        from . import tf1
        return tf1.load_checkpoint(path, scope=scope, forget_bias=forget_bias, head=head, cell_clip=cell_clip)
    if fmt == "rnnlab":
        from ..saving import load
        return load(path)
    if fmt == "torch":
        from . import torch
        return torch.load_model(path, head=head, nonlinearity=nonlinearity)
    if fmt == "keras":
        from . import keras
        return keras.load_model(path, head=head, masking=masking)
    from . import onnx
    return onnx.load_model(path)


def save_any(model, path) -> None:
    """Write ``model`` in the format ``path``'s ending names."""
    fmt = format_of(path)
    if fmt == "rnnlab":
        from ..saving import save
        save(path, model)
    elif fmt == "torch":
        from . import torch
        torch.save_model(model, path)
    elif fmt == "keras":
        from . import keras
        keras.save_model(model, path)
    elif fmt == "tf1":
        from . import tf1
        tf1.save_checkpoint(model, path)
    else:
        from . import onnx
        onnx.save_model(model, path)
