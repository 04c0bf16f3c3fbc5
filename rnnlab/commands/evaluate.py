"""``rnnlab evaluate``: a trained model on a split of its task. The file is either ``model.npz``
from ``rnnlab train`` (the parameters with the best validation loss) or a run's ``checkpoint.npz``
(the latest parameters: the last epoch, or where an interrupted run stopped). Dropout layers, if
the model has them, are off (rnnlab.metrics evaluates in evaluation mode).

    rnnlab evaluate runs/fmnist/model.npz --metrics-json test.json
    rnnlab evaluate runs/fmnist/checkpoint.npz
    rnnlab evaluate runs/shakespeare/model.npz --split valid --streams 16

``--streams S`` (text only): the split is read as S contiguous runs of chunks, each chunk starting
from the state the previous one ended with (rnnlab.metrics.evaluate_stream), instead of every
chunk starting from zeros.
"""
from __future__ import annotations

import json

import numpy as np

from ..data import load_task
from ..metrics import evaluate_split, evaluate_stream
from ..saving import load, read_meta
from ..train import Config, build_model, read_checkpoint, task_args, write_json
from ._flags import check_flag_int


def add_parser(sub):
    p = sub.add_parser("evaluate", help="loss and accuracy of a trained model on its task's test split")
    p.add_argument("model", help="model.npz written by rnnlab train")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--data-dir", default=None, help="where data files are looked for first")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--streams", type=int, default=0,
                   help="text: carry the state across chunks, reading the split as this many contiguous runs "
                        "(default 0: every chunk from a zero state)")
    p.add_argument("--metrics-json", default=None, help="write the metrics (loss, accuracy) here")
    return p


def is_checkpoint(path) -> bool:
    try:
        with np.load(path, allow_pickle=False) as data:
            return "__state__" in data.files
    except (OSError, ValueError):
        return False                                           # let the model reader give the error


def run(args) -> int:
    check_flag_int("--batch-size", args.batch_size, low=1)
    check_flag_int("--streams", args.streams, low=0)                 # 0: no state carried across chunks
    if is_checkpoint(args.model):
        header, arrays = read_checkpoint(args.model)
        cfg = Config.from_dict(header["config"])
    else:
        meta = read_meta(args.model)
        if "config" not in meta:
            raise ValueError(f"model: {args.model!r} was not written by rnnlab train (no training config in it)")
        cfg = Config.from_dict(meta["config"])
    if args.data_dir:
        cfg.data_dir = args.data_dir
    task = load_task(cfg.task, **task_args(cfg))
    if is_checkpoint(args.model):
        model = build_model(task, cfg)
        for k, v in model.params.items():
            v[...] = arrays[f"param/{k}"]
    else:
        model = load(args.model)
    if args.streams:
        if cfg.task != "text":
            raise ValueError(f"--streams: carrying the state across chunks is for --task text, got {cfg.task!r}")
        metrics = evaluate_stream(model, getattr(task, args.split), task.kind, args.streams)
    else:
        metrics = evaluate_split(model, task, args.split, args.batch_size)
    out = {"task": cfg.task, "model": cfg.model, "split": args.split,
           **({"streams": args.streams} if args.streams else {}),
           **{f"{args.split}_{k}": v for k, v in metrics.items()}}
    print(json.dumps(out))
    if args.metrics_json:
        write_json(args.metrics_json, out)
    return 0
