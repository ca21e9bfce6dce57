"""The pairwise maximum-entropy table: the joint with p's p(x1,x2), p(x1,y), p(x2,y) of largest entropy.

Needed by the CCS measure (Ince 2017). Found on its maximal feasible support (an LP), by iterative
proportional fitting, finished by Newton's method on the convex dual where IPF crawls.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, csr_matrix, hstack, identity

from .._base import integer_at_least, positive_number

#: The maximum-entropy fit stops once every pairwise marginal is within this of p's (absolute).
MAXENT_TOL = 1e-13
#: IPF sweeps tried before switching to Newton's method (IPF crawls when some marginals are tiny).
IPF_SWEEPS = 200
NEWTON_MAX_ITER = 100


def pairwise_marginals(q: np.ndarray):
    return q.sum(axis=2), q.sum(axis=1), q.sum(axis=0)


def _marginal_design(p: np.ndarray, cells: np.ndarray):
    """0/1 matrix sending the listed cells to the pairwise-marginal entries they feed, and p's targets.

    Rows are the entries of p(x1,x2), p(x1,y), p(x2,y) (flattened and concatenated) that some listed
    cell touches; ``used`` gives their positions in that concatenation.
    """
    n1, n2, ny = p.shape
    i1, i2, iy = np.unravel_index(cells, p.shape)
    raw = np.concatenate([i1 * n2 + i2, n1 * n2 + i1 * ny + iy, n1 * n2 + n1 * ny + i2 * ny + iy])
    used, rows = np.unique(raw, return_inverse=True)
    cols = np.tile(np.arange(cells.size), 3)
    design = csr_matrix((np.ones(raw.size), (rows, cols)), shape=(used.size, cells.size))
    targets = np.concatenate([m.ravel() for m in pairwise_marginals(p)])[used]
    return design, targets, used


def _maximal_support(p: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Cells that some table with p's three pairwise marginals can make positive.

    The maximum-entropy table has exactly this support. A cell ``c`` outside supp(p) qualifies iff some
    direction ``d`` keeps every pairwise marginal (``M d = 0``), has ``d_c > 0`` and is ``>= 0`` off
    supp(p) (then ``p + eps d`` is feasible). That depends only on which cells are positive, not on
    their sizes, so the LP below has 0/1 coefficients and is immune to tiny probabilities. Directions
    form a cone closed under addition, so maximising ``sum s_c`` with ``0 <= s_c <= min(d_c, 1)`` drives
    every qualifying cell to ``s_c = 1`` and leaves the rest at 0; thresholding at 1/2 is safe.
    """
    cells = np.flatnonzero(allowed)
    design, _, _ = _marginal_design(p, cells)
    on_p = p.flat[cells] > 0
    off = np.flatnonzero(~on_p)
    n, m = cells.size, off.size
    pick = coo_matrix((np.ones(m), (np.arange(m), off)), shape=(m, n))
    # Variables [d (n), s (m)]: M d = 0 and s - d <= 0. d is unbounded: the s_c <= 1 caps bound the
    # objective, and a cap on d could cut off directions that need large entries.
    res = linprog(
        np.concatenate([np.zeros(n), -np.ones(m)]),
        A_ub=hstack([-pick, identity(m)]).tocsr(),
        b_ub=np.zeros(m),
        A_eq=hstack([design, coo_matrix((design.shape[0], m))]).tocsr(),
        b_eq=np.zeros(design.shape[0]),
        bounds=[(None, None) if f else (0, None) for f in on_p] + [(0, 1)] * m,
        method="highs",
    )
    if res.status != 0:
        raise RuntimeError(f"ccs: support LP for the maximum-entropy table failed: {res.message}")
    support = p > 0
    support.flat[cells[off[res.x[n:] > 0.5]]] = True
    return support


def _newton(design, targets, theta, tol, max_iter):
    """Damped Newton on the convex dual ``sum_c exp((M^T theta)_c) - theta . targets``; returns theta."""
    design_t = design.T.tocsr()

    def dual(th):
        with np.errstate(over="ignore"):
            return np.exp(design_t @ th).sum() - th @ targets

    error = np.inf
    for iteration in range(max_iter + 1):
        q = np.exp(design_t @ theta)
        grad = design @ q - targets
        error = float(np.abs(grad).max())
        if error < tol:
            return theta, iteration
        if iteration == max_iter:
            break
        hess = (design.multiply(q) @ design_t).toarray()
        # Jacobi scaling: marginals of 1e-40 next to 0.5 would otherwise make the system singular in float64.
        scale = np.sqrt(np.diag(hess))
        scale[scale == 0] = 1.0
        # The tiny ridge handles the exact null space (theta is defined up to shifts between blocks).
        scaled = hess / np.outer(scale, scale) + 1e-13 * np.eye(theta.size)
        step = -scipy.linalg.solve(scaled, grad / scale, assume_a="pos") / scale
        decrement = -grad @ step
        f0, t = dual(theta), 1.0
        # Armijo backtracking, with slack for the round-off in evaluating the dual near its minimum.
        while t > 1e-12 and not dual(theta + t * step) <= f0 - 0.25 * t * decrement + 1e-14 * (1 + abs(f0)):
            t *= 0.5
        theta = theta + t * step
    raise RuntimeError(
        f"ccs: the pairwise maximum-entropy fit did not converge: marginal error {error:.2e} > {tol:.0e} "
        f"after {IPF_SWEEPS} IPF sweeps and {max_iter} Newton steps"
    )


def maxent_pairwise(p: np.ndarray, tol: float = MAXENT_TOL, max_iter: int = NEWTON_MAX_ITER):
    """Maximum-entropy table with the pairwise marginals p(x1,x2), p(x1,y), p(x2,y) of ``p``.

    Finds the maximal feasible support first (so cells the marginals force to zero start at zero
    rather than decaying slowly), runs iterative proportional fitting from the uniform table on it,
    and finishes with Newton's method on the dual when IPF has not converged after ``IPF_SWEEPS``.

    Returns
    -------
    q : numpy.ndarray, same shape as ``p``
    info : dict
        ``ipf_sweeps`` and ``newton_iterations`` used.

    Raises
    ------
    TypeError, ValueError
        ``tol`` is not a positive finite number or ``max_iter`` not an integer >= 0.
    RuntimeError
        If the marginals are still off by ``tol`` or more after ``max_iter`` Newton steps.
    """
    tol = positive_number("tol", tol)
    max_iter = integer_at_least("max_iter", max_iter, 0)
    targets = pairwise_marginals(p)
    allowed = (targets[0][:, :, None] > 0) & (targets[1][:, None, :] > 0) & (targets[2][None, :, :] > 0)
    # p itself is feasible, so when it fills every allowed cell the maximal support is the allowed set.
    support = allowed if np.all(p[allowed] > 0) else _maximal_support(p, allowed)
    q = support / support.sum()
    # IPF multiplies q by one factor per marginal entry; their logs are the dual parameters for Newton.
    log_factors = [
        np.full(t.shape, -np.log(support.sum())) if k == 0 else np.zeros(t.shape)
        for k, t in enumerate(targets)
    ]
    for sweep in range(1, IPF_SWEEPS + 1):
        for target, axis, log_factor in zip(targets, (2, 1, 0), log_factors, strict=True):
            current = q.sum(axis=axis)
            ratio = np.divide(target, current, out=np.ones_like(target), where=(current > 0) & (target > 0))
            q = q * np.expand_dims(ratio, axis)
            log_factor += np.log(ratio)
        error = max(float(np.abs(m - t).max()) for m, t in zip(pairwise_marginals(q), targets, strict=True))
        if error < tol:
            return q, {"ipf_sweeps": sweep, "newton_iterations": 0}
    cells = np.flatnonzero(support)
    design, target_vec, used = _marginal_design(p, cells)
    theta = np.concatenate([f.ravel() for f in log_factors])[used]
    theta, n_newton = _newton(design, target_vec, theta, tol, max_iter)
    q = np.zeros(p.shape)
    q.flat[cells] = np.exp(design.T @ theta)
    return q, {"ipf_sweeps": IPF_SWEEPS, "newton_iterations": n_newton}
