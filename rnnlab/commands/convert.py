"""``rnnlab convert``: convert a recurrent model between rnnlab's .npz, PyTorch, Keras and ONNX files.

    rnnlab convert model.pt model.npz                 # PyTorch state_dict -> rnnlab
    rnnlab convert model.keras model.npz              # Keras 3 -> rnnlab (needs only h5py)
    rnnlab convert model.npz model.onnx               # rnnlab -> ONNX
    rnnlab convert rnn.pt rnn.onnx --head each --nonlinearity relu
    rnnlab convert model.ckpt model.npz               # TensorFlow 1 checkpoint (prefix or .index) -> rnnlab
    rnnlab convert seq2seq.ckpt decoder.npz --scope decoder --forget-bias 1.0
    rnnlab convert lstm.ckpt lstm.npz --forget-bias 1.0 --cell-clip 3.0   # LSTMCell(cell_clip=3.0), no .meta
    rnnlab convert sentiment.h5 sentiment.npz          # Keras 2 model.save("model.h5") -> rnnlab

The format follows each file name's ending (.npz, .pt/.pth, .keras/.weights.h5, .onnx, .ckpt/.index). A model
trained with --dropout is written as its inference graph, where Dropout is the identity (see
rnnlab.interop._layout); reading it back gives the model without its Dropout layers.
"""
from __future__ import annotations

import glob
import os

from ..errors import FormatError
from ..interop.files import format_of, load_any, save_any


def add_parser(sub):
    p = sub.add_parser("convert", help="convert a model between .npz, PyTorch .pt, Keras .keras and .onnx files")
    p.add_argument("source", help="file to read (.npz, .pt, .pth, .keras, .weights.h5, .onnx)")
    p.add_argument("target", help="file to write; its ending picks the format")
    p.add_argument("--head", choices=("last", "each"), default=None,
                   help="PyTorch state_dicts and bare Keras .weights.h5: the dense head reads the last step "
                        "(default) or every step")
    p.add_argument("--nonlinearity", choices=("tanh", "relu"), default=None,
                   help="PyTorch nn.RNN state_dicts: the activation, which they do not record (default tanh)")
    p.add_argument("--scope", default=None,
                   help="TensorFlow 1 checkpoints: read the RNN under this variable scope (e.g. decoder)")
    p.add_argument("--forget-bias", type=float, default=None,
                   help="TensorFlow 1 checkpoints of LSTM cells: the cells' forget_bias, needed without a .meta "
                        "graph (given, it is used in place of the graph's)")
    p.add_argument("--cell-clip", type=float, default=None,
                   help="TensorFlow 1 checkpoints of LSTMCell(cell_clip=x): x, read from the .meta graph when "
                        "there is one; without a .meta, c_t is not clipped unless it is given")
    p.add_argument("--masking", choices=("keras", "lengths", "refuse"), default=None,
                   help="Keras models with a Masking layer or Embedding(mask_zero=True): keep the mask with Keras' "
                        "semantics (default), read them for batches padded at the end, given as lengths, or refuse "
                        "them")
    return p


# Which source formats each option applies to; given for another format, it is refused, not ignored.
APPLIES = {"head": ("torch", "keras", "tf1"), "nonlinearity": ("torch",), "scope": ("tf1",),
           "forget_bias": ("tf1",), "cell_clip": ("tf1",), "masking": ("keras",)}


def source_files(source: str) -> list[str]:
    """The files ``source`` names: itself, or for a TensorFlow 1 checkpoint prefix (``model.ckpt``,
    not a file) its ``.index``, ``.meta`` and ``.data-*`` shards."""
    if os.path.isfile(source):
        return [source]
    return [f for f in [source + ".index", source + ".meta", *glob.glob(glob.escape(source) + ".data-*")]
            if os.path.isfile(f)]


def check_target(target: str) -> None:
    """A ``target`` whose writing would lose or break something is refused, naming target, before the
    source is read: a path in a run folder (its own files, or a new one there: the run's --overwrite
    refuses any other file), an existing .npz that is not a model rnnlab saved (a data file, a
    checkpoint), a place where no file can be made. Another existing model file is replaced, as a save
    replaces it."""
    from ._flags import check_outside_runs, check_writable
    check_outside_runs("target", target)
    check_writable("target", target)
    if os.path.isfile(target) and target.lower().endswith(".npz"):
        from ..saving import read_meta
        try:
            read_meta(target)
        except (ValueError, OSError):
            raise ValueError(f"target: {target!r} exists and is not a model file rnnlab saved (a data file, a "
                             f"checkpoint or another .npz), which writing would replace; write the conversion to "
                             f"another path") from None


def run(args) -> int:
    try:
        format_of(args.target)                   # refuse an unknown ending before reading anything
    except ValueError as err:
        raise ValueError(f"target: {str(err).removeprefix('path: ')}") from err
    if not os.path.exists(args.source) and not os.path.exists(args.source + ".index"):
        raise FileNotFoundError(f"source: no file at {args.source!r}")
    if os.path.abspath(args.source) == os.path.abspath(args.target) or \
            (os.path.exists(args.target) and any(os.path.samefile(f, args.target) for f in source_files(args.source))):
        raise ValueError(f"target: {args.target!r} is the source file; write the conversion to another path")
    check_target(args.target)
    try:
        fmt = format_of(args.source)
    except ValueError as err:
        raise ValueError(f"source: {str(err).removeprefix('path: ')}") from err
    for name, formats in APPLIES.items():
        if getattr(args, name) is not None and fmt not in formats:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag}: applies to {' / '.join(formats)} sources, got a {fmt} file {args.source!r}")
    try:
        model = load_any(args.source, head=args.head or "last", nonlinearity=args.nonlinearity or "tanh",
                         scope=args.scope, forget_bias=args.forget_bias, masking=args.masking or "keras",
                         cell_clip=args.cell_clip)
        try:
            save_any(model, args.target)
        except (IsADirectoryError, NotADirectoryError) as err:      # the writer names it path: here, target
            raise type(err)("target: " + str(err).removeprefix("path: ")) from err
        except ValueError as err:
            if not str(err).startswith("path: "):
                raise
            raise ValueError("target: " + str(err).removeprefix("path: ")) from err
    except ImportError as err:
        raise ValueError(str(err)) from err
    except ValueError as err:                    # name the flags as typed: --scope, not scope=
        message = str(err)
        message = message.replace("masking='lengths'", "--masking lengths").replace("masking='keras'",
                                                                                    "--masking keras")
        for name, flag in (("scope", "--scope"), ("forget_bias", "--forget-bias"), ("cell_clip", "--cell-clip")):
            if message.startswith(name + ": ") and not isinstance(err, FormatError):
                message = flag + message[len(name):].replace(f"pass {name}=", f"pass {flag}")
                raise ValueError(message.replace("cell_clip= ", "--cell-clip ")) from err
        if message != str(err):
            raise ValueError(message) from err
        raise
    print(f"{args.source} ({format_of(args.source)}) -> {args.target} ({format_of(args.target)}): {model!r}")
    return 0
