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

* Newton phase: once the complementarity is small and every cell is clearly live or clearly vanishing, the
  vanishing cells are dropped and affine Newton steps on the live cells finish the solve in 2-3 steps
  instead of the barrier's ~5 (whose pace near the end is the tenfold-per-step clip of the vanishing
  cells). If that phase cannot certify (a wrong active set), the barrier resumes from where it stood.

The certificate is the same as broja's: the primal is projected onto the marginals (to a few ulps) before
being evaluated, and the bound comes from multipliers made feasible by row shifts. ``cell_barrier`` returns
its best (q, gap, iterations) and leaves anything it cannot certify to the general solver.
"""

from __future__ import annotations

import copy
import math

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
#: Newton phase (see _newton_phase): tried once, when mu * cells < NEWTON_FROM and every cell is clearly
#: live or clearly vanishing (_live_cells: thresholds on (exp(s) - 1) / q(x1,x2) and on the relative change
#: of q(x1,x2) the last affine step asked for).
NEWTON_PHASE = True
NEWTON_FROM = 1e-5
LIVE_RATIO = 1e-2
PRED_LIVE = 0.2
PRED_VANISH = 0.5
#: At most this many steps; each must cut the complementarity sum by NEWTON_RATE; the iterate is
#: certified once that sum is below NEWTON_CERTIFY tol; a live cell's slack s shrinks to NEWTON_S_FLOOR s
#: at most per step (its target is s = 0, which a full Newton step may overshoot).
NEWTON_STEPS = 6
NEWTON_RATE = 0.1
NEWTON_CERTIFY = 1.0
NEWTON_S_FLOOR = 1e-3
#: CERTIFY_FROM while the Newton phase is still to come (it usually certifies first).
CERTIFY_PENDING = 1.0
TRACE = None  # set to a list to record the iterations while debugging


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
        self._stacked_indices()
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
        # (M+1, ncell) cell-coupling matrix U, row M a dummy: positions pos_u (_stacked_indices)
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

    def restrict(self, live_cells):
        """The same structure without the entries of the cells where ``live_cells`` is False.

        Returns (restricted, keep) with ``keep`` the kept entries. The constraint rows are unchanged (the
        caller checks that each keeps an entry); cheap_bound and the other dense helpers stay with ``self``.
        """
        keep = live_cells[self.cid]
        fr = copy.copy(self)
        counts = np.diff(np.append(self.starts, self.e))[live_cells]
        fr.e, fr.ncell = int(counts.sum()), int(counts.size)
        fr.cid = np.repeat(np.arange(fr.ncell), counts)
        fr.starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        fr.ra, fr.rb = self.ra[keep], self.rb[keep]
        fr.i1, fr.i2, fr.iy = self.i1[keep], self.i2[keep], self.iy[keep]
        fr.rab = np.concatenate([fr.ra, fr.rb])
        fr.twice = np.concatenate([np.arange(fr.e), np.arange(fr.e)])
        fr._stacked_indices()
        fr.cell_pos = self.cell_pos[live_cells]
        fr.pos_lo = self.pos_lo[keep]
        fr.u_buf = np.zeros((self.m + 1) * fr.ncell)
        fr.scale_buf = np.zeros(self.m + 1)
        fr.nu_buf = np.zeros((self.m + 1, 2))
        fr.flat = self.flat[keep]
        fr.ia, fr.ib = self.ia[keep], self.ib[keep]
        return fr, keep

    def _stacked_indices(self):
        """Index arrays of marginals4 (four vectors summed by one bincount), its buffer, and the positions
        of the cell-coupling matrix U (factor)."""
        m1, e = self.m + 1, self.e
        self.rab4 = np.concatenate([self.rab + k * m1 for k in range(4)])
        self.twice4 = np.concatenate([self.twice + k * e for k in range(4)])
        self.buf4 = np.empty((4, e))
        self.pos_u = np.concatenate([self.ra, self.rb]) * self.ncell + np.concatenate([self.cid, self.cid])

    def marginals4(self, v, k=4):
        """marginals() of the first k (3 or 4) rows of v (4, E) at once: (k, M)."""
        m1, n = self.m + 1, k * self.e * 2
        sums = np.bincount(self.rab4[:n], v.ravel()[self.twice4[:n]], minlength=k * m1)
        return sums.reshape(k, m1)[:, : self.m]

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
        sab = scale[self.rab].reshape(2, self.e)
        v = d * sab[0] * sab[1]
        if qc is not None:
            u = self.u_buf
            u[self.pos_u] = (qc * sab).ravel()
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

    def solve_rows(self, chol, scale, rows):
        """solve() for right-hand sides given as the rows of ``rows`` (k, M); returns (M + 1, k)."""
        x, info = _lapack.dpotrs(chol, (rows * scale).T, lower=1)  # a Fortran view: no copy
        out = self.nu_buf[:, : rows.shape[0]]
        np.multiply(scale[:, None], x, out=out[: self.m])
        return out

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
        err = float(np.abs(res).max())
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
    cid = fl.cid
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
    newton_tried = not NEWTON_PHASE
    pred = None
    # Until the Newton phase has been tried, certify later (if it would come first: a tol that is not loose).
    pending = certify_from
    if np.isfinite(certify_from) and certify_from * tol_nats < NEWTON_FROM:
        pending = min(certify_from, CERTIFY_PENDING)
    extra = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for it in range(1, max_iter + 1):
            cells = fl.cell_sums(q)
            phi = np.expm1(s)
            comp = cells * phi
            mu = float(comp.sum()) / ncell
            if not newton_tried and mu * ncell < NEWTON_FROM:
                live = _live_cells(cells, phi, pred)
                if live is not None:
                    newton_tried = True
                    out = _newton_phase(fl, q, s, nu, live, tol_nats)
                    if TRACE is not None:
                        TRACE.append(("newton", it, out[1], out[2]))
                    extra = out[2]
                    if out[1] <= tol_nats:
                        return out[0], out[1], it + extra
            if mu * ncell < (certify_from if newton_tried else pending) * tol_nats or it > CERTIFY_AFTER:
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
                residual = False
            else:
                lq = np.log(q / cells[cid])
                residual = True  # the Newton step also removes the marginal residual
            try:
                dq, dqc, dnu, scl = _directions(fl, q, s, nu, cells, phi, comp, lq, residual)
            except (np.linalg.LinAlgError, ValueError):
                break
            pred = dqc[:, 0] / cells  # relative change of the cell masses the affine step asks for
            if TRACE is not None:
                TRACE.append(("pred", pred))
            # affine (target 0)
            ds0 = (-comp - phi * dqc[:, 0]) * scl
            step_aff = _max_step(s, ds0)
            comp_aff = fl.cell_sums(np.maximum(q + dq[:, 0], _CELL_SHRINK * q)) * np.expm1(s + step_aff * ds0)
            mu_aff = float(comp_aff.sum()) / ncell
            sigma = min(1.0, (mu_aff / mu) ** 3) if mu > 0 else 0.0
            t = sigma * mu
            mix = np.array((1.0, t))
            dqt = dq @ mix
            ds = (t - comp - phi * (dqc @ mix)) * scl
            if not math.isfinite(float(dqt.sum()) + float(ds.sum())):
                break
            step_d = _STEP_TO_BOUNDARY * _max_step(s, ds)
            if TRACE is not None:
                TRACE.append((it, mu * ncell, sigma, step_aff, step_d, float(best_gap)))
            q = np.maximum(q + dqt, _CELL_SHRINK * q)
            s = s + step_d * ds
            nu = nu + step_d * (dnu @ mix)
    return fl.dense(best_q, fl.ny), best_gap, it + extra


def _directions(fl, q, s, nu, cells, phi, comp, lq, residual):
    """Newton directions at (q, s, nu): columns (target 0, per unit centring target) of dq (E, 2), of its
    cell sums (cells, 2) and of dnu (M + 1, 2), and the factor e^-s / q(x1,x2) that turns them into ds."""
    cid, ra, rb = fl.cid, fl.ra, fl.rb
    # Normal equations: H^-1 = diag(q) + q q' / comp per cell; w = q / comp is H^-1 applied to the
    # centring direction e^-s / q(x1,x2) (per unit target), and q w the coupling weights.
    exp_neg_s = np.exp(-s)
    scl = exp_neg_s / cells
    w = q / comp[cid]
    qc2 = q * w
    # The right-hand side is affine in the centring target t: rhs0 + t * rhs1, rhs1 = e^-s / q(x1,x2).
    g = nu[ra] + nu[rb] + (s - phi * exp_neg_s)[cid] - lq
    qv = q * g
    buf = fl.buf4
    np.add(q, qc2, out=buf[0])
    np.multiply(w, fl.cell_sums(qv)[cid], out=buf[1])
    buf[1] += qv
    buf[2] = w
    if residual:
        buf[3] = q
    # the normal matrix's diagonal, A H^-1 rhs0, A H^-1 rhs1 (and A q)
    sums = fl.marginals4(buf, 4 if residual else 3)
    chol, scale = fl.factor(q, sums[0], np.sqrt(qc2))
    rn = sums[1:3]
    if residual:  # the step also removes the marginal residual: A dq = target - A q
        rn[0] += sums[3]
        rn[0] -= fl.target
    dnu = fl.solve_rows(chol, scale, rn)
    np.negative(dnu, out=dnu)
    two = dnu[ra] + dnu[rb]
    two[:, 0] += g
    two[:, 1] += scl[cid]
    dv = q[:, None] * two
    cs = fl.cell_sums(dv)
    dq = dv + w[:, None] * cs[cid]  # (E, 2)
    dqc = cs * (1.0 + 1.0 / phi)[:, None]  # cell sums of dq
    return dq, dqc, dnu, scl


def _live_cells(cells, phi, pred):
    """Cells that keep their mass, or None unless every cell is clearly live or clearly vanishing.

    ``ratio`` = (exp(s) - 1) / q(x1,x2) falls like mu on the live cells and grows like 1/mu on the vanishing
    ones; ``pred`` (the relative change of each cell's mass in the last affine step, None at first) sorts
    out the cells in between, e.g. a vanishing cell whose slack is itself small.
    """
    ratio = phi / cells
    live = ratio < LIVE_RATIO  # the unambiguous ones
    vanish = ratio > 1.0 / LIVE_RATIO
    if pred is not None:
        live |= (ratio < 1.0) & (pred > -PRED_LIVE)
        vanish |= pred < -PRED_VANISH
    if np.count_nonzero(live ^ vanish) == ratio.size:
        return live
    return None


def _newton_phase(fl, q, s, nu, live_cells, tol_nats):
    """Pure Newton steps on the problem restricted to the live cells; (q, gap, steps), gap inf on failure.

    Near the optimum the barrier's pace is set by the vanishing cells, whose mass a step may shrink tenfold
    at most (the clip). Once they are identified they are dropped (their mass set to 0) and the remaining
    problem is smooth with its solution inside: affine steps (centring target 0) converge fast. The
    restricted iterate, projected onto the marginals, is feasible for the full problem, and the bound is the
    full problem's cheap_bound (every cell, dropped ones included), so the certificate stays a true one; if
    the active set was wrong the gap stalls and the caller resumes the barrier from where it stood.
    """
    fr, keep = fl.restrict(live_cells)
    if np.any(np.bincount(fr.rab, minlength=fr.m + 1)[: fr.m] == 0):
        return None, np.inf, 0  # a marginal row would lose all its cells
    q = q[keep]
    s = s[live_cells]
    cid = fr.cid
    last = last_gap = np.inf
    for k in range(1, NEWTON_STEPS + 1):
        cells = fr.cell_sums(q)
        phi = np.expm1(s)
        comp = cells * phi
        total = float(comp.sum())
        if not total < NEWTON_RATE * last:
            return None, np.inf, k - 1
        last = total
        if total < NEWTON_CERTIFY * tol_nats or k == NEWTON_STEPS:
            try:
                q, err = _restore(fr, q)
            except (np.linalg.LinAlgError, ValueError):
                return None, np.inf, k
            cells = fr.cell_sums(q)
            lq = np.log(q / cells[cid])
            fval = float(q @ lq)
            gap = fval - fl.cheap_bound(nu) if err <= 4.0 * fl.floor else np.inf
            comp = cells * phi
            if TRACE is not None:
                TRACE.append(("nstep", k, float(comp.sum()), gap, err))
            if gap <= tol_nats:
                return fr.dense(q, fr.ny), gap, k
            if k == NEWTON_STEPS or not gap < 0.5 * last_gap:
                return None, np.inf, k  # too slow, or the gap stalls (a wrong active set)
            last_gap = gap
            residual = False
        else:
            lq = np.log(q / cells[cid])
            residual = True
        try:
            dq, dqc, dnu, scl = _directions(fr, q, s, nu, cells, phi, comp, lq, residual)
        except (np.linalg.LinAlgError, ValueError):
            return None, np.inf, k
        # Full steps; an entry shrinks tenfold and a live cell's slack by NEWTON_S_FLOOR at most.
        q = np.maximum(q + dq[:, 0], _CELL_SHRINK * q)
        s = np.maximum(s + (-comp - phi * dqc[:, 0]) * scl, NEWTON_S_FLOOR * s)
        nu = nu + dnu[:, 0]
    return None, np.inf, NEWTON_STEPS


def _max_step(x, dx):
    """Largest step in [0, 1] keeping the positive x positive: 1 / the fastest relative shrink rate."""
    rate = -float((dx / x).min())
    return 1.0 if rate <= 1.0 else 1.0 / rate
