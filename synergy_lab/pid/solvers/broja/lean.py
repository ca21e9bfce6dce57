"""Lean form of barrier.cell_barrier for small and medium problems (up to about 20x20x20).

At sizes like 8x8x8 the general solver's time is numpy call overhead on tiny arrays, not arithmetic. This
module runs the same cell-level primal-dual method on flat arrays of the active entries instead, and counts
numpy calls (about 2 us each here, some 60 an iteration):

* The active entries are listed once, sorted by cell, with index arrays into their cell and marginal rows
  (flat.Flat); cell-level factors are stacked and gathered to the entries in one call; the two
  right-hand sides are rows, not columns.
* The Newton system is reduced to the normal equations ``A H^-1 A' dnu = -A H^-1 rhs`` over all free
  marginal constraints at once (size M = free (x1,y) rows + free (x2,y) rows), factorised whole (one syrk,
  one Cholesky) or by alpha blocks and a beta Schur complement, whichever costs less (normal.py).
  The right-hand side is affine in the centring target, so one two-column solve gives every direction the
  step needs; the centring follows the last step's progress (cell_barrier).
* The start is the independent coupling with slacks partly centred (_start): about two iterations fewer
  than the dual feasible start.

* Newton phase: once the complementarity is small and every cell is clearly live or clearly vanishing, the
  vanishing cells are dropped and affine Newton steps on the live cells finish the solve in 2-3 steps
  instead of the barrier's ~5 (whose pace near the end is the tenfold-per-step clip of the vanishing
  cells). If that phase cannot certify (a wrong active set), the barrier resumes from where it stood.

The certificate is the same as the general path's: the primal is projected onto the marginals (to a few
ulps, with the last Newton factor when it can, _restore) before being evaluated, and the bound comes from
multipliers made feasible by row shifts. ``cell_barrier`` returns its best Attempt and leaves anything it
cannot certify to the general solver. Every tuning constant is a field of the problem's BrojaOptions
(``opts`` below).
"""

from __future__ import annotations

import math

import numpy as np

from .flat import Flat, _max, _min, _sum
from .problem import Attempt


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
        solve, q_old, w_old = fl.last_system
        for _ in range(fl.prob.options.reproject_rounds):
            nu = solve(res[None, :])[0]
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
    solve, last = None, np.inf
    for _ in range(rounds):
        if solve is None or err > 1e-3 * last:
            solve = fl.factor(q, sums)
        last = err
        nu = solve(res[None, :])[0]
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
    is largest on the light cells). Centring it (each cell's at start_mu / cells) measured about two
    iterations fewer on random tables, but the dual residual that leaves kept the barrier alone from
    certifying on a few; start_blend of the way there keeps the gain without that.
    """
    a, b, ny = prob.a, prob.b, fl.ny
    # (called under cell_barrier's errstate: rows and y without mass give inf/nan that are never used)
    b_py = b / prob.p_y
    q = (a[:, None, :] * b_py).ravel()[fl.flat]
    cells = np.add.reduceat(q, fl.starts)
    log_cells = np.log(cells)
    shift = -float(log_cells.max()) - 0.1
    s = np.maximum(np.subtract(-shift, log_cells), 1e-3)
    blend = prob.options.start_blend
    s *= 1.0 - blend
    s += blend * np.log1p((prob.options.start_mu / cells.size) / cells)
    # alpha = log a + shift + ref and beta = log(b / p_y) - ref with ref = log(b / p_y) of each y's
    # reference row: the reference beta is 0 and alpha + beta (hence the dual value) is unchanged.
    log_b_py = np.log(b_py)
    ref = log_b_py[prob.ref_b, np.arange(ny)]
    nu = np.empty(fl.m + 1)
    nu[: fl.na] = (np.log(a) + (ref + shift)).ravel()[fl.row_a]
    nu[fl.na : fl.m] = (log_b_py - ref).ravel()[fl.free_b]
    nu[fl.m] = 0.0
    return q, s, nu


def cell_barrier(prob, tol_nats, max_iter, thorough_bound, certify_from=None):
    """barrier.cell_barrier on flat arrays; returns an Attempt (q as a dense table, gap in nats, ...).

    ``thorough_bound(alpha, beta, q)`` is the expensive certified bound (dense arguments), used as the
    general solver uses it: near convergence, or once progress stalls. ``certify_from``: iterates are
    projected and certified once mu * cells < certify_from * tol (``np.inf``: at every iteration, as
    barrier.cell_barrier does; slower, but it recovers the rare tables where the deferred projection
    stalls).
    """
    opts, trace = prob.options, prob.trace
    if certify_from is None:
        certify_from = opts.certify_from
    fl = Flat(prob)
    cid, ncell, starts = fl.cid, fl.ncell, fl.starts
    it = stall = 0
    prev_total = None
    newton_tried = not opts.newton_phase
    last_affine = None  # (cell sums of dq, phi, comp) of the last affine step, for _live_cells
    # Until the Newton phase has been tried, certify later (if it would come first: a tol that is not loose).
    pending = certify_from
    if np.isfinite(certify_from) and certify_from * tol_nats < opts.newton_from:
        pending = min(certify_from, opts.certify_pending)
    extra = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        q, s, nu = _start(prob, fl)
        best_gap, best_q, best_nu = np.inf, q, nu
        for it in range(1, max_iter + 1):
            cells = np.add.reduceat(q, starts, out=fl.cb[0])
            phi = np.expm1(s)
            comp = cells * phi
            total = float(_sum(comp))
            if not math.isfinite(total):
                break
            mu = total / ncell
            if not newton_tried and total < opts.newton_from:
                pred = None  # the relative change of the cell masses the last affine step asked for
                if last_affine is not None:
                    dqc, phi_a, comp_a = last_affine
                    pred = dqc * (1.0 + phi_a) / comp_a
                live = _live_cells(cells, phi, pred, opts)
                if live is not None:
                    newton_tried = True
                    out = _newton_phase(fl, q, s, nu, live, tol_nats)
                    if trace is not None:
                        trace.append(("newton", it, out.gap, out.iterations))
                    extra = out.iterations
                    if out.gap <= tol_nats:
                        return out._replace(iterations=it + extra)
            residual = True  # the Newton step also removes the marginal residual
            if total < (certify_from if newton_tried else pending) * tol_nats or it > opts.certify_after:
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
                    best_gap, best_q, best_nu, stall = gap, q, nu, 0
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
            # Centring target sigma mu, sigma = (the last step's reduction of mu)^2 (the first first_sigma):
            # as few iterations as Mehrotra's (mu after the affine step / mu)^3 on random and stress tables,
            # without the ten numpy calls that evaluate the affine step.
            # (a float product: ** raises OverflowError where a ratio of tiny totals overflows its square)
            ratio = total / prev_total if prev_total else math.inf
            sigma = opts.first_sigma if prev_total is None else min(1.0, ratio * ratio)
            prev_total = total
            mix = np.array((1.0, sigma * mu))
            ds = mix @ ds2[0]
            step_d = opts.step_to_boundary * _max_step(s, ds)
            if trace is not None:
                trace.append(("lean", it, total, sigma, step_d, float(best_gap)))
            q = np.maximum(q + mix @ dq, q * opts.cell_shrink)
            s = s + step_d * ds
            mix *= step_d
            nu = nu - mix @ dnu
    return Attempt(fl.dense(best_q, fl.ny), best_gap, it + extra, fl.multipliers(best_nu), "lean")


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
    solve = fl.factor(q, sums[0], qc)
    fl.last_system = (solve, q, w)
    rn = sums[1:, : fl.m]
    if residual:
        rn[0] -= fl.target
    dnu = solve(rn)  # -dnu
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


def _live_cells(cells, phi, pred, opts):
    """Cells that keep their mass, or None unless every cell is clearly live or clearly vanishing.

    ``ratio`` = (exp(s) - 1) / q(x1,x2) falls like mu on the live cells and grows like 1/mu on the vanishing
    ones; ``pred`` (the relative change of each cell's mass in the last affine step, None at first) sorts
    out the cells in between, e.g. a vanishing cell whose slack is itself small.
    """
    ratio = phi / cells
    live = ratio < opts.live_ratio  # the unambiguous ones
    vanish = ratio > 1.0 / opts.live_ratio
    if pred is not None:
        live |= (ratio < 1.0) & (pred > -opts.pred_live)
        vanish |= pred < -opts.pred_vanish
    if np.count_nonzero(live ^ vanish) == ratio.size:
        return live
    return None


def _newton_phase(fl, q, s, nu, live_cells, tol_nats):
    """Pure Newton steps on the problem restricted to the live cells; an Attempt, gap inf on failure.

    Near the optimum the barrier's pace is set by the vanishing cells, whose mass a step may shrink tenfold
    at most (the clip). Once they are identified they are dropped (their mass set to 0) and the remaining
    problem is smooth with its solution inside: affine steps (centring target 0) converge fast. The
    restricted iterate, projected onto the marginals, is feasible for the full problem, and the bound is the
    full problem's cheap_bound (every cell, dropped ones included), so the certificate stays a true one; if
    the active set was wrong the gap stalls and the caller resumes the barrier from where it stood.
    """
    if not live_cells.any():
        return _failed(0)
    fr, keep = fl.restrict(live_cells)
    if np.any(np.bincount(fr.rab, minlength=fr.m + 1)[: fr.m] == 0):
        return _failed(0)  # a marginal row would lose all its cells
    q = q[keep]
    s = s[live_cells]
    opts, trace = fl.prob.options, fl.prob.trace
    last = last_gap = np.inf
    for k in range(1, opts.newton_steps + 1):
        cells = np.add.reduceat(q, fr.starts, out=fr.cb[0])
        phi = np.expm1(s)
        comp = cells * phi
        total = float(_sum(comp))
        if not total < opts.newton_rate * last:
            return _failed(k - 1)
        last = total
        residual = True
        if total < opts.newton_certify * tol_nats or k == opts.newton_steps:
            try:
                q, err = _restore(fr, q)
            except (np.linalg.LinAlgError, ValueError):
                return _failed(k)
            cells = np.add.reduceat(q, fr.starts, out=fr.cb[0])
            fval = float(q @ np.log(q / cells[fr.cid]))
            gap = fval - fl.cheap_bound(nu) if err <= 4.0 * fl.floor else np.inf
            comp = cells * phi
            if trace is not None:
                trace.append(("nstep", k, float(_sum(comp)), gap, err))
            if gap <= tol_nats:
                return Attempt(fr.dense(q, fr.ny), gap, k, fl.multipliers(nu), "newton")
            if k == opts.newton_steps or not gap < 0.5 * last_gap:
                return _failed(k)  # too slow, or the gap stalls (a wrong active set)
            last_gap = gap
            residual = False
        try:
            dq, ds2, dnu = _directions(fr, q, s, nu, cells, phi, comp, residual)
        except (np.linalg.LinAlgError, ValueError):
            return _failed(k)
        # Full steps; an entry shrinks tenfold and a live cell's slack by newton_s_floor at most.
        q = np.maximum(q + dq[0], opts.cell_shrink * q)
        s = np.maximum(s + ds2[0][0], opts.newton_s_floor * s)
        nu = nu - dnu[0]
    return _failed(opts.newton_steps)


def _max_step(x, dx):
    """Largest step in [0, 1] keeping the positive x positive: 1 / the fastest relative shrink rate."""
    rate = -float(_min(dx / x))
    return 1.0 if rate <= 1.0 else 1.0 / rate


def _failed(steps):
    return Attempt(None, np.inf, steps, None, "newton")
