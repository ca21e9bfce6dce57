"""Stress test of the BROJA solver on extreme but valid tables (issue 13, part 1).

Deterministic targets y = f(x1, x2) over Dirichlet source tables with alpha down to 0.003 (cell masses
spanning hundreds of orders of magnitude, down to ~1e-300), and general sparse tables, shapes 2-12 per axis.
Every table must solve with a certified gap <= 1e-7 bit and the PID identities to 1e-9 bit.

The suite runs a few hundred tables; a larger run, outside the suite::

    .venv/bin/python tests/pid/test_broja_stress.py --tables 5000 --seed 1
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pytest

from synergy_lab.pid import decompose
from synergy_lab.pid.solvers.broja import BrojaConvergenceError, BrojaOptions

TINY_MASS = BrojaOptions().tiny_mass

#: Masses below this are set to exactly 0 when drawing tables (the smallest masses kept are normal floats).
MASS_FLOOR_LOG = math.log(1e-300)


def _log_dirichlet_masses(rng, alpha, size):
    """Normalised Dirichlet(alpha) masses drawn in log space, so that tiny ones stay tiny instead of 0.

    For small alpha, log Gamma(alpha) = log Gamma(alpha + 1) + log(U) / alpha (U uniform), the usual
    boost that keeps the draw accurate where a Gamma variate itself underflows. Masses below 1e-300
    are then exact zeros (the remaining ones span up to 300 orders of magnitude).
    """
    log_g = np.log(rng.standard_gamma(alpha + 1.0, size)) + np.log(rng.uniform(size=size)) / alpha
    log_g -= log_g.max()
    log_g -= math.log(np.exp(log_g).sum())
    return np.where(log_g > MASS_FLOOR_LOG, np.exp(log_g), 0.0)


def random_stress_table(rng):
    """One random valid table: a deterministic target (3 in 4) or a general sparse table."""
    n1, n2, ny = (int(v) for v in rng.integers(2, 13, size=3))
    alpha = float(math.exp(rng.uniform(math.log(0.003), math.log(0.3))))
    if rng.uniform() < 0.75:
        src = _log_dirichlet_masses(rng, alpha, n1 * n2).reshape(n1, n2)
        f = rng.integers(0, ny, size=(n1, n2))
        p = np.zeros((n1, n2, ny))
        p[np.arange(n1)[:, None], np.arange(n2)[None, :], f] = src
        kind = "deterministic"
    else:
        p = _log_dirichlet_masses(rng, alpha, n1 * n2 * ny).reshape(n1, n2, ny)
        p *= rng.uniform(size=p.shape) < rng.uniform(0.2, 1.0)  # a random zero pattern on top
        if not p.any():
            p.flat[0] = 1.0
        kind = "sparse"
    return p / p.sum(), kind, alpha


def check_table(p, max_gap=1e-7, identity_tol=1e-9):
    """Decompose p with BROJA; return (None if it meets the promises else a message, certified gap)."""
    try:
        r = decompose(p)
    except Exception as exc:  # noqa: BLE001  (the stress run records every failure, whatever its type)
        return f"{type(exc).__name__}: {exc}", math.inf
    return _judge(r, max_gap, identity_tol), r.gap


def _judge(r, max_gap, identity_tol):
    if not r.gap <= max_gap:
        return f"gap {r.gap:.3e}"
    errors = (
        r.redundancy + r.unique1 - r.mi_1,
        r.redundancy + r.unique2 - r.mi_2,
        r.redundancy + r.unique1 + r.unique2 + r.synergy - r.mi_joint,
    )
    if max(abs(e) for e in errors) > identity_tol:
        return f"identity error {max(abs(e) for e in errors):.3e}"
    if min(r.redundancy, r.unique1, r.unique2, r.synergy) < -identity_tol:
        return "negative atom"
    return None


def run(n_tables, seed):
    """(tables tried, failures as (index, kind, alpha, shape, message), worst gap, seconds)."""
    rng = np.random.default_rng(seed)
    failures, worst_gap = [], 0.0
    t0 = time.perf_counter()
    for i in range(n_tables):
        p, kind, alpha = random_stress_table(rng)
        msg, gap = check_table(p)
        worst_gap = max(worst_gap, gap)
        if msg is not None:
            failures.append((i, kind, alpha, p.shape, msg))
    return n_tables, failures, worst_gap, time.perf_counter() - t0


@pytest.mark.parametrize("seed", [0, 1])
def test_broja_solves_extreme_tables(seed):
    rng = np.random.default_rng(seed)
    failures = []
    for _ in range(200):
        p, kind, alpha = random_stress_table(rng)
        msg, _ = check_table(p)
        if msg is not None:
            failures.append((kind, alpha, p.shape, msg))
    assert failures == []


def _issue_table():
    p = np.zeros((2, 2, 2))
    p[0, 0, 1] = 0.0011603510025287335
    p[0, 1, 0] = 7.176363937035538e-179
    p[1, 0, 0] = 0.983305138528953
    p[1, 1, 1] = 0.015534510468518286
    return p / p.sum()


def test_the_issue_table_solves_and_keeps_its_tiny_mass():
    p = _issue_table()
    r = decompose(p)
    assert r.gap <= 1e-7
    # The joint keeps p's marginals, the 1e-179 entry included (it is certified with it, not clipped).
    np.testing.assert_allclose(r.joint.sum(axis=1), p.sum(axis=1), rtol=1e-12, atol=0)
    np.testing.assert_allclose(r.joint.sum(axis=0), p.sum(axis=0), rtol=1e-12, atol=0)
    assert r.joint[0, 1, 0] > 0


@pytest.mark.parametrize("seed", range(4))
def test_tiny_entries_are_certified_on_the_users_table(seed):
    """A table with entries far below TINY_MASS and the same table without them: both certified, and
    their decompositions agree (the entries move every information quantity by far less than 1e-12 bit)."""
    rng = np.random.default_rng(seed)
    base = rng.dirichlet(np.full(4 * 3 * 5, 0.3)).reshape(4, 3, 5)
    base[rng.uniform(size=base.shape) < 0.4] = 0.0
    base[0, :, 0] = 0.0  # the tiny entries below populate this (x1, y) row on their own
    base /= base.sum()
    p = base.copy()
    p[0, :, 0] = TINY_MASS * np.array([1e-3, 1e-100, 1e-250])
    r, r0 = decompose(p), decompose(base)
    assert r.gap <= 1e-9 and r0.gap <= 1e-9
    for atom in ("redundancy", "unique1", "unique2", "synergy"):
        assert getattr(r, atom) == pytest.approx(getattr(r0, atom), abs=1e-12)
    np.testing.assert_allclose(r.joint.sum(axis=1), p.sum(axis=1), rtol=1e-12, atol=0)
    assert r.joint[0, :, 0].sum() == pytest.approx(p[0, :, 0].sum(), rel=1e-12)


def test_convergence_errors_report_the_users_shape():
    p = np.random.default_rng(0).dirichlet(np.ones(30)).reshape(3, 5, 2)  # solved internally as (5, 3, 2)
    with pytest.raises(BrojaConvergenceError, match=r"table shape \(3, 5, 2\)"):
        decompose(p, max_iter=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description="BROJA stress run on extreme valid tables")
    ap.add_argument("--tables", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    n, failures, worst_gap, seconds = run(args.tables, args.seed)
    for f in failures[:20]:
        print(f)
    print(f"tables {n}  failures {len(failures)}  worst gap {worst_gap:.3e} bit  seconds {seconds:.1f}")


if __name__ == "__main__":
    main()
