"""One rank of a data-parallel run for tests/test_mpi.py: ``mpiexec -n N python tests/mpi_worker.py JOB``.

JOB is a JSON file: {"config": Config fields, "out": run folder or null, "resume": bool,
"stop_after_steps": int or null, "params": where rank 0 writes the final parameters (.npz) with the
size of the world, "fail": {"rank": r, "step": s} to raise an exception on rank r in its s-th backward}.
With "tree": TreeConfig fields instead of "config", the tree trainer runs (rnnlab.trees.train) on
"data_dir", writing its run folder "out".
"""
import json
import sys

import numpy as np

from rnnlab.train import Config, train
from rnnlab.training.distributed import world


def main(path: str) -> None:
    with open(path) as f:
        job = json.load(f)
    if "tree" in job:
        from rnnlab.trees.train import TreeConfig, train as train_trees
        train_trees(TreeConfig(**job["tree"]), out=job["out"], data_dir=job["data_dir"], echo=lambda *a: None)
        return
    fail = job.get("fail")
    if fail and world().rank == fail["rank"]:
        from rnnlab import models
        backward, calls = models.Sequential.backward, []

        def failing(self, *args, **kwargs):
            calls.append(1)
            if len(calls) >= fail["step"]:
                raise RuntimeError(f"injected failure in backward call {len(calls)}")
            return backward(self, *args, **kwargs)
        models.Sequential.backward = failing
    result = train(Config(**job["config"]), out=job.get("out"), resume=job.get("resume", False), progress=False,
                   stop_after_steps=job.get("stop_after_steps"), echo=lambda *a: None)
    if world().is_root and job.get("params"):
        np.savez(job["params"], size=world().size, step=result["steps"],
                 **{f"param/{k}": v for k, v in result["model"].params.items()},
                 **{f"{split}/{k}": v for split in ("valid", "test") for k, v in result.get(split, {}).items()})


if __name__ == "__main__":
    main(sys.argv[1])
