"""Lean dense form of broja._cell_barrier for small problems (a few hundred marginal constraints).

At sizes like 8x8x8 the general solver's time is numpy call overhead on tiny arrays, not arithmetic. This
module runs the same cell-level primal-dual method on flat arrays of the active entries instead:

* The active entries (x1, x2, y) are listed once, sorted by cell, with index arrays into their cell, their
  free (x1,y) row and their free (x2,y) row (the pinned beta of each y, and nothing else, maps to a dummy
  slot ``M`` whose multiplier stays 0). The multipliers are one vector ``nu`` = (alpha rows, beta rows, 0).
* Cell sums are np.add.reduceat over the sorted entries, marginal sums one np.bincount.
* The Newton system is reduced to the dense normal equations ``A H^-1 A' dnu = -A H^-1 rhs`` over all free
  marginal constraints at once (size M = free (x1,y) rows + free (x2,y) rows): the cell-coupling part by one
  BLAS syrk into a Fortran-order lower triangle, the diagonal blocks scattered into it, Jacobi scaled, and
  factorised in place by one Cholesky.
  The right-hand side is affine in the centring target, so the predictor and the corrector come from one
  two-column solve.

The certificate is the same as broja's: the primal is projected onto the marginals (to a few ulps) before
being evaluated, and the bound comes from multipliers made feasible by row shifts. ``cell_barrier`` returns
its best (q, gap, iterations) and leaves anything it cannot certify to the general solver.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas as _blas
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
    """Index structure of the active entries of a broja._Problem, and the linear algebra on them."""

    def __init__(self, prob):
        act = prob.active
        n1, n2, ny = prob.n1, prob.n2, prob.ny
        i1, i2, iy = np.nonzero(act)  # C order: sorted by cell (x1, x2)
        e = len(i1)
        has = act.any(axis=2)
        cell_of = np.cumsum(has.ravel()) - 1
        cid = cell_of[i1 * n2 + i2]
        ncell = int(cell_of[-1]) + 1
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
        self.e, self.m, self.ncell, self.na, self.nb = e, m, ncell, na, nb
        self.i1, self.i2, self.iy = i1, i2, iy
        self.cid, self.ra, self.rb = cid, ra, rb
        # Sums over cells and over marginal rows as reduceat / bincount (a dense 0/1 incidence product costs
        # several times more at these sizes). Each entry lies in one (x1,y) row and one (x2,y) row.
        self.starts = np.concatenate([[0], np.flatnonzero(cid[1:] != cid[:-1]) + 1])
        self.rab = np.concatenate([ra, rb])
        self.twice = np.concatenate([np.arange(e), np.arange(e)])
        self.cell_pos = np.flatnonzero(has.ravel())
        self.row_a_idx = np.flatnonzero(row_a)
        self.free_b_idx = np.flatnonzero(free_b)
        self.target = np.concatenate([prob.a.ravel()[row_a], prob.b.ravel()[free_b]])
        self.mass1 = prob.a.sum(axis=1)
        self.mass2 = prob.b.sum(axis=1)
        self.n1, self.n2, self.ny = n1, n2, ny
        # The normal matrix is written into the lower triangle of a Fortran-order array: entry (rb, ra) of
        # each active entry (rb > ra), flat position ra * m + rb. Entries of a pinned beta (rb == m) go to
        # an upper-triangle slot that LAPACK never reads.
        self.pos_lo = np.where(rb == m, (m - 1) * m, ra * m + rb)
        self.pos_u_a = ra * ncell + cid  # (M+1, ncell) cell-coupling matrix U, row M a dummy
        self.pos_u_b = rb * ncell + cid
        self.u_buf = np.zeros((m + 1) * ncell)  # only the positions above are ever written
        self.scale_buf = np.zeros(m + 1)  # the dummy constraint's scale stays 0
        self.nu_buf = np.zeros((m + 1, 2))
        self.floor = prob.residual_floor
        self.flat = (i1 * n2 + i2) * ny + iy
        self.ia = i1 * ny + iy
        self.ib = i2 * ny + iy
        self.a, self.b = prob.a, prob.b
        self.ok_a, self.ok_b = prob.row_a, prob.row_b
        self.log_a = np.log(np.where(prob.row_a, prob.a, 1.0))
        self.log_b = np.log(np.where(prob.row_b, prob.b, 1.0))

    def cell_sums(self, v):
        return np.add.reduceat(v, self.starts)

    def marginals(self, v):
        """A v: sums of v over each free (x1,y) and (x2,y) row."""
        return np.bincount(self.rab, v[self.twice], minlength=self.m + 1)[: self.m]

    def dense(self, v, shape_last):
        out = np.zeros(self.n1 * self.n2 * shape_last)
        out[self.flat] = v
        return out.reshape(self.n1, self.n2, shape_last)

    def multipliers(self, nu):
        alpha = np.zeros(self.n1 * self.ny)
        beta = np.zeros(self.n2 * self.ny)
        alpha[self.row_a_idx] = nu[: self.na]
        beta[self.free_b_idx] = nu[self.na : self.m]
        return alpha.reshape(self.n1, self.ny), beta.reshape(self.n2, self.ny)

    def factor(self, d, diag, qc=None):
        """Cholesky factor of the Jacobi-scaled A diag(d) A' (+ U U' for the cell couplings ``qc``).

        ``diag``: the matrix's diagonal (``A d``, plus ``A qc**2`` with couplings), so the scaled diagonal
        is 1. Returns (factor, scale); a growing ridge if round-off broke definiteness.
        """
        m = self.m
        scale = self.scale_buf
        np.divide(1.0, np.sqrt(diag), out=scale[:m])
        sa, sb = scale[self.ra], scale[self.rb]
        v = d * sa * sb
        if qc is not None:
            u = self.u_buf
            u[self.pos_u_a] = qc * sa
            u[self.pos_u_b] = qc * sb
            u_t = u[: m * self.ncell].reshape(m, self.ncell).T
        for k in range(4):
            if qc is not None:
                mat = _blas.dsyrk(1.0, u_t, trans=1, lower=1)  # U U', Fortran order, lower triangle
            else:
                mat = np.zeros((m, m), order="F")
            flat = mat.ravel(order="F")  # a view
            flat[self.pos_lo] += v  # each (rb, ra) pair occurs once
            flat[:: m + 1] = 1.0 + (10.0 ** (-16 + 2 * k) if k else 0.0)
            chol, info = _lapack.dpotrf(mat, lower=1, clean=0, overwrite_a=1)
            if info == 0:
                return chol, scale[:m]
            if info < 0:
                raise ValueError(f"dpotrf argument {-info}")
        raise np.linalg.LinAlgError("normal equations are not positive definite even with a ridge")

    def solve(self, chol, scale, rhs):
        """Multipliers (with the dummy's 0 appended) from a factor() result and A-space right-hand sides."""
        x, info = _lapack.dpotrs(chol, scale[:, None] * rhs, lower=1)
        out = self.nu_buf[:, : rhs.shape[1]]
        np.multiply(scale[:, None], x, out=out[: self.m])
        return out

    def cheap_bound(self, nu):
        """Certified lower bound from multipliers nu, made feasible by shifting rows of alpha or of beta."""
        return self._shifted(nu[self.ra] + nu[self.rb], float(nu[: self.m] @ self.target))

    def dense_bound(self, alpha, beta):
        """cheap_bound for dense multipliers alpha (n1, ny), beta (n2, ny) (zero on empty rows)."""
        z = alpha.ravel()[self.ia] + beta.ravel()[self.ib]
        return self._shifted(z, float(np.sum(alpha * self.a) + np.sum(beta * self.b)))

    def _shifted(self, z, base):
        zmax = np.maximum.reduceat(z, self.starts)
        lse = zmax + np.log(self.cell_sums(np.exp(z - zmax[self.cid])))
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


def _restore(fl, q, rounds=8):
    """Project q onto the free marginals (multiplicatively); return (q, largest marginal residual).

    The factor of the first round is reused while the residual keeps falling fast: the later rounds only
    correct round-off-sized residuals, for which the matrix has hardly changed.
    """
    chol, last = None, np.inf
    for _ in range(rounds):
        sums = fl.marginals(q)
        res = fl.target - sums
        err = float(np.max(np.abs(res)))
        if err <= fl.floor:
            return q, err
        if chol is None or err > 1e-3 * last:
            chol, scale = fl.factor(q, sums)
        last = err
        nu = fl.solve(chol, scale, res[:, None])[:, 0]
        q = q * np.exp(np.minimum(nu[fl.ra] + nu[fl.rb], 50.0))
    res = fl.target - fl.marginals(q)
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
    ncell = fl.ncell
    a_e = prob.a[fl.i1, fl.iy]
    b_e = prob.b[fl.i2, fl.iy]
    p_y = prob.p_y[fl.iy]
    q = a_e * b_e / p_y
    cells = fl.cell_sums(q)
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
    rn = np.empty((fl.m, 2))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for it in range(1, max_iter + 1):
            cells = fl.cell_sums(q)
            phi = np.expm1(s)
            comp = cells * phi
            mu = float(comp.sum()) / ncell
            if mu * ncell < certify_from * tol_nats or it > CERTIFY_AFTER:
                # Certify: project onto the marginals (to a few ulps) and bound with the current multipliers.
                try:
                    q, err = _restore(fl, q)
                except (np.linalg.LinAlgError, ValueError):
                    break
                cells = fl.cell_sums(q)
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
                res = fl.target - fl.marginals(q)  # the Newton step also removes the marginal residual
            # Normal equations: H^-1 = diag(q) + q q' / comp per cell.
            inv_comp = 1.0 / comp
            qc2 = q * q * inv_comp[cid]
            try:
                chol, scale = fl.factor(q, fl.marginals(q + qc2), np.sqrt(qc2))
            except (np.linalg.LinAlgError, ValueError):
                break
            exp_neg_s = np.exp(-s)
            # The right-hand side is affine in the centring target t: rhs0 + t * rhs1, rhs1 = e^-s / q(x1,x2)
            # per cell, on which H^-1 gives q / comp.
            two = np.empty((fl.e, 2))
            two[:, 0] = nu[ra] + nu[rb] + (s - phi * exp_neg_s)[cid] - lq
            two[:, 1] = (exp_neg_s / cells)[cid]
            qv = q * two[:, 0]
            rn[:, 0] = fl.marginals(qv + q * (fl.cell_sums(qv) * inv_comp)[cid])
            rn[:, 1] = fl.marginals(q * inv_comp[cid])
            if res is not None:
                rn[:, 0] -= res
            dnu = -fl.solve(chol, scale, rn)
            two += dnu[ra]
            two += dnu[rb]
            dv = q[:, None] * two
            cs = fl.cell_sums(dv)
            dq = dv + q[:, None] * (cs * inv_comp[:, None])[cid]  # (E, 2)
            dqc = cs * (1.0 + 1.0 / phi)[:, None]  # cell sums of dq
            scl = exp_neg_s / cells
            # affine (target 0)
            ds0 = (-comp - phi * dqc[:, 0]) * scl
            step_aff = _max_step(s, ds0)
            comp_aff = fl.cell_sums(np.maximum(q + dq[:, 0], _CELL_SHRINK * q)) * np.expm1(s + step_aff * ds0)
            mu_aff = float(comp_aff.sum()) / ncell
            sigma = min(1.0, (mu_aff / mu) ** 3) if mu > 0 else 0.0
            t = sigma * mu
            dqt = dq[:, 0] + t * dq[:, 1]
            ds = (t - comp - phi * (dqc[:, 0] + t * dqc[:, 1])) * scl
            if not np.isfinite(float(dqt.sum()) + float(ds.sum())):
                break
            step_d = _STEP_TO_BOUNDARY * _max_step(s, ds)
            q = np.maximum(q + dqt, _CELL_SHRINK * q)
            s = s + step_d * ds
            nu = nu + step_d * (dnu[:, 0] + t * dnu[:, 1])
    return fl.dense(best_q, fl.ny), best_gap, it


def _max_step(x, dx):
    """Largest step in [0, 1] keeping the positive x positive: 1 / the fastest relative shrink rate."""
    rate = float(np.max(-dx / x))
    return 1.0 if rate <= 1.0 else 1.0 / rate
