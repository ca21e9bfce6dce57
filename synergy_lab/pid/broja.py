"""BROJA PID (Bertschinger, Rauh, Olbrich, Jost, Ay 2014), solved exactly with a certified optimality gap.

The union information is ``min_q I_q(X1,X2;Y)`` over the tables ``q`` that keep p's (X1,Y) and (X2,Y)
marginals. Since H(Y) is fixed, this is the convex programme

    minimise   F(q) = sum q(x1,x2,y) ln( q(x1,x2,y) / q(x1,x2) )        (= -H_q(Y|X1,X2), nats)
    subject to sum_x2 q = p(x1,y),  sum_x1 q = p(x2,y),  q >= 0,

solved here by a primal-dual interior-point method written for its structure:

* Only whole cells (x1,x2) are ever at the bound: inside a cell of positive mass F's gradient log(q/q(x1,x2))
  keeps every entry positive. The main method (_cell_barrier) therefore pairs each cell's mass with its dual
  slack s = -logsumexp_y(alpha + beta), q(x1,x2) (exp(s) - 1) = mu, and needs about 16 iterations on random
  tables; the per-entry complementarity method (_entry_barrier, about 25 iterations: a vanishing cell's
  entries are a degenerate block) is the fallback when the first cannot certify ``tol``.

* The Hessian of F is block diagonal, one ``ny x ny`` block ``diag(1/q) - 11'/q(x1,x2)`` per cell, inverted
  in closed form (Sherman-Morrison), so the Newton system reduces to the normal equations in the
  marginal multipliers (alpha(x1,y), beta(x2,y)). Their alpha-block is itself block diagonal and is
  eliminated first; only a dense system of size ``n2*ny`` is factorised (the smaller source second).
* The Lagrange dual is ``max sum alpha p(x1,y) + sum beta p(x2,y)`` subject to
  ``logsumexp_y(alpha(x1,y) + beta(x2,y)) <= 0`` for every cell. Any multipliers become dual feasible
  by shifting alpha(x1,.) by the largest violation of its row, so every iterate yields a certified lower
  bound; the solver stops when primal value minus that bound (the reported ``gap``) is below ``tol``.

* Iterates are projected onto the marginals and certified only near convergence (complementarity below
  _broja_small.CERTIFY_FROM tol), the Newton steps carrying the marginal residual before; if that cannot
  certify ``tol``, the method is rerun projecting and certifying every iterate.
* Small and medium problems (up to about 20x20x20; _small_enough compares the flops) run the same
  cell-level method on flat arrays of the active entries with the normal equations in the multipliers
  (_broja_small, _broja_normal), where the general code would spend its time in numpy call overhead,
  and finish with a few pure Newton steps on the live cells once the vanishing ones are identified
  (_broja_small._newton_phase; the barrier goes on if they cannot certify); if neither of its runs
  certifies ``tol``, the general methods (_broja_barrier) take over.

Cells that must be zero (p(x1,y) = 0 or p(x2,y) = 0) are removed before solving, so zero-probability
cells and degenerate marginals need no special care.

Modules: this one (entry point, path choice, the measure), _broja_problem (the programme, its dual bounds,
marginal projection and Newton systems), _broja_barrier (the general cell and entry barriers), _broja_small
and _broja_normal (the lean path), _broja_linalg (batched closed forms).
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.special import entr as _entr

from . import _broja_normal, _broja_small
from ._base import DiscreteMeasure, register
from ._broja_barrier import STALL_TOL_BITS, BrojaConvergenceError, _cell_barrier, _entry_barrier
from ._broja_problem import _Problem, system_flops
from ._tables import LN2

__all__ = ["DEFAULT_TOL_BITS", "STALL_TOL_BITS", "Broja", "BrojaConvergenceError", "solve_broja"]

#: Default certified-gap tolerance in bits. Tighter than the 1e-7 bit the API promises, so that atoms
#: that are exactly zero (e.g. R on COPY) come out within the 1e-9 bit round-off clamp.
DEFAULT_TOL_BITS = 1e-10
#: _small_enough: the lean path is taken while its factorisation flops are at most this factor times the
#: general path's plus this overhead (the general path's per-iteration numpy calls, about 1 ms).
LEAN_FLOP_FACTOR = 1.6
GENERAL_OVERHEAD_FLOPS = 1e7


def solve_broja(p, tol=DEFAULT_TOL_BITS, max_iter=200):
    """Minimise I_q(X1,X2;Y) over the tables q that keep p's (X1,Y) and (X2,Y) marginals.

    Parameters
    ----------
    p : numpy.ndarray, shape (n1, n2, ny)
        A validated joint table.
    tol : float
        Stop once the certified optimality gap is at most ``tol`` bits.
    max_iter : int
        Interior-point iterations before giving up.

    Returns
    -------
    q : numpy.ndarray, shape (n1, n2, ny)
        The minimiser, in the original alphabet (rows and columns of p that are zero stay zero).
    union_bits : float
        ``I_q(X1,X2;Y)`` at ``q`` (an upper bound on the minimum, within ``gap`` of it).
    gap_bits : float
        Certified optimality gap: the minimum lies in ``[union_bits - gap_bits, union_bits]``.
    info : dict
        Iterations, wall time.
    """
    t0 = time.perf_counter()
    full = bool(p.all())  # no zero entry: no empty row either (the usual case, one reduction)
    if not full:
        p_1y = p.sum(axis=1)
        keep1 = p_1y.sum(axis=1) > 0
        keep2 = p.sum(axis=(0, 2)) > 0
        keepy = p_1y.sum(axis=0) > 0
        full = bool(keep1.all() and keep2.all() and keepy.all())
    reduced = p if full else p[np.ix_(keep1, keep2, keepy)]
    swapped = reduced.shape[1] > reduced.shape[0]
    if swapped:  # the dense factorisation is over the second source: make it the smaller one
        reduced = reduced.transpose(1, 0, 2)

    q_red, gap_nats, iters = _interior_point(reduced, tol * LN2, max_iter)
    if swapped:
        q_red = q_red.transpose(1, 0, 2)
    if full:
        q = np.array(q_red, dtype=p.dtype)
    else:
        q = np.zeros_like(p)
        q[np.ix_(keep1, keep2, keepy)] = q_red

    # I_q(X1,X2;Y) = H(Y) - H_q(X1,X2,Y) + H_q(X1,X2) (entr(x) = -x ln x, 0 at 0)
    p_y = p.sum(axis=(0, 1))
    union_bits = float(_entr(p_y).sum() - _entr(q).sum() + _entr(q.sum(axis=2)).sum()) / LN2
    info = {"iterations": iters, "seconds": time.perf_counter() - t0, "n_active": int(np.count_nonzero(q))}
    return q, union_bits, gap_nats / LN2, info


def _interior_point(p, tol_nats, max_iter):
    """Cell-barrier method first; the entry-barrier method if it cannot certify ``tol``."""
    prob = _Problem(p)
    n1, n2, ny = p.shape
    if ny == 1 or n1 == 1 or n2 == 1 or _is_vertex(prob):
        # Every q with these marginals has the same I_q (ny == 1), or the feasible set is the point p.
        return p.copy(), 0.0, 0
    iters = 0
    if _small_enough(prob):

        def thorough(alpha, beta, q):
            return prob.dual_bound(alpha, beta, q, thorough=True)

        for certify_from in (_broja_small.CERTIFY_FROM, np.inf):
            q, gap, iters1 = _broja_small.cell_barrier(prob, tol_nats, max_iter, thorough, certify_from)
            iters += iters1
            if gap <= tol_nats:
                return q, max(gap, 0.0), iters
    # Deferred certification first (unless the lean path already tried it), then every iterate certified.
    for certify_from in (np.inf,) if iters else (_broja_small.CERTIFY_FROM, np.inf):
        q, gap, iters1 = _cell_barrier(prob, tol_nats, max_iter, certify_from)
        iters += iters1
        if gap <= tol_nats:
            return q, max(gap, 0.0), iters
    try:
        q2, gap2, iters2 = _entry_barrier(prob, tol_nats, max_iter)
    except BrojaConvergenceError:
        q2, gap2, iters2 = q, np.inf, max_iter
    iters += iters2
    if gap2 < gap:
        q, gap = q2, gap2
    if gap <= max(tol_nats, STALL_TOL_BITS * LN2):  # the fallback met tol, or stalled close enough
        return q, max(gap, 0.0), iters
    raise BrojaConvergenceError(
        f"BROJA interior point stopped at a certified gap of {gap / LN2:.3e} bits after {iters} iterations "
        f"(table shape {p.shape}); requested {tol_nats / LN2:.1e}"
    )


def _small_enough(prob):
    """Whether the lean path (_broja_small) is expected to be faster than the general one.

    Its factorisations (dense, or alpha blocks then a beta Schur complement: _broja_normal) cost more flops
    than the general cell system on large or long-y tables, but it needs fewer numpy calls, and its
    Newton phase fewer iterations: it is taken while its flops are within LEAN_FLOP_FACTOR of the
    general path's plus GENERAL_OVERHEAD_FLOPS (measured: the lean path is faster up to 20x20x20 and as
    fast at 24x24x24; the general one at 32x32x32 and on 4x4x64).
    """
    m = int(np.count_nonzero(prob.row_a)) + int(np.count_nonzero(prob.free_b))
    ncell = int(np.count_nonzero(prob.active.any(axis=2)))
    n1, n2, ny = prob.n1, prob.n2, prob.ny
    lean = min(_broja_normal.dense_flops(m, ncell), _broja_normal.block_flops(n1, n2, ny))
    return lean <= LEAN_FLOP_FACTOR * min(system_flops(n1, n2, ny)) + GENERAL_OVERHEAD_FLOPS


def _is_vertex(prob):
    """True when every row of one marginal has a single active cell: then q = p is the only feasible table.

    Every row (x1,y) with p(x1,y) > 0 has at least one active entry (any x2 with p(x1,x2,y) > 0) and the
    others none, so that is the case exactly when the active entries are as many as those rows.
    """
    n = prob.n_active
    return n == int(np.count_nonzero(prob.row_a)) or n == int(np.count_nonzero(prob.row_b))


@register
class Broja(DiscreteMeasure):
    """BROJA PID (Bertschinger et al. 2014) via a certified interior-point solve.

    Options
    -------
    tol : float, default 1e-10
        Certified optimality gap in bits at which to stop (the result's ``gap``).
    max_iter : int, default 200

    Examples
    --------
    >>> from synergy_lab.data import gate
    >>> from synergy_lab.pid import decompose
    >>> r = decompose(gate("copy"))
    >>> round(r.unique1, 9), round(r.unique2, 9), round(r.synergy, 9), r.gap <= 1e-7
    (1.0, 1.0, 0.0, True)
    """

    name = "broja"
    nonnegative = True

    def _redundancy(self, p, mi_1, mi_2, mi_joint, tol=DEFAULT_TOL_BITS, max_iter=200):
        if not (math.isfinite(tol) and tol > 0):
            raise ValueError(f"tol must be a positive number of bits, got {tol!r}")
        q, union, gap, info = solve_broja(p, tol=tol, max_iter=max_iter)
        union = _within_known_bounds(union, gap, max(mi_1, mi_2), mi_joint)
        return mi_1 + mi_2 - union, {"gap": gap, "joint": q, "info": info}


def _within_known_bounds(union, gap, lower, upper, slack=1e-12):
    """Project the union information onto [lower, upper] where the certificate allows it.

    The minimum lies in [union - gap, union] and, in theory, in [max I(Xi;Y), I(X1,X2;Y)]. A value outside
    the second interval by more than the certificate (plus float slack) means a bug, so it is left for the
    atom check to reject rather than hidden.
    """
    if upper < union <= upper + gap + slack:
        return upper
    if lower - slack <= union < lower:
        return lower
    return union
