"""Minimum mutual information (MMI) redundancy: R = min(I(X1;Y), I(X2;Y))."""

from __future__ import annotations

from .._base import DiscreteMeasure, register


@register
class MMI(DiscreteMeasure):
    """Minimum-mutual-information PID (Barrett 2015).

    The redundancy is the smaller of the two source informations, so the weaker source has no unique
    information. For jointly Gaussian sources with a scalar target this equals the BROJA-type PID;
    on discrete tables it over-counts redundancy (COPY gives R = S = 1 bit).
    """

    name = "mmi"
    nonnegative = True

    def _redundancy(self, p, mi_1, mi_2, mi_joint):
        return min(mi_1, mi_2), {}
