"""``rnnlab evaluate``: a trained model on a split of its task. The file is either ``model.npz``
from ``rnnlab train`` (the parameters with the best validation loss) or a run's ``checkpoint.npz``
(the latest parameters: the last epoch, or where an interrupted run stopped). Dropout layers, if
the model has them, are off (rnnlab.metrics evaluates in evaluation mode).

    rnnlab evaluate runs/fmnist/model.npz --metrics-json test.json
    rnnlab evaluate runs/fmnist/checkpoint.npz
    rnnlab evaluate runs/shakespeare/model.npz --split valid --streams 16

A text model records the text file it was trained on. That path comes from the model file, so
``evaluate`` opens it only when it is confirmed to be the run's data: a regular file of the size and
SHA-256 recorded with the model (rnnlab.data.text.confirm_recorded); a checkpoint, which records no
fingerprint, borrows the one of the run's model.npz beside it. Otherwise (an interrupted run's
checkpoint, a file that changed or moved, a model from elsewhere) pass ``--text PATH`` to name the
file yourself. A model or checkpoint that
is not a readable rnnlab file gives a ``FormatError`` naming the file and the key.

``--streams S`` (text only): the split is read as S contiguous runs of chunks, each chunk starting
from the state the previous one ended with (rnnlab.metrics.evaluate_stream), instead of every
chunk starting from zeros.

``--data FILE``: a model trained on arrays (``rnnlab train --data`` or a built-in task of arrays; not
``--csv``, whose inputs are standardized CSV windows) scored on the .npz file FILE instead of a split of its own data (``x``, ``y`` and optionally
``lengths``, as ``rnnlab train --data`` reads them; the metrics of ``rnnlab.evaluate``):

    rnnlab evaluate runs/mine/model.npz --data test.npz
"""
from __future__ import annotations

import json
import os

from ..data import load_task, text
from ..data.text import confirm_recorded
from ..errors import FormatError, describe
from ..metrics import evaluate_split, evaluate_stream
from ..saving import assign_params, load, read_meta
from ..train import MODEL, Config, build_model, confirm_files, is_checkpoint, read_checkpoint, task_args
from ._flags import (check_flag_int, check_metrics_json, check_model_file, read_data_file, run_inputs,
                     write_metrics_json)


def add_parser(sub):
    p = sub.add_parser("evaluate", help="loss and accuracy of a trained model on its task's test split")
    p.add_argument("model", help="model.npz written by rnnlab train")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--data-dir", default=None, help="where data files are looked for first")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--streams", type=int, default=0,
                   help="text: carry the state across chunks, reading the split as this many contiguous runs "
                        "(default 0: every chunk from a zero state)")
    p.add_argument("--data", default=None,
                   help="an .npz file (x, y, optionally lengths) to score the model on instead of a split of the "
                        "run's own data")
    p.add_argument("--csv", default=None,
                   help="a model trained with --csv: a CSV file with the columns it was trained on, scored whole "
                        "(every window and its target, standardized with the training statistics)")
    p.add_argument("--metrics-json", default=None, help="write the metrics (loss, accuracy) here")
    p.add_argument("--text", default=None,
                   help="text models: the text file to evaluate on (default: the file the model records, if it "
                        "is confirmed to be the run's data by its recorded size and SHA-256)")
    return p


def run_fingerprint(checkpoint, cfg: Config) -> dict:
    """A checkpoint records no fingerprint of its text: take the one of the run's model.npz beside it,
    if that file records the same text path; else {} (then --text is needed)."""
    try:
        meta = read_meta(os.path.join(os.path.dirname(os.path.abspath(checkpoint)), MODEL))
    except (FileNotFoundError, ValueError):
        return {}
    same = isinstance(meta.get("config"), dict) and meta["config"].get("text_path") == cfg.text_path
    return meta["task"] if same and isinstance(meta.get("task"), dict) else {}


def config_of(header: dict, key: str, path) -> Config:
    """The training configuration stored under ``key``; a FormatError naming the file if it is not one."""
    try:
        return Config.from_dict(header[key])
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise FormatError(path, f"{key}", f"not an rnnlab training configuration ({describe(err)})") from None


def score_file(args) -> dict:
    """The metrics of the saved model ``args.model`` on the .npz file ``args.data`` or the CSV file
    ``args.csv`` (rnnlab.evaluate); errors name the flag and the file, or the model."""
    from ..data.arrays import as_file_keys
    from ..data.dataset import KINDS
    from ..fitting import evaluate
    flag = "--data" if args.data is not None else "--csv"
    if args.data is not None and args.csv is not None:
        raise ValueError("--csv: give --data or --csv, not both")
    for other, given in (("--split", args.split != "test"), ("--streams", args.streams), ("--text", args.text),
                         ("--data-dir", args.data_dir)):
        if given:
            raise ValueError(f"{other}: not with {flag} (the file is scored whole)")
    if is_checkpoint(args.model):
        raise ValueError(f"model: {args.model!r} is a run's checkpoint; {flag} scores a saved model, such as the "
                         f"run's {MODEL} beside it")
    meta = read_meta(args.model)
    task = meta.get("task") if isinstance(meta.get("task"), dict) else {}
    if args.csv is not None:
        if "csv" not in task:
            raise ValueError(f"--csv: {args.model!r} was not trained with --csv (its file records no series "
                             f"statistics to prepare the file with); score arrays with --data")
        from ..data.csv_series import scored_windows
        x, y = scored_windows(args.csv, task["csv"], "--csv")
        try:
            return evaluate(load(args.model), x, y, loss="regression", batch_size=args.batch_size)
        except ValueError as err:
            raise ValueError(f"--csv {args.csv!r}: {err}") from err
    if task.get("name") in ("text", "sst"):
        raise ValueError(f"--data: scores models trained on arrays; {args.model!r} was trained on --task "
                         f"{task.get('name')} (score a text model on another file with --text)")
    if "csv" in task:
        raise ValueError(f"--data: {args.model!r} was trained with --csv: it reads windows of the CSV's columns "
                         f"standardized with the training statistics, which an .npz of x and y does not carry; "
                         f"score a CSV file of its columns with --csv FILE")
    x, y, lengths = read_data_file(args.data, "evaluate")
    if y is None:
        raise FormatError(args.data, "", "--data: has no key 'y' (the targets); expected an .npz file with keys 'x', "
                                         "'y' and optionally 'lengths' (np.savez(path, x=x, y=y))")
    model = load(args.model)
    kind = task.get("kind") if task.get("kind") in KINDS else None      # as trained (else: from y's dtype)
    try:
        return evaluate(model, x, y, lengths, loss=kind, batch_size=args.batch_size)
    except ValueError as err:
        raise ValueError(f"--data {args.data!r}: {as_file_keys(str(err))}") from err


def run(args) -> int:
    check_flag_int("--batch-size", args.batch_size, low=1)
    check_flag_int("--streams", args.streams, low=0)                 # 0: no state carried across chunks
    check_model_file(args.model, "evaluate", checkpoint_ok=True)
    check_metrics_json(args.metrics_json, {"model": args.model, "--data": args.data, "--csv": args.csv,
                                           "--text": args.text})
    if args.data is not None or args.csv is not None:
        metrics = score_file(args)
        out = {"model": args.model, **({"data": args.data} if args.data is not None else {"csv": args.csv}),
               **metrics}
        print(json.dumps(out))
        write_metrics_json(args.metrics_json, out)
        return 0
    checkpoint = is_checkpoint(args.model)
    if checkpoint:
        header, arrays = read_checkpoint(args.model)
        cfg = config_of(header, "config", args.model)
        recorded = run_fingerprint(args.model, cfg)
    else:
        meta = read_meta(args.model)
        if "config" not in meta:
            raise ValueError(f"model: {args.model!r} was not written by rnnlab train (no training config in it)")
        cfg = config_of(meta, "config", args.model)
        recorded = meta.get("task") if isinstance(meta.get("task"), dict) else {}
    if cfg.task == "arrays":
        raise ValueError(f"model: {args.model!r} was trained by rnnlab.fit on arrays, which its run does not keep; "
                         f"score it on a file with --data FILE.npz (or rnnlab.evaluate in Python)")
    confirm_files(cfg, "rnnlab evaluate", args.model, skip=("text_path",))   # the text: below, or --text
    check_metrics_json(args.metrics_json, *run_inputs(cfg))                  # the files the run reads
    if args.data_dir:
        cfg.data_dir = args.data_dir
    if cfg.task == "text" and args.text:
        cfg.text_path = args.text
    elif cfg.task == "text" and cfg.text_path is not None:
        cfg.text_path = confirm_recorded(recorded.get("path", cfg.text_path), recorded, args.model)
    if cfg.task == "text" and isinstance(recorded.get("chars"), str):      # score with the model's vocabulary
        targs = task_args(cfg)
        task = text.task(cfg.text_path, cfg.data_dir, cfg.seq_len, as_ids=targs["as_ids"], chars=recorded["chars"])
    else:
        task = load_task(cfg.task, **task_args(cfg))
    if checkpoint:
        stored = sum(int(v.size) for k, v in arrays.items() if k.startswith("param/"))
        if cfg.layers * cfg.hidden ** 2 > stored:              # U of every level, before allocating them
            raise FormatError(args.model, "key '__state__' config", f"hidden={cfg.hidden}, layers={cfg.layers} "
                                                                    f"need more parameters than the {stored} stored")
        model = build_model(task, cfg)
        assign_params(model, {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")},
                      args.model)
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
    write_metrics_json(args.metrics_json, out)
    return 0
