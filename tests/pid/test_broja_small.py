"""The lean dense path for small BROJA problems (solvers/broja/lean.py) against the general solver."""

import numpy as np
import pytest

from synergy_lab.data import random_table
from synergy_lab.pid._tables import LN2
from synergy_lab.pid.solvers.broja import (
    DEFAULT_TOL_BITS,
    BrojaOptions,
    barrier,
    lean,
    solve,
    solve_broja,
)
from synergy_lab.pid.solvers.broja.flat import Flat
from synergy_lab.pid.solvers.broja.problem import Attempt, Problem


def _thorough(prob):
    return lambda alpha, beta, q: prob.dual_bound(alpha, beta, q, thorough=True)


@pytest.mark.parametrize("shape", [(2, 2, 2), (3, 4, 2), (4, 4, 4), (6, 5, 3), (8, 8, 8), (16, 16, 16)])
@pytest.mark.parametrize("seed", [0, 1])
def test_lean_path_certifies_and_matches_the_general_solver(shape, seed):
    p = np.random.default_rng(seed).dirichlet(np.ones(int(np.prod(shape)))).reshape(shape)
    if p.shape[1] > p.shape[0]:
        p = p.transpose(1, 0, 2)
    tol = DEFAULT_TOL_BITS * LN2
    prob = Problem(p)
    assert solve.choose_path(prob) == "lean"
    q, gap, iters = lean.cell_barrier(prob, tol, 200, _thorough(prob))[:3]
    if gap > tol:  # the deferred projection stalled: the retry projects every iterate
        q, gap, iters = lean.cell_barrier(prob, tol, 200, _thorough(prob), certify_from=np.inf)[:3]
    assert 0 < iters < 200 and gap <= tol
    assert np.all(q >= 0) and np.all(q[~prob.active] == 0)
    assert prob.marginal_error(q) <= 4 * prob.residual_floor
    q_ref, gap_ref = barrier.cell_barrier(Problem(p), tol, 200)[:2]
    f, f_ref = prob.objective(q), prob.objective(q_ref)
    assert abs(f - f_ref) <= gap + max(gap_ref, 0.0) + 1e-12


def test_lean_path_on_sparse_tables_with_pinned_rows():
    rng = np.random.default_rng(5)
    for _ in range(20):
        shape = tuple(int(v) for v in rng.integers(2, 8, size=3))
        p = rng.dirichlet(np.full(int(np.prod(shape)), 0.1)).reshape(shape)
        p[p < np.quantile(p, 0.3)] = 0
        p /= p.sum()
        q, union, gap, info = solve_broja(p)
        assert gap <= 1e-9
        assert np.allclose(q.sum(axis=1), p.sum(axis=1), atol=1e-14)
        assert np.allclose(q.sum(axis=0), p.sum(axis=0), atol=1e-14)


@pytest.mark.parametrize("system", ["dense", "block"])
def test_lean_path_certifies_sparse_tables_with_either_factorisation(system):
    """Absent rows, pinned betas and vanishing cells through each normal-equations factorisation."""
    options = BrojaOptions(normal=system)
    rng = np.random.default_rng(8)
    tol = DEFAULT_TOL_BITS * LN2
    solved = 0
    for _ in range(12):
        shape = tuple(sorted((int(v) for v in rng.integers(2, 11, size=2)), reverse=True)) + (
            int(rng.integers(2, 11)),
        )
        p = rng.dirichlet(np.full(int(np.prod(shape)), 0.2)).reshape(shape)
        p[p < np.quantile(p, 0.3)] = 0
        prob = Problem(p / p.sum(), options)
        if solve.is_vertex(prob) or min(np.min(p.sum(axis=k)) for k in [(1, 2), (0, 2), (0, 1)]) == 0:
            continue  # cell_barrier sees reduced tables (solve_broja drops empty slices)
        solved += 1
        assert type(Flat(prob).normal).__name__ == {"dense": "DenseNormal", "block": "BlockNormal"}[system]
        q, gap = lean.cell_barrier(prob, tol, 200, _thorough(prob))[:2]
        if gap > tol:
            q, gap = lean.cell_barrier(prob, tol, 200, _thorough(prob), certify_from=np.inf)[:2]
        assert gap <= tol
        assert prob.marginal_error(q) <= 4 * prob.residual_floor
        q_ref, gap_ref = barrier.cell_barrier(Problem(prob.p), tol, 200)[:2]
        assert abs(prob.objective(q) - prob.objective(q_ref)) <= gap + max(gap_ref, 0.0) + 1e-12
    assert solved >= 10


def _solve_lean(p, newton=True):
    tol = DEFAULT_TOL_BITS * LN2
    trace = []
    prob = Problem(p, BrojaOptions(newton_phase=newton), trace)
    q, gap, iters = lean.cell_barrier(prob, tol, 200, _thorough(prob))[:3]
    events = [r for r in trace if r[0] == "newton"]
    return prob, q, gap, iters, events


@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_newton_phase_certifies_and_matches_the_barrier(alpha):
    """The Newton phase on the live cells certifies and agrees with the barrier alone to 1e-9 bit."""
    rng = np.random.default_rng(11)
    tol = DEFAULT_TOL_BITS * LN2
    used = 0
    for _ in range(12):
        shape = tuple(int(v) for v in rng.integers(3, 9, size=3))
        p = rng.dirichlet(np.full(int(np.prod(shape)), alpha)).reshape(shape)
        if p.shape[1] > p.shape[0]:
            p = p.transpose(1, 0, 2)
        prob, q, gap, iters, events = _solve_lean(p, newton=True)
        _, q_ref, gap_ref, iters_ref, _ = _solve_lean(p, newton=False)
        assert gap <= tol and gap_ref <= tol
        assert np.all(q >= 0) and np.all(q[~prob.active] == 0)
        assert prob.marginal_error(q) <= 4 * prob.residual_floor
        f, f_ref = prob.objective(q), prob.objective(q_ref)
        assert abs(f - f_ref) / LN2 <= 1e-9
        assert abs(f - f_ref) <= gap + gap_ref + 1e-12
        if events and events[0][2] <= tol:
            used += 1
            assert iters <= iters_ref + 1
    assert used >= 8  # the phase is the normal way out on random tables


def test_newton_phase_falls_back_to_the_barrier_on_a_wrong_active_set(monkeypatch):
    """A live cell wrongly dropped: the Newton phase fails and the barrier still certifies the same value."""
    p = np.random.default_rng(3).dirichlet(np.ones(6 * 5 * 4)).reshape(6, 5, 4)
    _, q_ref, gap_ref, _, _ = _solve_lean(p, newton=False)
    right = lean._live_cells

    def wrong(cells, phi, pred, opts):
        live = right(cells, phi, pred, opts)
        if live is not None:
            live = live.copy()
            live[int(np.argmax(np.where(live, cells, -1.0)))] = False  # drop the heaviest live cell
        return live

    monkeypatch.setattr(lean, "_live_cells", wrong)  # fault injection: a wrong active set
    prob, q, gap, iters, events = _solve_lean(p, newton=True)
    assert len(events) == 1 and events[0][2] == np.inf  # tried, failed
    assert gap <= DEFAULT_TOL_BITS * LN2
    assert abs(prob.objective(q) - prob.objective(q_ref)) <= gap + gap_ref + 1e-12
    assert np.all(q > 0) == np.all(q_ref > 0)


def test_newton_phase_refuses_an_active_set_that_empties_a_marginal_row():
    p = np.random.default_rng(4).dirichlet(np.ones(4 * 4 * 3)).reshape(4, 4, 3)
    prob = Problem(p)
    fl = Flat(prob)
    live = np.ones(fl.ncell, bool)
    live[:4] = False  # every cell of x1 = 0: its (x1, y) rows lose all their entries
    q = prob.a[fl.i1, fl.iy] * prob.b[fl.i2, fl.iy] / prob.p_y[fl.iy]
    out = lean._newton_phase(fl, q, np.full(fl.ncell, 1e-3), np.zeros(fl.m + 1), live, 1e-10)
    assert out.q is None and out.gap == np.inf and out.iterations == 0


def test_solutions_with_vanishing_cells_are_exact_zeros():
    """After the Newton phase the vanishing cells are exactly empty, and the public result stays valid."""
    p = random_table((8, 8, 8), random_state=0)  # the benchmark's first 8^3 table
    q, union, gap, info = solve_broja(p)
    assert gap <= 1e-10
    empty = q.sum(axis=2) == 0
    assert empty.any() and info["n_active"] == int((q > 0).sum())
    assert np.allclose(q.sum(axis=1), p.sum(axis=1), atol=1e-15)
    assert np.allclose(q.sum(axis=0), p.sum(axis=0), atol=1e-15)


def test_a_loose_tol_met_only_by_the_entry_barrier_is_accepted(monkeypatch):
    """Regression: a gap between STALL_TOL_BITS and a looser requested tol, reached by the last fallback,
    used to raise BrojaConvergenceError."""
    p = np.random.default_rng(2).dirichlet(np.ones(4 * 3 * 3)).reshape(4, 3, 3)
    tol_bits = 1e-6
    gap_nats = 3e-7 * LN2  # above STALL_TOL_BITS, below tol

    def no_certificate(prob, *args, **kwargs):
        return Attempt(np.where(prob.active, prob.p, 0.0), np.inf, 5, None, "lean")

    # fault injection: every method but the last fails
    monkeypatch.setattr(lean, "cell_barrier", lambda prob, *a, **k: no_certificate(prob))
    monkeypatch.setattr(solve, "cell_barrier", lambda prob, *a, **k: no_certificate(prob))
    monkeypatch.setattr(
        solve, "entry_barrier", lambda prob, *a, **k: Attempt(prob.p.copy(), gap_nats, 7, None, "entry")
    )
    q, union, gap, info = solve_broja(p, tol=tol_bits)
    assert gap == pytest.approx(3e-7) and info["iterations"] == 2 * 5 + 5 + 7  # two lean runs, one general
