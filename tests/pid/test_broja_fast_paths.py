"""The shortcuts that keep small BROJA solves cheap: each against the plain computation it replaces."""

import numpy as np
import pytest

from synergy_lab.data import random_table
from synergy_lab.pid import entropy, mutual_informations
from synergy_lab.pid._tables import LN2
from synergy_lab.pid.solvers.broja import (
    DEFAULT_TOL_BITS,
    lean,
    normal,
    solve,
    solve_broja,
)
from synergy_lab.pid.solvers.broja.flat import Flat
from synergy_lab.pid.solvers.broja.problem import Problem


def _tables(seed, count=20, zeros=True):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        shape = tuple(int(v) for v in rng.integers(2, 8, size=3))
        p = rng.dirichlet(np.full(int(np.prod(shape)), rng.choice([0.1, 0.5, 1.0]))).reshape(shape)
        if zeros:
            p[p < np.quantile(p, rng.uniform(0.0, 0.5))] = 0
            p /= p.sum()
        yield p


def test_mutual_informations_match_the_entropy_definition():
    for p in _tables(0):
        h_y = entropy(p.sum(axis=(0, 1)))
        expected = (
            entropy(p.sum(axis=(1, 2))) + h_y - entropy(p.sum(axis=1)),
            entropy(p.sum(axis=(0, 2))) + h_y - entropy(p.sum(axis=0)),
            entropy(p.sum(axis=2)) + h_y - entropy(p),
        )
        np.testing.assert_allclose(mutual_informations(p), np.maximum(expected, 0.0), atol=1e-13)


def test_is_vertex_counts_active_entries_per_row():
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(300):
        shape = tuple(int(v) for v in rng.integers(2, 5, size=3))
        p = rng.random(shape) * (rng.random(shape) < rng.uniform(0.2, 0.9))
        if p.sum() == 0:
            continue
        prob = Problem(p / p.sum())
        per_a, per_b = prob.active.sum(axis=1), prob.active.sum(axis=0)
        expected = bool(np.all(per_a[prob.row_a] == 1) or np.all(per_b[prob.row_b] == 1))
        assert solve.is_vertex(prob) == expected
        seen.add(expected)
    assert seen == {True, False}


def _lean(p):
    prob = Problem(p if p.shape[0] >= p.shape[1] else p.transpose(1, 0, 2))
    return prob, Flat(prob)


def test_start_is_feasible_with_multipliers_fitting_the_independent_coupling():
    for p in _tables(2):
        prob, fl = _lean(p)
        if solve.is_vertex(prob):
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            q, s, nu = lean._start(prob, fl)
        assert np.all(q > 0) and np.all(s > 0) and nu[fl.m] == 0.0
        assert np.max(np.abs(fl.marginals(q) - fl.target)) <= 4 * fl.floor
        # alpha + beta - log q is one constant (pinned betas at 0 included)
        z = nu[fl.ra] + nu[fl.rb] - np.log(q)
        assert np.ptp(z) < 1e-12


def _normal_matrix(fl, q, qc):
    """K = A diag(q) A' (+ U U') over the free constraints, assembled from its definition."""
    a = np.zeros((fl.m + 1, fl.e))
    a[fl.ra, np.arange(fl.e)] = 1.0
    a[fl.rb, np.arange(fl.e)] = 1.0
    k = (a * q) @ a.T
    if qc is not None:
        u = np.zeros((fl.m + 1, fl.ncell))
        u[fl.ra, fl.cid] = qc
        u[fl.rb, fl.cid] = qc
        k += u @ u.T
    return k[: fl.m, : fl.m]


@pytest.mark.parametrize("system", [normal.DenseNormal, normal.BlockNormal])
@pytest.mark.parametrize("coupled", [True, False])
def test_factor_solves_the_normal_equations_without_scaling(system, coupled):
    """Both factorisations solve K x = r, on tables with absent and pinned rows alike."""
    rng = np.random.default_rng(3)
    for p in _tables(3, count=10):
        prob, fl = _lean(p)
        if solve.is_vertex(prob):
            continue
        q = prob.p.ravel()[fl.flat] * rng.uniform(0.5, 2.0, fl.e) + 1e-300
        qc = q * rng.uniform(0.0, 3.0, fl.e) if coupled else None
        k = _normal_matrix(fl, q, qc)
        rows = rng.normal(size=(2, fl.m))
        x = system(fl).factor(q, fl.marginals(q), qc)(rows)
        assert np.all(x[:, fl.m] == 0.0)
        resid = x[:, : fl.m] @ k - rows
        assert np.max(np.abs(resid)) <= 1e-9 * np.max(np.abs(rows)) * np.linalg.cond(k) ** 0.5


def test_block_factor_recovers_from_an_indefinite_round_off_with_a_ridge(monkeypatch):
    """A failed Cholesky of the alpha blocks is retried with a ridge, like the dense one's."""
    p = random_table((5, 4, 3), random_state=1)
    prob, fl = _lean(p)
    q = prob.p.ravel()[fl.flat]
    qc = 2.0 * q
    calls, cholesky = [], np.linalg.cholesky

    def failing_once(a):
        calls.append(a[:, 0, 0].copy())
        if len(calls) == 1:
            raise np.linalg.LinAlgError("not positive definite")
        return cholesky(a)

    monkeypatch.setattr(np.linalg, "cholesky", failing_once)
    x = normal.BlockNormal(fl).factor(q, fl.marginals(q), qc)(np.ones((1, fl.m)))
    assert len(calls) == 2 and np.all(calls[1] > calls[0])  # the diagonal grew
    k = _normal_matrix(fl, q, qc)
    np.testing.assert_allclose(x[0, : fl.m], np.linalg.solve(k, np.ones(fl.m)), rtol=1e-6)


def test_each_size_takes_the_cheaper_path_and_factorisation():
    """The cost models' choices at the sizes they were measured on (see solve.choose_path, normal.py)."""
    picks = {}
    for shape in [(8, 8, 8), (16, 16, 16), (20, 20, 20), (32, 32, 32), (4, 4, 64), (30, 30, 4)]:
        prob = Problem(random_table(shape, random_state=0))
        is_lean = solve.choose_path(prob) == "lean"
        picks[shape] = type(Flat(prob).normal).__name__ if is_lean else "general"
    assert picks == {
        (8, 8, 8): "DenseNormal",
        (16, 16, 16): "BlockNormal",
        (20, 20, 20): "BlockNormal",
        (32, 32, 32): "general",
        (4, 4, 64): "general",
        (30, 30, 4): "BlockNormal",
    }


def test_restore_with_the_last_newton_factor_needs_no_new_one(monkeypatch):
    """Near convergence the projection reuses _directions' factor, and still meets the marginals."""
    p = np.random.default_rng(4).dirichlet(np.ones(6 * 5 * 4)).reshape(6, 5, 4)
    prob, fl = _lean(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        q, s, nu = lean._start(prob, fl)
    cells = np.add.reduceat(q, fl.starts, out=fl.cb[0])
    phi = np.expm1(s)
    lean._directions(fl, q, s, nu, cells, phi, cells * phi, True)
    drifted = q * (1.0 + 1e-9 * np.random.default_rng(5).normal(size=q.size))
    assert np.max(np.abs(fl.marginals(drifted) - fl.target)) > 1e3 * fl.floor

    def no_factor(*args, **kwargs):
        raise AssertionError("a new factorisation")

    monkeypatch.setattr(fl, "factor", no_factor)
    restored, err = lean._restore(fl, drifted)
    assert err <= fl.floor and np.all(restored > 0)
    assert np.max(np.abs(fl.marginals(restored) - fl.target)) <= fl.floor
    assert np.max(np.abs(restored / drifted - 1.0)) < 1e-6


@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_lean_path_iterations_stay_low_on_random_tables(alpha):
    """The centred start and the progress-driven centring: typical 4^3-8^3 tables certify in few steps
    (13.5 before both). A degenerate table may need the solver's later runs: the solver still certifies."""
    rng = np.random.default_rng(6)
    tol = DEFAULT_TOL_BITS * LN2
    iters, certified = [], 0
    for n in (4, 6, 8):
        for _ in range(4):
            p = rng.dirichlet(np.full(n**3, alpha)).reshape(n, n, n)
            prob = Problem(p)
            q, gap, it = lean.cell_barrier(
                prob, tol, 200, lambda a, b, qq, prob=prob: prob.dual_bound(a, b, qq, thorough=True)
            )[:3]
            iters.append(it)
            certified += gap <= tol
            assert solve_broja(p)[2] <= DEFAULT_TOL_BITS
    assert np.median(iters) <= 13 and certified >= 11
