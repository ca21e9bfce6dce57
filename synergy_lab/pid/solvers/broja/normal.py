"""Normal equations of the lean BROJA path (lean.py): factorise K = A diag(d) A' + U U', solve K x = r.

A is the incidence of the active entries in the free marginal constraints (the (x1,y) rows, then the free
(x2,y) rows; the pinned beta of each y is left out), U = A diag(qc) C' the per-cell couplings (C: entry to
cell). Two exact factorisations of the same matrix, chosen per problem by their cost or by
``BrojaOptions.normal`` (``normal_system``):

* ``DenseNormal``: the whole M x M matrix (U U' by one BLAS syrk over the cells, A diag(d) A' scattered
  in) and one Cholesky. Fewest numpy calls: the choice at 8x8x8, where calls cost more than arithmetic.
* ``BlockNormal``: K's alpha block is block diagonal (a cell couples the (x1,y) rows of its own x1 only),
  so it is factorised as n1 blocks of ny x ny; only the Schur complement in the beta rows, of size n2*ny,
  is dense. This is the same block Cholesky as the dense one in the same row order, at a fraction of its
  arithmetic once the problem has a few hundred constraints (16x16x16: M = 496, Schur size 256).
  It works on the full (x, y) grids: rows without a constraint (absent or pinned) are identity rows
  decoupled from the rest, so their multiplier solves to 0.

Both return ``solve(rows)``: multipliers (k, M + 1) for the k right-hand sides in the rows of ``rows``
(k, M), with a trailing 0 (the dummy slot of the pinned betas), in a buffer reused by the next solve.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas as _blas
from scipy.linalg import lapack as _lapack


def dense_flops(m, ncell):
    """Flops of DenseNormal.factor: syrk over the cells, Cholesky of size M."""
    return m * m * ncell / 2.0 + m**3 / 3.0


def block_flops(n1, n2, ny, overhead):
    """Flops of BlockNormal.factor (Schur syrk, its Cholesky, the alpha-block solves) plus ``overhead``
    (BrojaOptions.block_overhead_flops: its extra numpy calls, in flop equivalents)."""
    nb = n2 * ny
    return nb * nb * n1 * ny / 2.0 + nb**3 / 3.0 + n1 * ny * ny * nb + overhead


def normal_system(fl):
    """The factorisation for the structure ``fl`` (a flat.Flat): BrojaOptions.normal, or the cheaper."""
    opts = fl.prob.options
    if opts.normal == "block":
        return BlockNormal(fl)
    if opts.normal == "dense":
        return DenseNormal(fl)
    if block_flops(fl.n1, fl.n2, fl.ny, opts.block_overhead_flops) < dense_flops(fl.m, fl.ncell):
        return BlockNormal(fl)
    return DenseNormal(fl)


def _ridged(attempt):
    return 1.0 + 10.0 ** (-16 + 2 * attempt) if attempt else 1.0


class DenseNormal:
    """Cholesky of the whole normal matrix (see the module docstring)."""

    def __init__(self, fl):
        m, e, ncell = fl.m, fl.e, fl.ncell
        self.m = m
        # The lower triangle of a Fortran-order array: entry (rb, ra) of each active entry (rb > ra) at flat
        # position ra * m + rb; a pinned beta's (rb == m) lands on (0, ra + 1), in the upper triangle LAPACK
        # never reads (ra + 1 < m: some beta row is free, or _is_vertex held).
        self.pos_lo = fl.ra * m + fl.rb
        # (M+1, cells) cell-coupling matrix U, row M a dummy; only these positions are ever written.
        self.pos_u = fl.rab.reshape(2, e) * ncell + fl.cid
        self.u_buf = np.zeros((m + 1) * ncell)
        self.ncell = ncell
        self.out = np.zeros((2, m + 1))
        self.ridge_attempts = fl.prob.options.ridge_attempts

    def factor(self, d, diag, qc=None):
        """``solve`` for K = A diag(d) A' (+ U U' for the cell couplings ``qc``); ``diag`` = A d (K's diagonal
        without U U'). Not Jacobi scaled: Cholesky and its triangular solves are as accurate without (van der
        Sluis), and a row's diagonal is at least its marginal mass."""
        m = self.m
        if qc is not None:
            u = self.u_buf
            u[self.pos_u[0]] = qc  # each entry's (x1,y) row and (x2,y) row (two scatters: a broadcast
            u[self.pos_u[1]] = qc  # one takes numpy's slow path)
            u_t = u[: m * self.ncell].reshape(m, self.ncell).T
        for k in range(self.ridge_attempts):
            if qc is not None:
                mat = _blas.dsyrk(1.0, u_t, trans=1, lower=1)  # U U', Fortran order, lower triangle
            else:
                mat = np.zeros((m, m), order="F")
            flat = mat.ravel(order="F")  # a view
            np.add.at(flat, self.pos_lo, d)  # each (rb, ra) pair occurs once (add.at: numpy's fast path)
            flat[:: m + 1] += diag[:m]
            if k:
                flat[:: m + 1] *= _ridged(k)
            chol, info = _lapack.dpotrf(mat, lower=1, clean=0, overwrite_a=1)
            if info == 0:
                return lambda rows: self._solve(chol, rows)
            if info < 0:
                raise ValueError(f"dpotrf argument {-info}")
        raise np.linalg.LinAlgError("normal equations are not positive definite even with a ridge")

    def _solve(self, chol, rows):
        x, info = _lapack.dpotrs(chol, rows.T, lower=1)
        out = self.out[: rows.shape[0]]
        out[:, : self.m] = x.T
        return out


class BlockNormal:
    """Block-diagonal alpha rows eliminated first, dense Cholesky of the beta Schur complement."""

    def __init__(self, fl):
        n1, n2, ny = fl.n1, fl.n2, fl.ny
        nb = n2 * ny
        self.n1, self.n2, self.ny, self.nb, self.na, self.m = n1, n2, ny, nb, fl.na, fl.m
        self.flat = fl.flat
        self.row_a, self.free_b = fl.row_a, fl.free_b  # (n1*ny,), (n2*ny,) raveled masks
        free = fl.free_b.reshape(n2, ny).astype(float)
        self.mask_bb = free[:, :, None] * free[:, None, :]
        self.mask_ab = free  # broadcasts over kab's trailing (x2, y') axes
        # Fortran-order flat positions of the diagonal blocks (x2, y, y') of the beta rows
        i = np.arange(ny)
        self.pos_bb = (np.arange(n2)[:, None, None] * ny * (nb + 1) + i[:, None] + i * nb).ravel()
        self.grid = np.zeros(n1 * n2 * ny)
        # Buffers, and writable views of their diagonals: kab[x1, y, x2, y] and the blocks' diagonals.
        self.kaa, self.kbb = np.empty((n1, ny, ny)), np.empty((n2, ny, ny))
        self.kab = np.empty((n1, ny, n2, ny))
        self.kaa_diag, self.kbb_diag = self._diagonal(self.kaa), self._diagonal(self.kbb)
        st = self.kab.strides
        self.kab_diag = np.lib.stride_tricks.as_strided(self.kab, (n1, ny, n2), (st[0], st[1] + st[3], st[2]))
        self.ones_a, self.ones_b = np.ones(n1 * ny), np.ones(nb)
        self.out = np.zeros((2, fl.m + 1))
        self.ridge_attempts = fl.prob.options.ridge_attempts

    @staticmethod
    def _diagonal(blocks):
        st = blocks.strides
        return np.lib.stride_tricks.as_strided(blocks, blocks.shape[:2], (st[0], st[1] + st[2]))

    def _on_grid(self, v):
        g = self.grid.copy()
        g[self.flat] = v
        return g.reshape(self.n1, self.n2, self.ny)

    def factor(self, d, diag, qc=None):
        """As DenseNormal.factor."""
        n1, n2, ny, na, nb = self.n1, self.n2, self.ny, self.na, self.nb
        kaa, kbb, kab = self.kaa, self.kbb, self.kab
        if qc is None:
            kaa.fill(0.0)
            kbb.fill(0.0)
            kab.fill(0.0)
        else:
            cg = self._on_grid(qc)
            cg_t = cg.transpose(0, 2, 1)  # (x1, y, x2)
            np.matmul(cg_t, cg, out=kaa)  # sum over x2 of qc qc' per x1
            np.matmul(cg.transpose(1, 2, 0), cg.transpose(1, 0, 2), out=kbb)  # per x2
            kbb *= self.mask_bb
            np.multiply(cg_t[:, :, :, None], cg[:, None, :, :], out=kab)  # (x1, y, x2, y')
        self.kab_diag += self._on_grid(d).transpose(0, 2, 1)
        kab *= self.mask_ab
        da, db = self.ones_a.copy(), self.ones_b.copy()  # rows without a constraint: identity
        da[self.row_a] = diag[:na]
        db[self.free_b] = diag[na : self.m]
        self.kaa_diag += da.reshape(n1, ny)
        self.kbb_diag += db.reshape(n2, ny)
        for k in range(self.ridge_attempts):
            if k:
                self.kaa_diag *= _ridged(k) / _ridged(k - 1)
                self.kbb_diag *= _ridged(k) / _ridged(k - 1)
            try:
                linv = np.linalg.inv(np.linalg.cholesky(kaa))
            except np.linalg.LinAlgError:
                continue
            w = np.matmul(linv, kab.reshape(n1, ny, nb)).reshape(n1 * ny, nb)
            schur = np.zeros((nb, nb), order="F")
            schur.ravel(order="F")[self.pos_bb] = kbb.ravel()
            schur = _blas.dsyrk(-1.0, w.T, beta=1.0, c=schur, trans=0, lower=1, overwrite_c=1)
            chol, info = _lapack.dpotrf(schur, lower=1, clean=0, overwrite_a=1)
            if info == 0:
                return lambda rows: self._solve(linv, w, chol, rows)
            if info < 0:
                raise ValueError(f"dpotrf argument {-info}")
        raise np.linalg.LinAlgError("normal equations are not positive definite even with a ridge")

    def _solve(self, linv, w, chol, rows):
        n1, ny, na, nb, m = self.n1, self.ny, self.na, self.nb, self.m
        k = rows.shape[0]
        ra = np.zeros((n1 * ny, k))
        ra[self.row_a] = rows[:, :na].T
        rb = np.zeros((nb, k))
        rb[self.free_b] = rows[:, na:m].T
        ya = np.matmul(linv, ra.reshape(n1, ny, k)).reshape(n1 * ny, k)
        rb -= w.T @ ya
        xb, info = _lapack.dpotrs(chol, rb, lower=1, overwrite_b=1)
        ya -= w @ xb
        xa = np.matmul(linv.transpose(0, 2, 1), ya.reshape(n1, ny, k))
        out = self.out[:k]
        out[:, :na] = xa.reshape(n1 * ny, k)[self.row_a].T
        out[:, na:m] = xb[self.free_b].T
        return out
