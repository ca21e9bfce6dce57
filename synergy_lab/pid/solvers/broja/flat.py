"""Flat index structure of the lean BROJA path (lean.py): the active entries, their cells and marginal
rows, and the linear algebra and dual bounds on them.

* The active entries (x1, x2, y) are listed once, sorted by cell, with index arrays into their cell, their
  free (x1,y) row and their free (x2,y) row (the pinned beta of each y, and nothing else, maps to a dummy
  slot ``M`` whose multiplier stays 0). The multipliers are one vector ``nu`` = (alpha rows, beta rows, 0).
* Cell sums are np.add.reduceat over the sorted entries, marginal sums one np.bincount.
* The normal equations are factorised by normal.py (whole, or by alpha blocks and a beta Schur
  complement, whichever costs less).
"""

from __future__ import annotations

import numpy as np

from . import normal as _normal

# Reductions without the ndarray-method wrappers (a few us each on tiny arrays, hundreds of calls a solve).
_sum, _min, _max = np.add.reduce, np.minimum.reduce, np.maximum.reduce


class Flat:
    """Index structure of the active entries of a problem.Problem, and the linear algebra on them."""

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
        self.normal = _normal.normal_system(self)
        self.cb = np.empty((5, ncell))  # cell-level rows gathered to the entries at once (_directions)
        self.last_system = None  # (solve, q, w) of the last _directions call, for _restore

    def restrict(self, live_cells):
        """(the structure without the cells where ``live_cells`` is False, the kept entries). The rows stay
        (the caller checks each keeps an entry); cheap_bound and the dense helpers stay with ``self``."""
        keep = live_cells[self.cid]
        fr = object.__new__(Flat)  # a shallow copy (copy.copy is slower)
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
        ``diag`` = A d. ``solve`` returns the multipliers (rows of (k, M + 1), the dummy's 0 appended) for
        the right-hand sides in the rows of ``rows`` (k, M), as a view of a buffer. See normal.py: the
        dense or the block factorisation (BrojaOptions.normal)."""
        return self.normal.factor(d, diag, qc)

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

    def sinkhorn_bound(self, alpha, beta, cells):
        """Bound from multipliers read off the primal's cell masses by alternating best responses
        (problem.Problem.dual_bound's Sinkhorn candidate), stopped early once they settle."""
        prob = self.prob
        rounds = prob.options.sinkhorn_rounds
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
