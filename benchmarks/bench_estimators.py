"""Throughput of the sample PID estimators on 10k samples of 64-d sources (issue: PID from samples).

    python benchmarks/bench_estimators.py [--n 10000] [--dim 64] [--threads 1]

Prints the wall and CPU time of one ``fit`` (no confidence intervals) for ClusterPID, GaussianPID and
NeuralPID on the compositional ``synergy`` target (K = 2, ground truth S = 1 bit), with the estimates
beside the truth.
"""

from __future__ import annotations

import argparse
import os
import time


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import torch

    torch.set_num_threads(args.threads)
    from synergy_lab.data import make_compositional
    from synergy_lab.pid import ClusterPID, GaussianPID, NeuralPID

    ds = make_compositional(
        n_samples=args.n, k=2, dim=args.dim, noise=0.1, random_state=0, targets=["synergy"]
    )
    truth = ds.truth("synergy")
    print(
        f"{args.n} samples, two {args.dim}-d sources, target synergy "
        f"(truth S = {truth['synergy']:.3f} bit); {args.threads} thread(s); load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'estimator':12s} {'fit wall':>10s} {'fit cpu':>10s}   R      U1     U2     S")
    for est in (ClusterPID(random_state=0), GaussianPID(random_state=0), NeuralPID(random_state=0)):
        w0, c0 = time.perf_counter(), time.process_time()
        est.fit(ds.x1, ds.x2, ds.targets["synergy"])
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        r = est.decomposition_
        print(f"{type(est).__name__:12s} {wall:9.2f}s {cpu:9.2f}s  "
              f"{r.redundancy:6.3f} {r.unique1:6.3f} {r.unique2:6.3f} {r.synergy:6.3f}")


if __name__ == "__main__":
    main()
