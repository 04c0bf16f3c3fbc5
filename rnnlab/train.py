"""Training the sequence models (RNN, LSTM, GRU): ``train(cfg)`` reads top to bottom, steps numbered,
on the shared core (rnnlab.training.loop):

    1. start       ``start``: the task's train / valid / test splits (rnnlab.data); recurrent layer(s) +
                   Dense head on the last step or on every step, with Dropout between them when
                   asked, initialised (rnnlab.init), and the optimizer; the state, fresh or restored
                   from the run folder's checkpoint (--resume)
    2. epoch       ``run_epoch``: in training mode (Dropout on), for each batch: forward, loss,
                   backward, clip, update; checkpoints on the way
    3. validation  ``validate_and_select``: in evaluation mode, the metrics log line, best parameters
    4. checkpoint  ``checkpoint``
    5. stop?       ``should_stop``: early stopping, callbacks
    6. test        ``finish``: the best parameters on the test split; model file and final metrics

Resume is exact. Parameters come from ``seed``, and batch b of epoch e is drawn or ordered by a
generator seeded with (seed, e, b) (rnnlab.data.dataset); the Dropout layers' masks come from their
own generators, seeded from ``seed``, whose states move on with every training batch. A checkpoint
therefore holds the parameters, the optimizer's state (moments, step count), the epoch and batch index
(which fix the data stream and its random state), the Dropout generators' states, the running sums of
the epoch's training loss, the best parameters and the early-stopping counters; a resumed run repeats
exactly the floating-point operations the uninterrupted run would have done (tests/test_train.py and
tests/test_dropout.py check equality).

Run folder (``out``): checkpoint.npz (written atomically), metrics.jsonl (one JSON line per epoch),
model.npz (the best parameters, loadable by rnnlab.saving.load), metrics.json (the final numbers).
One run per folder, one process at a time (rnnlab.training.run_folder): a folder that holds a run is refused
unless the run is continued (``resume``) or replaced whole (``overwrite``).

Divergence: a loss, gradient or parameter that is not finite stops the run (``Diverged``, naming the
epoch and step) before anything is written, so the last checkpoint keeps the last finite state and
no run with non-finite parameters is ever marked complete.

Engines round differently, so the checkpoint's header and metrics.json record the engine that
computed the run ({"engine", "reason"}, rnnlab.runtime.engine_description) and each metrics.jsonl
line the engine's name.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
import zipfile
from dataclasses import InitVar, asdict, dataclass, field, fields

import numpy as np
from tqdm import tqdm

from .checks import check_dtype_name, check_int, check_real
from .data import load_task
from .data.adding import BASELINE_MSE
from .init import initialize
from .layers import GRU, LSTM, RNN, Dense, Dropout, Embedding
from .layers.dropout import check_rate
from .layers.regularizers import check_regularizers
from .memory import physical_memory
from .metrics import batch_loss
from .models import LastStep, Sequential
from .errors import FormatError
from .optim import OPTIMIZERS, cosine, make_optimizer
from .runtime import engine_description
from .saving import read_meta, read_npz, save
from .training.checkpoint import prefixed, set_generator_state, unprefixed, write_npz
from .training.distributed import World, world as mpi_world
from .training.divergence import Diverged, check_loss, check_params, clip_and_check, first_non_finite
from .training.log import format_line, log_line, write_json, write_lines
from .training.loop import EpochEnd, epochs, held
from .training.selection import patience_spent, select

MODELS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
SCHEDULES = ("constant", "cosine")
LSTM_OPTIONS = ("proj_size", "peepholes", "cell_clip", "gate_clip", "input_forget")   # and layer_norm: LSTM, GRU
SELECT = ("loss", "accuracy")
PER_SEQUENCE = ("regression", "classify")     # task kinds with one target per sequence: a head on LastStep
LEARNED_MSE = 0.01                  # adding problem: well below the trivial 0.167
CHECKPOINT, LOG, MODEL, FINAL = "checkpoint.npz", "metrics.jsonl", "model.npz", "metrics.json"
RUN_FILES = (CHECKPOINT, LOG, MODEL, FINAL)
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
SYNTHETIC_FIXED = 3_000             # validation + test sequences the synthetic tasks draw up front


@dataclass
class Config:
    task: str = "adding"            # a name in rnnlab.data.TASKS
    model: str = "lstm"             # rnn | lstm | gru
    hidden: int = 128               # H, units per recurrent layer
    layers: int = 1                 # stacked recurrent layers
    bidirectional: bool = False     # per-sequence tasks: each layer reads the sequence both ways
    dropout: float = 0.0            # p of Dropout between recurrent layers and before the head; 0: none
    epochs: int = 10                # passes over the training split (synthetic tasks: train_size fresh sequences)
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"         # a name in rnnlab.optim.OPTIMIZERS
    momentum: float = 0.0           # SGD only
    weight_decay: float = 0.0
    schedule: str = "constant"      # constant | cosine (decay to 0 over all steps)
    clip: float = 1.0               # bound on the gradients' global norm (Pascanu et al. 2013); 0: off
    init: str = "xavier"            # xavier (orthogonal recurrent weights) | torch (the layers' own)
    forget_bias: float = 1.0        # LSTM forget-gate bias at initialisation
    proj_size: int = 0              # LSTM: recurrent projection h = (o * tanh(c)) W_hr of this width; 0: none
    peepholes: bool = False         # LSTM: gates read the cell state (Gers et al. 2002)
    cell_clip: float = 0.0          # LSTM: c_t clipped to [-x, x] (TF1 cell_clip); 0: off
    gate_clip: float = 0.0          # LSTM: gate pre-activations clipped to [-x, x] (ONNX clip); 0: off
    input_forget: bool = False      # LSTM: coupled gates f = 1 - i (CIFG)
    layer_norm: bool = False        # LSTM, GRU: layer normalization of x W, h U (and the LSTM's c) (Ba et al. 2016)
    zoneout: float | list = 0.0     # training: z (LSTM: for h and c) or an LSTM's [z_h, z_c] (Krueger et al. 2016)
    recurrent_dropout: float = 0.0  # training: dropout on h_{t-1} in the recurrent product, per sequence (Gal 2016)
    weight_drop: float = 0.0        # training: DropConnect on U, one mask per batch (Merity et al. 2017)
    patience: int = 0               # early stopping after this many epochs without a better valid score; 0: off
    select: str = "loss"            # validation metric that picks the best parameters: loss | accuracy
    seed: int = 0
    T: int | None = None            # sequence length of the synthetic tasks (default 100)
    train_size: int | None = None   # sequences per epoch of the synthetic tasks
    seq_len: int = 100              # characters per training chunk (text)
    random_offset: bool = False     # text: chunk boundaries move every epoch (offset drawn from seed, epoch)
    text_path: str | None = None    # a text file (text); default Tiny Shakespeare under the data root
    data_dir: str | None = None     # where data files are looked for first
    dtype: str = "float32"
    checkpoint_every: int = 0       # steps between mid-epoch checkpoints; 0: at the end of each epoch only
    max_minutes: float = 0.0        # stop, with a checkpoint, after this long; 0: no limit
    eval_batch_size: int = 500
    data: str | None = None         # task "data": the .npz file of x, y (and lengths), an absolute path
    valid_data: str | None = None   # task "data": an .npz file to validate on; None: valid_split of data
    valid_split: float = 0.1        # task "data" without valid_data: fraction of rows held out, drawn from seed
    embed_dim: int | None = None    # token-id inputs: embedding size E of the first layer (default: hidden)
    csv: str | None = None          # task "csv": a CSV time series (rnnlab.data.csv_series), an absolute path
    target: str | None = None       # task "csv": the column to forecast
    features: str | None = None     # task "csv": input columns, comma-separated; None: the target alone
    window: int = 50                # task "csv": rows per input window
    horizon: int = 1                # task "csv": the target this many rows after the window's last
    text_classes: str | None = None  # task "text-classes": a folder of class subfolders of text files
    tokens: str = "chars"           # task "text-classes": chars | words (whitespace-separated)
    max_len: int = 200              # task "text-classes": tokens kept per file (the first ones)
    min_count: int = 1              # task "text-classes": rarer training tokens become <unk>
    test_split: float = 0.1         # tasks "csv", "text-classes": fraction of rows / files for the test split
    files: dict | None = None       # {"data" | "valid_data" | "csv" | "text_path": {"bytes", "sha256"}} of the
                                    # files the run read, recorded when it starts; resume and evaluate check them
    arrays: str | None = None       # rnnlab.fit: the SHA-256 of the arrays it trains and validates on
                                    # (rnnlab.fitting.arrays_sha256); resume=True checks it
    names: InitVar[dict | None] = None     # how errors name the fields ({"lr": "--lr"}); default: the field names

    def __post_init__(self, names):
        n = (names or {}).get
        for k in ("model", "optimizer", "schedule", "select", "init"):
            allowed = {"model": sorted(MODELS), "optimizer": sorted(OPTIMIZERS), "schedule": SCHEDULES,
                       "select": SELECT, "init": ("xavier", "torch")}[k]
            if getattr(self, k) not in allowed:
                raise ValueError(f"{n(k, k)}: expected one of {tuple(allowed)}, got {getattr(self, k)!r}")
        for k in ("hidden", "layers", "epochs", "batch_size", "seq_len", "eval_batch_size"):
            check_int(n(k, k), getattr(self, k), 1)
        for k in ("patience", "checkpoint_every", "seed"):
            check_int(n(k, k), getattr(self, k), 0)
        for k in ("T", "train_size"):
            if getattr(self, k) is not None:
                check_int(n(k, k), getattr(self, k), 1)
        check_real(n("lr", "lr"), self.lr, 0, low_open=True)
        check_real(n("momentum", "momentum"), self.momentum, 0, 1, high_open=True)
        if self.momentum and self.optimizer != "sgd":
            raise ValueError(f"{n('momentum', 'momentum')}: applies to the sgd optimizer only, got "
                             f"{n('optimizer', 'optimizer')} {self.optimizer!r} (its moments are its own)")
        check_real(n("weight_decay", "weight_decay"), self.weight_decay, 0)
        check_real(n("clip", "clip"), self.clip, 0)             # 0 turns clipping off
        check_real(n("forget_bias", "forget_bias"), self.forget_bias)
        check_int(n("proj_size", "proj_size"), self.proj_size, 0)
        if self.proj_size >= self.hidden and self.proj_size:
            raise ValueError(f"{n('proj_size', 'proj_size')}: expected 0 (no projection) or below "
                             f"{n('hidden', 'hidden')} {self.hidden}, got {self.proj_size}")
        for k in ("cell_clip", "gate_clip"):
            check_real(n(k, k), getattr(self, k), 0)                     # 0 turns the clip off
        for k in ("peepholes", "input_forget", "layer_norm"):
            if not isinstance(getattr(self, k), (bool, np.bool_)):
                raise ValueError(f"{n(k, k)}: expected True or False, got {getattr(self, k)!r}")
        if self.layer_norm and self.model == "rnn":
            raise ValueError(f"{n('layer_norm', 'layer_norm')}: an LSTM and GRU option, got {n('model', 'model')} 'rnn'")
        try:
            check_regularizers(list(self.zoneout) if isinstance(self.zoneout, (list, tuple)) else self.zoneout,
                               self.recurrent_dropout, self.weight_drop, self.model == "lstm")
        except ValueError as err:
            text = str(err)
            for k in ("recurrent_dropout", "weight_drop", "zoneout"):
                if text.startswith(k):
                    raise ValueError(n(k, k) + text[len(k):]) from None
            raise
        lstm_only = [k for k in LSTM_OPTIONS if getattr(self, k)]
        if lstm_only and self.model != "lstm":
            raise ValueError(f"{n(lstm_only[0], lstm_only[0])}: an LSTM option, got {n('model', 'model')} "
                             f"{self.model!r}")
        check_real(n("max_minutes", "max_minutes"), self.max_minutes, 0)   # 0: no limit
        check_rate(n("dropout", "dropout"), self.dropout)
        check_real(n("valid_split", "valid_split"), self.valid_split, 0, 1, low_open=True, high_open=True)
        if self.embed_dim is not None:
            check_int(n("embed_dim", "embed_dim"), self.embed_dim, 1)
        check_own_files(self, n)
        check_dtype_name(self.dtype)
        for k in ("bidirectional", "random_offset"):
            if not isinstance(getattr(self, k), (bool, np.bool_)):
                raise ValueError(f"{n(k, k)}: expected True or False, got {getattr(self, k)!r}")
        for k in ("text_path", "data_dir", "data", "valid_data", "csv", "text_classes"):    # absolute: the run resumes from anywhere
            value = getattr(self, k)
            if value is not None:
                if not isinstance(value, (str, os.PathLike)):
                    raise ValueError(f"{n(k, k)}: expected a path, got {value!r}")
                setattr(self, k, os.path.abspath(os.fspath(value)))
        check_memory(self, n)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


RECORDED_FILES = {"data": "--data", "valid_data": "--valid", "csv": "--csv", "text_path": "--text",
                  "text_classes": "--text-classes"}
"""The Config fields of the data files (and the text-classes folder) a run reads by path, and their
flags: a run records their fingerprints (``Config.files``) so that resuming it or evaluating its model
later reads the same data."""
FOLDERS = ("text_classes",)
"""The RECORDED_FILES fields that name a folder (fingerprinted whole: rnnlab.data.text_classes)."""


def fingerprint_of(field: str, path: str) -> dict:
    """{"bytes", "sha256"} of the file (or for FOLDERS, the folder's example files) ``path``."""
    if field in FOLDERS:
        from .data.text_classes import fingerprint_folder
        return fingerprint_folder(path, RECORDED_FILES[field])
    from .data.text import fingerprint
    return fingerprint(path)


def record_files(cfg: Config) -> dict:
    """{field: {"bytes", "sha256"}} of the RECORDED_FILES that ``cfg`` names (``fingerprint_of``)."""
    return {k: fingerprint_of(k, getattr(cfg, k)) for k in RECORDED_FILES if getattr(cfg, k)}


def confirm_files(cfg: Config, where: str, source, skip: tuple = ()) -> None:
    """ValueError naming the flag when a data file a run recorded (``cfg.files``) is gone, not a
    regular file, unreadable or holds other bytes than when the run started: resuming the run
    (``where`` "--resume") or evaluating its model ("rnnlab evaluate") would otherwise read other data
    without a word. ``source``: the checkpoint or model file the record was read from, named when the
    record itself is damaged; ``skip``: fields the caller confirms its own way. A run that recorded
    nothing (made before runs recorded their files) is not checked."""
    files = {} if cfg.files is None else cfg.files        # None: recorded nothing; anything else is checked
    good = lambda r: (isinstance(r, dict) and isinstance(r.get("bytes"), int)          # noqa: E731
                      and not isinstance(r.get("bytes"), bool) and isinstance(r.get("sha256"), str))
    if not isinstance(files, dict) or not all(k in RECORDED_FILES and good(r) for k, r in files.items()):
        raise FormatError(source, "config 'files'", f"expected the sizes and SHA-256 of the run's data files, "
                                                    f"got {files!r}")
    for k, recorded in files.items():
        path, flag = getattr(cfg, k, None), RECORDED_FILES[k]
        if not path or k in skip:
            continue
        if not os.path.exists(path):
            raise ValueError(f"{flag}: the run read {path!r}, which is no longer there; {where} reads the run's "
                             f"own data")
        folder = k in FOLDERS
        if not (os.path.isdir(path) if folder else os.path.isfile(path)):
            raise ValueError(f"{flag}: the run read the {'folder' if folder else 'file'} {path!r}, which is now not "
                             f"a {'folder' if folder else 'regular file'}; {where} reads the run's own data")
        try:
            now = fingerprint_of(k, path) if folder or os.path.getsize(path) == recorded["bytes"] else None
            size = now["bytes"] if now else os.path.getsize(path)
            same = size == recorded["bytes"] and now["sha256"] == recorded["sha256"]
        except OSError as err:
            raise ValueError(f"{flag}: cannot read {path!r} to confirm it is the run's data ({err.strerror})") from None
        if not same:
            what = "of its files " if folder else ""
            how = (f"{recorded['bytes']} bytes {what}then, {size} now" if size != recorded["bytes"]
                   else f"the same size, other bytes{' or file names' if folder else ''}: its SHA-256 differs")
            raise ValueError(f"{flag}: {path!r} has changed since the run read it ({how}); {where} reads the run's "
                             f"own data (put the original {'files' if folder else 'file'} back, or train a new run on this data)")


OWN_FILE_FIELDS = ("csv", "target", "features", "window", "horizon", "text_classes", "tokens", "max_len",
                   "min_count", "test_split")


def check_own_files(cfg: Config, n) -> None:
    """The settings of the CSV and text-folder tasks (rnnlab.data.csv_series, text_classes)."""
    for k in ("window", "horizon", "max_len", "min_count"):
        check_int(n(k, k), getattr(cfg, k), 1)
    check_real(n("test_split", "test_split"), cfg.test_split, 0, 1, low_open=True, high_open=True)
    if cfg.tokens not in ("chars", "words"):
        raise ValueError(f"{n('tokens', 'tokens')}: expected one of ('chars', 'words'), got {cfg.tokens!r}")
    if cfg.task == "csv" and not cfg.target:
        raise ValueError(f"{n('target', 'target')}: needed with {n('csv', 'csv')}, the column to forecast")
    if cfg.task in ("csv", "text-classes"):
        source = n("csv", "csv") if cfg.task == "csv" else n("text_classes", "text_classes")
        if not getattr(cfg, "csv" if cfg.task == "csv" else "text_classes"):
            raise ValueError(f"{source}: task {cfg.task!r} needs the file or folder to read")
        if cfg.valid_split + cfg.test_split >= 1:
            raise ValueError(f"{n('test_split', 'test_split')}: {cfg.test_split} with "
                             f"{n('valid_split', 'valid_split')} {cfg.valid_split} leaves no training part "
                             "(their sum must be below 1)")


@dataclass
class State:
    """Where training stands: everything besides arrays that a checkpoint restores."""
    epoch: int = 0                  # epochs finished
    batch: int = 0                  # batches of the current epoch finished
    step: int = 0                   # optimizer steps taken
    sequences: int = 0              # training sequences seen
    loss_sum: float = 0.0           # this epoch's training loss, summed over counted predictions
    loss_count: int = 0
    best_score: float = math.inf    # best validation score so far: the loss, or minus the accuracy
    best_epoch: int = 0
    bad_epochs: int = 0             # epochs since the best (early stopping)
    solved_at: int | None = None    # adding problem: sequences seen when validation first met the paper's criterion
    learned_at: int | None = None   # adding problem: sequences seen when the validation MSE first fell below 0.01
    seconds: float = 0.0            # training time of the run's earlier invocations (before --resume)
    history: list = field(default_factory=list)   # the metrics log lines


def memory_needed(cfg: Config, input_size: int = 0, output_size: int = 0) -> dict:
    """A lower bound on the bytes a run holds, by what drives it: {"params": parameters with their
    gradients, best copy and two optimizer moments; "activations": one batch's cached gates and
    states; "data": the fixed validation and test sequences of the synthetic tasks}."""
    item = np.dtype(cfg.dtype).itemsize
    dirs, G, H = 2 if cfg.bidirectional else 1, GATES[cfg.model], cfg.hidden
    P = dirs * G * H * ((input_size + H + 1) + (cfg.layers - 1) * (dirs * H + H + 1))   # the stack, closed form
    P += dirs * H * output_size + output_size
    synthetic = cfg.task in ("adding", "copy", "order")
    steps = (cfg.T or 100) if synthetic else cfg.seq_len if cfg.task == "text" else 0
    return {"params": 5 * P * item,
            "activations": cfg.batch_size * steps * cfg.layers * dirs * H * (G + 2) * item,
            "data": SYNTHETIC_FIXED * (cfg.T or 100) * 2 * 4 if synthetic else 0}


def check_memory(cfg: Config, n=dict().get, input_size: int = 0, output_size: int = 0) -> None:
    """Refuse, naming the flag, a configuration whose lower-bound memory (``memory_needed``) exceeds
    the machine's physical memory, rather than failing later with MemoryError."""
    have = physical_memory()
    if not have:
        return
    need = memory_needed(cfg, input_size, output_size)
    if sum(need.values()) <= have:
        return
    gb = lambda b: f"{b / 2**30:,.0f} GB"                                  # noqa: E731
    part = max(need, key=need.get)
    length = ("seq_len", cfg.seq_len) if cfg.task == "text" else ("T", cfg.T or 100)
    what = {"params": (("hidden", cfg.hidden), f"parameters of {cfg.layers} layer(s) of {cfg.hidden} units "
                                              f"with their gradients and optimizer state"),
            "activations": (("batch_size", cfg.batch_size) if cfg.batch_size >= length[1] else length,
                            f"cached activations of a batch of {cfg.batch_size} sequences of "
                                    f"{length[1]:,} steps"),
            "data": (length, f"{SYNTHETIC_FIXED:,} validation and test sequences of {length[1]:,} steps")}[part]
    (k, v), why = what
    raise ValueError(f"{n(k, k)}: {v:,} needs at least {gb(sum(need.values()))} of memory ({why}: "
                     f"{gb(need[part])}); this machine has {gb(have)}")


def task_args(cfg: Config) -> dict:
    return dict(T=cfg.T, train_size=cfg.train_size, data_dir=cfg.data_dir, text_path=cfg.text_path,
                seq_len=cfg.seq_len, seed=cfg.seed, random_offset=cfg.random_offset, data=cfg.data,
                valid_data=cfg.valid_data, valid_split=cfg.valid_split,
                own={k: getattr(cfg, k) for k in OWN_FILE_FIELDS},
                as_ids=cfg.task == "text" and cfg.embed_dim is not None)     # --embed-dim: an Embedding reads ids


def cell_options(cfg: Config) -> dict:
    """The variant options and regularizers of ``cfg`` as LSTM / GRU / RNN arguments (clip 0 is off: None)."""
    reg = {"zoneout": tuple(cfg.zoneout) if isinstance(cfg.zoneout, (list, tuple)) else cfg.zoneout,
           "recurrent_dropout": cfg.recurrent_dropout, "weight_drop": cfg.weight_drop}
    if cfg.model != "lstm":
        return {**reg, "layer_norm": cfg.layer_norm} if cfg.model == "gru" else reg
    return {**reg, "proj_size": cfg.proj_size, "peepholes": cfg.peepholes, "cell_clip": cfg.cell_clip or None,
            "gate_clip": cfg.gate_clip or None, "input_forget": cfg.input_forget, "layer_norm": cfg.layer_norm}


def build_model(task, cfg: Config) -> Sequential:
    """Recurrent layer(s) -> [LastStep] -> Dense: a head on the last step for per-sequence tasks,
    on every step for per-step tasks. E.g. Fashion-MNIST: LSTM(28, 128) -> LastStep -> Dense(128, 10).
    ``cfg.bidirectional``: LSTM(28, 128, bidirectional=True) -> LastStep(2) -> Dense(256, 10), the head
    reading the forward direction's last h and the reverse direction's h at t = 0.

    With ``cfg.dropout`` p > 0, Zaremba et al.'s (2014) non-recurrent dropout: each recurrent layer of
    the stack becomes its own module, with Dropout(p) between them and before the head, e.g. text
    with 2 layers: LSTM(V, H) -> Dropout -> LSTM(H, H) -> Dropout -> Dense(H, V). With p = 0 the model
    is the single stacked module above, as models saved without dropout have it."""
    cell = MODELS[cfg.model]
    dirs = 2 if cfg.bidirectional else 1
    width = cfg.proj_size or cfg.hidden if cfg.model == "lstm" else cfg.hidden    # h: the LSTM's proj_size
    head = Dense(dirs * width, task.output_size, dtype=cfg.dtype, seed=cfg.seed + 1)
    last = [LastStep(dirs)] if task.kind in PER_SEQUENCE else []
    # token ids (task.meta["inputs"] == "ids", input_size = vocabulary V): an Embedding(V, E) first
    emb = [Embedding(task.input_size, cfg.embed_dim or cfg.hidden, dtype=cfg.dtype, seed=cfg.seed + 2)] \
        if task.meta.get("inputs") == "ids" else []
    D0 = emb[0].embedding_dim if emb else task.input_size
    if not cfg.dropout:
        rec = cell(D0, cfg.hidden, num_layers=cfg.layers, bidirectional=cfg.bidirectional,
                   dtype=cfg.dtype, seed=cfg.seed, **cell_options(cfg))
        return initialize(Sequential([*emb, rec, *last, head]), cfg.init, cfg.forget_bias, seed=cfg.seed)
    seeds = iter(np.random.default_rng([cfg.seed, 1]).integers(2**31, size=2 * cfg.layers).tolist())
    layers = list(emb)
    for l in range(cfg.layers):
        if l:
            layers.append(Dropout(cfg.dropout, seed=next(seeds)))
        D = D0 if l == 0 else dirs * width
        layers.append(cell(D, cfg.hidden, bidirectional=cfg.bidirectional, dtype=cfg.dtype, seed=next(seeds),
                           **cell_options(cfg)))
    layers += [*last, Dropout(cfg.dropout, seed=next(seeds)), head]
    return initialize(Sequential(layers), cfg.init, cfg.forget_bias, seed=cfg.seed)


def dropout_streams(model) -> dict:
    """The generator state of each layer that draws masks (Dropout; a recurrent layer with zoneout,
    recurrent_dropout or weight_drop), by layer index (JSON-able)."""
    return {str(i): layer.rng.bit_generator.state for i, layer in enumerate(model.layers)
            if getattr(layer, "rng", None) is not None}


def write_checkpoint(path, cfg: Config, state: State, model, best: dict, opt) -> None:
    arrays = {**prefixed("param/", model.params), **prefixed("best/", best), **prefixed("opt/", opt.state_dict())}
    header = {"config": asdict(cfg), "state": asdict(state), "dropout": dropout_streams(model),
              "engine": engine_description(model)}
    write_npz(path, "__state__", header, arrays)


def is_checkpoint(path) -> bool:
    """Whether ``path`` is a run's checkpoint (an .npz with the '__state__' header) rather than a saved
    model; False for anything unreadable, whose own reader then gives the error."""
    try:
        with zipfile.ZipFile(path) as z:
            return "__state__.npy" in z.namelist()
    except (OSError, ValueError, zipfile.BadZipFile):
        return False


def read_checkpoint(path) -> tuple[dict, dict]:
    """(header {"config", "state", "dropout"}, arrays) of a checkpoint. Raises ``FileNotFoundError``
    when it is missing and ``rnnlab.errors.FormatError`` naming the file and the key when it is not a
    readable checkpoint (see rnnlab.saving.read_npz) or its header lacks a section."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"resume: no checkpoint at {str(path)!r} (train with --out first)")
    header, arrays = read_npz(path, "__state__", "checkpoint")
    for key in ("config", "state"):
        if not isinstance(header.get(key), dict):
            raise FormatError(path, f"key '__state__' {key}", f"expected a JSON object in an rnnlab checkpoint, "
                                                              f"got {type(header.get(key)).__name__}")
    if not isinstance(header.get("dropout", {}), dict):
        raise FormatError(path, "key '__state__' dropout", "expected a JSON object of generator states")
    return header, arrays


def load_checkpoint(path, flag: str = "--resume") -> tuple[dict, dict]:
    """``read_checkpoint`` for resuming a run: a missing checkpoint is a FileNotFoundError naming ``flag``
    as the caller knows it (rnnlab.fit's resume=True); a damaged one is read_checkpoint's FormatError
    naming the file."""
    if not os.path.isfile(path):
        first = "train with --out first" if flag == "--resume" else "fit with out= first"
        raise FileNotFoundError(f"{flag}: no checkpoint at {str(path)!r} ({first})")
    return read_checkpoint(path)


def checkpoint_config(path, header: dict, flag: str = "--resume") -> dict:
    """The configuration dict a checkpoint header holds, checked: a ValueError naming ``flag``, the
    checkpoint and the key when it is missing or invalid."""
    where = f"{flag}: checkpoint {str(path)!r}"
    for key in ("config", "state"):
        if not isinstance(header.get(key) if isinstance(header, dict) else None, dict):
            raise ValueError(f"{where}: missing the {key!r} entry of its header")
    try:
        Config.from_dict(header["config"])
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: its config does not validate ({err})") from err
    return header["config"]


def checkpoint_state(path, header: dict, flag: str = "--resume") -> State:
    """The training state a checkpoint header holds; a ValueError naming ``flag`` and the checkpoint
    for one that does not fit."""
    try:
        state = State(**header["state"])
    except TypeError as err:
        raise ValueError(f"{flag}: checkpoint {str(path)!r}: its state does not fit ({err})") from err
    for k in ("epoch", "batch", "step", "sequences", "loss_count", "best_epoch", "bad_epochs"):
        value = getattr(state, k)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{flag}: checkpoint {str(path)!r}: state {k!r}: expected an integer >= 0, "
                             f"got {value!r}")
    return state


def restore(header: dict, arrays: dict, model, best: dict, opt, path=CHECKPOINT, flag: str = "--resume",
            built: str = "the model built from its config") -> None:
    """Load a checkpoint's arrays and random streams into ``model``, ``best`` and ``opt``. Every key and
    shape is checked first; a ValueError names ``flag``, the checkpoint and the key or shape that does
    not fit ``model`` (``built`` says which model that is)."""
    where = f"{flag}: checkpoint {str(path)!r}"
    streams = header.get("dropout", {})
    dropouts = dropout_streams(model)
    if not isinstance(streams, dict) or set(streams) != set(dropouts):
        raise ValueError(f"{where}: Dropout streams (of every layer that draws masks) for layers {sorted(streams) if isinstance(streams, dict) else streams}, "
                         f"{built} draws masks at {sorted(dropouts)}")
    for prefix, target in (("param/", model.params), ("best/", best)):
        saved = {k[len(prefix):] for k in arrays if k.startswith(prefix)}
        missing, extra = sorted(set(target) - saved), sorted(saved - set(target))
        if missing or extra:
            raise ValueError(f"{where}: arrays {prefix}* do not match {built}: "
                             f"missing {missing}, unexpected {extra}")
        for k, v in target.items():
            a = arrays[prefix + k]
            if a.shape != v.shape:
                raise ValueError(f"{where}: {prefix + k!r} has shape {a.shape}, {built} expects {v.shape}")
            if a.dtype.kind != "f" or not np.isfinite(a).all():
                raise ValueError(f"{where}: {prefix + k!r} holds non-finite or non-float values ({a.dtype})")
    if "opt/t" not in arrays or arrays["opt/t"].shape != () or arrays["opt/t"].dtype.kind not in "iu":
        raise ValueError(f"{where}: missing the optimizer's step count 'opt/t' (an integer)")
    for k, v in arrays.items():
        if k.startswith("opt/") and k != "opt/t":
            slot, key = (k[4:].split("/", 1) + [""])[:2]
            if key not in model.params or v.shape != model.params[key].shape:
                want = model.params[key].shape if key in model.params else "no such parameter"
                raise ValueError(f"{where}: optimizer array {k!r} has shape {v.shape}, expected {want}")
    try:
        for i, stream in streams.items():
            set_generator_state(model.layers[int(i)].rng, stream)
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"{where}: the random stream of layer {i} is not a generator state ({err})") from err
    for k, v in model.params.items():
        v[...] = arrays[f"param/{k}"]
    for k in best:
        best[k][...] = arrays[f"best/{k}"]
    opt.load_state_dict(unprefixed("opt/", arrays))


def train(cfg: Config, out: str | None = None, resume: bool = False, progress: bool | None = None,
          stop_after_steps: int | None = None, task=None, echo=print, overwrite: bool = False,
          model=None, callbacks=(), world: World | None = None, flag: str = "--out", notice=None) -> dict:
    """Train as ``cfg`` says; returns {"config", "valid", "test", "history", "complete", ...}.

    ``out``: run folder (checkpoints, logs, model), held with a lock for the run; a folder that
    already holds a run is refused unless ``resume``: continue from its checkpoint, keeping the
    checkpoint's configuration except ``epochs`` and ``max_minutes``, or ``overwrite``: replace it.
    ``stop_after_steps``: interrupt after that many steps in total, as a crash would (checkpoint
    written, no test). ``task``: train on this Task instead of ``cfg.task``'s; ``model``: train this
    model (a Sequential whose head fits the task) instead of ``build_model(task, cfg)``, in place;
    ``callbacks``: each is called with every epoch's log line (a dict), and one that returns False
    stops training there. ``world``: the processes that train together (rnnlab.training.distributed;
    default: data-parallel when started under mpiexec, else one process; ``World()``: this process alone).

    ``flag``: the name errors give ``out`` (the command's --out; rnnlab.fit passes "out", and the
    errors then offer resume=True and overwrite=True).
    ``notice``: called with each of the task's notes (``Task.notes``: a reading of the data that may not
    be the one meant, such as float class ids read as regression targets) and, without ``out``, that the
    model will not be saved, once every check has passed, before training; None: not said (rnnlab
    train prints them on stderr unless --quiet).
    Raises ValueError naming the flag for a busy, used or unwritable ``out``, ``Diverged`` (a
    ValueError) when the loss, a gradient or a parameter stops being finite.
    """
    if resume and not out:
        raise ValueError(f"{'--resume' if flag == '--out' else 'resume=True'}: needs the run folder ({flag}) that "
                         f"holds the checkpoint")
    world = world or mpi_world()        # one process, or data-parallel under mpiexec (training.distributed)
    if not world.is_root:               # rank 0 alone holds the run folder, writes and prints
        echo, progress, notice = (lambda *a, **k: None), False, None
    with world.guard("rnnlab train"), held(out if world.is_root else None, RUN_FILES, resume=resume,
                                            overwrite=overwrite, flag=flag) as begin:
        if world.size > 1:
            echo(world.describe())
        run = start(cfg, out, resume, task, model, world, "--resume" if flag == "--out" else "resume=True")
        for note in run.task.notes if notice else ():
            notice(note)
        if notice and not out:
            notice(f"no {flag}: the trained model is not saved (give {flag} DIR to keep it)")
        begin()                         # every check passed: --overwrite removes the previous run only now
        if run.out:
            write_lines(run.log, run.state.history)
        interrupted = epochs(run.state, run.cfg.epochs,
                             lambda: run_epoch(run, progress, stop_after_steps),     # 2. run an epoch
                             lambda: validate_and_select(run, echo),                  # 3. validate and select
                             lambda: checkpoint(run),                                 # 4. checkpoint
                             lambda: should_stop(run, callbacks, echo))               # 5. stop?
        return finish(run, interrupted, stop_after_steps)                             # 6. test, final files


@dataclass
class Run:
    """What a sequence run works with, built by ``start``."""
    cfg: Config
    task: object                    # rnnlab.data.Task
    model: Sequential
    opt: object                     # an rnnlab.optim optimizer
    state: State
    best: dict                      # the best parameters so far (selection)
    out: str | None                 # the run folder this process writes, or None (MPI: ranks > 0)
    steps_per_epoch: int
    started: float                  # time.perf_counter() when this process started the run
    deadline: float | None          # time.perf_counter() at which --max-minutes stops it
    saved_step: int | None          # the step of the last checkpoint written
    engine: dict = field(default_factory=lambda: engine_description())   # which engine computes the run
    line: dict = field(default_factory=dict)                    # the last epoch's log line
    world: World = field(default_factory=World)                 # the processes training together
    resumed_at: int | None = None   # the step a resumed run started from (None: a new run)

    @property
    def ckpt(self) -> str | None:
        return os.path.join(self.out, CHECKPOINT) if self.out else None

    @property
    def log(self) -> str | None:
        return os.path.join(self.out, LOG) if self.out else None

    def elapsed(self) -> float:
        """Training seconds, the invocations before a resume included."""
        return self.state.seconds + time.perf_counter() - self.started

    def diverged(self, what: str) -> Diverged:
        s = self.state
        kept = (f"the checkpoint of step {self.saved_step} in {self.out!r} is kept" if self.saved_step is not None
                else "no checkpoint had been written")
        return Diverged(f"training diverged at epoch {s.epoch + 1}, step {s.step + 1} (batch {s.batch + 1} of "
                        f"{self.steps_per_epoch}): {what}; {kept}; try a smaller --lr or a --clip bound")


def start(cfg: Config, out: str | None, resume: bool, task=None, model=None, world: World | None = None,
          flag: str = "--resume") -> Run:
    """Step 1: configuration (the checkpoint's, on resume), data, model, optimizer and state, fresh or
    restored from the checkpoint (``train`` then writes the metrics log's lines up to it). Nothing is
    written: every error of the configuration, data, memory check or model is raised here. Under MPI
    (``world``), every rank reads the checkpoint, rank 0's parameters are broadcast and checked equal.
    ``flag``: how the errors name the resumption (rnnlab.fit's resume=True)."""
    world = world or World()
    started = time.perf_counter()
    ckpt = os.path.join(out, CHECKPOINT) if out else None
    if resume:
        header, arrays = load_checkpoint(ckpt, flag)
        cfg = Config.from_dict({**checkpoint_config(ckpt, header, flag), "epochs": cfg.epochs,
                                "max_minutes": cfg.max_minutes})
        if task is None:
            confirm_files(cfg, flag, ckpt)

    # 1a. data
    read_files = task is None
    try:
        task = task or load_task(cfg.task, **task_args(cfg))
    except ValueError as err:
        if type(err) is ValueError and str(err).startswith("seq_len:"):     # the loader's name, the user's flag
            raise ValueError("--seq-len:" + str(err)[len("seq_len:"):]) from err
        raise
    if read_files and not resume:
        cfg.files = record_files(cfg) or None
    if cfg.select == "accuracy" and not task.kind.startswith("classify"):
        raise ValueError(f"--select: 'accuracy' needs a classification task, got {cfg.task!r} ({task.kind})")
    if cfg.bidirectional and task.kind not in PER_SEQUENCE:
        raise ValueError(f"--bidirectional: needs a per-sequence task; {cfg.task!r} predicts every step "
                         f"from the steps before it, which the reverse direction would read ahead of")
    for split in ("train", "valid", "test"):
        if len(getattr(task, split)) == 0:
            source = task.meta.get("path") or cfg.data_dir or "its data files"
            raise ValueError(f"--task {cfg.task}: the {split} split is empty (from {source})")
    check_memory(cfg, {"hidden": "--hidden", "T": "--T", "seq_len": "--seq-len", "batch_size": "--batch-size"}.get,
                 task.input_size,
                 task.output_size)

    # 1b. model and optimizer
    built = "the model built from its config" if model is None else "the model given"
    model = build_model(task, cfg) if model is None else model
    steps_per_epoch = task.train.num_batches(cfg.batch_size)
    schedule = cosine(cfg.epochs * steps_per_epoch) if cfg.schedule == "cosine" else None
    opt_args = {"lr": cfg.lr, "weight_decay": cfg.weight_decay, "schedule": schedule}
    if cfg.optimizer == "sgd":
        opt_args["momentum"] = cfg.momentum
    opt = make_optimizer(cfg.optimizer, **opt_args)

    # 1c. state: fresh or from the checkpoint
    state = State()
    best = {k: v.copy() for k, v in model.params.items()}
    if resume:
        state = checkpoint_state(ckpt, header, flag)
        restore(header, arrays, model, best, opt, ckpt, flag, built)
    world.broadcast_params(model.params)
    run = Run(cfg, task, model, opt, state, best, out if world.is_root else None, steps_per_epoch, started,
              started + 60 * cfg.max_minutes if cfg.max_minutes else None, state.step if resume else None,
              engine=engine_description(model), world=world, resumed_at=state.step if resume else None)
    return run


def run_epoch(run: Run, progress: bool | None, stop_after_steps: int | None) -> EpochEnd:
    """Step 2: the epoch's batches (the rest of them, on resume) in training mode (Dropout on): forward,
    loss, backward, clip, update, each checked for divergence. Stops, with a checkpoint, after
    ``stop_after_steps`` steps in all or at the deadline of ``--max-minutes``."""
    cfg, model, state = run.cfg, run.model, run.state
    if progress is None:
        progress = sys.stderr.isatty()
    bar = tqdm(total=run.steps_per_epoch, initial=state.batch, disable=not progress, leave=False,
               desc=f"{cfg.model} epoch {state.epoch + 1}/{cfg.epochs}")
    stop = False
    model.train()                                                              # Dropout on
    for batch in run.task.train.batches(cfg.batch_size, cfg.seed, state.epoch, state.batch):
        part = run.world.shard(batch)                                          # MPI: this rank's rows
        with part.dropout_draws(model):
            pred, cache = model.forward(part.batch.x, part.batch.lengths)      # 2a. forward
        loss, dout, count, _ = batch_loss(run.task.kind, pred, part.batch)     # 2b. loss
        check_loss(loss, run.diverged)
        _, grads = model.backward(dout, cache)                                 # 2c. backward
        loss, count = run.world.sum_gradients(grads, loss, count, part)        # MPI: one Allreduce
        clip_and_check(grads, cfg.clip, run.diverged)                          # 2d. clip
        run.opt.step(model.params, grads)                                      # 2e. update
        check_params(model.params, run.diverged)
        state.batch += 1
        state.step += 1
        state.sequences += len(batch.x)
        state.loss_sum += loss * count
        state.loss_count += count
        bar.update(1)
        bar.set_postfix(loss=f"{state.loss_sum / state.loss_count:.4f}")
        stop = (stop_after_steps is not None and state.step >= stop_after_steps) or \
               (run.deadline is not None and run.world.any(time.perf_counter() > run.deadline))
        if stop or (cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0):
            checkpoint(run)
        if stop:
            break
    bar.close()
    model.eval()                                        # Dropout off: validation, test, the saved model
    return EpochEnd(stopped=stop, validate=not stop)


def validate_and_select(run: Run, echo) -> None:
    """Step 3, in evaluation mode: the validation metrics, the epoch's log line, the best parameters."""
    cfg, state = run.cfg, run.state
    valid = run.world.evaluate_split(run.model, run.task, "valid", cfg.eval_batch_size)
    run.line = {"epoch": state.epoch + 1, "step": state.step, "sequences": state.sequences,
                "train_loss": state.loss_sum / max(state.loss_count, 1),
                **{f"valid_{k}": v for k, v in valid.items()}, "lr": run.opt.current_lr(),
                "seconds": round(run.elapsed(), 2), "engine": run.engine["engine"]}   # engines round differently
    state.history.append(run.line)
    log_line(run.log, run.line)
    echo(format_line(run.line))
    if run.task.kind == "regression" and state.learned_at is None and valid["loss"] < LEARNED_MSE:
        state.learned_at = state.sequences
    if run.task.kind == "regression" and state.solved_at is None and solved(valid):
        state.solved_at = state.sequences
    select(state, valid["loss"] if cfg.select == "loss" else -valid["accuracy"], state.epoch + 1,
           run.model.params, run.best)
    state.epoch, state.batch, state.loss_sum, state.loss_count = state.epoch + 1, 0, 0.0, 0


def checkpoint(run: Run) -> None:
    """Step 4: everything exact resume needs, written atomically to the run folder (if any)."""
    run.world.check_same(run.model.params)             # MPI: the ranks are still in lockstep
    if run.ckpt:
        write_checkpoint(run.ckpt, run.cfg, replace_seconds(run.state, run.elapsed()), run.model, run.best,
                         run.opt)
        run.saved_step = run.state.step


def should_stop(run: Run, callbacks, echo) -> bool:
    """Step 5: a callback returned False, or early stopping's patience is spent."""
    if any([callback(dict(run.line)) is False for callback in callbacks]):
        return True
    if patience_spent(run.state, run.cfg.patience):
        echo(f"early stopping: no better validation {run.cfg.select} for {run.cfg.patience} epochs")
        return True
    return False


def finish(run: Run, interrupted: bool, stop_after_steps: int | None) -> dict:
    """Step 6: the best parameters (the last ones if no epoch finished) on the valid and test splits;
    the model file and metrics.json. A run interrupted by ``stop_after_steps`` is not tested."""
    cfg, state, model = run.cfg, run.state, run.model
    result = {"config": asdict(cfg), "history": state.history, "complete": not interrupted,
              "epochs": state.epoch, "steps": state.step, "sequences": state.sequences,
              "seconds": round(run.elapsed(), 2), "solved_at": state.solved_at, "learned_at": state.learned_at,
              "engine": run.engine}
    if interrupted and stop_after_steps is not None:
        return result
    if state.history:
        for k, v in model.params.items():
            v[...] = run.best[k]
    result["valid"] = run.world.evaluate_split(model, run.task, "valid", cfg.eval_batch_size)
    result["test"] = run.world.evaluate_split(model, run.task, "test", cfg.eval_batch_size)
    result["best_epoch"] = state.best_epoch
    bad = first_non_finite(model.params)
    if bad is not None:                 # never reached when every step is checked; a complete run is finite
        raise Diverged(f"parameter {bad!r} is not finite; the model is not saved")
    resumed_finished = run.resumed_at is not None and state.step == run.resumed_at and complete_final(run.out) is not None
    if run.out and not resumed_finished:         # a resume that trained nothing leaves the run's files as they are
        meta = {"config": asdict(cfg), "task": {"name": run.task.name, "kind": run.task.kind, **run.task.meta},
                "valid": result["valid"], "test": result["test"], "complete": result["complete"]}
        save(os.path.join(run.out, MODEL), model, meta)
        write_json(os.path.join(run.out, FINAL), final_metrics(result))
    result["model"] = model
    return result


def complete_final(out: str | None) -> dict | None:
    """The metrics.json of the complete run in the folder ``out`` (what finish wrote), or None: no such
    file, a damaged one, or an interrupted run's."""
    try:
        with open(os.path.join(out, FINAL)) as f:
            metrics = json.load(f)
    except (OSError, ValueError, TypeError):
        return None
    return metrics if isinstance(metrics, dict) and metrics.get("complete") is True else None


def epochs_done(header: dict) -> int | None:
    """The epochs a checkpoint (its ``header``) has finished, or None where its state records none."""
    done = header["state"].get("epoch") if isinstance(header.get("state"), dict) else None
    return done if isinstance(done, int) and not isinstance(done, bool) else None


def finished_run(out, cfg: Config) -> dict | None:
    """The result (as ``train`` returns it, without the model) of the complete run in ``out`` when it
    was trained with exactly ``cfg``; None when there is none, it is not complete, its configuration
    differs or its files cannot be read."""
    ckpt, final = os.path.join(out, CHECKPOINT), os.path.join(out, FINAL)
    try:
        header, _ = read_checkpoint(ckpt)
        if Config.from_dict(checkpoint_config(ckpt, header)) != cfg:
            return None
        meta = read_meta(os.path.join(out, MODEL))
        with open(final) as f:
            metrics = json.load(f)
        state = checkpoint_state(ckpt, header)
    except (OSError, ValueError, TypeError):
        return None
    if not meta.get("complete") or not metrics.get("complete") or "test" not in meta:
        return None
    return {"config": asdict(cfg), "history": state.history, "complete": True, "epochs": state.epoch,
            "steps": state.step, "sequences": state.sequences, "seconds": metrics.get("seconds", state.seconds),
            "solved_at": state.solved_at, "learned_at": state.learned_at, "valid": meta["valid"],
            "test": meta["test"], "best_epoch": state.best_epoch}


def solved(metrics: dict) -> bool:
    """The adding problem's criterion (Hochreiter & Schmidhuber 1997, section 5.4): MSE < 0.01 and
    |error| < 0.04 on >= 99% of the sequences."""
    return metrics["loss"] < LEARNED_MSE and metrics.get("solved", 0.0) >= 0.99


def replace_seconds(state: State, seconds: float) -> State:
    return State(**{**asdict(state), "seconds": seconds})


def final_metrics(result: dict) -> dict:
    """The JSON of --metrics-json: test loss (and accuracy / solved fraction), plus what produced it."""
    test = result["test"]
    out = {"task": result["config"]["task"], "model": result["config"]["model"],
           "test_loss": test["loss"], "valid_loss": result["valid"]["loss"]}
    for key in ("accuracy", "solved", "strings_correct"):
        if key in test:
            out[f"test_{key}"] = test[key]
    if result["config"]["task"] == "adding":
        out["baseline_mse"] = BASELINE_MSE
        out["sequences_to_mse_0.01"] = result.get("learned_at")
        out["sequences_to_solve"] = result.get("solved_at")
    out.update({k: result[k] for k in ("epochs", "steps", "sequences", "seconds", "complete", "engine")
                if k in result})
    return out
