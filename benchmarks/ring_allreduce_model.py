"""Data-parallel training beyond one machine, on paper: the time of a step on N machines from a
measured compute time and a ring allreduce's cost (Patarasuk & Yuan 2009; Thakur et al. 2005):

    t_comm(N) = 2 (N - 1) / N * bytes / bandwidth  +  2 (N - 1) * latency
    t_step(N) = b * t_seq + t_comm(N)              b sequences per process, t_seq compute seconds per sequence
    efficiency = b * t_seq / t_step                the share of a step spent computing
    b_10% = 9 * t_comm / t_seq                     the per-process batch that keeps communication <= 10% of a step

The ring sends each of the 2 (N - 1) chunks (reduce-scatter, then allgather) of bytes / N once per
link, so the bandwidth term approaches 2 x bytes / bandwidth whatever N; the latency term grows with N.
Defaults: the large shape of benchmarks/bench_mpi.py (LSTM H=256 on the adding problem, 265,473
float32 parameters plus the loss and count: 1,061,900 bytes per Allreduce; 1.72 ms per sequence on
one core of the 2-core machine), 20 us per message (TCP on Ethernet; InfiniBand is nearer 2 us).

    python benchmarks/ring_allreduce_model.py
    python benchmarks/ring_allreduce_model.py --bytes 18060 --seconds-per-sequence 6.2e-5    # the small shape
"""
from __future__ import annotations

import argparse


def t_comm(n: int, nbytes: float, gbit_per_s: float, latency: float) -> float:
    """Seconds of one ring allreduce of ``nbytes`` over ``n`` processes on links of ``gbit_per_s``."""
    if n == 1:
        return 0.0
    return 2 * (n - 1) / n * nbytes * 8 / (gbit_per_s * 1e9) + 2 * (n - 1) * latency


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bytes", type=float, default=1_061_900, help="bytes per Allreduce (the flat gradient buffer)")
    p.add_argument("--seconds-per-sequence", type=float, default=1 / 581,
                   help="measured compute seconds per training sequence on one process")
    p.add_argument("--batch", type=int, default=128, help="sequences per process per step")
    p.add_argument("--latency", type=float, default=20e-6, help="seconds per message")
    args = p.parse_args()
    c, b = args.seconds_per_sequence, args.batch
    print(f"{args.bytes:,.0f} bytes per Allreduce, {1e3 * c:.3f} ms per sequence, {b} sequences per process, "
          f"{1e6 * args.latency:.0f} us per message; compute {1e3 * b * c:.1f} ms per step\n")
    print("| N | link | allreduce (ms) | step (ms) | computing share | sequences/s | batch per process for <= 10% |")
    print("|---|---|---|---|---|---|---|")
    for gbit in (1, 10, 25):
        for n in (2, 4, 8, 16, 32, 64):
            comm = t_comm(n, args.bytes, gbit, args.latency)
            step = b * c + comm
            print(f"| {n} | {gbit} Gbit/s | {1e3 * comm:.2f} | {1e3 * step:.1f} | {100 * b * c / step:.1f}% | "
                  f"{n * b / step:,.0f} | {max(1, -(-9 * comm // c)):,.0f} |")


if __name__ == "__main__":
    main()
