"""Exact BROJA PID: synergy_lab against public reference solvers, side by side in one run.

Solvers, each given the same random joint tables p(x1, x2, y) of size n x n x n:

* ``ours``            -- ``synergy_lab.pid.decompose(p, measure="broja")``, in this process; its certified
                         optimality ``gap`` makes it the yardstick for everyone's accuracy.
* ``dit default``     -- dit 2.3 ``PID_BROJA`` with its default ``method="auto"`` (SLSQP below 64 cells,
                         admUI from 125 cells on, fallbacks in between).
* ``dit cone``        -- dit 2.3 ``PID_BROJA(..., method="cone")`` (ECOS exponential-cone program).
* ``cvxpy+Clarabel``  -- our own cvxpy statement of the BROJA program (``broja_cvxpy``), solved by Clarabel.

Each reference runs in a forked child with a wall-clock limit per table (``--timeout``); a solver that
runs out of time on one size is skipped for the larger sizes. All times use one BLAS thread.
A second section checks accuracy on sparse 4x4x4 tables (Dirichlet alpha = 0.1).

The references live only in a separate benchmark environment, never in the package's dependencies::

    python3 -m venv .bench-venv
    .bench-venv/bin/pip install -e . --no-deps   # our package without torch (the PID part needs no torch)
    .bench-venv/bin/pip install numpy scipy pandas scikit-learn "dit[broja]==2.3.*" cvxpy clarabel
    .bench-venv/bin/python benchmarks/bench_pid_discrete.py            # 4^3 .. 32^3, 60 s limit
    .bench-venv/bin/python benchmarks/bench_pid_discrete.py --quick    # 4^3 and 8^3, 10 s limit
    .bench-venv/bin/python benchmarks/bench_pid_discrete.py --sizes 4 8 16 --timeout 120 --no-ours

(``dit[broja]`` pulls in ECOS, which ``method="cone"`` needs.)
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one BLAS thread for every solver, children included

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from importlib.metadata import PackageNotFoundError, version  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timeout import ChildWorker  # noqa: E402

ATOMS = ("redundancy", "unique1", "unique2", "synergy")
WARMUP = 12345  # seed of the 2x2x2 table every solver sees once before timing (imports, first-call caches)


def timed(fn, p):
    """(median seconds, first result): one call, plus repeats while calls are fast."""
    t0 = time.perf_counter()
    first = fn(p)
    times = [time.perf_counter() - t0]
    extra = 4 if times[0] < 0.1 else 2 if times[0] < 1.0 else 0
    for _ in range(extra):
        t0 = time.perf_counter()
        fn(p)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), first


def mutual_information(p2d):
    """I(A;B) in bits of a 2-D joint table."""
    pa, pb = p2d.sum(1, keepdims=True), p2d.sum(0, keepdims=True)
    nz = p2d > 0
    return float(np.sum(p2d[nz] * np.log2(p2d[nz] / (pa * pb)[nz])))


def atoms_from_iq(p, iq):
    """The four BROJA atoms implied by the minimal I_q(X1,X2;Y) over the marginal-matching set."""
    n1, n2, ny = p.shape
    mi1, mi2 = mutual_information(p.sum(1)), mutual_information(p.sum(0))
    mi12 = mutual_information(p.reshape(n1 * n2, ny))
    return np.array([mi1 + mi2 - iq, iq - mi2, iq - mi1, mi12 - iq])


# ----------------------------------------------------------------------------------------- solvers
def ours(p):
    from synergy_lab.pid import decompose

    r = decompose(p, measure="broja")
    return np.array([getattr(r, a) for a in ATOMS]), float(r.gap)


def _dit_pid(p, **kwargs):
    import dit
    from dit.pid import PID_BROJA

    cells = list(np.ndindex(p.shape))
    d = dit.Distribution(cells, [float(p[c]) for c in cells])  # outcomes (x1, x2, y); dit works in bits
    pid = PID_BROJA(d, [[0], [1]], [2], **kwargs)
    # dit's lattice nodes: {0}{1} = redundancy, {0} and {1} = uniques, {0:1} = synergy.
    keys = (((0,), (1,)), ((0,),), ((1,),), ((0, 1),))
    return np.array([float(pid.get_pi(k)) for k in keys])


def dit_default(p):
    return _dit_pid(p)


def dit_cone(p):
    return _dit_pid(p, method="cone")


def broja_cvxpy(p):
    """min_q I_q(X1,X2;Y) over q >= 0 with p's (x1,y) and (x2,y) marginals, as an exponential-cone program.

    With q(y) fixed, I_q(X1,X2;Y) = -H_q(Y|X1,X2) + H(Y) = sum q log(q / q(x1,x2)) + const, i.e. a sum of
    ``rel_entr(q, q12)`` terms, jointly convex. Variables live only on cells with p(x1,y) > 0 and p(x2,y) > 0.
    """
    import cvxpy as cp
    import scipy.sparse as sp

    n1, n2, ny = p.shape
    p1y, p2y = p.sum(1), p.sum(0)
    x1, x2, y = np.nonzero((p1y[:, None, :] > 0) & (p2y[None, :, :] > 0))
    m = x1.size
    cols = np.arange(m)

    def summing(keys):  # sparse 0/1 matrix summing q over cells that share a key; also the key of each row
        uniq, row = np.unique(keys, return_inverse=True)
        return sp.csr_matrix((np.ones(m), (row, cols)), shape=(uniq.size, m)), uniq, row

    A1, k1, _ = summing(x1 * ny + y)
    A2, k2, _ = summing(x2 * ny + y)
    S, _, pair_of_cell = summing(x1 * n2 + x2)
    q = cp.Variable(m, nonneg=True)
    q12 = cp.Variable(S.shape[0], nonneg=True)
    constraints = [A1 @ q == p1y.ravel()[k1], A2 @ q == p2y.ravel()[k2], S @ q == q12]
    prob = cp.Problem(cp.Minimize(cp.sum(cp.rel_entr(q, q12[pair_of_cell]))), constraints)
    prob.solve(solver=cp.CLARABEL)
    if q.value is None:
        raise RuntimeError(f"Clarabel status {prob.status}")
    qfull = np.zeros(p.shape)
    qfull[x1, x2, y] = np.clip(q.value, 0.0, None)
    return atoms_from_iq(p, mutual_information(qfull.reshape(n1 * n2, ny)))


REFERENCES = {"dit default": dit_default, "dit cone": dit_cone, "cvxpy+Clarabel": broja_cvxpy}


# --------------------------------------------------------------------------------------- harness
def random_table(n, seed, alpha=1.0):
    from synergy_lab.data import random_table

    return random_table((n, n, n), alpha=alpha, random_state=seed)


def max_error(timed_results, base):
    """Largest |atom - base atom| over tables and the four atoms, in bits."""
    return max(float(np.abs(a - b).max()) for (_, a), b in zip(timed_results, base, strict=True))


def fmt_time(t):
    return f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s"


def versions():
    out = [f"python {platform.python_version()}"]
    for pkg in ("numpy", "scipy", "dit", "ecos", "cvxpy", "clarabel", "synergy-lab"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg} (not installed)")
    return " | ".join(out)


def run_references(tables, timeout):
    """{(n, solver): (status, value)}: ('ok', [(seconds, atoms), ...]), ('timeout', None),
    ('skipped', reason) or ('error', message)."""
    warm = random_table(2, WARMUP)
    out = {}
    for name, fn in REFERENCES.items():
        worker, stop = None, None
        for n, ps in tables.items():
            if stop:
                out[n, name] = ("skipped", stop)
                continue
            try:
                worker = worker or ChildWorker(lambda p, fn=fn: timed(fn, p), warmup_arg=warm)
                out[n, name] = ("ok", [worker.call(p, timeout) for p in ps])
            except TimeoutError:
                out[n, name], stop = ("timeout", None), f"timed out at {n}^3"
            except RuntimeError as exc:
                out[n, name], stop = ("error", str(exc)[:60]), f"failed at {n}^3"
            print(f"  ... {name:15s} {n:3d}^3: {out[n, name][0]}", file=sys.stderr, flush=True)
        if worker is not None:
            worker.close()
    return out


def best_of(fn, p, budget_s=1.0, most=25):
    """Fastest of repeated calls (timeit's rule: the minimum is the least disturbed by other jobs)."""
    best, spent = float("inf"), 0.0
    for _ in range(most):
        t0 = time.perf_counter()
        fn(p)
        took = time.perf_counter() - t0
        best, spent = min(best, took), spent + took
        if spent > budget_s:
            break
    return best


def run_ours(tables):
    ours(random_table(2, WARMUP))
    out = {}
    for n, ps in tables.items():
        res = [timed(ours, p) for p in ps]
        out[n] = [(t, a) for t, (a, _) in res], max(g for _, (_, g) in res)
        out[n, "best"] = statistics.median(best_of(ours, p) for p in ps)
        print(f"  ... {'ours':15s} {n:3d}^3: ok", file=sys.stderr, flush=True)
    return out


def print_table(tables, refs, mine, timeout):
    yard = "ours" if mine else "cvxpy+Clarabel"
    print(f"{'size':>5} | {'solver':15} | {'median time':>11} | {'ratio':>8} | max |atom - {yard}| (bits)")
    print("-" * 78)
    for n in tables:
        base = None
        if mine:
            base = [a for _, a in mine[n][0]]
            t_ours = statistics.median(t for t, _ in mine[n][0])
            gap = f"certified gap <= {mine[n][1]:.1e}"
            print(f"{n:>4}³ | {'ours':15} | {fmt_time(t_ours):>11} | {'1':>8} | {gap}")
            print(f"{n:>4}³ | {'ours, best-of':15} | {fmt_time(mine[n, 'best']):>11} | {'':>8} | "
                  f"fastest of repeated calls per table (<= 25 or 1 s), median over tables")
        elif refs[n, yard][0] == "ok":
            base = [a for _, a in refs[n, yard][1]]
        for name in REFERENCES:
            status, val = refs[n, name]
            if status == "ok":
                t = statistics.median(t for t, _ in val)
                ratio = f"{t / t_ours:.1f}x" if mine else "pending"
                err = f"{max_error(val, base):.1e}" if base else "n/a"
                print(f"{n:>4}³ | {name:15} | {fmt_time(t):>11} | {ratio:>8} | {err}")
            elif status == "timeout":
                ratio = f"> {timeout / t_ours:.0f}x" if mine else "pending"
                print(f"{n:>4}³ | {name:15} | {'> ' + fmt_time(timeout):>11} | {ratio:>8} | (killed)")
            else:
                print(f"{n:>4}³ | {name:15} | {status:>11} | {'':>8} | {val or ''}")
        print("-" * 78)
    sys.stdout.flush()


def sparse_check(n_seeds, timeout, with_ours):
    """Worst atom error of each reference on sparse 4^3 tables (alpha = 0.1)."""
    ps = [random_table(4, s, alpha=0.1) for s in range(n_seeds)]
    base = [ours(p)[0] for p in ps] if with_ours else None
    results = run_references({4: ps}, timeout)
    yard = "ours" if with_ours else "cvxpy+Clarabel"
    if base is None and results[4, yard][0] == "ok":
        base = [a for _, a in results[4, yard][1]]
    print(f"\nSparse 4³ tables (alpha=0.1, seeds 0..{n_seeds - 1}): worst max |atom - {yard}| (bits)")
    print("(dit default restarts SLSQP from random points, so its errors change from run to run)")
    for name in REFERENCES:
        status, val = results[4, name]
        if status != "ok" or base is None:
            print(f"  {name:15} {status}")
            continue
        errs = [max_error([v], [b]) for v, b in zip(val, base, strict=True)]
        worst = int(np.argmax(errs))
        lowest = min(a.min() for _, a in val)
        print(f"  {name:15} {errs[worst]:.1e} (seed {worst}); smallest atom {lowest:+.1e}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", help="n for n x n x n tables (default 4 8 16 32)")
    ap.add_argument("--seeds", type=int, default=3, help="random tables per size (seeds 0..k-1)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per table for each reference")
    ap.add_argument("--sparse-seeds", type=int, default=10, help="sparse 4^3 tables (0 = skip the check)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 4^3 and 8^3, 10 s limit")
    ap.add_argument("--no-ours", action="store_true", help="references only (our column pending)")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.timeout = args.sizes or [4, 8], min(args.timeout, 10.0)
        args.sparse_seeds = min(args.sparse_seeds, 3)
    args.sizes = args.sizes or [4, 8, 16, 32]

    print("BROJA PID, exact discrete solvers: synergy_lab vs public references")
    print(versions())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"one BLAS thread (OMP/OPENBLAS/MKL_NUM_THREADS=1); {os.cpu_count()} CPUs, load {load} at start")
    seeds = f"seeds 0..{args.seeds - 1}"
    print(f"tables: synergy_lab.data.random_table((n,n,n), alpha=1.0, random_state=seed), {seeds}")
    print(f"references in forked child processes, limit {args.timeout:g} s per table; larger sizes skipped")
    print("after a timeout. time = median over tables of each table's median of up to 5 repeats (fast")
    print("calls); ratio = reference time / ours. A time is table -> atoms (dit: Distribution built too).\n")
    sys.stdout.flush()

    tables = {n: [random_table(n, s) for s in range(args.seeds)] for n in args.sizes}
    mine = None if args.no_ours else run_ours(tables)
    refs = run_references(tables, args.timeout)
    print_table(tables, refs, mine, args.timeout)
    if args.sparse_seeds:
        sparse_check(args.sparse_seeds, args.timeout, not args.no_ours)


if __name__ == "__main__":
    main()
