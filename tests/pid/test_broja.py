"""BROJA PID: textbook values, optimality certificates, feasibility and edge cases."""

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from synergy_lab.data import gate, random_table
from synergy_lab.pid import decompose, mutual_informations
from synergy_lab.pid.solvers.broja import (
    DEFAULT_TOL_BITS,
    BrojaOptions,
    barrier,
    linalg,
    problem,
    solve_broja,
)
from synergy_lab.pid.solvers.broja.problem import Problem

LOG2_3 = np.log2(3.0)


def atoms(r):
    return (r.redundancy, r.unique1, r.unique2, r.synergy)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("xor", (0, 0, 0, 1)),
        ("and", (1.5 - 0.75 * LOG2_3, 0, 0, 0.5)),
        ("or", (1.5 - 0.75 * LOG2_3, 0, 0, 0.5)),
        ("copy", (0, 1, 1, 0)),
        ("rdn", (1, 0, 0, 0)),
        ("unq", (0, 1, 0, 0)),
        ("sum", (0.5, 0, 0, 1)),
        ("xorand", (0.5, 0, 0, 1)),
        ("rdnxor", (1, 0, 0, 1)),
        ("rdnunqxor", (1, 1, 1, 1)),
    ],
)
def test_textbook_values(name, expected):
    r = decompose(gate(name), measure="broja")
    assert atoms(r) == pytest.approx(expected, abs=1e-6)
    assert r.gap <= 1e-7


def test_and_value_to_six_digits():
    r = decompose(gate("and"))
    assert r.redundancy == pytest.approx(0.311278, abs=1e-6)
    assert r.mi_joint == pytest.approx(0.811278, abs=1e-6)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_k_ary_xor_is_pure_synergy(k):
    assert atoms(decompose(gate("xor_k", k=k))) == pytest.approx((0, 0, 0, np.log2(k)), abs=1e-6)


def test_copy_is_where_imin_and_broja_disagree():
    broja, imin = decompose(gate("copy"), "broja"), decompose(gate("copy"), "imin")
    assert atoms(broja) == pytest.approx((0, 1, 1, 0), abs=1e-6)
    assert atoms(imin) == pytest.approx((1, 0, 0, 1), abs=1e-6)


def _tables():
    rng = np.random.default_rng(123)
    shapes = [(2, 2, 2), (3, 2, 4), (2, 5, 3), (4, 4, 4), (6, 3, 5), (5, 7, 2), (8, 8, 8), (3, 9, 6)]
    for shape in shapes:
        for alpha in (1.0, 0.1):
            yield f"{shape}-a{alpha}", random_table(shape, alpha=alpha, random_state=rng)
    # Zero rows, a zero target slice, zero cells.
    p = random_table((5, 4, 4), random_state=7)
    p[1] = 0
    p[:, :, 2] = 0
    p[p < 0.003] = 0
    yield "holes", p / p.sum()


TABLES = list(_tables())


@pytest.mark.parametrize("label, p", TABLES, ids=[t[0] for t in TABLES])
def test_random_tables_certificate_and_marginals(label, p):
    r = decompose(p, measure="broja")
    q = r.joint
    assert np.all(q >= 0)
    np.testing.assert_allclose(q.sum(axis=1), p.sum(axis=1), atol=1e-13)
    np.testing.assert_allclose(q.sum(axis=0), p.sum(axis=0), atol=1e-13)
    assert 0 <= r.gap <= 1e-7
    # The union information reported is the one of the returned joint (the certificate's primal side).
    union = mutual_informations(q)[2]
    assert r.mi_joint - r.synergy == pytest.approx(union, abs=1e-9)
    # Identities and non-negativity.
    assert r.redundancy + r.unique1 == pytest.approx(r.mi_1, abs=1e-9)
    assert r.redundancy + r.unique2 == pytest.approx(r.mi_2, abs=1e-9)
    assert sum(atoms(r)) == pytest.approx(r.mi_joint, abs=1e-9)
    assert min(atoms(r)) >= 0


def _cycle_moves(q, rng, n_moves):
    """Marginal-preserving moves: +e at (i,j,y),(k,l,y); -e at (i,l,y),(k,j,y)."""
    n1, n2, ny = q.shape
    for _ in range(n_moves):
        y = rng.integers(ny)
        i, k = rng.choice(n1, 2, replace=False)
        j, l = rng.choice(n2, 2, replace=False)
        d = np.zeros_like(q)
        d[i, j, y] = d[k, l, y] = 1.0
        d[i, l, y] = d[k, j, y] = -1.0
        yield d


@pytest.mark.parametrize("label, p", TABLES[::3], ids=[t[0] for t in TABLES[::3]])
def test_perturbing_the_optimum_never_lowers_the_objective(label, p):
    r = decompose(p)
    q = r.joint
    best = mutual_informations(q)[2]
    act = (p.sum(axis=1)[:, None, :] > 0) & (p.sum(axis=0)[None, :, :] > 0)
    rng = np.random.default_rng(0)
    tried = 0
    for d in _cycle_moves(q, rng, 400):
        if np.any(d != 0) and not np.all(act[d != 0]):
            continue
        for eps in (1e-2, 1e-4, 1e-6):
            for sign in (1.0, -1.0):
                cand = q + sign * eps * d
                if cand.min() < 0:
                    continue
                tried += 1
                assert mutual_informations(cand)[2] >= best - 1e-11
    assert tried > 50


def test_matches_independent_optimiser_on_binary_tables():
    """2x2x2: the feasible set has one free parameter per y; a generic optimiser agrees."""
    rng = np.random.default_rng(5)
    for _ in range(10):
        p = random_table((2, 2, 2), random_state=rng)
        a, b = p.sum(axis=1), p.sum(axis=0)

        def table(theta, a=a, b=b):
            q = np.zeros((2, 2, 2))
            for y in range(2):
                lo = max(0.0, a[0, y] - b[1, y])
                hi = min(a[0, y], b[0, y])
                t = lo + (hi - lo) * theta[y]
                q[0, 0, y], q[0, 1, y] = t, a[0, y] - t
                q[1, 0, y], q[1, 1, y] = b[0, y] - t, a[1, y] - b[0, y] + t
            return np.clip(q, 0, None)

        best = min(
            (
                minimize(
                    lambda th: mutual_informations(table(th))[2],
                    x0,
                    bounds=[(0, 1), (0, 1)],
                    method="L-BFGS-B",
                    options={"ftol": 1e-15, "gtol": 1e-12},
                )
                for x0 in itertools.product((0.1, 0.5, 0.9), repeat=2)
            ),
            key=lambda res: res.fun,
        )
        r = decompose(p)
        union = r.mi_joint - r.synergy
        assert union == pytest.approx(best.fun, abs=1e-7)
        # The certificate: no feasible table goes below union - gap.
        assert best.fun >= union - r.gap - 1e-13


def test_swapping_sources_swaps_uniques():
    p = random_table((3, 5, 4), random_state=1)
    r, s = decompose(p), decompose(p.transpose(1, 0, 2))
    assert (r.redundancy, r.unique1, r.unique2, r.synergy) == pytest.approx(
        (s.redundancy, s.unique2, s.unique1, s.synergy), abs=1e-8
    )


def test_independent_extra_component_leaves_the_pid_unchanged():
    """X1 -> (X1, N) with N independent of everything: the minimiser is q* (x) p(n)."""
    p = random_table((3, 3, 3), random_state=2)
    noise = np.array([0.2, 0.5, 0.3])
    p_ext = (p[:, None, :, :] * noise[None, :, None, None]).reshape(9, 3, 3)
    assert atoms(decompose(p_ext)) == pytest.approx(atoms(decompose(p)), abs=1e-8)


def test_degenerate_tables():
    one_y = random_table((3, 4, 1), random_state=0)
    assert atoms(decompose(one_y)) == pytest.approx((0, 0, 0, 0), abs=1e-12)
    one_x1 = random_table((1, 4, 3), random_state=0)
    r = decompose(one_x1)
    assert (r.unique1, r.synergy, r.redundancy) == pytest.approx((0, 0, 0), abs=1e-12)
    assert r.unique2 == pytest.approx(r.mi_2, abs=1e-12)
    point = np.zeros((3, 3, 3))
    point[1, 2, 0] = 1.0
    assert atoms(decompose(point)) == pytest.approx((0, 0, 0, 0), abs=1e-12)


def test_both_newton_eliminations_agree():
    p = random_table((6, 4, 5), alpha=0.5, random_state=3)
    prob = Problem(p)
    q = np.where(prob.active, prob.a[:, None, :] * prob.b[None, :, :] / prob.p_y, 0.0)
    lam = np.where(prob.active, 0.01 / np.where(prob.active, q, 1.0), 0.0)
    rhs = np.where(prob.active, np.random.default_rng(0).normal(size=p.shape), 0.0)
    dq_cells, _, _ = Problem(p, BrojaOptions(system="cells")).newton_solver(q, lam)(rhs)
    dq_mult, _, _ = Problem(p, BrojaOptions(system="multipliers")).newton_solver(q, lam)(rhs)
    np.testing.assert_allclose(dq_cells, dq_mult, atol=1e-10)
    # The step keeps the marginals.
    np.testing.assert_allclose(dq_cells.sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(dq_cells.sum(axis=0), 0, atol=1e-12)


def test_tolerance_and_option_validation():
    with pytest.raises(ValueError, match="tol"):
        decompose(gate("and"), tol=-1)
    q, union, gap, info = solve_broja(gate("and"), tol=1e-7)
    assert gap <= 1e-7 and info["iterations"] >= 1


def test_tables_spanning_fifty_orders_of_magnitude():
    """Regression tables from a 600-table stress run (Dirichlet alpha 0.05; entries down to 1e-53).

    They once broke the solver three ways: marginal drift of 1e-8 let the primal undercut the optimum,
    a multiplier of a nearly empty entry spoilt the certificate, and the gap stalled above 1e-7 bit.
    """
    from pathlib import Path

    fixtures = np.load(Path(__file__).parent / "fixtures" / "hard_broja_tables.npz")
    for name in fixtures.files:
        p = fixtures[name]
        r = decompose(p)
        assert r.gap <= 1e-9, name
        np.testing.assert_allclose(r.joint.sum(axis=1), p.sum(axis=1), atol=1e-15)
        np.testing.assert_allclose(r.joint.sum(axis=0), p.sum(axis=0), atol=1e-15)
        assert mutual_informations(r.joint)[2] == pytest.approx(r.mi_joint - r.synergy, abs=1e-12)


def test_many_sparse_random_tables():
    rng = np.random.default_rng(99)
    for _ in range(60):
        shape = tuple(int(v) for v in rng.integers(2, 9, size=3))
        p = random_table(shape, alpha=float(rng.choice([0.05, 0.3, 1.0])), random_state=rng)
        r = decompose(p)
        assert r.gap <= 1e-9
        assert min(atoms(r)) >= 0


@pytest.mark.parametrize("shape, slab", [((7, 5, 6), 50), ((10, 4, 3), 1 << 19), ((12, 5, 4), 7)])
def test_cell_system_matches_dense_assembly(shape, slab):
    """The slab-wise GEMM assembly of the cell matrix equals its definition (odd slab boundaries too)."""
    n1, n2, ny = shape
    rng = np.random.default_rng(1)
    d = rng.random((ny, n1, n2))
    m = rng.random((ny, n1 + n2, n1 + n2))
    kinv = m @ m.transpose(0, 2, 1)
    c = rng.random((n1, n2)) + 0.5
    t = np.diag(c.reshape(-1))
    for y in range(ny):
        w = np.zeros((n1 + n2, n1 * n2))
        for i, j in itertools.product(range(n1), range(n2)):
            w[i, i * n2 + j] = w[n1 + j, i * n2 + j] = d[y, i, j]
        t += w.T @ kinv[y] @ w
    rhs = rng.random(n1 * n2)
    x = problem.factor_cells(d, kinv, c, slab)(rhs)
    np.testing.assert_allclose(t @ x, rhs, atol=1e-12)


def test_cell_barrier_certifies_random_tables_without_the_fallback():
    """The cell-complementarity interior point alone reaches the default gap on typical tables."""
    for seed in range(3):
        for n in (4, 8):
            p = np.random.default_rng(seed).dirichlet(np.ones(n**3)).reshape(n, n, n)
            q, gap, iters, _, _ = barrier.cell_barrier(Problem(p), DEFAULT_TOL_BITS * np.log(2), 200)
            assert gap <= DEFAULT_TOL_BITS * np.log(2)
            assert iters <= 25
            np.testing.assert_allclose(q.sum(axis=1), p.sum(axis=1), atol=1e-15)
            np.testing.assert_allclose(q.sum(axis=0), p.sum(axis=0), atol=1e-15)


def test_positive_marginal_projection_keeps_entries_positive():
    p = random_table((5, 4, 3), random_state=4)
    prob = Problem(p)
    q = p * np.random.default_rng(0).uniform(0.01, 10.0, size=p.shape)  # marginals far off
    r = prob.restore_marginals(q, rounds=30, positive=True)
    assert np.all(r > 0)
    np.testing.assert_allclose(r.sum(axis=1), p.sum(axis=1), atol=1e-14)
    np.testing.assert_allclose(r.sum(axis=0), p.sum(axis=0), atol=1e-14)


def test_newton_steps_can_carry_a_marginal_residual():
    """With a residual r, both eliminations return the same step, and it satisfies A dq = r (free rows)."""
    p = random_table((6, 4, 5), alpha=0.5, random_state=3)
    prob = Problem(p)
    rng = np.random.default_rng(1)
    q = np.where(prob.active, prob.a[:, None, :] * prob.b[None, :, :] / prob.p_y, 0.0)
    lam = np.where(prob.active, 0.01 / np.where(prob.active, q, 1.0), 0.0)
    rhs = np.where(prob.active, rng.normal(size=p.shape), 0.0)
    res = (
        np.where(prob.row_a, 1e-3 * rng.normal(size=prob.a.shape), 0.0),
        np.where(prob.free_b, 1e-3 * rng.normal(size=prob.b.shape), 0.0),
    )
    steps = []
    for system in ("cells", "multipliers"):
        steps.append(Problem(p, BrojaOptions(system=system)).newton_solver(q, lam)(rhs, res)[0])
    np.testing.assert_allclose(steps[0], steps[1], atol=1e-10)
    dq = steps[0]
    np.testing.assert_allclose(np.where(prob.row_a, dq.sum(axis=1), 0.0), res[0], atol=1e-13)
    np.testing.assert_allclose(np.where(prob.free_b, dq.sum(axis=0), 0.0), res[1], atol=1e-13)


def test_deferred_certification_on_the_general_path():
    """Iterates projected and certified only near the target gap: same certificate, marginals exact."""
    tol = DEFAULT_TOL_BITS * np.log(2)
    for shape, alpha in (((12, 12, 12), 1.0), ((14, 6, 9), 0.3)):
        p = random_table(shape, alpha=alpha, random_state=2)
        q, gap, iters, _, _ = barrier.cell_barrier(Problem(p), tol, 200, BrojaOptions().certify_from)
        assert gap <= tol and iters <= 30
        np.testing.assert_allclose(q.sum(axis=1), p.sum(axis=1), atol=1e-15)
        np.testing.assert_allclose(q.sum(axis=0), p.sum(axis=0), atol=1e-15)
        q_ref, gap_ref = barrier.cell_barrier(Problem(p), tol, 200)[:2]
        prob = Problem(p)
        assert abs(prob.objective(q) - prob.objective(q_ref)) <= gap + gap_ref + 1e-12


def test_waterfill_level_solves_the_cell_equation():
    """The closed-form water level makes sum_y min(w_y, m_y / kappa) exactly 1 for violated cells."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        ny = int(rng.integers(1, 9))
        ok = rng.random((5, ny)) < 0.8
        ok[:, 0] = True
        lw = np.where(ok, rng.normal(0, 2, (5, ny)), -np.inf)
        lm = np.log(rng.dirichlet(np.ones(ny), 5)) + rng.normal(0, 1, (5, 1))
        # Scale each cell's terms to sum above 1 (a violated cell).
        total = np.log(np.sum(np.where(ok, np.exp(lw), 0.0), axis=1))
        lw = lw - total[:, None] + np.abs(rng.normal(0, 1, (5, 1))) + 1e-3
        level = linalg.waterfill_level(lw, lm, ok)
        f = np.sum(np.where(ok, np.exp(np.minimum(lw, lm - level[:, None])), 0.0), axis=1)
        np.testing.assert_allclose(f, 1.0, atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "path, methods",
    [
        ("auto", {"lean", "newton"}),
        ("lean", {"lean", "newton"}),
        ("general", {"general"}),
        ("entry", {"entry"}),
    ],
)
def test_path_option_picks_the_method_and_info_reports_it(path, methods):
    p = random_table((5, 4, 3), random_state=7)
    q, union, gap, info = solve_broja(p, path=path, trace=True)
    ref = solve_broja(p)
    assert gap <= DEFAULT_TOL_BITS and abs(union - ref[1]) <= gap + ref[2]
    assert info["method"] in methods and info["iterations"] >= 1 and not info["split"]
    assert info["trace"] and {event[0] for event in info["trace"]} <= {
        "lean",
        "newton",
        "nstep",
        "general",
        "entry",
    }
    assert "trace" not in ref[3]


def test_decompose_passes_solver_options_through():
    p = random_table((6, 6, 6), random_state=1)
    plain = decompose(p)
    tuned = decompose(p, path="general", options=BrojaOptions(system="multipliers", cell_shrink=0.2))
    assert tuned.info["method"] == "general"
    assert tuned.synergy == pytest.approx(plain.synergy, abs=plain.gap + tuned.gap + 1e-12)
