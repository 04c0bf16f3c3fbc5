"""Wall-clock and CPU time of one training epoch, level-batched against per-node, side by side:

    OPENBLAS_NUM_THREADS=1 python -m rnnlab.trees.timing --model treelstm [--trees N] [--repeat R]

Both schedules train the same freshly initialised model on the same shuffled trees with the same
dropout masks (so they do identical arithmetic); the schedules alternate R times, so that load from
other processes on a shared machine falls on both alike. CPU time (process_time) is reported beside
wall time: it does not count the time the process waited for a core.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from .model import TreeModel, TreeModelConfig
from .train import TreeConfig, load_data, make_optimizers, train_epoch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rnnlab.trees.timing", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="treelstm")
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--embed-dim", type=int, default=None)
    p.add_argument("--trees", type=int, default=None, help="first N training trees (default: all 8,544)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    cfg = TreeConfig.from_args(argparse.Namespace(model=args.model, hidden=args.hidden, embed_dim=args.embed_dim))
    vocab, encoded, _ = load_data(args.data_dir, False, max_train=args.trees)
    config = TreeModelConfig(cfg.model, len(vocab), cfg.embed_dim, cfg.hidden, 5)
    rows = []
    for r in range(args.repeat):
        for schedule in ("level", "node"):
            model = TreeModel(config, seed=0)
            stats = train_epoch(model, make_optimizers(cfg), encoded["train"], replace(cfg, tree_schedule=schedule),
                                np.random.default_rng(1))
            rows.append({"schedule": schedule, "repeat": r, "trees": stats["trees"], "loss": stats["loss"],
                         "wall_seconds": round(stats["seconds"], 2), "cpu_seconds": round(stats["cpu_seconds"], 2)})
            print(json.dumps({"model": str(model), **rows[-1]}), flush=True)
    for schedule in ("level", "node"):
        mine = [r for r in rows if r["schedule"] == schedule]
        print(f"{schedule:>5}: best wall {min(r['wall_seconds'] for r in mine):.1f} s, "
              f"best CPU {min(r['cpu_seconds'] for r in mine):.1f} s per epoch of {mine[0]['trees']} trees")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
