"""The BROJA programme as an object: objective, certified dual bounds, marginal projection and the
factorised Newton systems of the general solver (barrier.py). See the package docstring for the method.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg as sla
from scipy.linalg import blas as _blas
from scipy.linalg import lapack as _lapack

from .linalg import scaled_inverse, scaled_schur, waterfill_level
from .options import DEFAULT_OPTIONS

_EPS = float(np.finfo(float).eps)


class Attempt(NamedTuple):
    """One solver run: its best table, certified gap (nats), iterations, the multipliers (alpha, beta) of
    that iterate (None where the method has none), and which method produced it."""

    q: np.ndarray | None
    gap: float
    iterations: int
    duals: tuple | None
    method: str


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


class Problem:
    """A reduced BROJA problem: no empty rows, ``n1 >= n2``, and the active mask of free cells.

    ``options``: the solver's BrojaOptions; ``trace``: a list the solvers append their iterations to, or
    None.
    """

    def __init__(self, p, options=DEFAULT_OPTIONS, trace=None):
        self.p = p
        self.options = options
        self.trace = trace
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
        for _ in range(self.options.sinkhorn_rounds):
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
        cost_cells, cost_multipliers = system_flops(self.n1, self.n2, self.ny)
        system = self.options.system
        if system == "cells" or (system == "auto" and cost_cells <= cost_multipliers):
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
        solve_t = factor_cells(d, kinv, c, self.options.slab_elements)

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


def factor_cells(d, kinv, c, slab_elements, attempts=6):
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
    step = max(1, min(n1, n2, slab_elements // (ny * m)))
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


def system_flops(n1, n2, ny):
    """Flops of factorising the Newton system both ways Problem.newton_system can: (cells, multipliers)."""
    cells = 3.0 * n1 * n1 * n2 * n2 * ny + (n1 * n2) ** 3 / 3.0 + ny * (n1 + n2) ** 3
    multipliers = n1 * ny * (n2 * ny) ** 2 + (n2 * ny) ** 3 / 3.0
    return cells, multipliers
