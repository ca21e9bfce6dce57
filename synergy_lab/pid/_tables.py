"""Validation of joint tables p[x1, x2, y] and the information quantities every measure needs."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import entr as _entr

#: How far from 1 the total mass of a table may be.
SUM_TOL = 1e-9

LN2 = np.log(2.0)


def validate_table(p, name: str = "p") -> np.ndarray:
    """Return ``p`` as a float64 array after checking it is a 3-D probability table.

    Raises
    ------
    ValueError
        If the table is not 3-D, has an empty axis, holds non-finite or negative entries,
        or does not sum to 1 within ``SUM_TOL``.
    """
    try:
        arr = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array, got {type(p).__name__}: {exc}") from None
    if arr.ndim != 3:
        raise ValueError(f"{name} must be a 3-D table p[x1, x2, y], got {arr.ndim}-D with shape {arr.shape}")
    if min(arr.shape) == 0:
        raise ValueError(f"{name} has an empty axis: shape {arr.shape}")
    total = float(arr.sum())
    # A NaN or infinite entry makes the total non-finite and a NaN the minimum too: two reductions suffice
    # for valid tables; the entry-wise checks below only run to name what is wrong.
    if not (math.isfinite(total) and float(arr.min()) >= 0.0):
        if not np.all(np.isfinite(arr)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            raise ValueError(f"{name} has {bad} non-finite entries (NaN or inf)")
        if np.any(arr < 0):
            idx = tuple(int(i) for i in np.unravel_index(np.argmin(arr), arr.shape))
            raise ValueError(f"{name} has negative entries (smallest {arr[idx]:.3g} at {idx})")
    if abs(total - 1.0) > SUM_TOL:
        raise ValueError(f"{name} must sum to 1 within {SUM_TOL:g}, sums to {total!r}")
    return arr


def entropy(p, axis=None) -> np.ndarray | float:
    """Shannon entropy in bits of a (possibly unnormalised) non-negative array, 0 log 0 = 0."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=axis)


def mutual_informations(p: np.ndarray) -> tuple[float, float, float]:
    """``(I(X1;Y), I(X2;Y), I(X1,X2;Y))`` in bits for a validated table ``p[x1, x2, y]``."""
    p_1y = p.sum(axis=1)
    p_2y = p.sum(axis=0)
    p_y = p_1y.sum(axis=0)
    # The seven entropies from one entr call on the concatenated tables (numpy call overhead dominates at
    # these sizes): H(X1,X2,Y), H(X1,X2), H(X1,Y), H(X2,Y), H(X1), H(X2), H(Y).
    parts = (p, p.sum(axis=2), p_1y, p_2y, p_1y.sum(axis=1), p_2y.sum(axis=1), p_y)
    starts = np.cumsum([0] + [x.size for x in parts[:-1]])
    h = np.add.reduceat(_entr(np.concatenate([x.ravel() for x in parts])), starts) / LN2
    h_p, h_12, h_1y, h_2y, h_1, h_2, h_y = h.tolist()
    mi_1 = h_1 + h_y - h_1y
    mi_2 = h_2 + h_y - h_2y
    mi_joint = h_12 + h_y - h_p
    # Mutual information is non-negative; entropies summed in floating point can miss by ~1e-16.
    return tuple(max(v, 0.0) if v > -1e-12 else v for v in (mi_1, mi_2, mi_joint))
