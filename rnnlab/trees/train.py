"""Training tree models on the Sentiment Treebank: ``rnnlab train --task sst --model treelstm``.

The recipe of Tai et al. (2015) and Socher et al. (2013): every labelled node of every training tree
is a training example (the loss is summed over nodes, averaged over the trees of a minibatch of 25);
Adagrad, lr 0.05, L2 1e-4 on the composition and classifier weights; embeddings initialised at
random and trained with sparse Adagrad updates (only the rows a minibatch used); dropout on the
embeddings and before the classifier. The model is selected on dev root accuracy after each epoch,
and the best one is evaluated on test.

Fine-grained: 5 classes, all sentences. Binary (``binary=True``): sentences with a neutral root are
dropped, nodes labelled 0-1 / 3-4 become negative / positive, neutral nodes are not counted.

``run(args)`` reads from ``args`` (a Namespace from the train command, or built by hand):
    task ("sst"), model (recursive | treelstm | childsum), hidden, layers (1), epochs, batch_size,
    lr, optimizer, clip, seed, data_dir, out, resume, metrics_json, max_minutes
and, when present: binary, embed_dim, dropout, l2, emb_lr, lowercase, tree_schedule (level | node),
max_train (first N training trees, for quick runs), overwrite. A value of None takes the default below.

The run folder follows rnnlab.run_folder's rules, as ``rnnlab train`` does for sequence tasks: a lock
for the run, a folder holding a run refused unless ``resume`` or ``overwrite``, stale temporary files
removed. A loss, gradient or parameter that is not finite stops the run (``rnnlab.train.Diverged``)
before the epoch's checkpoint is written, so last.npz and best.npz stay finite.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from ..checks import check_int, check_real
from ..optim import OPTIMIZERS, clip_grad_norm, global_norm, make_optimizer
from ..run_folder import open_run, writing
from ..saving import atomic_write
from ..train import Diverged, first_non_finite
from . import data
from .batch import BINARY_LABELS, encode, make_batch
from .model import CELLS, TreeModel, TreeModelConfig
from .saving import read, save_model
from .vocab import Vocabulary

DEFAULTS = {"hidden": 150, "epochs": 10, "batch_size": 25, "lr": 0.05, "optimizer": "adagrad",
            "clip": 0.0, "seed": 0, "binary": False, "dropout": 0.5, "l2": 1e-4, "emb_lr": None,
            "tree_schedule": "level", "max_train": None, "lowercase": False, "max_minutes": None, "embed_dim": None}
RUN_FILES = ("train.log", "best.npz", "last.npz", "metrics.json")


def settings(args) -> dict:
    """The run's settings: each attribute of ``args`` that is set, else DEFAULTS."""
    s = {k: getattr(args, k, None) for k in DEFAULTS}
    s = {k: (DEFAULTS[k] if v is None else v) for k, v in s.items()}
    s["model"] = getattr(args, "model", None) or "treelstm"
    if s["model"] not in CELLS:
        raise ValueError(f"--model: expected one of {sorted(CELLS)} for the sst task, got {s['model']!r}")
    layers = getattr(args, "layers", None)
    if layers not in (None, 1):
        raise ValueError(f"--layers: tree models have one layer of cells, got {layers!r}")
    if s["embed_dim"] is None:
        s["embed_dim"] = s["hidden"] if s["model"] == "recursive" else 300
    if s["emb_lr"] is None:
        s["emb_lr"] = s["lr"]
    if s["tree_schedule"] not in ("level", "node"):
        raise ValueError(f"--tree-schedule: expected 'level' or 'node', got {s['tree_schedule']!r}")
    if s["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"--optimizer: expected one of {sorted(OPTIMIZERS)}, got {s['optimizer']!r}")
    for k in ("hidden", "epochs", "batch_size", "embed_dim"):
        check_int(flag(k), s[k], 1)
    check_int("--seed", s["seed"], 0)
    if s["max_train"] is not None:
        check_int("--max-train", s["max_train"], 1)
    for k in ("lr", "emb_lr"):
        check_real(flag(k), s[k], 0, low_open=True)
    for k in ("l2", "clip"):
        check_real(flag(k), s[k], 0)
    if s["max_minutes"] is not None:
        check_real("--max-minutes", s["max_minutes"], 0)
    if isinstance(s["dropout"], bool) or not isinstance(s["dropout"], (int, float)) or not 0 <= s["dropout"] < 1:
        raise ValueError(f"--dropout: expected a number in [0, 1), got {s['dropout']!r}")
    s["binary"], s["lowercase"] = bool(s["binary"]), bool(s["lowercase"])
    return s


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def load_data(data_dir, binary: bool, vocab: Vocabulary | None = None, max_train=None, lowercase=False):
    """(vocab, {split: [EncodedTree]}, {split: [Tree]}); the vocabulary is built from train."""
    trees = {name: data.load_split(name, data_dir) for name in data.SPLITS}
    if max_train:
        trees["train"] = trees["train"][:max_train]
    if binary:
        trees = {k: [t for t in v if data.is_polar(t)] for k, v in trees.items()}
    for name, split in trees.items():
        if not split:
            raise ValueError(f"--data-dir: the SST {name} split ({data.sst_dir(data_dir) / (name + '.txt')}) holds "
                             f"no trees{' with a non-neutral root (--binary)' if binary else ''}")
    vocab = vocab or Vocabulary.build(trees["train"], lowercase=lowercase)
    return vocab, {k: [encode(t, vocab) for t in v] for k, v in trees.items()}, trees


def evaluate(model: TreeModel, encoded, binary: bool, batch_size: int = 500) -> dict:
    """Root and all-node accuracy, root cross-entropy; for a fine-grained model also the binary root
    accuracy on non-neutral sentences (p(0) + p(1) against p(3) + p(4))."""
    label_map = BINARY_LABELS if binary else None
    correct = nodes_correct = nodes = 0
    polar_correct = polar = 0
    root_nll = 0.0
    for s in range(0, len(encoded), batch_size):
        batch = make_batch(encoded[s:s + batch_size], label_map)
        prob = model.predict(batch)
        y = batch.labels
        counted = y >= 0
        pred = prob.argmax(axis=1)
        nodes_correct += int((pred[counted] == y[counted]).sum())
        nodes += int(counted.sum())
        r = batch.roots
        correct += int((pred[r] == y[r]).sum())
        root_nll -= float(np.log(np.maximum(prob[r, y[r]], 1e-30)).sum())
        if not binary:
            keep = y[r] != 2
            two = np.stack([prob[r, :2].sum(1), prob[r, 3:].sum(1)], axis=1).argmax(1)
            polar_correct += int((two[keep] == (y[r][keep] > 2)).sum())
            polar += int(keep.sum())
    out = {"root_accuracy": correct / len(encoded), "node_accuracy": nodes_correct / max(nodes, 1),
           "root_loss": root_nll / len(encoded), "sentences": len(encoded)}
    if not binary:
        out["binary_root_accuracy_from_fine"] = polar_correct / max(polar, 1)
    return out


def train_epoch(model, opts, encoded, s, rng, deadline=None, epoch: int = 1) -> dict:
    """One pass over ``encoded`` in shuffled minibatches; returns mean loss per tree and timings.
    Raises ``Diverged`` naming ``epoch`` and the minibatch when a loss, gradient or parameter is not finite."""
    label_map = BINARY_LABELS if s["binary"] else None
    order = rng.permutation(len(encoded))
    total, trees, stopped = 0.0, 0, False
    t0, cpu0 = time.perf_counter(), time.process_time()
    batches = -(-len(order) // s["batch_size"])

    def diverged(what):
        return Diverged(f"training diverged at epoch {epoch}, minibatch {k // s['batch_size'] + 1} of {batches}: "
                        f"{what}; the checkpoints of the epochs before are kept; try a smaller --lr or a --clip bound")
    for k in range(0, len(order), s["batch_size"]):
        # 1. batch the trees by height; 2. draw dropout masks; 3. loss and gradients; 4. update
        batch = make_batch([encoded[j] for j in order[k:k + s["batch_size"]]], label_map)
        emb_mask, hid_mask = model.dropout_masks(batch, s["dropout"], rng)
        loss, _, grads = model.loss_and_grads(batch, emb_mask, hid_mask, schedule=s["tree_schedule"])
        if not math.isfinite(loss):
            raise diverged(f"the loss is {loss}")
        norm = clip_grad_norm(grads, s["clip"]) if s["clip"] else global_norm(grads)
        if not math.isfinite(norm):
            raise diverged(f"the gradient of {first_non_finite(grads)!r} is not finite")
        opts["emb"].step(model.params, {"E": grads.pop("E")})
        opts["main"].step(model.params, grads)
        bad = first_non_finite(model.params)
        if bad is not None:
            raise diverged(f"the update made parameter {bad!r} non-finite")
        total += loss * len(batch.roots)
        trees += len(batch.roots)
        if deadline is not None and time.time() > deadline:
            stopped = True
            break
    return {"loss": total / max(trees, 1), "trees": trees, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - cpu0, "stopped": stopped}


def make_optimizers(s):
    return {"main": make_optimizer(s["optimizer"], lr=s["lr"], weight_decay=s["l2"]),
            "emb": make_optimizer(s["optimizer"], lr=s["emb_lr"])}


def run(args) -> int:
    s = settings(args)
    task = getattr(args, "task", "sst") or "sst"
    if task != "sst":
        raise ValueError(f"--task: rnnlab.trees trains the sst task, got {task!r}")
    out = Path(args.out) if getattr(args, "out", None) else None
    metrics_json = getattr(args, "metrics_json", None)
    own = RUN_FILES + ((Path(metrics_json).name,) if out and metrics_json and Path(metrics_json).parent.resolve() ==
                       out.resolve() else ())
    with np.errstate(over="ignore", invalid="ignore"):          # overflow is caught as divergence
        if out is None:
            return run_in(args, s, None)
        with open_run(out, own, resume=bool(getattr(args, "resume", None)),
                      overwrite=bool(getattr(args, "overwrite", False))), writing(out):
            return run_in(args, s, out)


def run_in(args, s: dict, out: Path | None) -> int:
    """``run`` in a run folder already held (or none)."""
    started = time.time()
    log_file = []      # train.log, opened at the first line: a run that fails on its data leaves no file

    def log(text):
        print(text, flush=True)
        if out:
            if not log_file:
                log_file.append(open(out / "train.log", "a"))
            log_file[0].write(text + "\n")
            log_file[0].flush()

    resume = getattr(args, "resume", None)
    ckpt = None
    if resume:
        ckpt = Path(resume) if isinstance(resume, (str, os.PathLike)) else (out / "last.npz" if out else None)
        if ckpt is None or not ckpt.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {str(ckpt)!r}")
        header, params, opt_states = read(ckpt)
        vocab = Vocabulary(header["vocab"], header.get("lowercase", False))
        # the checkpoint's settings, but for how long to go on
        saved = header["meta"]["settings"]
        s = {**s, **saved, "epochs": getattr(args, "epochs", None) or saved["epochs"], "max_minutes": s["max_minutes"]}
    else:
        vocab = None
    vocab, encoded, _ = load_data(getattr(args, "data_dir", None), s["binary"], vocab, s["max_train"], s["lowercase"])
    config = TreeModelConfig(s["model"], len(vocab), s["embed_dim"], s["hidden"], 2 if s["binary"] else 5)
    model = TreeModel(config, seed=s["seed"])
    opts = make_optimizers(s)
    rng = np.random.default_rng(s["seed"] + 1)
    state = {"epoch": 0, "best_dev": -1.0, "best_epoch": 0, "history": []}
    if ckpt is not None:
        for k, v in params.items():
            model.params[k] = v.astype(model.params[k].dtype)
        for name, opt in opts.items():
            if name in opt_states:
                opt.load_state_dict(opt_states[name])
        meta = header["meta"]
        state = {k: meta[k] for k in state}
        rng.bit_generator.state = meta["rng"]
        log(f"resumed from {ckpt} after epoch {state['epoch']}")

    task_name = "binary" if s["binary"] else "fine-grained"
    log(f"sst {task_name}: {model}, train {len(encoded['train'])} / dev {len(encoded['dev'])} / "
        f"test {len(encoded['test'])} trees; settings {json.dumps(s)}")
    max_minutes = s["max_minutes"]      # checked after each minibatch; a cut-short epoch counts as run
    deadline = time.time() + 60 * max_minutes if max_minutes else None
    best_params = {k: v.copy() for k, v in model.params.items()}
    if out and (out / "best.npz").is_file() and ckpt is not None:
        best_params = {k: v.astype(model.params[k].dtype) for k, v in read(out / "best.npz")[1].items()}
    while state["epoch"] < s["epochs"]:
        stats = train_epoch(model, opts, encoded["train"], s, rng, deadline, epoch=state["epoch"] + 1)
        state["epoch"] += 1
        dev = evaluate(model, encoded["dev"], s["binary"])
        row = {"epoch": state["epoch"], "train_loss": stats["loss"], "epoch_seconds": stats["seconds"],
               "epoch_cpu_seconds": stats["cpu_seconds"], "trees": stats["trees"], "dev_root_accuracy": dev["root_accuracy"],
               "dev_node_accuracy": dev["node_accuracy"]}
        if "binary_root_accuracy_from_fine" in dev:
            row["dev_binary_from_fine"] = dev["binary_root_accuracy_from_fine"]
        state["history"].append(row)
        if dev["root_accuracy"] > state["best_dev"]:
            state["best_dev"], state["best_epoch"] = dev["root_accuracy"], state["epoch"]
            best_params = {k: v.copy() for k, v in model.params.items()}
            if out:
                save_model(out / "best.npz", model, vocab, {"settings": s, "epoch": state["epoch"], "dev": dev})
        log("epoch {epoch}: train loss {train_loss:.4f} ({trees} trees, {epoch_seconds:.1f} s, CPU {epoch_cpu_seconds:.1f} s), dev root "
            "accuracy {dev_root_accuracy:.4f}, dev node accuracy {dev_node_accuracy:.4f}".format(**row)
            + (" (stopped at --max-minutes)" if stats["stopped"] else ""))
        if out:
            save_model(out / "last.npz", model, vocab, {**state, "rng": rng.bit_generator.state, "settings": s},
                       optimizers=opts)
        if stats["stopped"]:
            break

    model.params = best_params
    test = evaluate(model, encoded["test"], s["binary"])
    metrics = {"task": "sst", "subtask": task_name, "model": s["model"], "epochs_run": state["epoch"],
               "best_epoch": state["best_epoch"], "dev_root_accuracy": state["best_dev"],
               "test_loss": test["root_loss"], "test_root_accuracy": test["root_accuracy"],
               "test_node_accuracy": test["node_accuracy"], "test_sentences": test["sentences"],
               "run_seconds": time.time() - started, "history": state["history"], "settings": s}
    if s["binary"]:
        metrics["test_accuracy_binary"] = test["root_accuracy"]
    else:
        metrics["test_accuracy_fine"] = test["root_accuracy"]
        metrics["test_accuracy_binary_from_fine"] = test["binary_root_accuracy_from_fine"]
    log(f"best epoch {state['best_epoch']} (dev root accuracy {state['best_dev']:.4f}): test root accuracy "
        f"{test['root_accuracy']:.4f}, test node accuracy {test['node_accuracy']:.4f}, test root loss "
        f"{test['root_loss']:.4f}")
    text = json.dumps(metrics, indent=2)
    if out:
        atomic_write(out / "metrics.json", lambda f: f.write((text + "\n").encode()))
    path = getattr(args, "metrics_json", None)
    if path:
        atomic_write(path, lambda f: f.write((text + "\n").encode()))
    for f in log_file:
        f.close()
    return 0


def make_parser() -> argparse.ArgumentParser:
    """Standalone use, with the same attribute names as ``rnnlab train --task sst``:
    ``python -m rnnlab.trees.train --model treelstm --epochs 10 --out runs/sst``."""
    p = argparse.ArgumentParser(prog="python -m rnnlab.trees.train", description="train a tree model on SST")
    p.add_argument("--task", default="sst", choices=["sst"])
    p.add_argument("--model", default="treelstm", choices=sorted(CELLS))
    p.add_argument("--binary", action="store_true", help="binary task: neutral sentences dropped")
    p.add_argument("--lowercase", action="store_true", help="lowercase every word (vocabulary and lookup)")
    p.add_argument("--hidden", type=int, help=f"H (default {DEFAULTS['hidden']})")
    p.add_argument("--embed-dim", type=int, help="D (default 300; the recursive NN: = hidden)")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--epochs", type=int, help=f"default {DEFAULTS['epochs']}")
    p.add_argument("--batch-size", type=int, help=f"trees per minibatch (default {DEFAULTS['batch_size']})")
    p.add_argument("--lr", type=float, help=f"default {DEFAULTS['lr']}")
    p.add_argument("--emb-lr", type=float, help="learning rate of the embeddings (default: --lr)")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help="default adagrad")
    p.add_argument("--l2", type=float, help=f"weight decay, not on embeddings (default {DEFAULTS['l2']})")
    p.add_argument("--dropout", type=float, help=f"on embeddings and before the classifier (default {DEFAULTS['dropout']})")
    p.add_argument("--clip", type=float, help="global gradient-norm bound, 0: off (default 0)")
    p.add_argument("--seed", type=int)
    p.add_argument("--tree-schedule", choices=["level", "node"], help="level batching or per node (default level)")
    p.add_argument("--max-train", type=int, help="first N training trees only")
    p.add_argument("--data-dir", help="SST folder (default: $RNNLAB_DATA, then ../shared/data/sst)")
    p.add_argument("--out", help="run folder: train.log, best.npz, last.npz, metrics.json")
    p.add_argument("--resume", action="store_true", help="continue from --out/last.npz")
    p.add_argument("--overwrite", action="store_true", help="replace the run that --out holds")
    p.add_argument("--metrics-json", help="also write the final metrics here")
    p.add_argument("--max-minutes", type=float, help="stop training after this long, then test the best")
    return p


if __name__ == "__main__":
    raise SystemExit(run(make_parser().parse_args()))
