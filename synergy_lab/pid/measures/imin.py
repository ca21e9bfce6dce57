"""Williams & Beer (2010) redundancy I_min: the expected minimum specific information."""

from __future__ import annotations

import numpy as np

from .._base import DiscreteMeasure, register


def specific_information(p_xy: np.ndarray) -> np.ndarray:
    """Specific information ``I(Y=y; X)`` in bits for every target value ``y``.

    Parameters
    ----------
    p_xy : numpy.ndarray, shape (nx, ny)
        Joint table of one source and the target.

    Returns
    -------
    numpy.ndarray, shape (ny,)
        ``I(Y=y; X) = sum_x p(x|y) log2[p(y|x) / p(y)]``; 0 where ``p(y) = 0`` (the value is
        undefined there but carries zero weight in every average over ``y``).

    Examples
    --------
    >>> import numpy as np
    >>> specific_information(np.array([[0.5, 0.0], [0.0, 0.5]]))  # Y = X, a fair bit
    array([1., 1.])
    """
    p_x = p_xy.sum(axis=1, keepdims=True)
    p_y = p_xy.sum(axis=0, keepdims=True)
    positive = p_xy > 0
    # p(y|x)/p(y) = p(x,y) / (p(x) p(y)); a positive p(x,y) implies positive p(x) and p(y).
    ratio = np.divide(p_xy, p_x * p_y, out=np.ones_like(p_xy), where=positive)
    # Summing p(x,y) log(...) over x gives p(y) I(Y=y;X); dividing by p(y) afterwards keeps 0 log 0 = 0.
    weighted = np.where(positive, p_xy * np.log2(ratio), 0.0).sum(axis=0)
    p_y = p_y[0]
    return np.divide(weighted, p_y, out=np.zeros_like(weighted), where=p_y > 0)


@register
class Imin(DiscreteMeasure):
    """Williams & Beer (2010) PID from the minimum specific information.

    The redundancy is ``R = sum_y p(y) min_i I(Y=y; X_i)``: for each target value, the source that
    says least about that value bounds what the two share. Every atom is non-negative, but redundancy
    is over-counted whenever the sources are informative about the same target values in different
    ways: on COPY, Y = (X1, X2), it gives R = S = 1 bit where U1 = U2 = 1 bit is expected.

    Examples
    --------
    >>> from synergy_lab.data import gate
    >>> from synergy_lab.pid import decompose
    >>> r = decompose(gate("copy"), measure="imin")
    >>> round(r.redundancy, 6), round(r.unique1, 6), round(r.synergy, 6)
    (1.0, 0.0, 1.0)
    """

    name = "imin"
    nonnegative = True

    def _redundancy(self, p, mi_1, mi_2, mi_joint):
        p_y = p.sum(axis=(0, 1))
        spec_1 = specific_information(p.sum(axis=1))
        spec_2 = specific_information(p.sum(axis=0))
        redundancy = float(np.dot(p_y, np.minimum(spec_1, spec_2)))
        # Sum over y of a minimum never exceeds the minimum of the sums; round-off can cross it by ~1e-16.
        redundancy = min(redundancy, mi_1, mi_2)
        return redundancy, {"info": {"specific_information": np.stack([spec_1, spec_2])}}
