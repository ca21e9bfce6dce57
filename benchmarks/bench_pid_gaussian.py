"""Gaussian BROJA-type PID (~G-PID): synergy_lab's closed form against iterative reference solvers.

Every solver gets the same joint covariance of ``[X1, X2, Y]`` with ``d1 = d2 = dy = d``:

* ``ours``        -- ``synergy_lab.pid.decompose_gaussian(cov, (d, d, d), measure="broja")``: the closed-form
                     minimum (generalised eigenvalues of Cov(Y|X1), Cov(Y|X2)) plus its certificate ``gap``.
* ``L-BFGS``      -- the straightforward re-formulation: whiten to ``X_i = H_i Y + N_i``, minimise the union
                     information ``1/2 log2 det(I + H2'H2 + B'S^-1 B)`` over the noise cross-covariance
                     ``Sigma = Z (I + Z'Z)^-1/2`` (onto the open unit spectral-norm ball, so unconstrained in
                     ``Z``) with scipy's L-BFGS-B and an analytic gradient, from ``Sigma = 0``.
* ``sign-GD``     -- projected sign-gradient descent as the public solver (``gpid``, Venkatesh et al. 2023)
                     is described: per-entry steps from 1e-3, grown by 1/0.9 while the gradient's sign holds
                     and shrunk by 0.9 when it flips, a global decay 0.999^k, projection onto
                     ``||Sigma||_2 <= 1 - 1e-7`` by clipping singular values, start at the projection of
                     ``H1 pinv(H2)``, stop when the last 20 objective values agree within 1e-6 bit or after
                     10,000 iterations; the best iterate is kept. A re-implementation from that description,
                     not the package (``pip download gpid`` finds no distribution here). Feasibility is
                     checked by a Cholesky factorisation and an SVD is taken only when a step leaves the
                     ball, so an iteration costs less than the public code's; read its times as a lower
                     bound for the public solver.
* ``gpid pub``    -- not run: the public solver's times for the doubling family, measured earlier (alone on
                     this machine class), for the ratio against the issue's 10x target.

Problems (one per size and seed):

* ``doubling`` -- the check case of Venkatesh et al. 2023 (Y ~ N(0, I_2), X1 = diag(2, 1) Y + N,
  X2 = diag(1, sqrt 2) Y + N) stacked d/2 times, each block then rotated by a random orthogonal matrix (the
  public timing experiment's family). Exact atoms: d/2 x (1, 1/2 log2 2.5, 1/2 log2 1.5, 1/2 log2 1.6).
* ``random``   -- Y ~ N(0, I_d), X_i = G_i Y + N_i with Gaussian gains G_i (entries N(0, 2.25/d)), noise
  covariances A A'/d + I/2 and a random noise cross-covariance of spectral norm 0.5.

References run in forked children with a wall-clock limit per problem (``--timeout``); a solver that times
out is skipped at larger sizes. All times use one BLAS thread. Run it alone on the machine::

    .venv/bin/python benchmarks/bench_pid_gaussian.py            # d = 2 .. 256, about 3 minutes
    .venv/bin/python benchmarks/bench_pid_gaussian.py --quick    # d = 2 .. 64, under a minute

Needs only numpy and scipy (the main environment); nothing is installed for it.
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

import numpy as np  # noqa: E402
import scipy  # noqa: E402
from scipy.linalg import cho_solve, cholesky, solve_triangular  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timeout import ChildWorker  # noqa: E402

LN2 = np.log(2.0)
SIZES = (2, 8, 32, 64, 128, 256)
#: Times of the public gpid solver, measured earlier (same machine class, alone; it does not install offline).
PUBLISHED = {2: 0.03, 4: 0.03, 8: 0.03, 64: 0.7, 128: 8.0, 256: 17.0}


# ------------------------------------------------------------------------------------------- problems
def _rotation(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def doubling(d, seed):
    """The doubling system stacked d/2 times, then rotated inside each block; also its exact atoms."""
    k = d // 2
    h1 = np.kron(np.eye(k), np.diag([2.0, 1.0]))
    h2 = np.kron(np.eye(k), np.diag([1.0, np.sqrt(2.0)]))
    loads = np.vstack([h1, h2, np.eye(d)])
    cov = loads @ loads.T + np.diag(np.r_[np.ones(2 * d), np.zeros(d)])
    rng = np.random.default_rng(seed)
    t = np.zeros((3 * d, 3 * d))
    for b in range(3):
        t[b * d:(b + 1) * d, b * d:(b + 1) * d] = _rotation(rng, d)
    exact = k * np.array([1.0, 0.5 * np.log2(2.5), 0.5 * np.log2(1.5), 0.5 * np.log2(1.6)])
    return t @ cov @ t.T, exact


def random_system(d, seed):
    rng = np.random.default_rng(1000 + seed)
    g1, g2 = (1.5 * rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(2))
    n1, n2 = (a @ a.T / d + 0.5 * np.eye(d) for a in (rng.standard_normal((d, d)) for _ in range(2)))
    c = rng.standard_normal((d, d))
    cross = 0.5 * c / np.linalg.norm(c, 2)
    k1, k2 = np.linalg.cholesky(n1), np.linalg.cholesky(n2)
    noise = np.block([[n1, k1 @ cross @ k2.T], [k2 @ cross.T @ k1.T, n2]])
    loads = np.vstack([g1, g2, np.eye(d)])
    cov = loads @ loads.T
    cov[:2 * d, :2 * d] += noise
    return cov, None


PROBLEMS = {"doubling": doubling, "random": random_system}


# -------------------------------------------------------------------------- reference formulation
def _logdet(a):
    return 2.0 * np.sum(np.log(np.diag(cholesky(a, lower=True))))


def whiten(cov, d):
    """H1, H2 of X_i = H_i Y + N_i (Y, N_i white) and I(X1;Y), I(X2;Y) in bits, by plain Schur complements."""
    sy = cov[2 * d:, 2 * d:]
    ly = cholesky(sy, lower=True)
    out, mis = [], []
    for b in range(2):
        sl = slice(b * d, (b + 1) * d)
        sxy = cov[sl, 2 * d:]
        cond = cov[sl, sl] - sxy @ cho_solve((ly, True), sxy.T)
        out.append(solve_triangular(cholesky(cond, lower=True), solve_triangular(ly, sxy.T, lower=True).T,
                                    lower=True))
        mis.append(0.5 * (_logdet(cov[sl, sl]) - _logdet(cond)) / LN2)
    return out[0], out[1], mis


def objective_and_gradient(sigma, h1, h2):
    """Union information (bits) at the whitened noise cross-covariance ``sigma``, and its gradient."""
    ls = cholesky(np.eye(sigma.shape[0]) - sigma @ sigma.T, lower=True)
    b = h1 - sigma @ h2
    z = cho_solve((ls, True), b)
    m = np.eye(h1.shape[1]) + h2.T @ h2 + b.T @ z
    lm = cholesky(m, lower=True)
    value = np.sum(np.log(np.diag(lm))) / LN2
    grad = z @ cho_solve((lm, True), z.T @ sigma - h2.T) / LN2
    return value, grad


def atoms_from_union(union, mi_1, mi_2, mi_joint):
    return np.array([mi_1 + mi_2 - union, union - mi_2, union - mi_1, mi_joint - union])


def _mi_joint(cov, d):
    return 0.5 * (_logdet(cov[:2 * d, :2 * d]) + _logdet(cov[2 * d:, 2 * d:]) - _logdet(cov)) / LN2


def reference_lbfgs(cov, d):
    h1, h2, (mi_1, mi_2) = whiten(cov, d)

    def fun(zflat):
        zm = zflat.reshape(d, d)
        w, v = np.linalg.eigh(zm.T @ zm)
        r = np.sqrt(1.0 + np.maximum(w, 0.0))
        k = (v / r) @ v.T  # (I + Z'Z)^-1/2
        try:
            value, g = objective_and_gradient(zm @ k, h1, h2)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(zflat)
        # d/dZ of <G, Z K(Z'Z)>: G K + Z (E + E'), E from the Daleckii-Krein formula for K = g(Z'Z).
        gamma = -1.0 / (r[:, None] * r[None, :] * (r[:, None] + r[None, :]))
        sym = zm.T @ g
        e = v @ (gamma * (v.T @ (sym + sym.T) @ v)) @ v.T
        return value, (g @ k + zm @ e).ravel()

    res = minimize(fun, np.zeros(d * d), jac=True, method="L-BFGS-B",
                   options={"maxiter": 20000, "maxfun": 40000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20})
    return atoms_from_union(res.fun, mi_1, mi_2, _mi_joint(cov, d)), int(res.nit)


def _project(sigma, margin=1e-7):
    try:
        cholesky(np.eye(sigma.shape[0]) * (1 - margin) ** 2 - sigma @ sigma.T, lower=True)
        return sigma
    except np.linalg.LinAlgError:
        u, s, vt = np.linalg.svd(sigma)
        return (u * np.minimum(s, 1.0 - margin)) @ vt


def reference_sign_gd(cov, d, max_iter=10000, patience=20, stop=1e-6):
    h1, h2, (mi_1, mi_2) = whiten(cov, d)
    sigma = _project(h1 @ np.linalg.pinv(h2))
    eta = np.full(sigma.shape, 1e-3)
    prev_sign, history, best = None, [], (np.inf, sigma)
    for it in range(1, max_iter + 1):
        value, grad = objective_and_gradient(sigma, h1, h2)
        best = min(best, (value, sigma), key=lambda pair: pair[0])
        if len(history) >= patience and np.all(np.abs(np.array(history[-patience:]) - value) < stop):
            break
        history.append(value)
        sign = np.sign(grad)
        if prev_sign is not None:
            eta *= np.where(sign * prev_sign < 0, 0.9, 1 / 0.9)
        prev_sign = sign
        sigma = _project(sigma - 0.999**it * eta * sign)
    return atoms_from_union(best[0], mi_1, mi_2, _mi_joint(cov, d)), it


REFERENCES = {"L-BFGS": reference_lbfgs, "sign-GD": reference_sign_gd}


# ----------------------------------------------------------------------------------------- harness
def ours(cov, d):
    from synergy_lab.pid import decompose_gaussian

    r = decompose_gaussian(cov, (d, d, d), measure="broja")
    return np.array([r.redundancy, r.unique1, r.unique2, r.synergy]), float(r.gap)


def timed(fn, cov, d):
    """(median seconds, first result): one call, plus repeats while calls are fast."""
    t0 = time.perf_counter()
    first = fn(cov, d)
    times = [time.perf_counter() - t0]
    for _ in range(4 if times[0] < 0.1 else 2 if times[0] < 1.0 else 0):
        t0 = time.perf_counter()
        fn(cov, d)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), first


def fmt_time(t):
    return f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s"


def run(args):
    cases = {(fam, d): [PROBLEMS[fam](d, s) for s in range(args.seeds)] for fam in args.families
             for d in args.sizes}
    ours(*doubling(2, 99)[:1], 2)  # imports and first-call caches
    mine = {key: [timed(ours, cov, key[1]) for cov, _ in probs] for key, probs in cases.items()}
    refs, warm = {}, (doubling(2, 99)[0], 2)
    for name, fn in REFERENCES.items():
        for fam in args.families:
            worker, stop = None, None
            for d in args.sizes:
                key = (fam, d, name)
                if stop:
                    refs[key] = ("skipped", stop)
                    continue
                try:
                    worker = worker or ChildWorker(lambda a, fn=fn: timed(fn, *a), warmup_arg=warm)
                    refs[key] = ("ok", [worker.call((cov, d), args.timeout) for cov, _ in cases[fam, d]])
                except TimeoutError:
                    worker, refs[key], stop = None, ("timeout", None), f"timed out at d={d}"
                except RuntimeError as exc:
                    worker, refs[key], stop = None, ("error", str(exc)[:60]), f"failed at d={d}"
                print(f"  ... {name:8s} {fam:8s} d={d:3d}: {refs[key][0]}", file=sys.stderr, flush=True)
            if worker is not None:
                worker.close()
    return cases, mine, refs


def print_table(args, cases, mine, refs):
    head = f"{'problem':>8} | {'d':>3} | {'solver':8} | {'median time':>11} | {'ratio':>7} | {'iters':>6} | "
    print(head + "max |atom - ours| (bits)")
    print("-" * 92)
    for (fam, d), probs in cases.items():
        t_ours = statistics.median(t for t, _ in mine[fam, d])
        gap = max(g for _, (_, g) in mine[fam, d])
        exact = [e for _, e in probs]
        note = f"gap <= {gap:.1e}"
        if exact[0] is not None:
            err = max(float(np.abs(a - e).max()) for (_, (a, _)), e in zip(mine[fam, d], exact, strict=True))
            note += f"; |atom - exact| <= {err:.1e}"
        row(fam, d, "ours", fmt_time(t_ours), "1", "0", note)
        if fam == "doubling" and d in PUBLISHED:
            pub = PUBLISHED[d]
            row(fam, d, "gpid pub", fmt_time(pub), fmt_ratio(pub / t_ours), "", "earlier time, not run")
        for name in REFERENCES:
            status, val = refs[fam, d, name]
            if status == "ok":
                t = statistics.median(t for t, _ in val)
                iters = max(it for _, (_, it) in val)
                diff = max(float(np.abs(a - b).max())
                           for (_, (a, _)), (_, (b, _)) in zip(val, mine[fam, d], strict=True))
                row(fam, d, name, fmt_time(t), fmt_ratio(t / t_ours), str(iters), f"{diff:.1e}")
            elif status == "timeout":
                row(fam, d, name, "> " + fmt_time(args.timeout), "> " + fmt_ratio(args.timeout / t_ours), "",
                    "(killed)")
            else:
                row(fam, d, name, status, "", "", val or "")
        print("-" * 92)


def fmt_ratio(r):
    return f"{r:.1f}x" if r < 10 else f"{r:.0f}x"


def row(fam, d, name, t, ratio, iters, note):
    print(f"{fam:>8} | {d:>3} | {name:8} | {t:>11} | {ratio:>7} | {iters:>6} | {note}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", help=f"d = d1 = d2 = dy, even (default {SIZES})")
    ap.add_argument("--seeds", type=int, default=1, help="problems per family and size (seeds 0..k-1)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per problem for each reference")
    ap.add_argument("--families", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    ap.add_argument("--quick", action="store_true", help="d = 2 .. 64, 30 s limit")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.timeout = args.sizes or [2, 8, 32, 64], min(args.timeout, 30.0)
    args.sizes = args.sizes or list(SIZES)
    if any(d < 2 or d % 2 for d in args.sizes):
        ap.error("sizes must be even and >= 2 (the doubling system comes in pairs)")

    print("Gaussian BROJA-type PID (~G-PID): synergy_lab closed form vs iterative references")
    print(f"python {platform.python_version()} | numpy {np.__version__} | scipy {scipy.__version__}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"one BLAS thread (OMP/OPENBLAS/MKL_NUM_THREADS=1); {os.cpu_count()} CPUs, load {load} at start")
    print(f"d1 = d2 = dy = d; seeds 0..{args.seeds - 1}; references in forked children, "
          f"limit {args.timeout:g} s")
    print("time = median over problems of each problem's median of up to 5 repeats;")
    print("ratio = solver time / ours;")
    print("ours = full decompose_gaussian call (validation, three mutual informations, certificate).\n")
    sys.stdout.flush()
    print_table(args, *run(args))


if __name__ == "__main__":
    main()
