"""The training loop: read it top to bottom, steps numbered.

    1. data        the task's train / valid / test splits (rnnlab.data)
    2. model       recurrent layer(s) + Dense head on the last step or on every step, with Dropout
                   between them when asked, initialised (rnnlab.init), and the optimizer
    3. state       fresh, or restored from the run folder's checkpoint (--resume)
    4. epochs      in training mode (Dropout on), for each batch: forward, loss, backward, clip,
                   update; checkpoints on the way
    5. validation  in evaluation mode, after each epoch: metrics log line, best parameters, early stopping
    6. test        the best parameters on the test split; model file and final metrics

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
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np
from tqdm import tqdm

from .data import load_task
from .data.adding import BASELINE_MSE
from .init import initialize
from .layers import GRU, LSTM, RNN, Dense, Dropout
from .layers.dropout import check_rate
from .metrics import batch_loss, evaluate_split
from .models import LastStep, Sequential
from .optim import clip_grad_norm, cosine, make_optimizer
from .errors import FormatError
from .saving import atomic_write, read_npz, save

MODELS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
SCHEDULES = ("constant", "cosine")
SELECT = ("loss", "accuracy")
PER_SEQUENCE = ("regression", "classify")     # task kinds with one target per sequence: a head on LastStep
LEARNED_MSE = 0.01                  # adding problem: well below the trivial 0.167
CHECKPOINT, LOG, MODEL, FINAL = "checkpoint.npz", "metrics.jsonl", "model.npz", "metrics.json"


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

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model: expected one of {sorted(MODELS)}, got {self.model!r}")
        for name in ("hidden", "layers", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr: expected a positive number, got {self.lr!r}")
        check_rate("dropout", self.dropout)
        if not isinstance(self.bidirectional, (bool, np.bool_)):
            raise ValueError(f"bidirectional: expected True or False, got {self.bidirectional!r}")
        if self.clip < 0:
            raise ValueError(f"clip: expected a number >= 0 (0 turns clipping off), got {self.clip!r}")
        if self.select not in SELECT:
            raise ValueError(f"select: expected one of {SELECT}, got {self.select!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {SCHEDULES}, got {self.schedule!r}")
        if self.patience < 0 or self.checkpoint_every < 0 or self.max_minutes < 0:
            raise ValueError("patience, checkpoint_every, max_minutes: expected numbers >= 0")

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


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
    seconds: float = 0.0            # training time before this session
    history: list = field(default_factory=list)   # the metrics log lines


def task_args(cfg: Config) -> dict:
    return dict(T=cfg.T, train_size=cfg.train_size, data_dir=cfg.data_dir, text_path=cfg.text_path,
                seq_len=cfg.seq_len, seed=cfg.seed, random_offset=cfg.random_offset)


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
    head = Dense(dirs * cfg.hidden, task.output_size, dtype=cfg.dtype, seed=cfg.seed + 1)
    last = [LastStep(dirs)] if task.kind in PER_SEQUENCE else []
    if not cfg.dropout:
        rec = cell(task.input_size, cfg.hidden, num_layers=cfg.layers, bidirectional=cfg.bidirectional,
                   dtype=cfg.dtype, seed=cfg.seed)
        return initialize(Sequential([rec, *last, head]), cfg.init, cfg.forget_bias, seed=cfg.seed)
    seeds = iter(np.random.default_rng([cfg.seed, 1]).integers(2**31, size=2 * cfg.layers).tolist())
    layers = []
    for l in range(cfg.layers):
        if l:
            layers.append(Dropout(cfg.dropout, seed=next(seeds)))
        D = task.input_size if l == 0 else dirs * cfg.hidden
        layers.append(cell(D, cfg.hidden, bidirectional=cfg.bidirectional, dtype=cfg.dtype, seed=next(seeds)))
    layers += [*last, Dropout(cfg.dropout, seed=next(seeds)), head]
    return initialize(Sequential(layers), cfg.init, cfg.forget_bias, seed=cfg.seed)


def dropout_streams(model) -> dict:
    """Each Dropout layer's generator state, by layer index (JSON-able)."""
    return {str(i): layer.rng.bit_generator.state for i, layer in enumerate(model.layers)
            if isinstance(layer, Dropout)}


def write_checkpoint(path, cfg: Config, state: State, model, best: dict, opt) -> None:
    arrays = {f"param/{k}": v for k, v in model.params.items()}
    arrays.update({f"best/{k}": v for k, v in best.items()})
    arrays.update({f"opt/{k}": v for k, v in opt.state_dict().items()})
    header = {"config": asdict(cfg), "state": asdict(state), "dropout": dropout_streams(model)}
    arrays["__state__"] = np.array(json.dumps(header))
    atomic_write(path, lambda f: np.savez(f, **arrays))


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


def restore(header: dict, arrays: dict, model, best: dict, opt) -> None:
    for i, stream in header.get("dropout", {}).items():
        model.layers[int(i)].rng.bit_generator.state = stream
    for k, v in model.params.items():
        v[...] = arrays[f"param/{k}"]
    for k in best:
        best[k][...] = arrays[f"best/{k}"]
    opt.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("opt/")})


def log_line(path, line: dict) -> None:
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def train(cfg: Config, out: str | None = None, resume: bool = False, progress: bool | None = None,
          stop_after_steps: int | None = None, task=None, echo=print) -> dict:
    """Train as ``cfg`` says; returns {"config", "valid", "test", "history", "complete", ...}.

    ``out``: run folder (checkpoints, logs, model); ``resume``: continue from its checkpoint, keeping
    the checkpoint's configuration except ``epochs`` and ``max_minutes``; ``stop_after_steps``:
    interrupt after that many steps in total, as a crash would (checkpoint written, no test).
    """
    start = time.perf_counter()
    ckpt = os.path.join(out, CHECKPOINT) if out else None
    header = arrays = None
    if resume:
        if not out:
            raise ValueError("resume: needs the run folder (--out) that holds the checkpoint")
        header, arrays = read_checkpoint(ckpt)
        cfg = Config.from_dict({**header["config"], "epochs": cfg.epochs, "max_minutes": cfg.max_minutes})

    # 1. data
    task = task or load_task(cfg.task, **task_args(cfg))
    if cfg.select == "accuracy" and not task.kind.startswith("classify"):
        raise ValueError(f"select: 'accuracy' needs a classification task, got {cfg.task!r} ({task.kind})")
    if cfg.bidirectional and task.kind not in PER_SEQUENCE:
        raise ValueError(f"bidirectional: needs a per-sequence task; {cfg.task!r} predicts every step "
                         f"from the steps before it, which the reverse direction would read ahead of")

    # 2. model and optimizer
    model = build_model(task, cfg)
    steps_per_epoch = task.train.num_batches(cfg.batch_size)
    schedule = cosine(cfg.epochs * steps_per_epoch) if cfg.schedule == "cosine" else None
    opt_args = {"lr": cfg.lr, "weight_decay": cfg.weight_decay, "schedule": schedule}
    if cfg.optimizer == "sgd":
        opt_args["momentum"] = cfg.momentum
    opt = make_optimizer(cfg.optimizer, **opt_args)

    # 3. state: fresh or from the checkpoint; the log keeps the lines up to the checkpoint
    state = State()
    best = {k: v.copy() for k, v in model.params.items()}
    if resume:
        state = State(**header["state"])
        restore(header, arrays, model, best, opt)
    log = os.path.join(out, LOG) if out else None
    if out:
        os.makedirs(out, exist_ok=True)
        atomic_write(log, lambda f: f.write("".join(json.dumps(h) + "\n" for h in state.history).encode()))
    if progress is None:
        progress = sys.stderr.isatty()
    deadline = start + 60 * cfg.max_minutes if cfg.max_minutes else None
    elapsed = lambda: state.seconds + time.perf_counter() - start     # noqa: E731
    interrupted = False

    # 4. epochs
    while state.epoch < cfg.epochs and not interrupted:
        bar = tqdm(total=steps_per_epoch, initial=state.batch, disable=not progress, leave=False,
                   desc=f"{cfg.model} epoch {state.epoch + 1}/{cfg.epochs}")
        model.train()                                                          # Dropout on
        for batch in task.train.batches(cfg.batch_size, cfg.seed, state.epoch, state.batch):
            pred, cache = model.forward(batch.x, batch.lengths)                 # 4a. forward
            loss, dout, count, _ = batch_loss(task.kind, pred, batch)          # 4b. loss
            _, grads = model.backward(dout, cache)                             # 4c. backward
            if cfg.clip:
                clip_grad_norm(grads, cfg.clip)                                # 4d. clip
            opt.step(model.params, grads)                                      # 4e. update
            state.batch += 1
            state.step += 1
            state.sequences += len(batch.x)
            state.loss_sum += loss * count
            state.loss_count += count
            bar.update(1)
            bar.set_postfix(loss=f"{state.loss_sum / state.loss_count:.4f}")
            if not math.isfinite(loss):
                raise ValueError(f"lr: training diverged (loss {loss}) at step {state.step}; try a smaller --lr "
                                 "or --clip")
            stop = (stop_after_steps is not None and state.step >= stop_after_steps) or \
                   (deadline is not None and time.perf_counter() > deadline)
            if ckpt and (stop or (cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0)):
                write_checkpoint(ckpt, cfg, replace_seconds(state, elapsed()), model, best, opt)
            if stop:
                interrupted = True
                break
        bar.close()
        model.eval()                                    # Dropout off: validation, test, the saved model
        if interrupted:
            break

        # 5. validation, log line, best parameters, early stopping
        valid = evaluate_split(model, task, "valid", cfg.eval_batch_size)
        line = {"epoch": state.epoch + 1, "step": state.step, "sequences": state.sequences,
                "train_loss": state.loss_sum / max(state.loss_count, 1),
                **{f"valid_{k}": v for k, v in valid.items()}, "lr": opt.current_lr(),
                "seconds": round(elapsed(), 2)}
        state.history.append(line)
        log_line(log, line)
        echo(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in line.items()))
        if task.kind == "regression" and state.learned_at is None and valid["loss"] < LEARNED_MSE:
            state.learned_at = state.sequences
        if task.kind == "regression" and state.solved_at is None and solved(valid):
            state.solved_at = state.sequences
        score = valid["loss"] if cfg.select == "loss" else -valid["accuracy"]
        if score < state.best_score:
            state.best_score, state.best_epoch, state.bad_epochs = score, state.epoch + 1, 0
            for k, v in model.params.items():
                best[k][...] = v
        else:
            state.bad_epochs += 1
        state.epoch, state.batch, state.loss_sum, state.loss_count = state.epoch + 1, 0, 0.0, 0
        if ckpt:
            write_checkpoint(ckpt, cfg, replace_seconds(state, elapsed()), model, best, opt)
        if cfg.patience and state.bad_epochs >= cfg.patience:
            echo(f"early stopping: no better validation {cfg.select} for {cfg.patience} epochs")
            break

    result = {"config": asdict(cfg), "history": state.history, "complete": not interrupted,
              "epochs": state.epoch, "steps": state.step, "sequences": state.sequences,
              "seconds": round(elapsed(), 2), "solved_at": state.solved_at, "learned_at": state.learned_at}
    if interrupted and stop_after_steps is not None:
        return result

    # 6. test with the best parameters (the last ones if no epoch finished)
    if state.history:
        for k, v in model.params.items():
            v[...] = best[k]
    result["valid"] = evaluate_split(model, task, "valid", cfg.eval_batch_size)
    result["test"] = evaluate_split(model, task, "test", cfg.eval_batch_size)
    result["best_epoch"] = state.best_epoch
    if out:
        meta = {"config": asdict(cfg), "task": {"name": task.name, "kind": task.kind, **task.meta},
                "valid": result["valid"], "test": result["test"], "complete": result["complete"]}
        save(os.path.join(out, MODEL), model, meta)
        write_json(os.path.join(out, FINAL), final_metrics(result))
    result["model"] = model
    return result


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
    out.update({k: result[k] for k in ("epochs", "steps", "sequences", "seconds", "complete") if k in result})
    return out


def write_json(path, data: dict) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(data, indent=2) + "\n").encode()))
