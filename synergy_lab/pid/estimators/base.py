"""Shared base of the PID estimators that work from samples: a scikit-learn ``BaseEstimator``.

An estimator is configured in ``__init__`` (which only stores its parameters, so ``get_params``,
``set_params`` and ``sklearn.base.clone`` work), fitted with ``fit(X1, X2, y) -> self``, and then exposes
``decomposition_`` (a :class:`~synergy_lab.pid.PIDResult`, bits) and ``confidence_interval(alpha)``.
Subclasses implement ``_estimate(X1, X2, y, rng) -> PIDResult`` on validated arrays; the base provides
validation, seeding and a nonparametric bootstrap for intervals (subclasses may override ``_interval`` with
something better). Parameters are checked when ``fit`` runs, as in scikit-learn.

A constant target (one class, or a continuous y whose rows are all equal) carries no information, so every
atom and mutual information is exactly 0 whatever the sources: every estimator returns that result without
estimating anything (``decomposition_.info["constant_target"]`` is True) and zero-width intervals.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ..._random import as_generator
from .._result import COMPONENTS, PIDResult

#: Quantities every interval table reports.
INTERVAL_QUANTITIES = COMPONENTS + ("mi_1", "mi_2", "mi_joint")


def as_2d(arr: np.ndarray, name: str) -> np.ndarray:
    """View a 1-D or 2-D sample array as (n_samples, n_features); reject other ranks and empty arrays."""
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    return arr


def check_source(x, name: str) -> np.ndarray:
    """2-D float array (n_samples, n_features) from 1-D or 2-D input; finite values only."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(x).__name__}: {exc}") from None
    arr = as_2d(arr, name)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"{name} has {bad} non-finite values (NaN or inf)")
    return arr


def check_labels(y, name: str = "y") -> np.ndarray:
    """1-D int64 array of class labels, re-coded to 0..K-1.

    Floats must be integral; strings are allowed; Python objects are compared by their ``str`` (as
    discrete sources are), and ``None`` or NaN among them raises ``ValueError``.
    """
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels, got shape {arr.shape}")
    if arr.dtype.kind == "O":
        if bool(pd.isna(arr).any()):
            raise ValueError(f"{name} has missing labels (None or NaN)")
        # Mixed Python objects (e.g. ints and strings) cannot be sorted by np.unique; their text can.
        arr = arr.astype(str)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} has non-finite labels (NaN or inf)")
        if not np.all(arr == np.round(arr)):
            raise ValueError(
                f"{name} holds non-integer floats; this estimator needs class labels "
                "(use a continuous-target estimator such as GaussianPID for a continuous y)"
            )
    elif arr.dtype.kind not in "iubUS":
        raise ValueError(f"{name} must hold class labels, got dtype {arr.dtype}")
    _, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64)


def check_lengths(**arrays) -> int:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"inputs must have the same number of samples, got {lengths}")
    return next(iter(lengths.values()))


def check_bool(value, name: str) -> bool:
    """``value`` as a bool; anything else (e.g. the string ``"no"``, which is truthy) raises TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_int(value, name: str, low: int) -> int:
    """``value`` as an int ``>= low``: TypeError for a non-integer (bools included), else ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {low}, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_alpha(alpha) -> float:
    """A significance level in (0, 1): TypeError for a non-number (e.g. the string "0.05"), or ValueError."""
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a number in (0, 1), got {type(alpha).__name__} {alpha!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    return float(alpha)


def constant_result(measure: str, n_samples: int) -> PIDResult:
    """The exact PID of a constant target: every atom and mutual information 0."""
    return PIDResult.from_redundancy(0.0, 0.0, 0.0, 0.0, measure, clamp=False, gap=0.0,
                                     info={"constant_target": True, "n_samples": int(n_samples)})


class PIDEstimator(BaseEstimator):
    """Base class: ``fit(X1, X2, y)`` -> self, ``decomposition_``, ``confidence_interval(alpha)``.

    Parameters
    ----------
    n_bootstrap : int
        Bootstrap resamples for :meth:`confidence_interval` (drawn lazily, once, then cached).
    random_state : int, numpy.random.Generator or None
        Seeds every random choice (clustering, bootstrap, training).
    """

    #: "discrete" (class labels), "continuous", or "any"
    target_kind = "discrete"
    #: Bumped whenever a change alters what the estimator returns on the same data and seed. Experiment
    #: tables key their tasks by it (experiments/estimator_accuracy), so a rerun recomputes the estimator's
    #: rows and summaries read only the current version's.
    version = 1
    #: Name of the measure of a constant target's all-zero result (subclasses with a ``measure``
    #: parameter report that instead).
    measure_name = "pid"
    #: Attributes caching resampled estimates; every fit drops them.
    _caches = ("_boot_results",)

    def __init__(self, n_bootstrap: int = 200, random_state=None):
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    # -- public API -------------------------------------------------------------------------------
    def fit(self, X1, X2, y):
        """Estimate the PID of ``y`` from the sources ``X1`` and ``X2`` (each (n,) or (n, d)); returns self.

        A constant ``y`` gives the exact all-zero decomposition without estimating anything (module
        docstring).
        """
        check_int(self.n_bootstrap, "n_bootstrap", 0)
        X1, X2, y = self._validate(X1, X2, y)
        self._seed_sequence = np.random.SeedSequence(as_generator(self.random_state).integers(2**63))
        fit_seed, self._boot_seed = self._seed_sequence.spawn(2)
        self._data = (X1, X2, y)
        for name in self._caches:  # a refit invalidates the previous bootstrap draws
            self.__dict__.pop(name, None)
        self.n_samples_ = len(y)
        self._constant = bool(np.all(y == y[:1]))
        fit = self._fit_constant if self._constant else self._estimate
        self.decomposition_ = fit(X1, X2, y, np.random.default_rng(fit_seed))
        self._intervals = {}
        return self

    def confidence_interval(self, alpha: float = 0.05) -> pd.DataFrame:
        """``(1 - alpha)`` intervals per quantity: a DataFrame with columns estimate, low, high.

        Raises
        ------
        TypeError
            If ``alpha`` is not a number.
        ValueError
            If ``alpha`` is not in (0, 1), or the estimator's settings allow no interval.
        RuntimeError
            Before :meth:`fit`.
        """
        alpha = check_alpha(alpha)
        self._check_fitted()
        if alpha not in self._intervals:
            if self._constant:  # exact zeros: nothing to resample
                zeros = dict.fromkeys(("estimate", "low", "high"), 0.0)
                self._intervals[alpha] = pd.DataFrame.from_dict(
                    dict.fromkeys(INTERVAL_QUANTITIES, zeros), orient="index")
            else:
                self._intervals[alpha] = self._interval(alpha)
        return self._intervals[alpha].copy()

    # -- for subclasses ---------------------------------------------------------------------------
    def _estimate(self, X1, X2, y, rng) -> PIDResult:
        raise NotImplementedError

    def _fit_constant(self, X1, X2, y, rng) -> PIDResult:
        """The result for a constant ``y`` (exact zeros); subclasses may also set their fitted attributes."""
        return constant_result(self._measure_label(), len(y))

    def _measure_label(self) -> str:
        measure = getattr(self, "measure", None)
        return measure.lower() if isinstance(measure, str) else self.measure_name

    def _validate(self, X1, X2, y):
        X1, X2 = check_source(X1, "X1"), check_source(X2, "X2")
        if self.target_kind == "discrete":
            y = check_labels(y)
        elif self.target_kind == "continuous":
            y = check_source(y, "y")
        else:
            y = np.asarray(y)
            y = check_labels(y) if y.dtype.kind in "iubUSO" else check_source(y, "y")
        check_lengths(X1=X1, X2=X2, y=y)
        if len(y) < 2:
            raise ValueError(f"need at least 2 samples, got {len(y)}")
        return X1, X2, y

    def _bootstrap_results(self):
        if not hasattr(self, "_boot_results"):
            if self.n_bootstrap < 1:
                raise ValueError("confidence intervals need n_bootstrap >= 1")
            X1, X2, y = self._data
            n = len(y)
            rng = np.random.default_rng(self._boot_seed)
            results = []
            for _ in range(int(self.n_bootstrap)):
                idx = rng.integers(0, n, size=n)
                results.append(self._estimate(X1[idx], X2[idx], y[idx], rng))
            self._boot_results = results
        return self._boot_results

    def _interval(self, alpha) -> pd.DataFrame:
        """Bootstrap intervals, centred on the estimate (basic/reverse-percentile bootstrap)."""
        point = self.decomposition_
        rows = {}
        for q in INTERVAL_QUANTITIES:
            draws = np.array([getattr(r, q) for r in self._bootstrap_results()])
            lo_q, hi_q = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
            est = getattr(point, q)
            rows[q] = {"estimate": est, "low": 2 * est - hi_q, "high": 2 * est - lo_q}
        return pd.DataFrame.from_dict(rows, orient="index")

    def _check_fitted(self):
        if not hasattr(self, "decomposition_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit(X1, X2, y) first")
