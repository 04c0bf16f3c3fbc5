"""One training core for every model family.

    run_folder.py   the run folder: lock, one run per folder, atomic files, write errors named by flag
    checkpoint.py   arrays plus a JSON header in one .npz, written atomically; optimizer state in and out
    selection.py    the best validation score, its epoch, and early stopping (patience)
    divergence.py   ``Diverged``: a loss, gradient or parameter that is not finite stops the run
    log.py          metrics.jsonl lines and the final metrics.json
    distributed.py  data-parallel training under mpiexec: each rank's rows of a batch, one Allreduce of a
                    flat gradient buffer per step, rank 0 writes; mpi4py imported only when launched by MPI
    loop.py         the loop in named steps: start or resume, run an epoch, validate and select,
                    checkpoint, finish

The sequence trainer (rnnlab.train) and the tree trainer (rnnlab.trees.train) are both written on
these pieces. Importing this package imports NumPy only.
"""
