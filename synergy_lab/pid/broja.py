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
  certifies ``tol``, the general methods below take over.

Cells that must be zero (p(x1,y) = 0 or p(x2,y) = 0) are removed before solving, so zero-probability
cells and degenerate marginals need no special care.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.linalg as sla
from scipy.linalg import blas as _blas
from scipy.linalg import lapack as _lapack
from scipy.special import entr as _entr

from . import _broja_normal, _broja_small
from ._base import DiscreteMeasure, register
from ._broja_linalg import scaled_inverse, scaled_schur, waterfill_level
from ._tables import LN2

#: Default certified-gap tolerance in bits. Tighter than the 1e-7 bit the API promises, so that atoms
#: that are exactly zero (e.g. R on COPY) come out within the 1e-9 bit round-off clamp.
DEFAULT_TOL_BITS = 1e-10
#: Gap we settle for if the iterates stall in floating point before reaching ``tol`` (bits).
STALL_TOL_BITS = 1e-7

_STEP_TO_BOUNDARY = 0.995
_EPS = float(np.finfo(float).eps)
#: _cell_barrier: a Newton step may shrink an entry to this fraction of its value at most (clipped there).
_CELL_SHRINK = 0.1
#: _cell_barrier: dual slack s of the start's heaviest cell (the others get more).
_CELL_START_MARGIN = 0.1
#: Elements of the cell-system slab built per batched GEMM in _factor_cells (about 4 MB).
_SLAB_ELEMENTS = 1 << 19
#: Alternating best responses used to read dual multipliers off the primal iterate (dual_bound).
SINKHORN_ROUNDS = 30
SEPARATE_STEPS = True  # separate primal and dual step lengths: ~15% fewer iterations measured
SECOND_ORDER = False  # Mehrotra second-order term: measured to stall on random 4^3-16^3 tables
TRACE = None  # set to a list to record (iteration, gap, mu, sigma, affine step) while debugging
#: _small_enough: the lean path is taken while its factorisation flops are at most this factor times the
#: general path's plus this overhead (the general path's per-iteration numpy calls, about 1 ms).
LEAN_FLOP_FACTOR = 1.6
GENERAL_OVERHEAD_FLOPS = 1e7


class BrojaConvergenceError(ArithmeticError):
    """The interior-point method could not certify the requested optimality gap."""


def _logsumexp_cells(z, active):
    """logsumexp over y of z[x1, x2, y] restricted to active entries; -inf for cells with none."""
    masked = np.where(active, z, -np.inf)
    m = masked.max(axis=2)
    finite = np.isfinite(m)
    safe_m = np.where(finite, m, 0.0)
    with np.errstate(under="ignore"):
        s = np.exp(masked - safe_m[:, :, None]).sum(axis=2)
    with np.errstate(divide="ignore"):
        return np.where(finite, safe_m + np.log(s), -np.inf)


class _Problem:
    """A reduced BROJA problem: no empty rows, ``n1 >= n2``, and the active mask of free cells."""

    def __init__(self, p):
        self.p = p
        self.a = p.sum(axis=1)  # p(x1, y)
        self.b = p.sum(axis=0)  # p(x2, y)
        self.p_y = self.a.sum(axis=0)
        self.n1, self.n2, self.ny = p.shape
        self.row_a = self.a > 0
        self.row_b = self.b > 0
        self.active = self.row_a[:, None, :] & self.row_b[None, :, :]
        # One marginal constraint per y is implied by the others (both sum to p(y)): pin that beta to 0.
        self.ref_b = self.b.argmax(axis=0)
        free_b = self.row_b.copy()
        free_b[self.ref_b, np.arange(self.ny)] = False
        self.free_b = free_b
        self.n_active = int(np.count_nonzero(self.active))
        # Marginal error left by restore_marginals: a couple of ulps of the largest entry (the round-off of
        # summing q itself); its effect on the primal value is ~1e-13 nats, far below any requested gap.
        self.residual_floor = 2.0 * _EPS * max(float(self.a.max()), float(self.b.max()))
        self.force_system = None  # "cells" or "multipliers" to override the cost model (tests, benchmarks)

    def objective(self, q):
        """F(q) = -H_q(Y|X1,X2) in nats (0 log 0 = 0: the lean path's Newton phase zeroes vanishing cells)."""
        s = q.sum(axis=2, keepdims=True)
        pos = self.active & (q > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(pos, q * np.log(np.where(pos, q / np.where(s > 0, s, 1.0), 1.0)), 0.0)
        return float(terms.sum())

    def gradient(self, q):
        s = q.sum(axis=2, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.active, np.log(np.where(self.active, q, 1.0) / np.where(s > 0, s, 1.0)), 0.0)

    def dual_bound(self, alpha, beta, q=None, thorough=False, enough=np.inf):
        """Certified lower bound on min F from any multipliers (alpha (n1,ny), beta (n2,ny)).

        Multipliers are made feasible by shifting each alpha row (or each beta row) by its largest
        constraint violation. On tables spanning many orders of magnitude, a multiplier of a nearly empty
        marginal entry can be far off and would force a large shift on a heavy row; capping such entries
        first costs almost nothing (their mass is tiny), so the capped variants are tried too. Every
        candidate is a valid bound; the best is returned, or the first that reaches ``enough``.
        """
        alpha = np.where(self.row_a, alpha, 0.0)
        beta = np.where(self.row_b, beta, 0.0)
        if not thorough:
            return self._shifted_bound(alpha, beta)
        best = self._best_variant(alpha, beta, enough)
        if best >= enough or q is None:
            return best
        # Best responses through the primal: at the optimum q = q(x1,x2) e^alpha e^beta, so given beta
        # and the cell masses, alpha(x1,y) = log p(x1,y) - log sum_x2 q(x1,x2) e^beta(x2,y)
        # (and vice versa). Alternating them is Sinkhorn scaling of the cell masses, whose fixed point is
        # the optimal dual when the cell masses are optimal. Costlier, and on typical tables weaker than the
        # Newton multipliers; it rescues tables whose Newton multipliers are far off.
        cells = q.sum(axis=2)
        for _ in range(SINKHORN_ROUNDS):
            alpha = self._best_response(self.a, self.row_a, cells, beta)
            beta = self._best_response(self.b, self.row_b, cells.T, alpha)
        return max(best, self._best_variant(alpha, beta, enough))

    def _best_variant(self, alpha, beta, enough):
        best = self._shifted_bound(alpha, beta)
        for repaired in ("alpha", "beta"):
            if best >= enough:
                break
            if repaired == "alpha":
                bound = self._shifted_bound(self._waterfill(alpha, beta, self.a, axis=1), beta)
            else:
                bound = self._shifted_bound(alpha, self._waterfill(beta, alpha, self.b, axis=0))
            best = max(best, bound)
        return best

    def _waterfill(self, mult, other, mass, axis):
        """Repair a violated cell by lowering its row's multipliers where that is cheapest.

        For one cell with terms w_y = exp(mult_y + other_y) summing above 1, the cheapest decrease
        delta >= 0 (cost sum mass_y delta_y) that restores sum_y w_y exp(-delta_y) <= 1 is
        exp(-delta_y) = min(1, mass_y / (kappa w_y)). Each row takes the largest decrease any of its cells
        asks for, which keeps every cell of the row feasible.
        """
        pair = mult[:, None, :] + other[None, :, :] if axis == 1 else other[:, None, :] + mult[None, :, :]
        if axis == 0:
            pair = pair.transpose(1, 0, 2)
            active = self.active.transpose(1, 0, 2)
        else:
            active = self.active
        log_w = np.where(active, pair, -np.inf)  # (rows, cells, y)
        lse = _logsumexp_cells(log_w, active)
        bad = lse > 0
        if not bad.any():
            return mult
        with np.errstate(divide="ignore"):
            log_mass = np.broadcast_to(np.log(mass)[:, None, :], log_w.shape)
        rows, cells = np.nonzero(bad)
        lw, lm = log_w[rows, cells], log_mass[rows, cells]  # (k, y)
        ok = np.isfinite(lw)
        log_kappa = waterfill_level(lw, lm, ok)
        with np.errstate(invalid="ignore"):
            delta = np.where(ok, np.maximum(0.0, lw - (lm - log_kappa[:, None])), 0.0)
        lower = np.zeros_like(mult)
        np.maximum.at(lower, rows, delta)
        return mult - lower

    @staticmethod
    def _best_response(mass, rows, cells, other):
        m = other.max(axis=0)
        with np.errstate(divide="ignore"):
            log_mix = np.log(cells @ np.exp(other - m)) + m
            out = np.log(np.where(rows, mass, 1.0)) - log_mix
        return np.where(rows & np.isfinite(out), out, 0.0)

    def _shifted_bound(self, alpha, beta):
        lse = _logsumexp_cells(alpha[:, None, :] + beta[None, :, :], self.active)
        base = float(np.sum(alpha * self.a) + np.sum(beta * self.b))
        bounds = []
        for axis, mass in ((1, self.a.sum(axis=1)), (0, self.b.sum(axis=1))):
            worst = lse.max(axis=axis)  # -inf only for rows that are entirely inactive
            shift = np.where(np.isfinite(worst), worst, 0.0)
            bounds.append(base - float(np.sum(shift * mass)))
        return max(bounds)

    def marginal_error(self, q):
        """Largest violation of the free marginal constraints."""
        res_a = np.where(self.row_a, self.a - q.sum(axis=1), 0.0)
        res_b = np.where(self.free_b, self.b - q.sum(axis=0), 0.0)
        return max(float(np.max(np.abs(res_a))), float(np.max(np.abs(res_b))))

    def restore_marginals(self, q, rounds=2, positive=False):
        """Project q back onto p's marginals: the smallest change in the q-weighted norm, y by y.

        The Newton steps keep the marginals in exact arithmetic only; on tables spanning many orders of
        magnitude the drift can reach 1e-8, enough to put the primal value below the true minimum. The
        certificate is only valid for a feasible q, so every iterate is projected before it is evaluated:
        dq = q * (alpha(x1,y) + beta(x2,y)) with the multipliers solving the per-y normal equations.
        ``positive``: apply the step as q exp(alpha + beta) instead (the same to first order), which keeps
        every
        entry positive however large the correction (_cell_barrier's clipped steps can need large ones).
        """
        free_a, free_b = self.row_a.T, self.free_b.T  # (ny, n1), (ny, n2)
        for _ in range(rounds):
            qy = np.moveaxis(q, 2, 0)  # (ny, n1, n2)
            sum_a, sum_b = qy.sum(axis=2), qy.sum(axis=1)
            res_a = np.where(free_a, self.a.T - sum_a, 0.0)
            res_b = np.where(free_b, self.b.T - sum_b, 0.0)
            if max(np.max(np.abs(res_a)), np.max(np.abs(res_b))) <= self.residual_floor:
                break
            sa, sb, wt, schur = scaled_schur(qy * free_b[:, None, :], sum_a, sum_b, free_a, free_b)
            ra, rb = sa * res_a, sb * res_b
            zb = np.linalg.solve(schur, (rb - np.matmul(ra[:, None, :], wt)[:, 0])[:, :, None])[:, :, 0]
            nu_a = np.where(free_a, sa * (ra - np.matmul(wt, zb[:, :, None])[:, :, 0]), 0.0)
            nu_b = np.where(free_b, sb * zb, 0.0)
            log_step = nu_a.T[:, None, :] + nu_b.T[None, :, :]
            if positive:
                q = np.where(self.active, q * np.exp(np.minimum(log_step, 50.0)), 0.0)
            else:
                q = np.where(self.active, np.maximum(q + q * log_step, 0.0), 0.0)
        return q

    def newton_solver(self, q, lam):
        """Factorise the Newton system at (q, lam); return ``solve(rhs) -> (dq, d_alpha, d_beta)``.

        The system is ``H dq - A' dnu = rhs, A dq = 0`` with ``H = diag((1 + lam)/q) - 11'/q(x1,x2)``
        per cell.
        Two exact eliminations are available; the cheaper one for this shape is used.
        """
        act = self.active
        dinv = np.where(act, q / (1.0 + lam), 0.0)
        # c = q(x1,x2) - sum_y dinv, written without cancellation; cells with no free entry get c = 1
        c = np.sum(q * lam / (1.0 + lam), axis=2)
        c = np.where(act.any(axis=2), c, 1.0)
        return self.newton_system(dinv, c)

    def newton_system(self, dinv, c):
        """Factorise ``H dq - A' dnu = rhs, A dq = 0`` for per-cell ``H^-1 = diag(dinv) + dinv dinv' / c``."""
        cost_cells, cost_multipliers = _system_flops(self.n1, self.n2, self.ny)
        if self.force_system == "cells" or (self.force_system is None and cost_cells <= cost_multipliers):
            return self._cell_system(dinv, c)
        try:
            return self._multiplier_system(dinv, c)
        except np.linalg.LinAlgError:
            # Near the optimum the normal equations can lose definiteness in floating point. The cell system
            # keeps A dq = 0 exactly whatever t it is given, so it tolerates the regularisation below.
            return self._cell_system(dinv, c)

    def _multiplier_system(self, dinv, c):
        """Eliminate dq and solve the normal equations A H^-1 A' dnu = -A H^-1 rhs (alpha blocks first)."""
        n1, n2, ny = self.n1, self.n2, self.ny
        u_over_sqrt_c = dinv / np.sqrt(c)[:, :, None]
        idx = np.arange(ny)
        saa = np.einsum("abk,abl->akl", u_over_sqrt_c, u_over_sqrt_c)
        saa[:, idx, idx] += dinv.sum(axis=1)
        saa[:, idx, idx] += ~self.row_a  # empty rows: identity, their multiplier is irrelevant
        sbb = np.einsum("abk,abl->bkl", u_over_sqrt_c, u_over_sqrt_c)
        sbb[:, idx, idx] += dinv.sum(axis=0)
        sab = np.einsum("abk,abl->akbl", u_over_sqrt_c, u_over_sqrt_c)  # (x1, y, x2, y')
        sab[:, idx, :, idx] += np.moveaxis(dinv, 2, 0)
        free_b = self.free_b
        sab *= free_b[None, None, :, :]
        sbb *= free_b[:, :, None] & free_b[:, None, :]
        sbb[:, idx, idx] += ~free_b

        l_aa_inv = np.linalg.inv(np.linalg.cholesky(saa))
        w = np.matmul(l_aa_inv, sab.reshape(n1, ny, n2 * ny)).reshape(n1 * ny, n2 * ny)
        schur = np.zeros((n2 * ny, n2 * ny))
        for j in range(n2):
            schur[j * ny : (j + 1) * ny, j * ny : (j + 1) * ny] = sbb[j]
        # scipy's BLAS for the big products: mixing numpy's and scipy's OpenBLAS thread pools in one loop
        # makes them spin against each other (measured 100x slowdowns on 2 cores).
        schur = _blas.dsyrk(-1.0, w, beta=1.0, c=schur, trans=1, lower=1)
        chol = sla.cho_factor(schur, lower=True, check_finite=False)
        sab_mat = sab.reshape(n1 * ny, n2 * ny)

        def apply_hinv(v):
            return dinv * v + dinv * ((dinv * v).sum(axis=2) / c)[:, :, None]

        def solve(rhs, marginal_res=None):
            hr = apply_hinv(rhs)
            ra = np.where(self.row_a, -hr.sum(axis=1), 0.0)
            rb = np.where(free_b, -hr.sum(axis=0), 0.0)
            if marginal_res is not None:  # A dq = marginal_res instead of 0
                ra, rb = ra + marginal_res[0], rb + marginal_res[1]
            ya = np.matmul(l_aa_inv, ra[:, :, None])[:, :, 0]
            xb = sla.cho_solve(chol, rb.reshape(-1) - w.T @ ya.reshape(-1), check_finite=False)
            za = ra.reshape(-1) - sab_mat @ xb
            xa = np.matmul(np.swapaxes(l_aa_inv, 1, 2), np.matmul(l_aa_inv, za.reshape(n1, ny, 1)))[:, :, 0]
            xb = xb.reshape(n2, ny)
            dq = np.where(self.active, apply_hinv(rhs + xa[:, None, :] + xb[None, :, :]), 0.0)
            return dq, xa, xb

        return solve

    def _cell_system(self, dinv, c):
        """Introduce t = 1'dq / q(x1,x2) per cell; eliminate the multipliers y by y; solve for t.

        With D = diag((1 + lam)/q): dq = D^-1 (rhs + A'dnu + t), and per y the multipliers solve
        K_y dnu_y = -(h_y + C_y t), K_y = A_y D_y^-1 A_y', C_y = A_y D_y^-1. What is left is the
        symmetric positive definite system (diag(c) + sum_y C_y' K_y^-1 C_y) t = r of size n1*n2.
        """
        n1, n2 = self.n1, self.n2
        d = np.moveaxis(dinv, 2, 0)  # (ny, n1, n2)
        free_a = self.row_a.T  # (ny, n1)
        free_b = self.free_b.T  # (ny, n2)
        d_b = d * free_b[:, None, :]  # the pinned beta constraint is removed from A_y
        kinv = scaled_inverse(d_b, d.sum(axis=2), d.sum(axis=1), free_a, free_b)
        solve_t = _factor_cells(d, kinv, c)

        def solve(rhs, marginal_res=None):
            dr = d * np.moveaxis(rhs, 2, 0)  # (ny, n1, n2)
            h = np.concatenate([dr.sum(axis=2), (dr * free_b[:, None, :]).sum(axis=1)], axis=1)
            if marginal_res is not None:  # A dq = marginal_res instead of 0
                h -= np.concatenate([marginal_res[0].T, marginal_res[1].T], axis=1)
            v = np.matmul(kinv, h[:, :, None])[:, :, 0]
            ct_v = d * (v[:, :n1, None] + v[:, None, n1:])
            t = solve_t((dr.sum(axis=0) - ct_v.sum(axis=0)).reshape(-1))
            t = t.reshape(n1, n2)
            dt = d * t[None]
            h_t = h + np.concatenate([dt.sum(axis=2), (dt * free_b[:, None, :]).sum(axis=1)], axis=1)
            nu = -np.matmul(kinv, h_t[:, :, None])[:, :, 0]
            da, db = nu[:, :n1].T, nu[:, n1:].T
            dq = np.where(self.active, dinv * (rhs + da[:, None, :] + db[None, :, :] + t[:, :, None]), 0.0)
            return dq, da, db

        return solve


def _factor_cells(d, kinv, c, attempts=6):
    """Form the Jacobi-scaled cell matrix T and factorise it in place; return ``solve(rhs)``.

    T[(i,j),(k,l)] = c[i,j] delta
                     + sum_y d[y,i,j] d[y,k,l] (P[y,i,k] + P[y,i,n1+l] + P[y,n1+j,k] + P[y,n1+j,n1+l])
    with P = K_y^-1. Scaled by s = diag(T)^-1/2 (computed first, in O(n1 n2 ny)), it is built by two batched
    GEMMs whose outputs are already laid out as rows of T:
    with G[a,y,(k,l)] = (P[y,a,k] + P[y,a,n1+l]) s d[y,k,l],
    the rows (i, .) are sum_y s d[y,i,j] G[i,y,:] (the X1-side terms) plus sum_y s d[y,i,j] G[n1+j,y,:].
    The Cholesky factor (LAPACK, lower triangle) overwrites T; round-off that breaks definiteness near the
    optimum is met with a growing ridge, the matrix being restored from its untouched triangle.
    """
    ny, n1, n2 = d.shape
    m = n1 * n2
    p_diag = np.diagonal(kinv, axis1=1, axis2=2)  # (ny, n1 + n2)
    quad = p_diag[:, :n1, None] + 2.0 * kinv[:, :n1, n1:] + p_diag[:, None, n1:]
    diag = c + np.einsum("yij,yij->ij", d * d, quad)
    scale = 1.0 / np.sqrt(diag)
    ds = d * scale  # (ny, n1, n2)
    pt = kinv.transpose(1, 0, 2)  # (a, y, b)
    p_x1, p_x2 = np.ascontiguousarray(pt[:, :, :n1, None]), np.ascontiguousarray(pt[:, :, None, n1:])
    rows_x1 = np.ascontiguousarray(ds.transpose(1, 2, 0))  # (i, j, y)
    rows_x2 = np.ascontiguousarray(ds.transpose(2, 1, 0))  # (j, i, y)
    tmat = np.empty((n1, n2, m))
    # G in slabs of a few MB: they stay in cache between being built and multiplied, and 64^3 fits in memory.
    step = max(1, min(n1, n2, _SLAB_ELEMENTS // (ny * m)))
    g_buf = np.empty((step, ny, n1, n2))
    z_buf = np.empty((step, n1, m))
    lo = 0
    while lo < n1 + n2:
        hi = min(lo + step, n1 if lo < n1 else n1 + n2)
        g = g_buf[: hi - lo]
        np.add(p_x1[lo:hi], p_x2[lo:hi], out=g)
        g *= ds
        g = g.reshape(hi - lo, ny, m)
        if lo < n1:
            np.matmul(rows_x1[lo:hi], g, out=tmat[lo:hi])
        else:
            z = np.matmul(rows_x2[lo - n1 : hi - n1], g, out=z_buf[: hi - lo])
            tmat[:, lo - n1 : hi - n1] += z.transpose(1, 0, 2)
        lo = hi
    tmat = tmat.reshape(m, m)
    idx = np.arange(m)
    tmat[idx, idx] += (c * scale * scale).reshape(-1)
    fmat = tmat.T  # Fortran view of the symmetric matrix: LAPACK works in place
    diag_copy = fmat[idx, idx].copy()
    for k in range(attempts):
        chol, info = _lapack.dpotrf(fmat, lower=1, clean=0, overwrite_a=1)
        if info == 0:
            break
        if info < 0:
            raise ValueError(f"dpotrf argument {-info}")
        lower = np.tril_indices(m, -1)
        fmat[lower] = fmat.T[lower]  # the strict upper triangle was not touched
        fmat[idx, idx] = diag_copy + 10.0 ** (-14 + 2 * k)
    else:
        raise np.linalg.LinAlgError("Newton system is not positive definite even with a ridge")
    scale = scale.reshape(-1)

    def solve(rhs):
        x, info = _lapack.dpotrs(chol, scale * rhs, lower=1)
        return scale * x

    return solve


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


def _system_flops(n1, n2, ny):
    """Flops of factorising the Newton system both ways _Problem.newton_system can: (cells, multipliers)."""
    cells = 3.0 * n1 * n1 * n2 * n2 * ny + (n1 * n2) ** 3 / 3.0 + ny * (n1 + n2) ** 3
    multipliers = n1 * ny * (n2 * ny) ** 2 + (n2 * ny) ** 3 / 3.0
    return cells, multipliers


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
    return lean <= LEAN_FLOP_FACTOR * min(_system_flops(n1, n2, ny)) + GENERAL_OVERHEAD_FLOPS


def _cell_barrier(prob, tol_nats, max_iter, certify_from=np.inf):
    """Primal-dual path following with one complementarity pair per cell; returns (q, gap, iterations).

    At the optimum q(x1,x2,y) = q(x1,x2) exp(alpha + beta + s) with s(x1,x2) = -logsumexp_y(alpha + beta) >= 0
    the multiplier of q(x1,x2) >= 0: entries inside a cell of positive mass never bind (F's gradient
    log(q / q(x1,x2)) keeps them positive), only whole cells do. The central path pairs each cell's mass with
    its slack, q(x1,x2) (exp(s) - 1) = mu. The exp(s) - 1 form (rather than s) keeps the eliminated Hessian
    diag(1/q) - exp(-s) 11'/q(x1,x2) positive definite for every s > 0, and its Sherman-Morrison term
    c = q(x1,x2) (exp(s) - 1) is the complementarity product itself. A Newton step that would shrink an entry
    below ``_CELL_SHRINK`` of its value is clipped there instead of shortening the whole primal step
    (vanishing cells would otherwise block it at every iteration); the next step's marginal residual, or the
    marginal projection of a certified iterate, absorbs the clipping. The start is the independent coupling
    with multipliers that make the dual residual zero. ``certify_from``: as in _broja_small.cell_barrier,
    iterates are projected and certified only once mu * cells < certify_from * tol (default: every one).
    """
    act = prob.active
    has = act.any(axis=2)
    m = int(has.sum())
    p_y = np.where(prob.p_y > 0, prob.p_y, 1.0)
    q = np.where(act, prob.a[:, None, :] * prob.b[None, :, :] / p_y, 0.0)
    cells = np.where(has, q.sum(axis=2), 1.0)
    # log q = log a + log b - log p_y = alpha + beta + s - log q(x1,x2): shift alpha so that s stays small.
    shift = -np.log(cells[has].max()) - _CELL_START_MARGIN
    alpha = np.where(prob.row_a, np.log(np.where(prob.row_a, prob.a, 1.0)) + shift, 0.0)
    beta = np.where(prob.row_b, np.log(np.where(prob.row_b, prob.b, 1.0)) - np.log(p_y), 0.0)
    s = np.where(has, np.maximum(-np.log(cells) - shift, 1e-3), 1.0)
    best_gap, best_q, stall = np.inf, q, 0
    it = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for it in range(1, max_iter + 1):
            cells = np.where(has, q.sum(axis=2), 1.0)
            phi = np.expm1(s)
            comp = np.where(has, cells * phi, 0.0)
            mu = float(comp.sum()) / m
            marginal_res = None
            if not (mu * m < certify_from * tol_nats or it > _broja_small.CERTIFY_AFTER):
                # Far from the target gap: no projection and no certificate; the Newton step removes the
                # marginal residual left by the clipping instead.
                marginal_res = (
                    np.where(prob.row_a, prob.a - q.sum(axis=1), 0.0),
                    np.where(prob.free_b, prob.b - q.sum(axis=0), 0.0),
                )
            else:
                q = prob.restore_marginals(q, rounds=8, positive=True)
                fval = prob.objective(q)
                feasible = prob.marginal_error(q) <= 4.0 * prob.residual_floor
                gap = (
                    fval - prob.dual_bound(alpha, beta) if feasible else np.inf
                )  # else its value certifies nothing
                cells = np.where(has, q.sum(axis=2), 1.0)
                comp = np.where(has, cells * phi, 0.0)
                mu = float(comp.sum()) / m
                if feasible and gap > tol_nats and (mu * m < 100 * tol_nats or stall > 0):
                    gap = fval - prob.dual_bound(alpha, beta, q, thorough=True, enough=fval - tol_nats)
                if np.isnan(gap):
                    break
                if gap < best_gap:
                    best_gap, best_q, stall = gap, q, 0
                else:
                    stall += 1
                if TRACE is not None:
                    TRACE.append((it, gap, mu))
                if best_gap <= tol_nats or stall >= 8:
                    break
            g = prob.gradient(q)
            try:
                solve = prob.newton_system(np.where(act, q, 0.0), np.where(has, comp, 1.0))
            except (np.linalg.LinAlgError, ValueError):
                break
            exp_neg_s = np.exp(-s)
            residual = np.where(act, -g + alpha[:, None, :] + beta[None, :, :] + s[:, :, None], 0.0)

            def newton(
                target,
                solve=solve,
                residual=residual,
                cells=cells,
                phi=phi,
                exp_neg_s=exp_neg_s,
                comp=comp,
                marginal_res=marginal_res,
            ):
                # linearised q(x1,x2) phi(s) = target: phi dq(x1,x2) + q(x1,x2) exp(s) ds = target - comp
                rhs = np.where(act, residual - ((phi - target / cells) * exp_neg_s)[:, :, None], 0.0)
                dq, da, db = solve(rhs, marginal_res)
                ds = np.where(has, (target - comp - phi * dq.sum(axis=2)) / cells * exp_neg_s, 0.0)
                return dq, ds, da, db

            # Predictor-corrector: the affine step (clipped as the real one will be) sets the centring.
            dq, ds, da, db = newton(0.0)
            step_aff = _max_step(s, ds, None, None, has)
            comp_aff = np.maximum(q + dq, _CELL_SHRINK * q).sum(axis=2) * np.expm1(s + step_aff * ds)
            mu_aff = float(np.sum(np.where(has, comp_aff, 0.0))) / m
            sigma = min(1.0, (mu_aff / mu) ** 3) if mu > 0 else 0.0
            dq, ds, da, db = newton(sigma * mu)
            if not (np.all(np.isfinite(dq)) and np.all(np.isfinite(ds))):
                break
            step_d = _STEP_TO_BOUNDARY * _max_step(s, ds, None, None, has)
            q = np.where(act, np.maximum(q + dq, _CELL_SHRINK * q), 0.0)
            s = np.where(has, s + step_d * ds, 1.0)
            alpha = alpha + step_d * da
            beta = beta + step_d * db
    return best_q, best_gap, it


def _entry_barrier(prob, tol_nats, max_iter):
    """Primal-dual path following with a complementarity pair per entry (q(x1,x2,y) lambda = mu).

    The fallback of _cell_barrier: about 25 iterations on random tables (the entries of a vanishing cell
    form a degenerate block of constraints). Returns (q, gap, iterations) or raises BrojaConvergenceError.
    """
    p = prob.p
    n1, n2, ny = p.shape
    act = prob.active
    m = prob.n_active
    q = np.where(act, prob.a[:, None, :] * prob.b[None, :, :] / np.where(prob.p_y > 0, prob.p_y, 1.0), 0.0)
    mu = 1.0 / m
    lam = np.where(act, mu / np.where(act, q, 1.0), 0.0)
    alpha = np.zeros((n1, ny))
    beta = np.zeros((n2, ny))
    best_gap = np.inf
    best = (q, alpha, beta)
    stall = 0
    for it in range(1, max_iter + 1):
        q = prob.restore_marginals(q)
        fval = prob.objective(q)
        gap = fval - prob.dual_bound(alpha, beta)
        if gap > tol_nats and (float(np.sum(q * lam)) < 100 * tol_nats or stall > 0):
            # The primal is (nearly) converged but the Newton multipliers do not certify it: read better
            # multipliers off the primal and repair violated cells where it is cheapest.
            gap = fval - prob.dual_bound(alpha, beta, q, thorough=True)
        if gap < best_gap:
            best_gap, best, stall = gap, (q, alpha, beta), 0
        else:
            stall += 1
        if best_gap <= tol_nats:
            return best[0], max(best_gap, 0.0), it
        if stall >= 8:
            break

        g = prob.gradient(q)
        mu = float(np.sum(q * lam)) / m
        safe_q = np.where(act, q, 1.0)
        try:
            solve = prob.newton_solver(q, lam)
        except np.linalg.LinAlgError:
            break  # round-off floor reached; the best certified iterate is judged below

        def newton(target, lam=lam, g=g, solve=solve, safe_q=safe_q, alpha=alpha, beta=beta):
            # target: the complementarity q*lam aims at after the step (sigma*mu, minus Mehrotra's correction)
            rhs = np.where(act, -g + alpha[:, None, :] + beta[None, :, :] + target / safe_q, 0.0)
            dq, da, db = solve(rhs)
            dlam = np.where(act, target / safe_q - lam - lam * dq / safe_q, 0.0)
            return dq, dlam, da, db

        # Mehrotra predictor-corrector: the affine step sets the centring parameter and the second-order term.
        dq, dlam, da, db = newton(0.0)
        step_aff = _max_step(q, dq, lam, dlam, act)
        mu_aff = float(np.sum((q + step_aff * dq) * (lam + step_aff * dlam))) / m
        sigma = min(1.0, (mu_aff / mu) ** 3) if mu > 0 else 0.0
        dq, dlam, da, db = newton(np.where(act, sigma * mu - (dq * dlam if SECOND_ORDER else 0.0), 0.0))
        if TRACE is not None:
            TRACE.append((it, gap, mu, sigma, step_aff))
        if SEPARATE_STEPS:
            step_p = _STEP_TO_BOUNDARY * _max_step(q, dq, None, None, act)
            step_d = _STEP_TO_BOUNDARY * _max_step(lam, dlam, None, None, act)
        else:
            step_p = step_d = _STEP_TO_BOUNDARY * _max_step(q, dq, lam, dlam, act)
        q = np.where(act, q + step_p * dq, 0.0)
        lam = np.where(act, lam + step_d * dlam, 0.0)
        alpha = alpha + step_d * da
        beta = beta + step_d * db

    if best_gap <= STALL_TOL_BITS * LN2:
        return best[0], max(best_gap, 0.0), it
    raise BrojaConvergenceError(
        f"BROJA interior point stopped at a certified gap of {best_gap / LN2:.3e} bits after {it} iterations "
        f"(table shape {p.shape}); requested {tol_nats / LN2:.1e}"
    )


def _max_step(q, dq, lam, dlam, act):
    """Largest step in [0, 1] keeping q and lambda positive on the active set."""
    step = 1.0
    for x, dx in ((q, dq), (lam, dlam))[: 1 if lam is None else 2]:
        neg = act & (dx < 0)
        if np.any(neg):
            step = min(step, float(np.min(-x[neg] / dx[neg])))
    return step


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
