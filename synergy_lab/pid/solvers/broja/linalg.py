"""Closed-form and batched helpers of the BROJA solver: per-y marginal systems, water levels (numpy only)."""

from __future__ import annotations

import numpy as np


def waterfill_level(lw, lm, ok):
    """log kappa solving f(h) = sum_y min(w_y, m_y e^-h) = 1 per row (w = e^lw, m = e^lm on ``ok``).

    f is continuous, decreasing, and linear in e^-h between the breakpoints h_y = lm_y - lw_y, where term y
    switches from w_y to m_y e^-h: with the breakpoints sorted, the crossing piece is found from cumulative
    sums and solved in closed form (exact, unlike bisection, and one pass).
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        bp = np.where(ok, lm - lw, np.inf)
        order = np.argsort(bp, axis=1)
        bp = np.take_along_axis(bp, order, axis=1)
        w = np.take_along_axis(np.where(ok, np.exp(lw), 0.0), order, axis=1)
        m = np.take_along_axis(np.where(ok, np.exp(lm), 0.0), order, axis=1)
        m_before = np.cumsum(m, axis=1) - m  # terms already in the m regime at breakpoint j
        w_from = np.cumsum(w[:, ::-1], axis=1)[:, ::-1]  # terms still in the w regime at breakpoint j
        room = 1.0 - w_from
        above = (room <= 0.0) | (np.log(m_before) - bp >= np.log(room))  # f(bp_j) >= 1
        j = np.maximum(above.sum(axis=1) - 1, 0)[:, None]
        m_in = np.take_along_axis(m_before + m, j, axis=1)[:, 0]
        w_out = np.take_along_axis(w_from - w, j, axis=1)[:, 0]
        return np.log(m_in) - np.log1p(-w_out)


def scaled_schur(w, sum_a, sum_b, free_a, free_b):
    """Jacobi scaling and Schur complement of the per-y systems K_y = [[diag(sum_a), w], [w', diag(sum_b)]].

    Returns (sa, sb, wt, S): the scalings 1/sqrt(diag K_y) (1 on rows without a constraint), the scaled
    coupling wt = sa w sb (ny, n1, n2) and S = I - wt' wt (ny, n2, n2), the Schur complement of the scaled
    system's diagonal alpha block. Eliminating that block first leaves batched systems of size n2 instead
    of n1 + n2 (n1 >= n2). K_y is definite: the active entries of each y form one complete bipartite block.
    """
    sa = 1.0 / np.sqrt(np.where(free_a, sum_a, 1.0))
    sb = 1.0 / np.sqrt(np.where(free_b, sum_b, 1.0))
    wt = w * sa[:, :, None] * sb[:, None, :]
    schur = -np.matmul(np.swapaxes(wt, 1, 2), wt)
    idx = np.arange(w.shape[2])
    schur[:, idx, idx] += 1.0
    return sa, sb, wt, schur


def scaled_inverse(w, sum_a, sum_b, free_a, free_b):
    """K_y^-1 for every y (see scaled_schur), with the rows and columns of absent constraints zeroed."""
    sa, sb, wt, schur = scaled_schur(w, sum_a, sum_b, free_a, free_b)
    n1 = w.shape[1]
    s_inv = np.linalg.inv(schur)
    x = np.matmul(wt, s_inv)  # (ny, n1, n2)
    kinv = np.empty((w.shape[0], n1 + w.shape[2], n1 + w.shape[2]))
    kinv[:, :n1, :n1] = np.matmul(x, np.swapaxes(wt, 1, 2))
    idx = np.arange(n1)
    kinv[:, idx, idx] += 1.0
    kinv[:, :n1, n1:] = -x
    kinv[:, n1:, :n1] = -np.swapaxes(x, 1, 2)
    kinv[:, n1:, n1:] = s_inv
    scale = np.concatenate([np.where(free_a, sa, 0.0), np.where(free_b, sb, 0.0)], axis=1)
    kinv *= scale[:, :, None]
    kinv *= scale[:, None, :]
    return kinv
