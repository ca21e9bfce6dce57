"""Entry point of the BROJA solver: option checks, empty slices, tiny entries, the choice of method."""

from __future__ import annotations

import time

import numpy as np
from scipy.special import entr as _entr

from ..._base import integer_at_least, positive_number
from ..._tables import LN2
from . import lean
from .barrier import cell_barrier, entry_barrier
from .normal import block_flops, dense_flops
from .options import DEFAULT_OPTIONS, DEFAULT_TOL_BITS, PATHS, STALL_TOL_BITS, BrojaOptions
from .problem import Attempt, Problem, system_flops


class BrojaConvergenceError(ArithmeticError):
    """The interior-point method could not certify the requested optimality gap."""


def solve_broja(p, tol=DEFAULT_TOL_BITS, max_iter=200, *, path="auto", options=None, trace=False):
    """Minimise I_q(X1,X2;Y) over the tables q that keep p's (X1,Y) and (X2,Y) marginals.

    Parameters
    ----------
    p : numpy.ndarray, shape (n1, n2, ny)
        A validated joint table (:func:`synergy_lab.pid.validate_table`).
    tol : float
        Stop once the certified optimality gap is at most ``tol`` bits.
    max_iter : int
        Interior-point iterations per method before giving up.
    path : {"auto", "lean", "general", "entry"}
        The method tried first: ``"auto"`` picks the lean path (flat arrays, for tables up to about
        20x20x20) or the general cell barrier by their cost; ``"lean"`` and ``"general"`` force one, the
        others following as fallbacks when it cannot certify ``tol``; ``"entry"`` runs only the
        entry-level barrier (the last fallback).
    options : BrojaOptions, optional
        Tuning constants (defaults: the measured choices).
    trace : bool
        Record the iterations of every method in ``info["trace"]`` (tuples, method name first).

    Returns
    -------
    q : numpy.ndarray, shape (n1, n2, ny)
        The minimiser, in the original alphabet (rows and columns of p that are zero stay zero).
    union_bits : float
        ``I_q(X1,X2;Y)`` at ``q`` (an upper bound on the minimum, within ``gap`` of it).
    gap_bits : float
        Certified optimality gap: the minimum lies in ``[union_bits - gap_bits, union_bits]``.
    info : dict
        ``iterations`` (all methods together), ``seconds``, ``n_active`` (nonzero entries of q),
        ``method`` (the one whose answer is returned: "trivial", "lean", "newton" (the lean path's
        Newton phase), "general" or "entry"), ``split`` (whether tiny entries were set aside) and, with
        ``trace=True``, ``trace``.

    Raises
    ------
    TypeError, ValueError
        ``tol`` is not a positive finite number, ``max_iter`` not a positive integer, ``path`` not one of
        the above or ``options`` not a BrojaOptions.
    BrojaConvergenceError
        No certificate within ``max(tol, STALL_TOL_BITS)`` (the message gives p's own shape).
    """
    tol, max_iter = check_options(tol, max_iter)
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    if options is None:
        options = DEFAULT_OPTIONS
    elif not isinstance(options, BrojaOptions):
        raise TypeError(f"options must be a BrojaOptions, got {type(options).__name__}")
    run = _Run(tol * LN2, max_iter, path, options, [] if trace else None)
    t0 = time.perf_counter()
    reduced, keep = _drop_empty(p)
    best = run.solve_split(reduced, p.shape)
    if keep is None:
        q = np.array(best.q, dtype=p.dtype)
    else:
        q = np.zeros_like(p)
        q[np.ix_(*keep)] = best.q

    # I_q(X1,X2;Y) = H(Y) - H_q(X1,X2,Y) + H_q(X1,X2) (entr(x) = -x ln x, 0 at 0)
    p_y = p.sum(axis=(0, 1))
    union_bits = float(_entr(p_y).sum() - _entr(q).sum() + _entr(q.sum(axis=2)).sum()) / LN2
    info = {
        "iterations": run.iterations,
        "seconds": time.perf_counter() - t0,
        "n_active": int(np.count_nonzero(q)),
        "method": best.method,
        "split": run.split,
    }
    if trace:
        info["trace"] = run.trace
    return q, union_bits, max(best.gap, 0.0) / LN2, info


def check_options(tol, max_iter):
    """Validated (tol, max_iter): a positive finite number of bits and a positive integer."""
    return positive_number("tol", tol), integer_at_least("max_iter", max_iter, 1)


def _drop_empty(p):
    """(p without its empty x1, x2 and y slices, the kept index masks or None if nothing is dropped).

    Lossless: an empty slice carries no mass in p, hence none in any q with p's marginals.
    """
    if p.all():  # no zero entry: no empty slice either (the usual case, one reduction)
        return p, None
    p_1y = p.sum(axis=1)
    keep = (p_1y.sum(axis=1) > 0, p.sum(axis=(0, 2)) > 0, p_1y.sum(axis=0) > 0)
    if all(k.all() for k in keep):
        return p, None
    return p[np.ix_(*keep)], keep


class _Run:
    """One solve_broja call: its settings, and the iterations and trace accumulated over its methods."""

    def __init__(self, tol_nats, max_iter, path, options, trace):
        self.tol, self.max_iter, self.path = tol_nats, max_iter, path
        self.options, self.trace = options, trace
        self.iterations = 0
        self.split = False

    def solve_split(self, p, user_shape):
        """Solve the reduced table p, setting its tiny entries aside first when it has any.

        Entries below ``options.tiny_mass`` (masses near the end of the float range, e.g. 1e-179 beside 1)
        make the interior point's systems ill-conditioned. They are set aside: the table without them (the
        core) is solved, and its solution is certified on p itself, so nothing about p is approximated:

        * primal: q = q_core + r, with r the entries set aside, keeps p's marginals exactly as q_core keeps
          the core's. F is convex and positively homogeneous, hence subadditive, and F(r) <= 0, so
          F(q) <= F(q_core): q is at least as good for p as q_core is for the core.
        * dual: the core's multipliers, extended to the marginal rows that only the tiny entries populate
          (_extend_duals), are made feasible for p's cells and bound p's minimum from below
          (Problem.dual_bound, with its repairs and Sinkhorn candidates).

        The reported gap is therefore p's own certified gap; it exceeds the core's by about
        max |multiplier| times the mass set aside (below 1e-13 nats for tiny_mass = 1e-18). If that
        certificate misses ``tol``, p is solved whole, and the better certificate is kept.
        """
        tiny_mass = self.options.tiny_mass
        best = Attempt(None, np.inf, 0, None, "")
        tiny = (p > 0) & (p < tiny_mass) if float(p.min()) < tiny_mass else None
        if tiny is not None and tiny.any():
            self.split = True
            core = np.where(tiny, 0.0, p)
            got = self.solve_reduced(core)
            if np.isfinite(got.gap):
                q = got.q + np.where(tiny, p, 0.0)
                best = got._replace(q=q, gap=self._certify(p, core, q, got.duals))
                if best.gap <= self.tol:
                    return best
        got = self.solve_reduced(p)
        if got.gap < best.gap:
            best = got
        if best.gap <= max(self.tol, STALL_TOL_BITS * LN2):  # tol met, or a stall close enough
            return best
        raise BrojaConvergenceError(
            f"BROJA interior point stopped at a certified gap of {best.gap / LN2:.3e} bits after "
            f"{self.iterations} iterations (table shape {tuple(user_shape)}); requested {self.tol / LN2:.1e}"
        )

    def solve_reduced(self, p):
        """The best Attempt on p without its empty slices, its larger source first, in p's coordinates.

        Its multipliers are zero on p's empty rows and wherever the method returned none.
        """
        reduced, keep = _drop_empty(p)
        swapped = reduced.shape[1] > reduced.shape[0]
        if swapped:  # the dense factorisation is over the second source: make it the smaller one
            reduced = reduced.transpose(1, 0, 2)
        got = self.interior_point(reduced)
        alpha, beta = got.duals or (np.zeros(reduced.shape[::2]), np.zeros(reduced.shape[1:]))
        q = got.q
        if swapped:
            q, alpha, beta = q.transpose(1, 0, 2), beta, alpha
        if keep is not None:
            q_full = np.zeros_like(p)
            q_full[np.ix_(*keep)] = q
            full_alpha, full_beta = np.zeros(p.shape[::2]), np.zeros(p.shape[1:])
            full_alpha[np.ix_(keep[0], keep[2])] = alpha
            full_beta[np.ix_(keep[1], keep[2])] = beta
            q, alpha, beta = q_full, full_alpha, full_beta
        return got._replace(q=q, duals=(alpha, beta))

    def interior_point(self, p):
        """The methods in turn (see solve_broja's ``path``) until one certifies ``tol``; the best Attempt."""
        prob = Problem(p, self.options, self.trace)
        n1, n2, ny = p.shape
        if ny == 1 or n1 == 1 or n2 == 1 or is_vertex(prob):
            # Every q with these marginals has the same I_q (ny == 1), or the feasible set is the point p.
            return Attempt(p.copy(), 0.0, 0, None, "trivial")
        tol, max_iter, opts = self.tol, self.max_iter, self.options
        best = Attempt(None, np.inf, 0, None, "")
        lean_tried = False
        if self.path == "lean" or (self.path == "auto" and choose_path(prob) == "lean"):
            lean_tried = True

            def thorough(alpha, beta, q):
                return prob.dual_bound(alpha, beta, q, thorough=True)

            for certify_from in (opts.certify_from, np.inf):
                best = self._better(best, lean.cell_barrier(prob, tol, max_iter, thorough, certify_from))
                if best.gap <= tol:
                    return best
        if self.path != "entry":
            # Deferred certification first (unless the lean path already tried it), then every iterate.
            for certify_from in (np.inf,) if lean_tried else (opts.certify_from, np.inf):
                best = self._better(best, cell_barrier(prob, tol, max_iter, certify_from))
                if best.gap <= tol:
                    return best
        return self._better(best, entry_barrier(prob, tol, max_iter))

    def _better(self, best, got):
        self.iterations += got.iterations
        return got if got.gap < best.gap or best.q is None else best

    def _certify(self, p, core, q, duals):
        """Certified gap (nats) of q for the table p, from the core's multipliers (see solve_split)."""
        prob = Problem(p, self.options)
        if prob.marginal_error(q) > 4.0 * prob.residual_floor:
            return np.inf
        alpha, beta = _extend_duals(prob, core, duals, self.options.split_margin)
        fval = prob.objective(q)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            bound = prob.dual_bound(alpha, beta, q, thorough=True, enough=fval - self.tol)
        return fval - bound if np.isfinite(bound) else np.inf


def _extend_duals(prob, core, duals, margin):
    """The core's multipliers with values for p's marginal rows that are empty in the core.

    Such a row's multiplier is set ``margin`` nats below minus the largest multiplier it is paired with, so
    each of its terms adds at most exp(-margin) to a cell's logsumexp: the cells stay (nearly) feasible, and
    the row's mass is tiny, so the dual value barely moves.
    """
    alpha, beta = duals
    core_a, core_b = core.sum(axis=1) > 0, core.sum(axis=0) > 0
    if np.array_equal(core_a, prob.row_a) and np.array_equal(core_b, prob.row_b):
        return alpha, beta  # the usual case: every row keeps some mass that is not tiny
    top_a = np.max(np.where(core_a, alpha, -np.inf), axis=0)
    beta = np.where(prob.row_b & ~core_b, -np.where(np.isfinite(top_a), top_a, 0.0) - margin, beta)
    top_b = np.max(np.where(prob.row_b, beta, -np.inf), axis=0)
    alpha = np.where(prob.row_a & ~core_a, -np.where(np.isfinite(top_b), top_b, 0.0) - margin, alpha)
    return alpha, beta


def choose_path(prob):
    """``"lean"`` where the lean path is expected to be faster than the general one, else ``"general"``.

    Its factorisations (dense, or alpha blocks then a beta Schur complement: normal.py) cost more flops
    than the general cell system on large or long-y tables, but it needs fewer numpy calls, and its
    Newton phase fewer iterations: it is taken while its flops are within ``lean_flop_factor`` of the
    general path's plus ``general_overhead_flops`` (BrojaOptions).
    """
    opts = prob.options
    m = int(np.count_nonzero(prob.row_a)) + int(np.count_nonzero(prob.free_b))
    ncell = int(np.count_nonzero(prob.active.any(axis=2)))
    n1, n2, ny = prob.n1, prob.n2, prob.ny
    lean_flops = min(dense_flops(m, ncell), block_flops(n1, n2, ny, opts.block_overhead_flops))
    general = opts.lean_flop_factor * min(system_flops(n1, n2, ny)) + opts.general_overhead_flops
    return "lean" if lean_flops <= general else "general"


def is_vertex(prob):
    """True when every row of one marginal has a single active cell: then q = p is the only feasible table.

    Every row (x1,y) with p(x1,y) > 0 has at least one active entry (any x2 with p(x1,x2,y) > 0) and the
    others none, so that is the case exactly when the active entries are as many as those rows.
    """
    n = prob.n_active
    return n == int(np.count_nonzero(prob.row_a)) or n == int(np.count_nonzero(prob.row_b))
