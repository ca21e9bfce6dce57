"""BROJA PID (Bertschinger, Rauh, Olbrich, Jost, Ay 2014): the unique information from the union information.

U1 = min over q of I_q(X1;Y|X2), where q ranges over the tables with p's (X1,Y) and (X2,Y) marginals;
equivalently the union information ``min_q I_q(X1,X2;Y)``, solved exactly with a certified optimality gap
by :mod:`synergy_lab.pid.solvers.broja` (docs/pid.md).
"""

from __future__ import annotations

from .._base import DiscreteMeasure, register
from ..solvers.broja import DEFAULT_TOL_BITS, solve_broja


@register
class Broja(DiscreteMeasure):
    """BROJA PID (Bertschinger et al. 2014) via a certified interior-point solve.

    Options
    -------
    tol : float, default 1e-10
        Certified optimality gap in bits at which to stop (the result's ``gap``).
    max_iter : int, default 200
    path : {"auto", "lean", "general", "entry"}, default "auto"
        The method tried first (:func:`synergy_lab.pid.solvers.broja.solve_broja`).
    options : BrojaOptions, optional
        The solver's tuning constants.

    The result's ``info`` holds the solver's diagnostics (iterations, the method that finished, ...).

    Examples
    --------
    >>> from synergy_lab.data import gate
    >>> from synergy_lab.pid import decompose
    >>> r = decompose(gate("copy"))
    >>> round(r.unique1, 9), round(r.unique2, 9), round(r.synergy, 9), r.gap <= 1e-7
    (1.0, 1.0, 0.0, True)
    """

    name = "broja"
    nonnegative = True

    def _redundancy(
        self, p, mi_1, mi_2, mi_joint, tol=DEFAULT_TOL_BITS, max_iter=200, path="auto", options=None
    ):
        q, union, gap, info = solve_broja(p, tol=tol, max_iter=max_iter, path=path, options=options)
        union = _within_known_bounds(union, gap, max(mi_1, mi_2), mi_joint)
        return mi_1 + mi_2 - union, {"gap": gap, "joint": q, "info": info}


def _within_known_bounds(union, gap, lower, upper, slack=1e-12):
    """Project the union information onto [lower, upper] where the certificate allows it.

    The minimum lies in [union - gap, union] and, in theory, in [max I(Xi;Y), I(X1,X2;Y)]. A value outside
    the second interval by more than the certificate (plus float slack) means a bug, so it is left for the
    atom check to reject rather than hidden.
    """
    if upper < union <= upper + gap + slack:
        return upper
    if lower - slack <= union < lower:
        return lower
    return union
