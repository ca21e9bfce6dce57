"""Helpers of the sample estimators (:mod:`synergy_lab.pid.estimators`): atoms from the four corrected
quantities, normal bootstrap intervals, scale-safe standardisation, and the Gaussian pieces (log-determinant
bias, copula transform).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma, ndtri
from scipy.stats import rankdata

from .._result import PIDResult
from .base import INTERVAL_QUANTITIES

_LN2 = np.log(2.0)


def expand_quantities(q) -> dict:
    """Every interval quantity from ``q[..., (I1, I2, I12, UI)]`` (UI: the union information)."""
    q = np.asarray(q, dtype=np.float64)
    i1, i2, ij, ui = (q[..., k] for k in range(4))
    return {"redundancy": i1 + i2 - ui, "unique1": ui - i2, "unique2": ui - i1, "synergy": ij - ui,
            "mi_1": i1, "mi_2": i2, "mi_joint": ij}


def result_from_quantities(q, measure: str, gap: float = 0.0, **info) -> PIDResult:
    """Unclamped :class:`PIDResult` of ``(I1, I2, I12, UI)``: R = I1 + I2 - UI, the rest by identity."""
    i1, i2, ij, ui = (float(v) for v in q)
    return PIDResult.from_redundancy(i1 + i2 - ui, i1, i2, ij, measure, clamp=False, gap=gap, info=info)


def spread(draws: dict, mean: bool = False) -> dict:
    """Standard deviation of each quantity's draws (of their mean, with ``mean``); 0 for a single draw."""
    out = {}
    for k, v in draws.items():
        v = np.asarray(v, dtype=np.float64)
        out[k] = float(v.std(ddof=1) / (np.sqrt(len(v)) if mean else 1.0)) if len(v) > 1 else 0.0
    return out


def normal_interval(point: PIDResult, sd: dict, alpha: float, alt: dict | None = None) -> pd.DataFrame:
    """``estimate -/+ z sd`` per quantity, stretched to contain ``alt`` (a second estimate) when given."""
    z = float(ndtri(1 - alpha / 2))
    rows = {}
    for q in INTERVAL_QUANTITIES:
        est = float(getattr(point, q))
        lo = hi = est
        if alt is not None:
            lo, hi = min(est, float(alt[q])), max(est, float(alt[q]))
        rows[q] = {"estimate": est, "low": lo - z * sd[q], "high": hi + z * sd[q]}
    return pd.DataFrame.from_dict(rows, orient="index")


def logdet_bias(d: int, dof: int) -> float:
    """``E[ln det S] - ln det Sigma`` (nats) for a d x d sample covariance with ``dof`` degrees of freedom.

    Wishart: ``dof * S ~ W_d(dof, Sigma)``, so the bias is ``sum_{k=1..d} psi((dof - k + 1)/2) - ln(dof/2)``
    (Cai, Liang & Zhou 2015), whatever Sigma is; ``sum_k ln(1 - k/dof)`` is its large-n approximation.

    Examples
    --------
    >>> from synergy_lab.pid.estimators._sample_tools import logdet_bias
    >>> round(logdet_bias(10, 199), 4), round(float(sum(np.log(1 - k / 200) for k in range(1, 11))), 4)
    (-0.2813, -0.2799)
    """
    k = np.arange(1, d + 1)
    return float(np.sum(digamma((dof - k + 1) / 2.0) - np.log(dof / 2.0)))


def mi_bias_bits(da: int, db: int, dof: int) -> float:
    """Bias (bits) of the Gaussian MI between blocks of dimensions da, db from a sample covariance."""
    return (logdet_bias(da, dof) + logdet_bias(db, dof) - logdet_bias(da + db, dof)) / (2.0 * _LN2)


def normal_scores(x: np.ndarray) -> np.ndarray:
    """Gaussian-copula transform of each column: ranks (ties averaged) -> standard normal quantiles."""
    return ndtri(rankdata(x, axis=0) / (len(x) + 1.0))


def pow2_normalised(x: np.ndarray, per_column: bool = True) -> np.ndarray:
    """``x`` times a power of two per column (or one for the whole array) putting max ``|x|`` in [1/2, 1).

    Scaling by a power of two is exact in floating point, so every later mean, variance, covariance or
    distance is the unscaled one times a power of two, bit for bit, but no longer overflows (data of order
    1e160 squared) or underflows (1e-200 squared) on the way. All-zero columns are left as they are.

    Examples
    --------
    >>> from synergy_lab.pid.estimators._sample_tools import pow2_normalised
    >>> pow2_normalised(np.array([[6.0, 0.0, 3e200], [-3.0, 0.0, 1e200]])).tolist()
    [[0.75, 0.0, 0.9798151324726952], [-0.375, 0.0, 0.3266050441575651]]
    """
    peak = np.max(np.abs(x), axis=0) if per_column else np.max(np.abs(x))
    return np.ldexp(x, -np.frexp(peak)[1])


def standardised(x: np.ndarray, rows=None) -> np.ndarray:
    """Each column of ``x`` minus its mean over ``rows`` (default: all), divided by its standard deviation.

    Scale-safe (:func:`pow2_normalised` first, which leaves the result unchanged bit for bit wherever the
    plain formula does not overflow or underflow); constant columns are only centred.
    """
    x = pow2_normalised(x)
    ref = x if rows is None else x[rows]
    mean, std = ref.mean(axis=0), ref.std(axis=0)
    return (x - mean) / np.where(std > 0, std, 1.0)
