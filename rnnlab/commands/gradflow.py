"""``rnnlab gradflow``: how far back the gradient reaches. For RNN, LSTM and GRU on the same task,
the norm of dL/dh_k, the gradient of the loss at the last step with respect to the hidden state k
steps back from it, at initialisation and after training, plotted on a log scale.

How it is measured, with the layers' own backward pass: run the model over x_1 .. x_{T-k} to get
every recurrent layer's state h_{T-k}, run it from those states over the remaining k steps, and
backpropagate; the gradient each layer returns for its initial state is dL/dh_{T-k}. The table
reports, over the sequences n, the mean L2 norm of dL_n/dh_{T-k}[n] with L_n sequence n's own loss
(for the LSTM, the h half of the state (h, c)). With ``--layers L`` > 1 there is one curve per layer,
"layer 1" next to the input: the gradient reaching a lower layer at T - k has also passed down
through the layers above it.

In a plain RNN, dL/dh_{t-1} = dL/dh_t diag(1 - h_t^2) U^T: a product of k such factors, which
shrinks geometrically (the vanishing gradient; Bengio et al. 1994, Pascanu et al. 2013). The LSTM's
cell path multiplies by the forget gate instead, and the GRU's by z: near 1, the gradient survives.

    rnnlab gradflow                          # adding T = 100, hidden 32, into runs/gradflow
    rnnlab gradflow --from runs/compare      # use compare's trained models (seed 0) as "trained"
"""
from __future__ import annotations

import os

import numpy as np

from ..data import load_task
from ..layers import Recurrent
from ..metrics import batch_loss
from ..models import evaluation
from ..saving import atomic_write, load
from ..train import build_model, write_json
from .compare import MAIN_JOB, PLOT_EXTRA, run_all, task_label
from ._flags import check_flag_int
from .train import add_arguments, config_from_args

MODELS = ("rnn", "lstm", "gru")


def add_parser(sub):
    p = sub.add_parser("gradflow", help="norm of dL/dh_k for every step k back from the loss, RNN/LSTM/GRU")
    add_arguments(p)
    p.set_defaults(**{k: v for k, v in MAIN_JOB.items() if k != "epochs"})
    p.add_argument("--batch", type=int, default=200, help="test sequences averaged over (default 200)")
    p.add_argument("--from", dest="from_dir", default=None,
                   help="a compare folder whose runs/<model>-seed0/model.npz are the trained models")
    p.add_argument("--jobs", type=int, default=2, help="worker processes for training (default 2)")
    p.add_argument("--out", default="runs/gradflow", help="folder for gradflow.md, gradflow.json, gradflow.png")
    return p


def hidden_grad_norms(model, x: np.ndarray, batch, kind: str) -> np.ndarray:
    """norms[l, k - 1] = mean_n ||dL/dh^l_{T-k}[n]|| for every recurrent layer l of the model (bottom
    first; a stacked module counts as its num_layers layers) and k = 1 .. T-1."""
    N, T, _ = x.shape
    recurrent = [isinstance(layer, Recurrent) for layer in model.layers]
    norms = []
    with evaluation(model):                                                     # Dropout off
        for k in range(1, T):
            _, prefix = model.forward(x[:, :T - k])                             # every h_{T-k} (and c)
            out, cache = model.forward(x[:, T - k:], states=prefix.states)
            _, dout, _, _ = batch_loss(kind, out, batch._replace(x=x[:, T - k:]))
            _, dstates, _ = model.backward_states(dout, cache)
            dh = np.concatenate([d[0] if isinstance(d, tuple) else d            # (layers, N, H)
                                 for d, is_rec in zip(dstates, recurrent) if is_rec])
            norms.append(np.linalg.norm(dh, axis=-1).mean(axis=1) * N)         # L is the mean over N
    return np.array(norms).T


def curve_names(model: str, when: str, layers: int) -> list:
    """"LSTM init" for one layer; "LSTM init layer 1" .. "layer L" for a stack."""
    return [f"{model.upper()} {when}"] if layers == 1 else \
        [f"{model.upper()} {when} layer {l + 1}" for l in range(layers)]


def table(curves: dict, T: int) -> str:
    steps = [k for k in (1, 2, 5, 10, 20, 30, 50, 75, 99, 150, 199, 300, 399) if k < T]
    names = list(curves)
    lines = ["| steps back k | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for k in steps:
        lines.append(f"| {k} | " + " | ".join(f"{curves[n][k - 1]:.2e}" for n in names) + " |")
    return "\n".join(lines)


def plot(curves: dict, path: str, title: str) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    colours = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, values in curves.items():
        model, when, *layer = name.split()                      # "LSTM trained [layer 2]"
        ax.plot(np.arange(1, len(values) + 1), values, color=colours[model.lower()],
                linestyle="--" if when == "init" else "-", label=name,
                linewidth=1.5 if not layer else 0.8 * int(layer[1]))    # thicker further from the input
    ax.set_yscale("log")
    ax.set_xlabel("steps k back from the loss")
    ax.set_ylabel("mean norm of dL/dh at step T - k")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def run(args) -> int:
    if args.task not in ("adding", "order", "fashion-mnist", "mnist"):
        raise ValueError(f"--task: gradflow measures per-sequence tasks, got {args.task!r}")
    if args.bidirectional:
        raise ValueError("--bidirectional: gradflow follows the gradient back in time from the last step; "
                         "a reverse direction starts there and has no state k steps back to measure")
    args.batch = check_flag_int("--batch", args.batch, low=1)
    args.jobs = check_flag_int("--jobs", args.jobs, low=1)
    if args.epochs is None:
        args.epochs = MAIN_JOB["epochs"]
    configs = []
    for m in MODELS:
        args.model, args.seed = m, 0
        configs.append(config_from_args(args))
    task = load_task(configs[0].task, T=configs[0].T, train_size=configs[0].train_size,
                     data_dir=configs[0].data_dir, seed=0)
    batch = next(task.test.batches(args.batch))
    if args.from_dir:
        trained = [load(os.path.join(args.from_dir, "runs", f"{m}-seed0", "model.npz")) for m in MODELS]
    else:
        print(f"gradflow: training {', '.join(MODELS)} for {args.epochs} epochs first ...")
        run_all(configs, args.out, args.jobs)
        trained = [load(os.path.join(args.out, "runs", f"{m}-seed0", "model.npz")) for m in MODELS]
    curves = {}
    for m, cfg, model in zip(MODELS, configs, trained):
        for when, net in (("init", build_model(task, cfg)), ("trained", model)):
            norms = hidden_grad_norms(net, batch.x, batch, task.kind)
            curves.update(zip(curve_names(m, when, len(norms)), norms))
    T = batch.x.shape[1]
    os.makedirs(args.out, exist_ok=True)
    title = f"{task_label(configs[0])}: gradient norm k steps back, hidden {configs[0].hidden}"
    layers = "" if configs[0].layers == 1 else ", per layer (layer 1 next to the input)"
    md = f"# {title}\n\nmean over {len(batch.x)} test sequences of ||dL/dh_(T-k)||{layers}\n\n{table(curves, T)}\n"
    atomic_write(os.path.join(args.out, "gradflow.md"), lambda f: f.write(md.encode()))
    write_json(os.path.join(args.out, "gradflow.json"), {k: v.tolist() for k, v in curves.items()})
    plotted = plot(curves, os.path.join(args.out, "gradflow.png"), title)
    print(md)
    print(f"wrote {os.path.join(args.out, 'gradflow.md')}" +
          (f" and {os.path.join(args.out, 'gradflow.png')}" if plotted else f"; no plot: {PLOT_EXTRA}"))
    return 0
