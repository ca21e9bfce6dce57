"""Lean dense form of broja._cell_barrier for small problems (a few hundred marginal constraints).

At sizes like 8x8x8 the general solver's time is numpy call overhead on tiny arrays, not arithmetic. This
module runs the same cell-level primal-dual method on flat arrays of the active entries instead:

* The active entries (x1, x2, y) are listed once, sorted by cell, with index arrays into their cell, their
  free (x1,y) row and their free (x2,y) row (the pinned beta of each y, and nothing else, maps to a dummy
  slot ``M`` whose multiplier stays 0). The multipliers are one vector ``nu`` = (alpha rows, beta rows, 0).
* Marginal sums and cell sums are products with dense 0/1 incidence matrices (one BLAS call each).
* The Newton system is reduced to the dense normal equations ``A H^-1 A' dnu = -A H^-1 rhs`` over all free
  marginal constraints at once (size M = free (x1,y) rows + free (x2,y) rows), formed by one matrix product
  of the cell-coupling part plus scattered diagonal blocks, Jacobi scaled, and factorised by one Cholesky.
  The right-hand side is affine in the centring target, so the predictor and the corrector come from one
  two-column solve.

The certificate is the same as broja's: the primal is projected onto the marginals (to a few ulps) before
being evaluated, and the bound comes from multipliers made feasible by row shifts. ``cell_barrier`` returns
its best (q, gap, iterations) and leaves anything it cannot certify to the general solver.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack as _lapack

#: Largest number of free marginal constraints for which the dense normal equations are used.
MAX_CONSTRAINTS = 320

_STEP_TO_BOUNDARY = 0.995
_CELL_SHRINK = 0.1
_CELL_START_MARGIN = 0.1
SINKHORN_ROUNDS = 30
#: Iterates are projected and certified once the complementarity sum mu * cells is below this many tol,
#: or after this many iterations (before, the Newton steps carry the marginal residual instead).
CERTIFY_FROM = 100.0
CERTIFY_AFTER = 30


class _Flat:
    """Index structure of the active entries of a broja._Problem."""

    def __init__(self, prob):
        act = prob.active
        n1, n2, ny = prob.n1, prob.n2, prob.ny
        i1, i2, iy = np.nonzero(act)  # C order: sorted by cell (x1, x2)
        e = len(i1)
        has = act.any(axis=2)
        cell_of = np.cumsum(has.ravel()) - 1
        cid = cell_of[i1 * n2 + i2]
        ncell = int(has.sum())
        row_a = prob.row_a.ravel()
        free_b = prob.free_b.ravel()
        na, nb = int(row_a.sum()), int(free_b.sum())
        m = na + nb
        amap = np.full(n1 * ny, m)
        amap[row_a] = np.arange(na)
        bmap = np.full(n2 * ny, m)
        bmap[free_b] = na + np.arange(nb)
        ra = amap[i1 * ny + iy]
        rb = bmap[i2 * ny + iy]
        cols = np.arange(e)
        inc = np.zeros((m + 1, e))
        inc[ra, cols] = 1.0
        inc[rb, cols] = 1.0
        cell_inc = np.zeros((ncell, e))
        cell_inc[cid, cols] = 1.0
        self.e, self.m, self.ncell, self.na, self.nb = e, m, ncell, na, nb
        self.i1, self.i2, self.iy = i1, i2, iy
        self.cid, self.ra, self.rb = cid, ra, rb
        self.inc = inc[:m]  # (M, E): marginal sums of the free constraints
        self.cell_inc = cell_inc  # (ncell, E)
        self.starts = np.flatnonzero(np.r_[True, cid[1:] != cid[:-1]])
        self.cell_pos = np.flatnonzero(has.ravel())
        self.row_a_idx = np.flatnonzero(row_a)
        self.free_b_idx = np.flatnonzero(free_b)
        self.target = np.concatenate([prob.a.ravel()[row_a], prob.b.ravel()[free_b], [0.0]])
        self.mass1 = prob.a.sum(axis=1)
        self.mass2 = prob.b.sum(axis=1)
        self.n1, self.n2, self.ny = n1, n2, ny
        # Flat positions in an (M+1) x (M+1) matrix: the diagonal, and the (x1,y)-(x2,y) couplings.
        dummy = rb == m
        self.pos_ab = np.where(dummy, m * m, ra * m + rb)
        self.pos_ba = np.where(dummy, m * m, rb * m + ra)
        self.m_cells = (m + 1) * ncell
        self.didx = np.arange(m)
        self.pos_u_a = ra * ncell + cid  # (M+1, ncell) cell-coupling matrix U
        self.pos_u_b = rb * ncell + cid
        self.floor = prob.residual_floor
        self.ia = i1 * ny + iy
        self.ib = i2 * ny + iy
        self.a, self.b = prob.a, prob.b
        self.ok_a, self.ok_b = prob.row_a, prob.row_b
        self.log_a = np.log(np.where(prob.row_a, prob.a, 1.0))
        self.log_b = np.log(np.where(prob.row_b, prob.b, 1.0))

    def dense(self, v, shape_last):
        out = np.zeros((self.n1, self.n2, shape_last))
        out[self.i1, self.i2, self.iy] = v
        return out

    def multipliers(self, nu):
        alpha = np.zeros(self.n1 * self.ny)
        beta = np.zeros(self.n2 * self.ny)
        alpha[self.row_a_idx] = nu[: self.na]
        beta[self.free_b_idx] = nu[self.na : self.m]
        return alpha.reshape(self.n1, self.ny), beta.reshape(self.n2, self.ny)

    def normal_matrix(self, d, diag, qc=None):
        """Jacobi-scaled A diag(d) A' (+ U U' for the cell couplings ``qc``), as (matrix, scale).

        ``diag``: the matrix's diagonal (``A d``, plus ``A qc**2`` with couplings), so the scaling is applied
        while the entries are scattered. The pinned constraints' entries land in a dummy last slot.
        """
        m = self.m
        scale = np.append(1.0 / np.sqrt(diag), 0.0)
        sa, sb = scale[self.ra], scale[self.rb]
        buf = np.zeros(m * m + 1)
        v = d * sa * sb
        buf[self.pos_ab] = v  # each (row, column) pair occurs once
        buf[self.pos_ba] = v
        mat = buf[:-1].reshape(m, m)
        if qc is not None:
            u = np.zeros(self.m_cells)
            u[self.pos_u_a] = qc * sa
            u[self.pos_u_b] = qc * sb
            u = u[: m * self.ncell].reshape(m, self.ncell)
            mat += u @ u.T
        mat.flat[:: m + 1] = 1.0
        return mat, scale[:m]

    def cheap_bound(self, nu):
        """Certified lower bound from multipliers nu, made feasible by shifting rows of alpha or of beta."""
        return self._shifted(nu[self.ra] + nu[self.rb], float(nu @ self.target))

    def dense_bound(self, alpha, beta):
        """cheap_bound for dense multipliers alpha (n1, ny), beta (n2, ny) (zero on empty rows)."""
        z = alpha.ravel()[self.ia] + beta.ravel()[self.ib]
        return self._shifted(z, float(np.sum(alpha * self.a) + np.sum(beta * self.b)))

    def _shifted(self, z, base):
        zmax = np.maximum.reduceat(z, self.starts)
        lse = zmax + np.log(self.cell_inc @ np.exp(z - zmax[self.cid]))
        full = np.full(self.n1 * self.n2, -np.inf)
        full[self.cell_pos] = lse
        full = full.reshape(self.n1, self.n2)
        w1 = full.max(axis=1)
        w2 = full.max(axis=0)
        b1 = base - float(np.where(np.isfinite(w1), w1, 0.0) @ self.mass1)
        b2 = base - float(np.where(np.isfinite(w2), w2, 0.0) @ self.mass2)
        return max(b1, b2)

    def sinkhorn_bound(self, alpha, beta, cells, rounds=SINKHORN_ROUNDS):
        """Bound from multipliers read off the primal's cell masses by alternating best responses
        (broja._Problem.dual_bound's Sinkhorn candidate), stopped early once they settle."""
        cm = np.zeros(self.n1 * self.n2)
        cm[self.cell_pos] = cells
        cm = cm.reshape(self.n1, self.n2)
        for k in range(rounds):
            m = beta.max(axis=0)
            new = self.log_a - np.log(cm @ np.exp(beta - m)) - m
            alpha = np.where(self.ok_a, new, 0.0)
            m = alpha.max(axis=0)
            new = self.log_b - np.log(cm.T @ np.exp(alpha - m)) - m
            change = np.abs(new - beta)
            beta = np.where(self.ok_b, new, 0.0)
            if k >= 2 and float(np.max(np.where(self.ok_b, change, 0.0))) < 1e-15:
                break
        alpha = np.where(np.isfinite(alpha), alpha, 0.0)
        beta = np.where(np.isfinite(beta), beta, 0.0)
        return self.dense_bound(alpha, beta)


def _cholesky(mat, attempts=4):
    """Cholesky factor (lower, Fortran order) of the symmetric unit-diagonal ``mat``; a growing ridge if
    round-off broke definiteness."""
    work = mat.T  # Fortran view of the symmetric matrix
    for k in range(attempts):
        chol, info = _lapack.dpotrf(work, lower=1, clean=0, overwrite_a=0)
        if info == 0:
            return chol
        if info < 0:
            raise ValueError(f"dpotrf argument {-info}")
        work = mat.T.copy(order="F")
        work.flat[:: mat.shape[0] + 1] = 1.0 + 10.0 ** (-14 + 2 * k)
    raise np.linalg.LinAlgError("normal equations are not positive definite even with a ridge")


def _restore(fl, q, rounds=8):
    """Project q onto the free marginals (multiplicatively); return (q, largest marginal residual)."""
    for _ in range(rounds):
        sums = fl.inc @ q
        res = fl.target[:-1] - sums
        err = float(np.max(np.abs(res)))
        if err <= fl.floor:
            return q, err
        mat, scale = fl.normal_matrix(q, sums)
        chol = _cholesky(mat)
        x, info = _lapack.dpotrs(chol, scale * res, lower=1)
        nu = np.append(scale * x, 0.0)
        q = q * np.exp(np.minimum(nu[fl.ra] + nu[fl.rb], 50.0))
    res = fl.target[:-1] - fl.inc @ q
    return q, float(np.max(np.abs(res)))


def cell_barrier(prob, tol_nats, max_iter, thorough_bound, certify_from=CERTIFY_FROM):
    """broja._cell_barrier on flat arrays; returns (q as a dense table, gap in nats, iterations).

    ``thorough_bound(alpha, beta, q)`` is the expensive certified bound (dense arguments), used as the
    general solver uses it: near convergence, or once progress stalls. ``certify_from``: iterates are
    projected and certified once mu * cells < certify_from * tol (``np.inf``: at every iteration, as
    broja._cell_barrier does; slower, but it recovers the rare tables where the deferred projection stalls).
    """
    fl = _Flat(prob)
    cid, ra, rb = fl.cid, fl.ra, fl.rb
    inc, cell_inc = fl.inc, fl.cell_inc
    ncell, m = fl.ncell, fl.m
    a_e = prob.a[fl.i1, fl.iy]
    b_e = prob.b[fl.i2, fl.iy]
    p_y = prob.p_y[fl.iy]
    q = a_e * b_e / p_y
    cells = cell_inc @ q
    shift = -np.log(cells.max()) - _CELL_START_MARGIN
    alpha = np.where(prob.row_a, np.log(np.where(prob.row_a, prob.a, 1.0)) + shift, 0.0)
    p_y_full = np.where(prob.p_y > 0, prob.p_y, 1.0)
    beta = np.where(prob.row_b, np.log(np.where(prob.row_b, prob.b, 1.0)) - np.log(p_y_full), 0.0)
    # Pin each y's reference beta at 0 (alpha absorbs it: alpha + beta and the dual value are unchanged).
    ref = beta[prob.ref_b, np.arange(prob.ny)]
    alpha = np.where(prob.row_a, alpha + ref, 0.0)
    beta = np.where(prob.row_b, beta - ref, 0.0)
    nu = np.concatenate([alpha.ravel()[fl.row_a_idx], beta.ravel()[fl.free_b_idx], [0.0]])
    s = np.maximum(-np.log(cells) - shift, 1e-3)
    best_gap, best_q, stall = np.inf, q, 0
    it = 0
    two = np.empty((fl.e, 2))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for it in range(1, max_iter + 1):
            cells = cell_inc @ q
            phi = np.expm1(s)
            comp = cells * phi
            mu = float(comp.sum()) / ncell
            if mu * ncell < certify_from * tol_nats or it > CERTIFY_AFTER:
                # Certify: project onto the marginals (to a few ulps) and bound with the current multipliers.
                try:
                    q, err = _restore(fl, q)
                except (np.linalg.LinAlgError, ValueError):
                    break
                cells = cell_inc @ q
                lq = np.log(q / cells[cid])
                fval = float(q @ lq)
                feasible = err <= 4.0 * fl.floor
                gap = fval - fl.cheap_bound(nu) if feasible else np.inf
                comp = cells * phi
                mu = float(comp.sum()) / ncell
                if feasible and gap > tol_nats and stall > 0:
                    # No progress with the Newton multipliers: read better ones off the primal.
                    alpha, beta = fl.multipliers(nu)
                    gap = min(gap, fval - fl.sinkhorn_bound(alpha, beta, cells))
                    if gap > tol_nats:
                        gap = min(gap, fval - thorough_bound(alpha, beta, fl.dense(q, fl.ny)))
                if np.isnan(gap):
                    break
                if gap < best_gap:
                    best_gap, best_q, stall = gap, q, 0
                else:
                    stall += 1
                if best_gap <= tol_nats or stall >= 8:
                    break
                res = None
            else:
                lq = np.log(q / cells[cid])
                res = fl.target[:-1] - inc @ q  # the Newton step also removes the marginal residual
            # Normal equations: H^-1 = diag(q) + q q' / comp per cell.
            qc = q / np.sqrt(comp)[cid]
            try:
                mat, scale = fl.normal_matrix(q, inc @ (q + qc * qc), qc)
                chol = _cholesky(mat)
            except (np.linalg.LinAlgError, ValueError):
                break
            exp_neg_s = np.exp(-s)
            # rhs(target) = rhs0 + target * rhs1
            two[:, 0] = nu[ra] + nu[rb] + s[cid] - lq - (phi * exp_neg_s)[cid]
            two[:, 1] = (exp_neg_s / cells)[cid]
            dv = q[:, None] * two
            hv = dv + q[:, None] * ((cell_inc @ dv) / comp[:, None])[cid]
            rn = -(inc @ hv)
            if res is not None:
                rn[:, 0] += res
            x, info = _lapack.dpotrs(chol, scale[:, None] * rn, lower=1)
            dnu = np.zeros((m + 1, 2))
            dnu[:m] = scale[:, None] * x
            w = two + dnu[ra] + dnu[rb]
            dv = q[:, None] * w
            dq = dv + q[:, None] * ((cell_inc @ dv) / comp[:, None])[cid]  # (E, 2)
            dqc = cell_inc @ dq  # (ncell, 2)
            scl = exp_neg_s / cells
            # affine (target 0)
            ds0 = (-comp - phi * dqc[:, 0]) * scl
            step_aff = _max_step(s, ds0)
            comp_aff = (cell_inc @ np.maximum(q + dq[:, 0], _CELL_SHRINK * q)) * np.expm1(s + step_aff * ds0)
            mu_aff = float(comp_aff.sum()) / ncell
            sigma = min(1.0, (mu_aff / mu) ** 3) if mu > 0 else 0.0
            t = sigma * mu
            dqt = dq[:, 0] + t * dq[:, 1]
            ds = (t - comp - phi * (dqc[:, 0] + t * dqc[:, 1])) * scl
            dnut = dnu[:, 0] + t * dnu[:, 1]
            if not (np.all(np.isfinite(dqt)) and np.all(np.isfinite(ds))):
                break
            step_d = _STEP_TO_BOUNDARY * _max_step(s, ds)
            q = np.maximum(q + dqt, _CELL_SHRINK * q)
            s = s + step_d * ds
            nu = nu + step_d * dnut
    return fl.dense(best_q, fl.ny), best_gap, it


def _max_step(x, dx):
    neg = dx < 0
    if not neg.any():
        return 1.0
    return min(1.0, float(np.min(-x[neg] / dx[neg])))
