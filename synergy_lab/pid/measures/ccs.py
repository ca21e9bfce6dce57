"""Ince (2017) redundancy I_ccs: pointwise common change in surprisal on the pairwise maxent joint."""

from __future__ import annotations

import numpy as np

from .._base import DiscreteMeasure, register
from ..solvers.maxent import MAXENT_TOL, NEWTON_MAX_ITER, maxent_pairwise, pairwise_marginals

#: Local information terms closer to zero than this (bits) count as zero when comparing signs, so that
#: round-off in a term that is exactly zero cannot switch an event in or out of the redundancy.
SIGN_TOL = 1e-9


def _log2_ratio(num: np.ndarray, den: np.ndarray, where: np.ndarray) -> np.ndarray:
    return np.log2(np.divide(num, den, out=np.ones(np.broadcast(num, den).shape), where=where))


@register
class CCS(DiscreteMeasure):
    """Ince (2017) PID from the pointwise common change in surprisal.

    On the maximum-entropy table ``q`` that keeps p(x1,x2), p(x1,y) and p(x2,y), each event has local
    informations ``i1 = log2 q(y|x1)/q(y)``, ``i2 = log2 q(y|x2)/q(y)``, ``i12 = log2 q(y|x1,x2)/q(y)``
    and local co-information ``c = i1 + i2 - i12``. The redundancy is ``sum q(x1,x2,y) c`` over the
    events where ``i1``, ``i2``, ``i12`` and ``c`` share one sign (a common change in surprisal).
    Atoms can be negative, so nothing is clamped. Options: ``tol`` (marginal error of the fit) and
    ``max_iter`` (Newton steps) of the fit (:func:`synergy_lab.pid.solvers.maxent.maxent_pairwise`).

    Examples
    --------
    >>> from synergy_lab.data import gate
    >>> from synergy_lab.pid import decompose
    >>> r = decompose(gate("and"), measure="ccs")
    >>> round(r.redundancy, 4), round(r.unique1, 4), round(r.synergy, 4)
    (0.1038, 0.2075, 0.2925)
    """

    name = "ccs"
    nonnegative = False

    def _redundancy(self, p, mi_1, mi_2, mi_joint, tol: float = MAXENT_TOL, max_iter: int = NEWTON_MAX_ITER):
        q, info = maxent_pairwise(p, tol=tol, max_iter=max_iter)
        # q keeps these marginals of p, so they are taken from p, free of the fit's round-off.
        p_12, p_1y, p_2y = pairwise_marginals(p)
        p_1, p_2, p_y = p_12.sum(axis=1), p_12.sum(axis=0), p_1y.sum(axis=0)
        events = q > 0
        i_1 = _log2_ratio(p_1y, np.outer(p_1, p_y), p_1y > 0)[:, None, :]
        i_2 = _log2_ratio(p_2y, np.outer(p_2, p_y), p_2y > 0)[None, :, :]
        i_12 = _log2_ratio(q, p_12[:, :, None] * p_y, events)
        coinfo = i_1 + i_2 - i_12
        signs = [np.sign(np.where(np.abs(t) < SIGN_TOL, 0.0, t)) for t in (i_1, i_2, i_12, coinfo)]
        common = events & (signs[0] == signs[3]) & (signs[1] == signs[3]) & (signs[2] == signs[3])
        redundancy = float(np.sum(q[common] * coinfo[common]))
        return redundancy, {"joint": q, "info": info}
