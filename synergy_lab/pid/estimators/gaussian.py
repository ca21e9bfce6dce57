"""GaussianPID: the closed-form Gaussian PID of the sample covariance, with an exact bias correction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..gaussian import GAUSSIAN_MEASURES, decompose_gaussian
from ._sample_tools import (
    mi_bias_bits,
    normal_interval,
    normal_scores,
    pow2_normalised,
    result_from_quantities,
    spread,
)
from .base import INTERVAL_QUANTITIES, PIDEstimator, check_bool, check_labels, check_lengths, check_source


class GaussianPID(PIDEstimator):
    """Gaussian PID from samples: sample covariance (bias corrected) -> :func:`decompose_gaussian`.

    Parameters
    ----------
    measure : {"mmi", "broja"}, default "mmi"
        Measure of :func:`synergy_lab.pid.gaussian.decompose_gaussian` (``"broja"``: the ~G-PID).
    copula : bool, default False
        Replace every continuous column by its normal scores first (Gaussian copula, Ince et al. 2017): robust
        to monotone distortions of each variable; the result is then the PID of the Gaussian copula.
    bias_correction : bool, default True
        Subtract the exact bias of each Gaussian MI from ``n`` samples: every log-determinant of a d x d
        sample covariance is biased by ``sum_{k=1..d} psi((n - k)/2) - ln((n - 1)/2)`` (Cai et al. 2015;
        large-n form ``sum ln(1 - k/n)``), independent of the covariance, so I1, I2 and I12 are unbiased for
        Gaussian data. The union information: for ``"mmi"``, ``max(I1, I2)`` of the corrected MIs;
        otherwise the plug-in one rescaled by the corrected/plug-in ratio of I12 (Venkatesh et al. 2023)
        and projected onto ``[max(I1, I2), I12]``. Atoms are not clipped at zero.
    discrete_target : "auto" or bool, default "auto"
        Treat y as class labels (``"auto"``: integer, bool or string dtype) and encode K classes as K - 1
        one-hot columns (the last class is the reference; a full one-hot would make the covariance singular).
        The result is the PID of the Gaussian with the same covariance, an approximation for labels.
    n_bootstrap : int, default 200
        Row resamples for the intervals, ``estimate -/+ z * sd`` with ``sd`` the standard deviation of the
        (corrected) estimate over the resamples. A normal interval rather than a bootstrap quantile one:
        MMI's ``min`` makes the reflected (basic) interval exclude the truth at ties I1 = I2.
        ``random_state`` seeds the resamples.

    Examples
    --------
    >>> from synergy_lab.data import make_gaussian
    >>> from synergy_lab.pid import GaussianPID
    >>> ds = make_gaussian(n_samples=20000, recipe="mixed", random_state=0)
    >>> est = GaussianPID(n_bootstrap=50, random_state=0).fit(ds.x1, ds.x2, ds.targets["y"])
    >>> truth = ds.truth("y")
    >>> abs(est.decomposition_.synergy - truth["synergy"]) < 0.02
    True
    """

    target_kind = "any"

    def __init__(self, measure="mmi", copula=False, bias_correction=True, discrete_target="auto",
                 n_bootstrap=200, random_state=None):
        super().__init__(n_bootstrap=n_bootstrap, random_state=random_state)
        self.measure = measure
        self.copula = copula
        self.bias_correction = bias_correction
        self.discrete_target = discrete_target

    def _validate(self, X1, X2, y):
        discrete = self.discrete_target
        if not (isinstance(discrete, (bool, np.bool_)) or (isinstance(discrete, str) and discrete == "auto")):
            error = ValueError if isinstance(discrete, str) else TypeError
            raise error(f"discrete_target must be 'auto', True or False, got {discrete!r}")
        check_bool(self.copula, "copula")
        check_bool(self.bias_correction, "bias_correction")
        if not (isinstance(self.measure, str) and self.measure.lower() in GAUSSIAN_MEASURES):
            raise ValueError(f"unknown Gaussian PID measure {self.measure!r}; valid measures are "
                             f"{list(GAUSSIAN_MEASURES)}")
        X1, X2 = check_source(X1, "X1"), check_source(X2, "X2")
        if discrete == "auto":
            discrete = np.asarray(y).dtype.kind in "iubUSO"
        self._discrete = bool(discrete)
        y = check_labels(y) if discrete else check_source(y, "y")
        n = check_lengths(X1=X1, X2=X2, y=y)
        if n >= 2 and np.all(y == y[:1]):
            return X1, X2, y  # a constant target: the result is exactly zero whatever the sources
        dy = int(y.max()) if discrete else y.shape[1]
        d = X1.shape[1] + X2.shape[1] + dy
        if n < d + 2:
            raise ValueError(f"need at least d + 2 = {d + 2} samples for {d} Gaussian dimensions, got {n}")
        for name, arr in (("X1", X1), ("X2", X2)) + (() if discrete else (("y", y),)):
            const = np.flatnonzero(np.ptp(arr, axis=0) == 0)
            if const.size:
                raise ValueError(f"{name} has constant columns {const.tolist()}: the covariance is singular")
        return X1, X2, y

    def _interval(self, alpha) -> pd.DataFrame:
        draws = {q: [getattr(r, q) for r in self._bootstrap_results()] for q in INTERVAL_QUANTITIES}
        return normal_interval(self.decomposition_, spread(draws), alpha)

    def _estimate(self, X1, X2, y, rng):
        n = len(y)
        if self._discrete:
            classes = np.unique(y)
            if len(classes) < 2:  # a bootstrap resample can lose classes
                return result_from_quantities(np.zeros(4), self.measure)
            y = (y[:, None] == classes[None, :-1]).astype(np.float64)
        cols = [X1, X2] if self._discrete else [X1, X2, y]
        if self.copula:
            cols = [normal_scores(c) for c in cols]
        # Exact power-of-two units per column: a covariance of data of order 1e200 (or 1e-200) would
        # overflow (underflow) although the information, scale-invariant, is perfectly defined.
        z = pow2_normalised(np.hstack(cols + ([y] if self._discrete else [])))
        dims = (X1.shape[1], X2.shape[1], y.shape[1])
        try:
            r = decompose_gaussian(np.cov(z, rowvar=False), dims, self.measure)
        except ValueError as exc:
            if "positive definite" not in str(exc):
                raise
            raise ValueError("the sample covariance of [X1, X2, y] is singular: some column is constant or a "
                             "linear combination of others (e.g. a full one-hot encoding); drop it") from None
        raw = np.array([r.mi_1, r.mi_2, r.mi_joint, r.mi_1 + r.mi_2 - r.redundancy])
        if not self.bias_correction:
            return result_from_quantities(raw, r.measure, r.gap, plugin=r.as_dict(), n_samples=n)
        d1, d2, dy = dims
        i1, i2, ij = (raw[0] - mi_bias_bits(d1, dy, n - 1), raw[1] - mi_bias_bits(d2, dy, n - 1),
                      raw[2] - mi_bias_bits(d1 + d2, dy, n - 1))
        lower = max(i1, i2)
        if r.measure == "mmi":
            union = lower
        else:
            union = raw[3] * ij / raw[2] if raw[2] > 0 else 0.0
            union = float(np.clip(union, lower, max(ij, lower)))
        return result_from_quantities([i1, i2, ij, union], r.measure, r.gap, plugin=r.as_dict(),
                                      n_samples=n)
