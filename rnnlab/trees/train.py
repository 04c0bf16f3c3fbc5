"""Training tree models on the Sentiment Treebank: ``rnnlab train --task sst --model treelstm``.

The recipe of Tai et al. (2015) and Socher et al. (2013): every labelled node of every training tree
is a training example (the loss is summed over nodes, averaged over the trees of a minibatch of 25);
Adagrad, lr 0.05, L2 1e-4 on the composition and classifier weights; embeddings initialised at
random and trained with sparse Adagrad updates (only the rows a minibatch used); dropout on the
embeddings and before the classifier. The model is selected on dev root accuracy after each epoch,
and the best one is evaluated on test.

Fine-grained: 5 classes, all sentences. Binary (``binary=True``): sentences with a neutral root are
dropped, nodes labelled 0-1 / 3-4 become negative / positive, neutral nodes are not counted.

``train(TreeConfig(...), out=...)`` runs on the shared training core (rnnlab.training.loop), in its
steps: 1. start or resume, 2. run an epoch, 3. validate and select, 4. checkpoint, 5. stop?
(early stopping), 6. test the best model. ``run(args)`` does the same from a Namespace (the train
command's, or ``make_parser``'s); an option that is None takes TreeConfig's default.

Run folder (``out``): train.log (the lines printed), best.npz (the best model, rnnlab.trees.saving),
last.npz (the checkpoint: model, optimizers, shuffling generator, selection state), metrics.json.
It follows rnnlab.training.run_folder's rules, as ``rnnlab train`` does for sequence tasks: a lock for
the run, a folder holding a run refused unless ``resume`` or ``overwrite``, stale temporary files
removed. A loss, gradient or parameter that is not finite, or a minibatch loss per labelled node
above 100 x ln C (``loss_bound``: a finite blow-up), stops the run (``Diverged``) before the epoch's
checkpoint is written, so last.npz and best.npz hold the last good epoch. Resume is exact: the shuffling
and dropout generator's state is in the checkpoint; it keeps the run's configuration, and a setting
given that differs from it (other than --epochs and --max-minutes) is refused naming its flag.
``rnnlab train --out DIR --resume`` finds a tree run by its last.npz. A configuration whose
parameters and batches (``memory_needed``) exceed the available memory is refused before any of it
is allocated.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ..checks import check_int, check_real
from ..layers.dropout import check_rate
from ..optim import OPTIMIZERS, make_optimizer
from ..saving import atomic_write
from ..training.config import TREE_CELLS, TREE_NONLINEARITIES
from ..training.checkpoint import generator_state, set_generator_state
from ..training.distributed import World, world as mpi_world
from ..training.divergence import Diverged, check_loss, check_params, clip_and_check
from ..training.loop import EpochEnd, epochs, held
from ..training.selection import patience_spent, select
from . import data
from .batch import BINARY_LABELS, encode, make_batch
from .model import RECURSIVE_CELLS, TreeModel, TreeModelConfig
from .saving import read, save_model
from .vocab import Vocabulary

RUN_FILES = ("train.log", "best.npz", "last.npz", "metrics.json")


@dataclass
class TreeConfig:
    model: str = "treelstm"         # the cell: recursive | treelstm | childsum | childsum-recursive (model.CELLS)
    hidden: int = 150               # H, the cell's state size (Tai et al. 2015: 150; Socher et al. 2013: 25-35)
    embed_dim: int | None = None    # D, word-vector size; None: 300, for the recursive NNs = hidden (they need D = H)
    nonlinearity: str = "tanh"      # phi of the recursive NNs' composition: tanh | identity
    epochs: int = 10
    batch_size: int = 25            # trees per minibatch; the loss is averaged over its trees
    lr: float = 0.05                # Adagrad's learning rate (Tai et al. 2015)
    emb_lr: float | None = None     # learning rate of the embeddings; None: lr
    optimizer: str = "adagrad"      # a name in rnnlab.optim.OPTIMIZERS
    l2: float = 1e-4                # weight decay on the cell and classifier, not on the embeddings
    clip: float = 0.0               # bound on the gradients' global norm; 0: off
    dropout: float = 0.5            # p on the embeddings and before the classifier
    seed: int = 0                   # parameters from seed, shuffling and dropout masks from seed + 1
    binary: bool = False            # binary task: neutral sentences dropped, 0-1 / 3-4 negative / positive
    lowercase: bool = False         # lowercase every word (vocabulary and lookup)
    tree_schedule: str = "level"    # level: every node of a level in one matrix product; node: one by one
    max_train: int | None = None    # the first N training trees only (quick runs); None: all
    max_minutes: float | None = None    # stop after the minibatch that passes this, then validate and test
    patience: int = 0               # early stopping after this many epochs without a better dev accuracy; 0: off

    def __post_init__(self):
        if self.model not in TREE_CELLS:
            raise ValueError(f"--model: expected one of {sorted(TREE_CELLS)} for the sst task, got {self.model!r}")
        if self.nonlinearity not in TREE_NONLINEARITIES:
            raise ValueError(f"--nonlinearity: expected one of {list(TREE_NONLINEARITIES)}, got {self.nonlinearity!r}")
        if self.nonlinearity != "tanh" and self.model not in RECURSIVE_CELLS:
            raise ValueError(f"--nonlinearity: expected tanh with --model {self.model} (the Tree-LSTMs' activations are "
                             f"fixed; {self.nonlinearity} applies to --model {' | '.join(RECURSIVE_CELLS)}), got "
                             f"{self.nonlinearity}")
        if self.embed_dim is None:
            self.embed_dim = self.hidden if self.model in RECURSIVE_CELLS else 300
        if self.emb_lr is None:
            self.emb_lr = self.lr
        if self.tree_schedule not in ("level", "node"):
            raise ValueError(f"--tree-schedule: expected 'level' or 'node', got {self.tree_schedule!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer: expected one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        for k in ("hidden", "epochs", "batch_size", "embed_dim"):
            check_int(flag(k), getattr(self, k), 1)
        for k in ("seed", "patience"):
            check_int(flag(k), getattr(self, k), 0)
        if self.max_train is not None:
            check_int("--max-train", self.max_train, 1)
        for k in ("lr", "emb_lr"):
            check_real(flag(k), getattr(self, k), 0, low_open=True)
        for k in ("l2", "clip"):
            check_real(flag(k), getattr(self, k), 0)
        if self.max_minutes is not None:
            check_real("--max-minutes", self.max_minutes, 0)
        check_rate("--dropout", self.dropout)
        self.binary, self.lowercase = bool(self.binary), bool(self.lowercase)

    @classmethod
    def from_dict(cls, d: dict) -> "TreeConfig":
        """The fields of ``d`` that TreeConfig knows (a checkpoint's settings)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_args(cls, args) -> "TreeConfig":
        """The attributes of ``args`` that are set (not None); a bad value fails naming its flag."""
        layers = getattr(args, "layers", None)
        if layers not in (None, 1):
            raise ValueError(f"--layers: tree models have one layer of cells, got {layers!r}")
        task = getattr(args, "task", "sst") or "sst"
        if task != "sst":
            raise ValueError(f"--task: rnnlab.trees trains the sst task, got {task!r}")
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None})


@dataclass
class TreeState:
    """Where training stands, kept in last.npz's header (with the generator's state and the settings)."""
    epoch: int = 0                  # epochs finished
    best_score: float = 1.0         # minus the best dev root accuracy so far (1.0: none yet, read as accuracy -1)
    best_epoch: int = 0
    bad_epochs: int = 0             # epochs since the best (early stopping)
    history: list = field(default_factory=list)    # one row per epoch

    @property
    def best_dev(self) -> float:
        return -self.best_score

    def to_meta(self) -> dict:
        return {"epoch": self.epoch, "best_dev": self.best_dev, "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs, "history": self.history}

    @classmethod
    def from_meta(cls, meta: dict) -> "TreeState":
        return cls(meta["epoch"], -meta["best_dev"], meta["best_epoch"], meta.get("bad_epochs", 0), meta["history"])


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


def train_epoch(model, opts, encoded, cfg: TreeConfig, rng, deadline=None, epoch: int = 1, world=None) -> dict:
    """One pass over ``encoded`` in shuffled minibatches; returns mean loss per tree and timings.
    Raises ``Diverged`` naming ``epoch`` and the minibatch when a loss, gradient or parameter is not finite.
    ``world`` (rnnlab.training.distributed): under MPI each process computes its trees of a minibatch
    and one Allreduce sums the gradients (the embedding rows gathered)."""
    world = world or World()
    label_map = BINARY_LABELS if cfg.binary else None
    order = rng.permutation(len(encoded))
    total, trees, stopped = 0.0, 0, False
    t0, cpu0 = time.perf_counter(), time.process_time()
    batches = -(-len(order) // cfg.batch_size)

    bound = loss_bound(model.config.classes)

    def diverged(what):
        return Diverged(f"training diverged at epoch {epoch}, minibatch {k // cfg.batch_size + 1} of {batches}: "
                        f"{what}; the checkpoints of the epochs before are kept; try a smaller --lr or a --clip bound"
                        + (f" (RESULTS.md trains the identity composition with {IDENTITY_SETTINGS})"
                           if cfg.nonlinearity == "identity" else ""))
    for k in range(0, len(order), cfg.batch_size):
        # 1. batch the trees by height; 2. draw dropout masks; 3. loss and gradients; 4. update
        trees_k = [encoded[j] for j in order[k:k + cfg.batch_size]]
        batch = make_batch(trees_k, label_map)
        masks = model.dropout_masks(batch, cfg.dropout, rng)
        part, (emb_mask, hid_mask), shard = world.shard_trees(trees_k, batch, masks, make_batch, label_map)
        loss, _, grads = model.loss_and_grads(part, emb_mask, hid_mask, schedule=cfg.tree_schedule)
        check_loss(loss, diverged)
        loss, _ = world.sum_gradients(grads, loss, len(part.roots), shard)     # MPI: one Allreduce
        per_node = loss * len(batch.roots) / max(int((batch.labels >= 0).sum()), 1)
        if per_node > bound:        # a finite blow-up (see loss_bound)
            raise diverged(f"the loss per labelled node is {per_node:.4g}, above {BLOWUP:g} x ln "
                           f"{model.config.classes} = {bound:.4g} (the uniform prediction's loss is ln "
                           f"{model.config.classes} = {bound / BLOWUP:.4g})")
        clip_and_check(grads, cfg.clip, diverged)
        opts["emb"].step(model.params, {"E": grads.pop("E")})
        opts["main"].step(model.params, grads)
        check_params(model.params, diverged)
        total += loss * len(batch.roots)
        trees += len(batch.roots)
        if deadline is not None and world.any(time.time() > deadline):
            stopped = True
            break
    return {"loss": total / max(trees, 1), "trees": trees, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - cpu0, "stopped": stopped}


BLOWUP = 100.0
"""A minibatch whose mean cross-entropy per labelled node exceeds BLOWUP x ln C has diverged."""
IDENTITY_SETTINGS = "--hidden 50 --dropout 0.5 --emb-lr 0.1 --batch-size 10 --lowercase"


def loss_bound(classes: int) -> float:
    """The largest mean cross-entropy per labelled node (nats) a minibatch may have: BLOWUP x ln C.

    ln C is the loss of the uniform prediction, which the untrained model is close to (its logits are
    small: E ~ U(-0.1, 0.1), Ws ~ U(-1/sqrt(H), 1/sqrt(H)), bs = 0). A mean loss of 100 ln C gives
    the labelled class a geometric-mean probability of C^-100 (e^-161 for 5 classes): the logits
    are then hundreds apart, which happens when the parameters grow without bound (a too large
    --lr, or the identity composition's products of weight matrices), not in training that works.
    The RESULTS.md tree commands stay far below it: over a first epoch of 1,500 training trees the
    largest minibatch loss per node was 2.3 (Tree-LSTM), 2.5 (Child-Sum Tree-LSTM), 5.1 (recursive
    NN, identity), 1.6 (Child-Sum recursive NN, identity), 0.9 (recursive NN, binary; bound 69)."""
    return BLOWUP * float(np.log(classes))


SLOTS = {"sgd": 0, "adagrad": 1, "rmsprop": 1, "adam": 2, "adamw": 2}   # state arrays per parameter (least)


def cell_parameters(cell: str, D: int, H: int) -> int:
    """Numbers in the cell's own parameters (the ``init_params`` shapes of rnnlab.trees.<cell>)."""
    return {"recursive": 2 * H * H + H, "treelstm": D * 3 * H + 2 * H * 5 * H + 5 * H,
            "childsum": D * 3 * H + H * 4 * H + 4 * H, "childsum-recursive": H * H + H}[cell]


def memory_needed(cfg: TreeConfig, vocab_size: int = 1, leaves_per_tree: float = 0.0, eval_leaves: int = 0) -> dict:
    """A lower bound on the bytes training ``cfg`` holds, computed without allocating: {"embedding": E
    (V, D) with its optimizer state and best copy; "cell": the cell's and classifier's parameters with
    their dense gradients, optimizer state and best copy; "batch": the larger of a training
    minibatch's leaf vectors (L, D) (``batch_size`` trees of ``leaves_per_tree`` leaves) with the
    float64 uniforms and the mask of their dropout, and an evaluation batch's leaf vectors
    (``eval_leaves`` rows, ``evaluate``'s 500 trees)}. Python ints: no overflow at any size."""
    item, slots = 4, SLOTS.get(cfg.optimizer, 0)                       # float32 parameters
    D, H, C = int(cfg.embed_dim), int(cfg.hidden), 2 if cfg.binary else 5
    leaves = int(cfg.batch_size * leaves_per_tree)
    return {"embedding": (2 + slots) * int(vocab_size) * D * item,
            "cell": (3 + slots) * (cell_parameters(cfg.model, D, H) + H * C + C) * item,
            "batch": max(leaves * D * (item + (8 + item if cfg.dropout else 0)), int(eval_leaves) * D * item)}


def most_leaves(encoded: list, batch_size: int = 500) -> int:
    """The most leaves in one of ``evaluate``'s batches of ``encoded``."""
    counts = [int((t.words >= 0).sum()) for t in encoded]
    return max((sum(counts[s:s + batch_size]) for s in range(0, len(counts), batch_size)), default=0)


def check_memory(cfg: TreeConfig, vocab_size: int = 1, leaves_per_tree: float = 0.0, eval_leaves: int = 0,
                 have=None) -> None:
    """Refuse a configuration whose ``memory_needed`` exceeds the memory available (``have`` bytes;
    default rnnlab.memory.available_memory()): ValueError naming --embed-dim when D > H, else --hidden."""
    from ..memory import available_memory
    have = available_memory() if have is None else have
    need = memory_needed(cfg, vocab_size, leaves_per_tree, eval_leaves)
    if not have or sum(need.values()) <= have:
        return
    gb = lambda b: f"{b / 2**30:,.1f} GB"                                  # noqa: E731
    name, value = ("--embed-dim", cfg.embed_dim) if cfg.embed_dim > cfg.hidden else ("--hidden", cfg.hidden)
    raise ValueError(f"{name}: {value:,} needs at least {gb(sum(need.values()))} of memory to train the {cfg.model} "
                     f"model (D {cfg.embed_dim:,}, H {cfg.hidden:,}, vocabulary {vocab_size:,}: parameters "
                     f"{gb(need['cell'] + need['embedding'])} with gradients, {cfg.optimizer} state and best copy; "
                     f"one batch's word vectors {gb(need['batch'])}); this machine has {gb(have)} available")


def make_optimizers(cfg: TreeConfig) -> dict:
    """Weight decay on the cell and classifier ("main"), none on the embeddings ("emb")."""
    return {"main": make_optimizer(cfg.optimizer, lr=cfg.lr, weight_decay=cfg.l2),
            "emb": make_optimizer(cfg.optimizer, lr=cfg.emb_lr)}


def run(args) -> int:
    """``rnnlab train --task sst``: ``train`` with the TreeConfig that ``args`` asks for (see the module
    docstring); args.out, args.resume (True, or a checkpoint's path), args.overwrite, args.data_dir
    and args.metrics_json say where."""
    cfg = TreeConfig.from_args(args)
    asked = {f.name: getattr(args, f.name) for f in fields(TreeConfig)
             if getattr(args, f.name, None) not in (None, False) and f.name not in RESUME_MAY_CHANGE}
    train(cfg, out=getattr(args, "out", None), resume=getattr(args, "resume", None),
          overwrite=bool(getattr(args, "overwrite", False)), data_dir=getattr(args, "data_dir", None),
          metrics_json=getattr(args, "metrics_json", None), epochs_given=getattr(args, "epochs", None) is not None,
          asked=asked)
    return 0


RESUME_MAY_CHANGE = ("epochs", "max_minutes")


def check_resume_settings(saved: dict, asked: dict) -> None:
    """Refuse, naming the flag, a setting in ``asked`` (the flags given, by TreeConfig field) that differs
    from the run's ``saved`` settings: resume continues with the run's configuration."""
    for k, v in asked.items():
        if k not in RESUME_MAY_CHANGE and k in saved and v != saved[k]:
            raise ValueError(f"{flag(k)}: --resume continues with the run's configuration ({flag(k)} {saved[k]}), "
                             f"got {v}; only --epochs and --max-minutes may change")


def train(cfg: TreeConfig, out=None, resume=None, overwrite: bool = False, data_dir=None, metrics_json=None,
          echo=None, epochs_given: bool = True, asked: dict | None = None) -> dict:
    """Train as ``cfg`` says; returns the final metrics (as metrics.json holds them).

    ``out``: the run folder (None: none); ``resume``: True to continue from ``out``/last.npz, or a
    checkpoint's path; the checkpoint's configuration is kept but for ``epochs`` (when
    ``epochs_given``) and ``max_minutes``; ``asked``: the settings given explicitly ({TreeConfig
    field: value}), refused on resume where they differ from the checkpoint's. ``overwrite``: replace the run ``out`` holds.
    ``metrics_json``: also write the final metrics there; ``echo``: where the log lines go besides
    train.log (default: printed). Raises ValueError naming the flag."""
    echo = echo or (lambda text: print(text, flush=True))
    world = mpi_world()                 # one process, or data-parallel under mpiexec (training.distributed)
    if not world.is_root:               # rank 0 alone holds the run folder, writes and prints
        echo, metrics_json = (lambda *a, **k: None), None
    out = Path(out) if out else None
    own = RUN_FILES + ((Path(metrics_json).name,) if out and metrics_json and Path(metrics_json).parent.resolve() ==
                       out.resolve() else ())
    with world.guard("rnnlab train"), held(out if world.is_root else None, own, resume=bool(resume),
                                            overwrite=overwrite) as begin:
        run = start(cfg, out, resume, data_dir, echo, epochs_given, world, begin, asked)   # 1. start or resume
        epochs(run.state, run.cfg.epochs,
               lambda: run_epoch(run),                                               # 2. run an epoch
               lambda: validate_and_select(run),                                     # 3. validate and select
               lambda: checkpoint(run),                                              # 4. checkpoint
               lambda: should_stop(run))                                             # 5. stop?
        return finish(run, metrics_json)                                             # 6. test the best


class TreeRun:
    """What a tree run works with, built by ``start``."""

    def __init__(self, cfg, out, vocab, encoded, model, opts, rng, state, best, echo):
        self.cfg, self.out, self.vocab, self.encoded, self.model = cfg, out, vocab, encoded, model
        self.opts, self.rng, self.state, self.best, self.echo = opts, rng, state, best, echo
        self.started = time.time()      # reset by ``start`` to when it began
        self.deadline = None            # time.time() at which --max-minutes stops; set by ``start``
        self.stats: dict = {}           # the last epoch's training loss and timings (train_epoch)
        self.world = World()            # the processes training together (rnnlab.training.distributed)
        self._log = None                # train.log, opened at the first line: a run that fails on its data leaves none

    def log(self, text: str) -> None:
        """Print ``text`` and append it to the run folder's train.log."""
        self.echo(text)
        if self.out:
            if self._log is None:
                self._log = open(self.out / "train.log", "a")
            self._log.write(text + "\n")
            self._log.flush()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


def start(cfg: TreeConfig, out: Path | None, resume, data_dir, echo, epochs_given: bool = True,
          world: World | None = None, begin=lambda: None, asked: dict | None = None) -> TreeRun:
    """Step 1: configuration (the checkpoint's, on resume), data and vocabulary, model, optimizers, the
    shuffling generator and the state, fresh or from last.npz; the best parameters from best.npz.
    ``begin`` (from ``held``) is called once all of that passed, before the first line is logged: with
    --overwrite it removes the previous run only then."""
    started = time.time()
    ckpt = None
    if resume:
        ckpt = Path(resume) if isinstance(resume, (str, os.PathLike)) else (out / "last.npz" if out else None)
        if ckpt is None or not ckpt.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {str(ckpt)!r}")
        header, params, opt_states = read(ckpt)
        vocab = Vocabulary(header["vocab"], header.get("lowercase", False))
        saved = header["meta"]["settings"]      # the checkpoint's settings, but for how long to go on
        check_resume_settings(saved, asked or {})
        cfg = TreeConfig.from_dict({**saved, "epochs": cfg.epochs if epochs_given else saved["epochs"],
                                    "max_minutes": cfg.max_minutes})
    else:
        vocab = None
    check_memory(cfg, len(vocab) if vocab else 1)          # before the data: the parameters' sizes alone
    vocab, encoded, _ = load_data(data_dir, cfg.binary, vocab, cfg.max_train, cfg.lowercase)
    check_memory(cfg, len(vocab), sum(int((t.words >= 0).sum()) for t in encoded["train"]) / len(encoded["train"]),
                 max(most_leaves(encoded["dev"]), most_leaves(encoded["test"])))
    config = TreeModelConfig(cfg.model, len(vocab), cfg.embed_dim, cfg.hidden, 2 if cfg.binary else 5,
                             nonlinearity=cfg.nonlinearity)
    model = TreeModel(config, seed=cfg.seed)
    opts = make_optimizers(cfg)
    rng = np.random.default_rng(cfg.seed + 1)
    state = TreeState()
    if ckpt is not None:
        for k, v in params.items():
            model.params[k] = v.astype(model.params[k].dtype)
        for name, opt in opts.items():
            if name in opt_states:
                opt.load_state_dict(opt_states[name])
        state = TreeState.from_meta(header["meta"])
        set_generator_state(rng, header["meta"]["rng"])
    best = {k: v.copy() for k, v in model.params.items()}
    if out and (out / "best.npz").is_file() and ckpt is not None:
        best = {k: v.astype(model.params[k].dtype) for k, v in read(out / "best.npz")[1].items()}
    world = world or World()
    world.broadcast_params(model.params)
    run = TreeRun(cfg, out if world.is_root else None, vocab, encoded, model, opts, rng, state, best, echo)
    run.world = world
    run.started = started
    begin()
    if ckpt is not None:
        run.log(f"resumed from {ckpt} after epoch {state.epoch}")
    run.log(f"sst {subtask(cfg)}: {model}, train {len(encoded['train'])} / dev {len(encoded['dev'])} / "
            f"test {len(encoded['test'])} trees; settings {json.dumps(asdict(cfg))}")
    run.deadline = time.time() + 60 * cfg.max_minutes if cfg.max_minutes else None
    return run


def subtask(cfg: TreeConfig) -> str:
    return "binary" if cfg.binary else "fine-grained"


def run_epoch(run: TreeRun) -> EpochEnd:
    """Step 2: one shuffled pass over the training trees; cut short at the deadline (--max-minutes),
    the cut-short epoch is still validated and checkpointed."""
    run.stats = train_epoch(run.model, run.opts, run.encoded["train"], run.cfg, run.rng, run.deadline,
                            epoch=run.state.epoch + 1, world=run.world)
    return EpochEnd(stopped=run.stats["stopped"], validate=True)


def validate_and_select(run: TreeRun) -> None:
    """Step 3: dev accuracy; the epoch's row; selection on dev root accuracy, the best model to best.npz."""
    state, stats = run.state, run.stats
    state.epoch += 1
    dev = evaluate(run.model, run.encoded["dev"], run.cfg.binary)
    row = {"epoch": state.epoch, "train_loss": stats["loss"], "epoch_seconds": stats["seconds"],
           "epoch_cpu_seconds": stats["cpu_seconds"], "trees": stats["trees"], "dev_root_accuracy": dev["root_accuracy"],
           "dev_node_accuracy": dev["node_accuracy"]}
    if "binary_root_accuracy_from_fine" in dev:
        row["dev_binary_from_fine"] = dev["binary_root_accuracy_from_fine"]
    state.history.append(row)
    if select(state, -dev["root_accuracy"], state.epoch, run.model.params, run.best) and run.out:
        save_model(run.out / "best.npz", run.model, run.vocab,
                   {"settings": asdict(run.cfg), "epoch": state.epoch, "dev": dev})
    run.log("epoch {epoch}: train loss {train_loss:.4f} ({trees} trees, {epoch_seconds:.1f} s, CPU {epoch_cpu_seconds:.1f} s), "
            "dev root accuracy {dev_root_accuracy:.4f}, dev node accuracy {dev_node_accuracy:.4f}".format(**row)
            + (" (stopped at --max-minutes)" if stats["stopped"] else ""))


def checkpoint(run: TreeRun) -> None:
    """Step 4: last.npz: the model, the optimizers, the generator's state, the state and the settings."""
    run.world.check_same(run.model.params)             # MPI: the ranks are still in lockstep
    if run.out:
        save_model(run.out / "last.npz", run.model, run.vocab,
                   {**run.state.to_meta(), "rng": generator_state(run.rng), "settings": asdict(run.cfg)},
                   optimizers=run.opts)


def should_stop(run: TreeRun) -> bool:
    """Step 5: early stopping, after ``patience`` epochs without a better dev root accuracy."""
    if patience_spent(run.state, run.cfg.patience):
        run.log(f"early stopping: no better dev root accuracy for {run.cfg.patience} epochs")
        return True
    return False


def finish(run: TreeRun, metrics_json=None) -> dict:
    """Step 6: the best parameters on test; metrics.json (and ``metrics_json``)."""
    cfg, state, model = run.cfg, run.state, run.model
    model.params = run.best
    test = evaluate(model, run.encoded["test"], cfg.binary)
    metrics = {"task": "sst", "subtask": subtask(cfg), "model": cfg.model, "epochs_run": state.epoch,
               "best_epoch": state.best_epoch, "dev_root_accuracy": state.best_dev,
               "test_loss": test["root_loss"], "test_root_accuracy": test["root_accuracy"],
               "test_node_accuracy": test["node_accuracy"], "test_sentences": test["sentences"],
               "run_seconds": time.time() - run.started, "history": state.history, "settings": asdict(cfg)}
    if cfg.binary:
        metrics["test_accuracy_binary"] = test["root_accuracy"]
    else:
        metrics["test_accuracy_fine"] = test["root_accuracy"]
        metrics["test_accuracy_binary_from_fine"] = test["binary_root_accuracy_from_fine"]
    run.log(f"best epoch {state.best_epoch} (dev root accuracy {state.best_dev:.4f}): test root accuracy "
            f"{test['root_accuracy']:.4f}, test node accuracy {test['node_accuracy']:.4f}, test root loss "
            f"{test['root_loss']:.4f}")
    text = json.dumps(metrics, indent=2)
    if run.out:
        atomic_write(run.out / "metrics.json", lambda f: f.write((text + "\n").encode()))
    if metrics_json:
        atomic_write(metrics_json, lambda f: f.write((text + "\n").encode()))
    run.close()
    return metrics


def make_parser() -> argparse.ArgumentParser:
    """Standalone use, with the same attribute names as ``rnnlab train --task sst``:
    ``python -m rnnlab.trees.train --model treelstm --epochs 10 --out runs/sst``."""
    p = argparse.ArgumentParser(prog="python -m rnnlab.trees.train", description="train a tree model on SST")
    p.add_argument("--task", default="sst", choices=["sst"])
    p.add_argument("--model", default="treelstm", choices=TREE_CELLS)
    p.add_argument("--binary", action="store_true", help="binary task: neutral sentences dropped")
    p.add_argument("--lowercase", action="store_true", help="lowercase every word (vocabulary and lookup)")
    d = TreeConfig.__dataclass_fields__
    p.add_argument("--hidden", type=int, help=f"H (default {d['hidden'].default})")
    p.add_argument("--embed-dim", type=int, help="D (default 300; the recursive NNs: = hidden)")
    p.add_argument("--nonlinearity", choices=TREE_NONLINEARITIES,
                   help="phi of the recursive NNs' composition (default tanh)")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--epochs", type=int, help=f"default {d['epochs'].default}")
    p.add_argument("--batch-size", type=int, help=f"trees per minibatch (default {d['batch_size'].default})")
    p.add_argument("--lr", type=float, help=f"default {d['lr'].default}")
    p.add_argument("--emb-lr", type=float, help="learning rate of the embeddings (default: --lr)")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help="default adagrad")
    p.add_argument("--l2", type=float, help=f"weight decay, not on embeddings (default {d['l2'].default})")
    p.add_argument("--dropout", type=float, help=f"on embeddings and before the classifier (default {d['dropout'].default})")
    p.add_argument("--clip", type=float, help="global gradient-norm bound, 0: off (default 0)")
    p.add_argument("--seed", type=int)
    p.add_argument("--tree-schedule", choices=["level", "node"], help="level batching or per node (default level)")
    p.add_argument("--max-train", type=int, help="first N training trees only")
    p.add_argument("--data-dir", help="SST folder, looked in first (then $RNNLAB_DATA, the user cache, ../shared/data; fetched if missing)")
    p.add_argument("--out", help="run folder: train.log, best.npz, last.npz, metrics.json")
    p.add_argument("--resume", action="store_true", help="continue from --out/last.npz")
    p.add_argument("--overwrite", action="store_true", help="replace the run that --out holds")
    p.add_argument("--metrics-json", help="also write the final metrics here")
    p.add_argument("--max-minutes", type=float, help="stop training after this long, then test the best")
    p.add_argument("--patience", type=int, help="early stopping: epochs without a better dev accuracy, 0: off (default)")
    return p


if __name__ == "__main__":
    raise SystemExit(run(make_parser().parse_args()))
