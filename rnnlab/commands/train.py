"""``rnnlab train``: train a recurrent model on a task; checkpoints, metrics log and model in --out.

    rnnlab train --task adding --T 100 --model lstm --hidden 32 --lr 0.01 --epochs 20 --out runs/add
    rnnlab train --out runs/add --resume --epochs 30        # continue, to the same result
    rnnlab train --task adding --out runs/add --overwrite   # replace the run in runs/add
    rnnlab train --task fashion-mnist --model gru --hidden 128 --metrics-json gru.json
    rnnlab train --task text --layers 2 --hidden 256 --dropout 0.5 --out runs/shakespeare
    rnnlab train --task sst ...                             # handed to rnnlab.trees.train
    rnnlab train --out runs/sst --resume --epochs 20        # a tree run's folder (last.npz): resumed as such
    rnnlab train --data train.npz --valid valid.npz --model lstm --hidden 64 --out runs/mine
    rnnlab train --csv series.csv --target y --window 50 --horizon 1 --out runs/forecast
    rnnlab train --text-classes reviews/ --tokens words --max-len 100 --out runs/reviews
"""
from __future__ import annotations

import argparse

import json
import os
import sys
from dataclasses import fields

from ..checks import flag
from ..data import TASKS
from ..optim import OPTIMIZERS
from ..training.config import TREE_CELLS, TREE_NONLINEARITIES
from ..training.distributed import world
from ..train import (CHECKPOINT, MODELS, SCHEDULES, Config, checkpoint_config, complete_final, epochs_done,
                     final_metrics, load_checkpoint, train)
from ._flags import check_metrics_json, run_inputs, write_metrics_json

DEFAULTS = Config()
# Each Config field by the flag that sets it, for the error messages.
FLAGS = {**{f.name: flag(f.name) for f in fields(Config)}, "text_path": "--text", "valid_data": "--valid"}
# Flags that only some tasks read; given with another task they are refused rather than ignored.
TASK_FLAGS = {"T": ("adding", "copy", "order"), "train_size": ("adding", "copy", "order", "reber"),
              "seq_len": ("text",), "random_offset": ("text",), "text_path": ("text",),
              "data_dir": ("fashion-mnist", "mnist", "text", "jsb", "nottingham", "musedata", "piano-midi"),
              "valid_data": ("data",), "valid_split": ("data", "csv", "text-classes"),
              "embed_dim": ("data", "text-classes", "text"), "test_split": ("csv", "text-classes"),
              **{k: ("csv",) for k in ("target", "features", "window", "horizon")},
              **{k: ("text-classes",) for k in ("tokens", "max_len", "min_count")}}
# The user's own files, in place of --task: the flag and the task it stands for.
OWN_DATA = {"data": "data", "csv": "csv", "text_classes": "text-classes"}
SST_ONLY = ("binary", "lowercase", "l2", "emb_lr", "tree_schedule", "max_train", "nonlinearity")
# What the tree trainer reads (rnnlab.trees.train.run); any other set flag is refused with --task sst.
SST_READS = ("task", "model", "hidden", "layers", "epochs", "batch_size", "lr", "optimizer", "clip", "seed",
             "dropout", "data_dir", "out", "resume", "overwrite", "metrics_json", "max_minutes", "quiet", "embed_dim",
             "patience") + SST_ONLY
# Options left unset stay None, so that the tree trainer applies its own defaults (TreeConfig).


def zoneout_arg(text: str):
    """--zoneout: one rate, or two (h and c) separated by a comma."""
    parts = text.split(",")
    if len(parts) > 2:
        raise argparse.ArgumentTypeError(f"expected Z or Z_H,Z_C (rates in [0, 1)), got {text!r}")
    try:
        rates = [float(v) for v in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected Z or Z_H,Z_C (rates in [0, 1)), got {text!r}") from None
    return rates[0] if len(rates) == 1 else rates


def add_arguments(p) -> None:
    """The options that ``train`` and ``compare`` share."""
    p.add_argument("--task", default=DEFAULTS.task, choices=TASKS + ("sst",), help="default: adding")
    p.add_argument("--T", type=int, default=None, help="sequence length of adding / copy / order (default 100)")
    p.add_argument("--train-size", type=int, default=None,
                   help="synthetic tasks: fresh training sequences per epoch (default 10000)")
    p.add_argument("--hidden", type=int, help=f"hidden units H (default {DEFAULTS.hidden})")
    p.add_argument("--layers", type=int, help="stacked recurrent layers (default 1)")
    p.add_argument("--bidirectional", action="store_true", default=None,
                   help="per-sequence tasks: every recurrent layer reads the sequence both ways")
    p.add_argument("--epochs", type=int, default=None, help=f"default {DEFAULTS.epochs}")
    p.add_argument("--batch-size", type=int, help=f"default {DEFAULTS.batch_size}")
    p.add_argument("--lr", type=float, help=f"learning rate (default {DEFAULTS.lr})")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help="default: adam")
    p.add_argument("--momentum", type=float, help="SGD momentum (default 0)")
    p.add_argument("--weight-decay", type=float, help="default 0")
    p.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (default constant)")
    p.add_argument("--clip", type=float, help="global gradient-norm bound, 0: off (default 1)")
    p.add_argument("--init", choices=("xavier", "torch"),
                   help="xavier: Glorot inputs, orthogonal recurrent weights (default); torch: U(-1/sqrt(H), 1/sqrt(H))")
    p.add_argument("--forget-bias", type=float, help=f"LSTM forget-gate bias at init (default {DEFAULTS.forget_bias})")
    p.add_argument("--proj-size", type=int, help="LSTM: recurrent projection of h to this width (Sak et al. 2014)")
    p.add_argument("--peepholes", action="store_true", default=None, help="LSTM: gates read the cell state")
    p.add_argument("--cell-clip", type=float, help="LSTM: clip c_t to [-x, x] (TF1 cell_clip); 0: off (default)")
    p.add_argument("--gate-clip", type=float, help="LSTM: clip gate pre-activations to [-x, x] (ONNX clip); 0: off")
    p.add_argument("--input-forget", action="store_true", default=None, help="LSTM: coupled gates f = 1 - i (CIFG)")
    p.add_argument("--layer-norm", action="store_true", default=None,
                   help="LSTM, GRU: layer normalization of x W, h U (and the LSTM's c) (Ba et al. 2016)")
    p.add_argument("--zoneout", type=zoneout_arg, default=None, metavar="Z[,Z_C]",
                   help="training: each unit of h (and c) keeps its previous value with probability Z, one mask "
                        "per sequence (Krueger et al. 2016); LSTM: Z_H,Z_C for separate rates; 0: off (default)")
    p.add_argument("--recurrent-dropout", type=float, default=None,
                   help="training: dropout of h_{t-1} in the recurrent product, one mask per sequence (Gal & "
                        "Ghahramani 2016, Keras recurrent_dropout); 0: off (default)")
    p.add_argument("--weight-drop", type=float, default=None,
                   help="training: DropConnect on the recurrent weights U, one mask per batch (Merity et al. "
                        "2017); 0: off (default)")
    p.add_argument("--patience", type=int, help="early stopping: epochs without improvement, 0: off (default)")
    p.add_argument("--select", choices=("loss", "accuracy"),
                   help="validation metric that picks the kept parameters (default loss; accuracy: classification)")
    p.add_argument("--seq-len", type=int, help=f"text: characters per training chunk (default {DEFAULTS.seq_len})")
    p.add_argument("--random-offset", action="store_true", default=None,
                   help="text: move the training chunks' boundaries every epoch (an offset drawn from seed and epoch)")
    p.add_argument("--text", dest="text_path", default=None,
                   help="text: a UTF-8 file (default tinyshakespeare/input.txt under the data root)")
    p.add_argument("--data-dir", default=None,
                   help="where data files are looked for first (then $RNNLAB_DATA, the user cache, ../shared/data; fetched if missing)")
    p.add_argument("--data", default=None,
                   help="your own data instead of --task: an .npz with x (N, T, D) floats or (N, T) token ids, "
                        "y (class ids, real targets, or per-step targets) and optionally lengths (N,)")
    p.add_argument("--valid", dest="valid_data", default=None,
                   help="--data: an .npz like it to validate on (default: --valid-split of --data's rows)")
    p.add_argument("--valid-split", type=float, default=None,
                   help="--data without --valid: fraction of rows held out for validation, drawn from --seed "
                        "(default 0.1)")
    p.add_argument("--csv", default=None,
                   help="a CSV time series instead of --task: a header line, then one row per time step "
                        "(rnnlab.data.csv_series); needs --target")
    p.add_argument("--target", default=None, help="--csv: the column to forecast")
    p.add_argument("--features", default=None,
                   help="--csv: input columns, comma-separated (default: the --target column alone)")
    p.add_argument("--window", type=int, default=None, help=f"--csv: rows per input window (default {DEFAULTS.window})")
    p.add_argument("--horizon", type=int, default=None,
                   help=f"--csv: forecast the target this many rows after the window (default {DEFAULTS.horizon})")
    p.add_argument("--text-classes", default=None,
                   help="a folder with one subfolder of UTF-8 text files per class, instead of --task "
                        "(or train/, valid/, test/ folders of them; rnnlab.data.text_classes)")
    p.add_argument("--tokens", choices=("chars", "words"), default=None,
                   help="--text-classes: characters (default) or whitespace-separated words")
    p.add_argument("--max-len", type=int, default=None,
                   help=f"--text-classes: tokens kept per file, the first ones (default {DEFAULTS.max_len})")
    p.add_argument("--min-count", type=int, default=None,
                   help="--text-classes: training tokens seen fewer times become <unk> (default 1)")
    p.add_argument("--test-split", type=float, default=None,
                   help="--csv: fraction of the rows, the last ones, for the test split; --text-classes: of "
                        "each class's files, drawn from --seed (default 0.1; --valid-split: the validation "
                        "split, the rows before the test part for --csv)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop, with a checkpoint, after this long")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")


def add_parser(sub):
    p = sub.add_parser("train", help="train RNN / LSTM / GRU on a task (checkpoints, --resume, metrics)")
    add_arguments(p)
    p.set_defaults(task=None)           # None: not given (refused with --resume), then adding
    p.add_argument("--model", choices=sorted(MODELS) + list(TREE_CELLS),
                   help="rnn | lstm (default) | gru; for --task sst: " + " | ".join(TREE_CELLS))
    p.add_argument("--dropout", type=float,
                   help="probability of dropping a unit, in [0, 1). Sequence tasks: Dropout between stacked "
                        "recurrent layers and before the head (Zaremba et al. 2014), default 0 (none); "
                        "--task sst: on the embeddings and before the classifier, default 0.5")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--out", default=None, help="run folder: checkpoint.npz, metrics.jsonl, model.npz, metrics.json")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run that --out holds (without it, a used --out is refused)")
    p.add_argument("--checkpoint-every", type=int, help="steps between mid-epoch checkpoints (default: epoch ends only)")
    p.add_argument("--metrics-json", default=None, help="write the final metrics (test loss, accuracy) here")
    sst = p.add_argument_group("tree networks (--task sst; see rnnlab.trees.train for the defaults)")
    sst.add_argument("--binary", action="store_true", default=None, help="binary task: neutral sentences dropped")
    sst.add_argument("--lowercase", action="store_true", default=None, help="lowercase every word")
    sst.add_argument("--nonlinearity", choices=TREE_NONLINEARITIES,
                     help="phi of the recursive NNs' composition, --model recursive | childsum-recursive (default tanh)")
    sst.add_argument("--embed-dim", type=int, help="word-vector size D (default 300; recursive NNs: = hidden); --task "
                     "text and --data token ids: an Embedding of this size reads ids (text default: one-hot input)")
    sst.add_argument("--l2", type=float, help="weight decay, not on embeddings (default 1e-4)")
    sst.add_argument("--emb-lr", type=float, help="learning rate of the embeddings (default: --lr)")
    sst.add_argument("--tree-schedule", choices=["level", "node"], help="level batching (default) or per node")
    sst.add_argument("--max-train", type=int, help="first N training trees only")
    return p


def config_from_args(args) -> Config:
    """The Config the flags ask for; a bad value fails naming its flag (``--lr``, not ``lr``)."""
    values = {k: v for k, v in vars(args).items() if k in FLAGS and v is not None}
    for k, task in OWN_DATA.items():            # the user's own data (rnnlab.data) instead of a task
        if values.get(k):
            values["task"] = task
    return Config(**values, names=FLAGS)


def given(args, names) -> list:
    """Those of ``names`` that the command line set (a value other than None / False)."""
    return [k for k in names if getattr(args, k, None) not in (None, False)]


def check_flags_apply(args) -> None:
    """Refuse a flag that the run would ignore: a tree flag on a sequence task, a task's own flag on
    another task, a configuration flag with --resume (the checkpoint's configuration is kept)."""
    if args.resume:                              # first: the task and its flags are the checkpoint's
        if args.overwrite:
            raise ValueError("--overwrite: cannot be combined with --resume (continue the run, or replace it)")
        kept = [k for k in given(args, FLAGS) if k not in ("epochs", "max_minutes")] + given(args, ("task",))
        if kept:
            raise ValueError(f"{FLAGS.get(kept[0], flag(kept[0]))}: --resume continues with the checkpoint's "
                             f"configuration; only --epochs and --max-minutes may change")
    sources = [k for k in OWN_DATA if getattr(args, k, None)]
    if sources and args.task:
        raise ValueError(f"{flag(sources[0])}: replaces --task (your own data instead of a built-in task), "
                         f"got --task {args.task}")
    if len(sources) > 1:
        raise ValueError(f"{flag(sources[1])}: give one of --data, --csv, --text-classes, got also {flag(sources[0])}")
    task = OWN_DATA[sources[0]] if sources else args.task or DEFAULTS.task
    source = flag(sources[0]) if sources else f"--task {task}"
    for k in given(args, SST_ONLY):
        raise ValueError(f"{flag(k)}: applies to --task sst only, got --task {task}"
                         + (" (sequence tasks: --weight-decay)" if k == "l2" else ""))
    own = {t: f for f, t in OWN_DATA.items()}
    for k in given(args, TASK_FLAGS):
        if task not in TASK_FLAGS[k] and all(t in own for t in TASK_FLAGS[k]):
            raise ValueError(f"{FLAGS[k]}: needs {' | '.join(flag(own[t]) for t in TASK_FLAGS[k])} (your own "
                             f"data), got {source}")
        if task not in TASK_FLAGS[k]:
            raise ValueError(f"{FLAGS[k]}: applies to --task {' | '.join(TASK_FLAGS[k])}, got {source}")


def is_tree_run(out) -> bool:
    """Whether the run folder ``out`` holds a tree run (rnnlab.trees.train: last.npz) and no sequence run."""
    return bool(out) and os.path.isfile(os.path.join(out, "last.npz")) and not os.path.isfile(
        os.path.join(out, CHECKPOINT))


def run_sst(args) -> int:
    """SST lives with the tree networks; imported only when asked for."""
    for k in given(args, [k for k in vars(args) if k not in SST_READS and k != "run" and k != "command"]):
        raise ValueError(f"{FLAGS.get(k, flag(k))}: not used by --task sst")
    try:
        from ..trees import train as tree_train
    except ImportError as err:
        raise ValueError(f"--task sst: needs rnnlab.trees.train (the tree networks), which could not be "
                         f"imported ({err})") from err
    return int(tree_train.run(args) or 0)


PATH_FLAGS = (("--data", "data"), ("--valid", "valid_data"), ("--csv", "csv"), ("--text", "text_path"),
              ("--text-classes", "text_classes"), ("--data-dir", "data_dir"))


def run(args) -> int:
    if getattr(args, "out", None) is not None and not str(args.out).strip():
        raise ValueError(f"--out: expected a folder path, got {args.out!r}")
    for name, dest in PATH_FLAGS:                  # "" would read the current folder, or pass for not given
        value = getattr(args, dest, None)
        if value is not None and not str(value).strip():
            raise ValueError(f"{name}: expected a {'folder' if dest in ('text_classes', 'data_dir') else 'file'} "
                             f"path, got {value!r}")
    if getattr(args, "resume", False) and not getattr(args, "out", None):
        raise ValueError("--resume: needs --out, the run folder that holds the checkpoint")
    if getattr(args, "valid_data", None) and getattr(args, "valid_split", None) is not None:
        raise ValueError("--valid-split: give --valid (a file to validate on) or --valid-split (a fraction of "
                         "--data's rows), not both")
    if args.task is None and args.resume and is_tree_run(args.out):
        args.task = "sst"                       # a tree run's folder: rnnlab.trees.train resumes it
    if args.task == "sst":
        return run_sst(args)
    check_flags_apply(args)
    if args.resume:
        config_from_args(args)                  # the new --epochs / --max-minutes, checked by their flags
        ckpt = os.path.join(args.out, CHECKPOINT)
        header = load_checkpoint(ckpt)[0]
        saved = checkpoint_config(ckpt, header)
        if saved.get("task") == "arrays":
            raise ValueError(f"--resume: the run in --out {args.out!r} was made by rnnlab.fit on arrays, which the "
                             f"command cannot read again; resume it with rnnlab.fit(model, x, y, out=..., resume=True)")
        cfg = Config.from_dict({**saved, "epochs": args.epochs or saved["epochs"],
                                "max_minutes": saved["max_minutes"] if args.max_minutes is None else args.max_minutes})
        done = epochs_done(header)
        if args.epochs and done is not None and done >= args.epochs and not args.quiet:
            print(f"rnnlab train: --epochs {args.epochs}: the run in --out has finished {done} epoch(s) "
                  f"already; nothing more to train (give a larger --epochs to continue it)", file=sys.stderr)
    else:
        cfg = config_from_args(args)
    check_metrics_json(args.metrics_json, *run_inputs(cfg))    # the run's data, given or recorded
    done = epochs_done(header) if args.resume else None
    finished = complete_final(args.out) if done is not None and done >= cfg.epochs else None
    if finished is not None:                    # nothing to train: the run's files are left as they are
        if world().is_root:
            print(json.dumps(finished))
            write_metrics_json(args.metrics_json, finished)
        return 0
    echo = (lambda *a: None) if args.quiet else print
    notice = None if args.quiet else (lambda note: print(f"rnnlab train: {note}", file=sys.stderr))
    result = train(cfg, out=args.out, resume=args.resume, progress=False if args.quiet else None, echo=echo,
                   overwrite=args.overwrite, notice=notice)
    metrics = final_metrics(result)
    if not world().is_root:                     # data-parallel under MPI: rank 0 prints and writes
        return 0
    print(json.dumps(metrics))
    write_metrics_json(args.metrics_json, metrics)
    return 0
