"""Lean form of broja._cell_barrier for small and medium problems (up to about 20x20x20).

At sizes like 8x8x8 the general solver's time is numpy call overhead on tiny arrays, not arithmetic. This
module runs the same cell-level primal-dual method on flat arrays of the active entries instead, and counts
numpy calls (about 2 us each here, some 60 an iteration):

* The active entries (x1, x2, y) are listed once, sorted by cell, with index arrays into their cell, their
  free (x1,y) row and their free (x2,y) row (the pinned beta of each y, and nothing else, maps to a dummy
  slot ``M`` whose multiplier stays 0). The multipliers are one vector ``nu`` = (alpha rows, beta rows, 0).
* Cell sums are np.add.reduceat over the sorted entries, marginal sums one np.bincount; cell-level factors
  are stacked and gathered to the entries in one call; the two right-hand sides are rows, not columns.
* The Newton system is reduced to the normal equations ``A H^-1 A' dnu = -A H^-1 rhs`` over all free
  marginal constraints at once (size M = free (x1,y) rows + free (x2,y) rows), factorised whole (one syrk,
  one Cholesky) or by alpha blocks and a beta Schur complement, whichever costs less (_broja_normal).
  The right-hand side is affine in the centring target, so one two-column solve
  gives every direction the step needs; the centring follows the last step's progress (cell_barrier).
* The start is the independent coupling with slacks partly centred (_start): about two iterations fewer
  than the dual feasible start.

* Newton phase: once the complementarity is small and every cell is clearly live or clearly vanishing, the
  vanishing cells are dropped and affine Newton steps on the live cells finish the solve in 2-3 steps
  instead of the barrier's ~5 (whose pace near the end is the tenfold-per-step clip of the vanishing
  cells). If that phase cannot certify (a wrong active set), the barrier resumes from where it stood.

The certificate is the same as broja's: the primal is projected onto the marginals (to a few ulps, with the
last Newton factor when it can, _restore) before being evaluated, and the bound comes from multipliers made
feasible by row shifts. ``cell_barrier`` returns its best (q, gap, iterations) and leaves anything it cannot
certify to the general solver.
"""

from __future__ import annotations

import math

import numpy as np

from . import _broja_normal

_STEP_TO_BOUNDARY = 0.995
_CELL_SHRINK = 0.1
SINKHORN_ROUNDS = 30
#: Centring target of the first step, as a fraction of mu (later ones follow the progress, cell_barrier).
FIRST_SIGMA = 0.1
#: Rounds of _restore's projection with the last Newton system before it factorises its own.
REPROJECT_ROUNDS = 4
#: _start: its slacks START_BLEND of the way from dual feasible to centred (mu * cells = START_MU).
START_BLEND = 0.8
START_MU = 0.1
#: Iterates are projected and certified once the complementarity sum mu * cells is below this many tol, or
#: after this many iterations (before, the Newton steps carry the marginal residual instead).
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
# Reductions without the ndarray-method wrappers (a few us each on tiny arrays, hundreds of calls a solve).
_sum, _min, _max = np.add.reduce, np.minimum.reduce, np.maximum.reduce
TRACE = None  # set to a list to record the iterations while debugging


class _Flat:
    """Index structure of the active entries of a broja._Problem, and the linear algebra on them."""

    def __init__(self, prob):
        n1, n2, ny = prob.n1, prob.n2, prob.ny
        flat = prob.active.ravel().nonzero()[0]  # C order: sorted by cell (x1, x2)
        cell = flat // ny  # x1 * n2 + x2
        # Constraint rows: the free (x1,y) rows, then the free (x2,y) rows, then a dummy M for the pinned beta
        # of each y. An active entry's rows are never empty (its a(x1,y), b(x2,y) > 0), so the running counts
        # are the row numbers.
        row_a = prob.row_a.ravel()
        free_b = prob.free_b.ravel()
        amap = row_a.cumsum()
        na = int(amap[-1])
        bmap = free_b.cumsum()
        m = na + int(bmap[-1])
        amap -= 1
        bmap = np.where(free_b, bmap + (na - 1), m)
        # the row maps on the full (x1, x2, y) grid: amap repeated over x2, bmap over x1
        ra = np.repeat(amap.reshape(n1, ny), n2, axis=0).ravel()[flat]
        rb = np.concatenate([bmap] * n1)[flat]
        self.e, self.m, self.na = flat.size, m, na
        self.n1, self.n2, self.ny = n1, n2, ny
        self.flat, self.ra, self.rb = flat, ra, rb
        self.row_a, self.free_b = row_a, free_b
        self.prob = prob
        self.floor = prob.residual_floor
        self.target = np.concatenate([prob.a.ravel()[row_a], prob.b.ravel()[free_b]])
        self._indices(cell)

    # Entry coordinates, for tests and sinkhorn_bound (the solver itself never needs them).
    i1 = property(lambda self: self.flat // (self.n2 * self.ny))
    i2 = property(lambda self: self.flat // self.ny % self.n2)
    iy = property(lambda self: self.flat % self.ny)
    ia = property(lambda self: self.i1 * self.ny + self.iy)
    ib = property(lambda self: self.i2 * self.ny + self.iy)

    def _indices(self, cell):
        """Cells, index arrays and buffers that depend on the entries kept (restrict() redoes them)."""
        m, e, ra, rb = self.m, self.e, self.ra, self.rb
        first = np.empty(e, bool)
        first[0] = True
        np.not_equal(cell[1:], cell[:-1], out=first[1:])
        self.starts = first.nonzero()[0]
        self.starts2 = np.concatenate([self.starts, self.starts + e])  # both rows of a (2, E) array
        self.cid = first.cumsum()
        self.cid -= 1
        self.ncell = ncell = self.starts.size
        self.cell_pos = cell[self.starts]
        # Each entry lies in one (x1,y) row and one (x2,y) row: marginal sums are one bincount over rab of
        # the entry values written twice; ``rab3`` does three such vectors at once (buf3, _directions).
        self.rab = rab = np.concatenate([ra, rb])
        self.rab3 = np.add.outer((0, m + 1, 2 * m + 2), rab).ravel()
        self.buf3 = np.empty((3, 2, e))
        self.normal = _broja_normal.normal_system(self)
        self.cb = np.empty((5, ncell))  # cell-level rows gathered to the entries at once (_directions)
        self.last_system = None  # (factor, q, w) of the last _directions call, for _restore

    def restrict(self, live_cells):
        """(the structure without the cells where ``live_cells`` is False, the kept entries). The rows stay
        (the caller checks each keeps an entry); cheap_bound and the dense helpers stay with ``self``."""
        keep = live_cells[self.cid]
        fr = object.__new__(_Flat)  # a shallow copy (copy.copy is slower)
        fr.__dict__.update(self.__dict__)
        fr.ra, fr.rb, fr.flat = self.ra[keep], self.rb[keep], self.flat[keep]
        fr.e = fr.ra.size
        fr._indices(fr.flat // self.ny)
        return fr, keep

    def marginals(self, v):
        """A v: sums of v over each free (x1,y) and (x2,y) row."""
        return np.bincount(self.rab, np.concatenate([v, v]), minlength=self.m + 1)[: self.m]

    def dense(self, v, shape_last):
        out = np.zeros(self.n1 * self.n2 * shape_last)
        out[self.flat] = v
        return out.reshape(self.n1, self.n2, shape_last)

    def multipliers(self, nu):
        alpha = np.zeros(self.n1 * self.ny)
        beta = np.zeros(self.n2 * self.ny)
        alpha[self.row_a] = nu[: self.na]
        beta[self.free_b] = nu[self.na : self.m]
        return alpha.reshape(self.n1, self.ny), beta.reshape(self.n2, self.ny)

    def factor(self, d, diag, qc=None):
        """``solve(rows)`` for the normal matrix A diag(d) A' (+ U U' for the cell couplings ``qc``);
        ``diag`` = A d. See _broja_normal: the dense or the block factorisation, whichever is cheaper."""
        return self.normal.factor(d, diag, qc)

    @staticmethod
    def solve_rows(solve, rows):
        """Multipliers (rows of (k, M + 1), the dummy's 0 appended) from a factor() result, for the
        right-hand sides given as the rows of ``rows`` (k, M). The result is a view of a buffer."""
        return solve(rows)

    def cheap_bound(self, nu):
        """Certified lower bound from multipliers nu, made feasible by shifting rows of alpha or of beta."""
        z = nu[self.rab]
        return self._shifted(z[: self.e] + z[self.e :], float(nu[: self.m] @ self.target))

    def _shifted(self, z, base):
        zmax = np.maximum.reduceat(z, self.starts)
        lse = np.log(np.add.reduceat(np.exp(z - zmax[self.cid]), self.starts))
        lse += zmax
        full = np.full(self.n1 * self.n2, -np.inf)
        full[self.cell_pos] = lse
        full = full.reshape(self.n1, self.n2)
        # Each row's largest violation; a row without cells (-inf) has no mass, so any finite value will do.
        w1 = np.maximum(_max(full, axis=1), -1e300)
        w2 = np.maximum(_max(full, axis=0), -1e300)
        a, b = self.prob.a, self.prob.b
        return max(base - float(w1 @ _sum(a, axis=1)), base - float(w2 @ _sum(b, axis=1)))

    def sinkhorn_bound(self, alpha, beta, cells, rounds=SINKHORN_ROUNDS):
        """Bound from multipliers read off the primal's cell masses by alternating best responses
        (broja._Problem.dual_bound's Sinkhorn candidate), stopped early once they settle."""
        prob = self.prob
        ok_a, ok_b = prob.row_a, prob.row_b
        log_a = np.log(np.where(ok_a, prob.a, 1.0))
        log_b = np.log(np.where(ok_b, prob.b, 1.0))
        cm = np.zeros(self.n1 * self.n2)
        cm[self.cell_pos] = cells
        cm = cm.reshape(self.n1, self.n2)
        for k in range(rounds):
            m = beta.max(axis=0)
            new = log_a - np.log(cm @ np.exp(beta - m)) - m
            alpha = np.where(ok_a, new, 0.0)
            m = alpha.max(axis=0)
            new = log_b - np.log(cm.T @ np.exp(alpha - m)) - m
            change = np.abs(new - beta)
            beta = np.where(ok_b, new, 0.0)
            if k >= 2 and float(np.max(np.where(ok_b, change, 0.0))) < 1e-15:
                break
        alpha = np.where(np.isfinite(alpha), alpha, 0.0)
        beta = np.where(np.isfinite(beta), beta, 0.0)  # then as cheap_bound, for dense alpha and beta
        z = alpha.ravel()[self.ia] + beta.ravel()[self.ib]
        return self._shifted(z, float(np.sum(alpha * prob.a) + np.sum(beta * prob.b)))


def _restore(fl, q, rounds=8):
    """Project q onto the free marginals; return (q, largest marginal residual).

    First with the last Newton system (_directions' factor of K = A H^-1 A' at the previous iterate): no new
    factorisation, dq = H^-1 A' nu with K nu = the residual, refined while it helps (H^-1 is ill-conditioned
    near convergence). If that stalls or an entry would not stay positive: q exp(A' nu) in the q-weighted
    norm with a factor of its own, reused while the residual keeps falling fast.
    """
    sums = fl.marginals(q)
    res = fl.target - sums
    err = float(_max(np.abs(res)))
    if err <= fl.floor:
        return q, err
    if fl.last_system is not None:
        chol, q_old, w_old = fl.last_system
        for _ in range(REPROJECT_ROUNDS):
            nu = fl.solve_rows(chol, res[None, :])[0]
            v = q_old * (nu[fl.ra] + nu[fl.rb])
            new = w_old * np.add.reduceat(v, fl.starts)[fl.cid]
            new += v
            new += q
            if not float(_min(new)) > 0.0:
                break
            new_sums = fl.marginals(new)
            new_res = fl.target - new_sums
            new_err = float(_max(np.abs(new_res)))
            if not new_err < err:
                break
            q, sums, res, err = new, new_sums, new_res, new_err
            if err <= fl.floor:
                return q, err
    chol, last = None, np.inf
    for _ in range(rounds):
        if chol is None or err > 1e-3 * last:
            chol = fl.factor(q, sums)
        last = err
        nu = fl.solve_rows(chol, res[None, :])[0]
        q = q * np.exp(np.minimum(nu[fl.ra] + nu[fl.rb], 50.0))
        sums = fl.marginals(q)
        res = fl.target - sums
        err = float(_max(np.abs(res)))
        if err <= fl.floor:
            break
    return q, err


def _start(prob, fl):
    """(q, s, nu) to start from: the independent coupling q = p(x1,y) p(x2,y) / p(y), multipliers with
    alpha + beta = log q + shift (each y's reference beta at 0), slacks between dual feasible and centred.

    s = -log q(x1,x2) - shift is dual feasible but far from centred (the complementarity q(x1,x2) (e^s - 1)
    is largest on the light cells). Centring it (each cell's at START_MU / cells) measured about two
    iterations fewer on random tables, but the dual residual that leaves kept the barrier alone from
    certifying on a few; START_BLEND of the way there keeps the gain without that.
    """
    a, b, ny = prob.a, prob.b, fl.ny
    # (called under cell_barrier's errstate: rows and y without mass give inf/nan that are never used)
    b_py = b / prob.p_y
    q = (a[:, None, :] * b_py).ravel()[fl.flat]
    cells = np.add.reduceat(q, fl.starts)
    log_cells = np.log(cells)
    shift = -float(log_cells.max()) - 0.1
    s = np.maximum(np.subtract(-shift, log_cells), 1e-3)
    s *= 1.0 - START_BLEND
    s += START_BLEND * np.log1p((START_MU / cells.size) / cells)
    # alpha = log a + shift + ref and beta = log(b / p_y) - ref with ref = log(b / p_y) of each y's
    # reference row: the reference beta is 0 and alpha + beta (hence the dual value) is unchanged.
    log_b_py = np.log(b_py)
    ref = log_b_py[prob.ref_b, np.arange(ny)]
    nu = np.empty(fl.m + 1)
    nu[: fl.na] = (np.log(a) + (ref + shift)).ravel()[fl.row_a]
    nu[fl.na : fl.m] = (log_b_py - ref).ravel()[fl.free_b]
    nu[fl.m] = 0.0
    return q, s, nu


def cell_barrier(prob, tol_nats, max_iter, thorough_bound, certify_from=CERTIFY_FROM):
    """broja._cell_barrier on flat arrays; returns (q as a dense table, gap in nats, iterations).

    ``thorough_bound(alpha, beta, q)`` is the expensive certified bound (dense arguments), used as the
    general solver uses it: near convergence, or once progress stalls. ``certify_from``: iterates are
    projected and certified once mu * cells < certify_from * tol (``np.inf``: at every iteration, as
    broja._cell_barrier does; slower, but it recovers the rare tables where the deferred projection stalls).
    """
    fl = _Flat(prob)
    cid, ncell, starts = fl.cid, fl.ncell, fl.starts
    it = stall = 0
    prev_total = None
    newton_tried = not NEWTON_PHASE
    last_affine = None  # (cell sums of dq, phi, comp) of the last affine step, for _live_cells
    # Until the Newton phase has been tried, certify later (if it would come first: a tol that is not loose).
    pending = certify_from
    if np.isfinite(certify_from) and certify_from * tol_nats < NEWTON_FROM:
        pending = min(certify_from, CERTIFY_PENDING)
    extra = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        q, s, nu = _start(prob, fl)
        best_gap, best_q = np.inf, q
        for it in range(1, max_iter + 1):
            cells = np.add.reduceat(q, starts, out=fl.cb[0])
            phi = np.expm1(s)
            comp = cells * phi
            total = float(_sum(comp))
            if not math.isfinite(total):
                break
            mu = total / ncell
            if not newton_tried and total < NEWTON_FROM:
                pred = None  # the relative change of the cell masses the last affine step asked for
                if last_affine is not None:
                    dqc, phi_a, comp_a = last_affine
                    pred = dqc * (1.0 + phi_a) / comp_a
                live = _live_cells(cells, phi, pred)
                if live is not None:
                    newton_tried = True
                    out = _newton_phase(fl, q, s, nu, live, tol_nats)
                    if TRACE is not None:
                        TRACE.append(("newton", it, out[1], out[2]))
                    extra = out[2]
                    if out[1] <= tol_nats:
                        return out[0], out[1], it + extra
            residual = True  # the Newton step also removes the marginal residual
            if total < (certify_from if newton_tried else pending) * tol_nats or it > CERTIFY_AFTER:
                # Certify: project onto the marginals (to a few ulps) and bound with the current multipliers.
                try:
                    q, err = _restore(fl, q)
                except (np.linalg.LinAlgError, ValueError):
                    break
                cells = np.add.reduceat(q, starts, out=fl.cb[0])
                fval = float(q @ np.log(q / cells[cid]))
                feasible = err <= 4.0 * fl.floor
                gap = fval - fl.cheap_bound(nu) if feasible else np.inf
                comp = cells * phi
                total = float(_sum(comp))
                mu = total / ncell
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
            try:
                dq, ds2, dnu = _directions(fl, q, s, nu, cells, phi, comp, residual)
            except (np.linalg.LinAlgError, ValueError):
                break
            if not newton_tried:
                last_affine = (ds2[1], phi, comp)  # ds2[1]: the cell sums of the affine dq (_directions)
            # Centring target sigma mu, sigma = (the last step's reduction of mu)^2 (the first FIRST_SIGMA):
            # as few iterations as Mehrotra's (mu after the affine step / mu)^3 on random and stress tables,
            # without the ten numpy calls that evaluate the affine step.
            sigma = FIRST_SIGMA if prev_total is None else min(1.0, (total / prev_total) ** 2)
            prev_total = total
            mix = np.array((1.0, sigma * mu))
            ds = mix @ ds2[0]
            step_d = _STEP_TO_BOUNDARY * _max_step(s, ds)
            if TRACE is not None:
                TRACE.append((it, total, sigma, step_d, float(best_gap)))
            q = np.maximum(q + mix @ dq, q * _CELL_SHRINK)
            s = s + step_d * ds
            mix *= step_d
            nu = nu - mix @ dnu
    return fl.dense(best_q, fl.ny), best_gap, it + extra


def _directions(fl, q, s, nu, cells, phi, comp, residual):
    """Newton directions at (q, s, nu), as columns (target 0, per unit centring target).

    Returns dq (2, E); ``ds2`` = (ds (2, cells), cell sums of the affine dq (cells,)); and -dnu (2, M + 1),
    the negated multiplier directions (a view of a buffer: use before the next solve). The two columns
    are rows: numpy's fancy indexing and reductions are several times slower across a short last axis.
    ``residual``: the step also removes the marginal residual (A dq = target - A q).
    """
    cid, starts = fl.cid, fl.starts
    # Normal equations: H^-1 = diag(q) + q q' / comp per cell. With qc = q / sqrt(comp), w = q / comp is
    # H^-1 applied to the centring direction e^-s / q(x1,x2) (per unit target) and qc the coupling weights.
    # Cell-level rows, gathered to the entries in one call: q(x1,x2) (there already), comp^-1/2,
    # s - phi e^-s, e^-s - 1 = -phi e^-s, e^-s / q(x1,x2).
    cb = fl.cb
    em = np.expm1(-s, out=cb[3])  # without cancellation for small s
    np.reciprocal(np.sqrt(comp, out=cb[1]), out=cb[1])  # (np.power is twice as slow)
    np.add(s, em, out=cb[2])
    np.divide(em + 1.0, cells, out=cb[4])
    ce = cb.take(cid, axis=1)
    buf = fl.buf3
    buf[0] = q  # A q: the diagonal of A diag(q) A' (that of U U' comes with it from the syrk)
    qc = q * ce[1]
    w = np.multiply(qc, ce[1], out=buf[2, 0])
    # Dual residual -grad + alpha + beta + s (the right-hand side for target 0); the target's own column is
    # e^-s / q(x1,x2) per unit target.
    rhs = ce[3:]  # its second row: e^-s / q(x1,x2) per entry
    g = rhs[0]
    nab = nu[fl.rab]
    np.add(nab[: fl.e], nab[fl.e :], out=g)
    g += ce[2]
    g -= np.log(q / ce[0])
    qv = q * g
    hr = np.multiply(w, np.add.reduceat(qv, starts)[cid], out=buf[1, 0])  # A H^-1 rhs0 (and A q)
    hr += qv
    if residual:
        hr += q
    buf[1:, 1] = buf[1:, 0]
    sums = np.bincount(fl.rab3, buf.ravel(), minlength=3 * (fl.m + 1)).reshape(3, fl.m + 1)  # A of each row
    chol = fl.factor(q, sums[0], qc)
    fl.last_system = (chol, q, w)
    rn = sums[1:, : fl.m]
    if residual:
        rn[0] -= fl.target
    dnu = fl.solve_rows(chol, rn)  # -dnu
    nab = dnu.take(fl.rab, axis=1)
    two = rhs - nab[:, : fl.e]
    two -= nab[:, fl.e :]
    dv = q * two
    cs = np.add.reduceat(dv.ravel(), fl.starts2).reshape(2, -1)  # (faster than along axis 1)
    dq = w * cs.take(cid, axis=1)
    dq += dv
    # ds = (t - comp - phi dq(x1,x2)) e^-s / q(x1,x2); with dq(x1,x2) = cs (1 + 1 / phi) that is
    # [e^-s - 1, e^-s / q(x1,x2)] - cs / q(x1,x2) for the two columns.
    ds = cb[3:] - cs / cells
    return dq, (ds, cs[0]), dnu


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
    if not live_cells.any():
        return None, np.inf, 0
    fr, keep = fl.restrict(live_cells)
    if np.any(np.bincount(fr.rab, minlength=fr.m + 1)[: fr.m] == 0):
        return None, np.inf, 0  # a marginal row would lose all its cells
    q = q[keep]
    s = s[live_cells]
    last = last_gap = np.inf
    for k in range(1, NEWTON_STEPS + 1):
        cells = np.add.reduceat(q, fr.starts, out=fr.cb[0])
        phi = np.expm1(s)
        comp = cells * phi
        total = float(_sum(comp))
        if not total < NEWTON_RATE * last:
            return None, np.inf, k - 1
        last = total
        residual = True
        if total < NEWTON_CERTIFY * tol_nats or k == NEWTON_STEPS:
            try:
                q, err = _restore(fr, q)
            except (np.linalg.LinAlgError, ValueError):
                return None, np.inf, k
            cells = np.add.reduceat(q, fr.starts, out=fr.cb[0])
            fval = float(q @ np.log(q / cells[fr.cid]))
            gap = fval - fl.cheap_bound(nu) if err <= 4.0 * fl.floor else np.inf
            comp = cells * phi
            if TRACE is not None:
                TRACE.append(("nstep", k, float(_sum(comp)), gap, err))
            if gap <= tol_nats:
                return fr.dense(q, fr.ny), gap, k
            if k == NEWTON_STEPS or not gap < 0.5 * last_gap:
                return None, np.inf, k  # too slow, or the gap stalls (a wrong active set)
            last_gap = gap
            residual = False
        try:
            dq, ds2, dnu = _directions(fr, q, s, nu, cells, phi, comp, residual)
        except (np.linalg.LinAlgError, ValueError):
            return None, np.inf, k
        # Full steps; an entry shrinks tenfold and a live cell's slack by NEWTON_S_FLOOR at most.
        q = np.maximum(q + dq[0], _CELL_SHRINK * q)
        s = np.maximum(s + ds2[0][0], NEWTON_S_FLOOR * s)
        nu = nu - dnu[0]
    return None, np.inf, NEWTON_STEPS


def _max_step(x, dx):
    """Largest step in [0, 1] keeping the positive x positive: 1 / the fastest relative shrink rate."""
    rate = -float(_min(dx / x))
    return 1.0 if rate <= 1.0 else 1.0 / rate
