"""The lean dense path for small BROJA problems (_broja_small) against the general solver."""

import numpy as np
import pytest

from synergy_lab.pid import _broja_small, broja
from synergy_lab.pid.broja import LN2, _Problem


def _thorough(prob):
    return lambda alpha, beta, q: prob.dual_bound(alpha, beta, q, thorough=True)


@pytest.mark.parametrize("shape", [(2, 2, 2), (3, 4, 2), (4, 4, 4), (6, 5, 3), (8, 8, 8)])
@pytest.mark.parametrize("seed", [0, 1])
def test_lean_path_certifies_and_matches_the_general_solver(shape, seed):
    p = np.random.default_rng(seed).dirichlet(np.ones(int(np.prod(shape)))).reshape(shape)
    if p.shape[1] > p.shape[0]:
        p = p.transpose(1, 0, 2)
    tol = broja.DEFAULT_TOL_BITS * LN2
    prob = _Problem(p)
    assert broja._small_enough(prob)
    q, gap, iters = _broja_small.cell_barrier(prob, tol, 200, _thorough(prob))
    if gap > tol:  # the deferred projection stalled: the retry projects every iterate
        q, gap, iters = _broja_small.cell_barrier(prob, tol, 200, _thorough(prob), certify_from=np.inf)
    assert 0 < iters < 200 and gap <= tol
    assert np.all(q >= 0) and np.all(q[~prob.active] == 0)
    assert prob.marginal_error(q) <= 4 * prob.residual_floor
    q_ref, gap_ref, _ = broja._cell_barrier(_Problem(p), tol, 200)
    f, f_ref = prob.objective(q), prob.objective(q_ref)
    assert abs(f - f_ref) <= gap + max(gap_ref, 0.0) + 1e-12


def test_lean_path_on_sparse_tables_with_pinned_rows():
    rng = np.random.default_rng(5)
    for _ in range(20):
        shape = tuple(int(v) for v in rng.integers(2, 8, size=3))
        p = rng.dirichlet(np.full(int(np.prod(shape)), 0.1)).reshape(shape)
        p[p < np.quantile(p, 0.3)] = 0
        p /= p.sum()
        q, union, gap, info = broja.solve_broja(p)
        assert gap <= 1e-9
        assert np.allclose(q.sum(axis=1), p.sum(axis=1), atol=1e-14)
        assert np.allclose(q.sum(axis=0), p.sum(axis=0), atol=1e-14)
