"""PID estimators from samples (scikit-learn style): PluginPID, ClusterPID, GaussianPID.

``Estimator(...).fit(X1, X2, y)`` returns the estimator; ``decomposition_`` is a :class:`PIDResult` in bits
(atoms and mutual informations, identities exact) and ``confidence_interval(alpha)`` a DataFrame of
``estimate, low, high`` per quantity. Every estimator is deterministic under ``random_state``.

Sampling bias, not the solver, dominates the error of a PID from samples (``shared/pid_notes.md``), so each
estimator corrects the four quantities every atom is built from: I(X1;Y), I(X2;Y), I(X1,X2;Y) and the union
information ``UI = I1 + I2 - R`` (for BROJA, ``min_q I_q(X1,X2;Y)``). The atoms then follow linearly,
``R = I1 + I2 - UI``, ``U1 = UI - I2``, ``U2 = UI - I1``, ``S = I12 - UI``, so the identities still hold; the
corrected atoms are not clipped at zero and can be slightly negative where the truth is zero.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from ._base import available_measures
from ._discretise import auto_n_clusters, check_symbols, cluster_labels, table_quantities
from ._estimator_base import INTERVAL_QUANTITIES, PIDEstimator, check_labels, check_lengths, check_source
from ._sample_tools import (
    expand_quantities,
    mi_bias_bits,
    normal_interval,
    normal_scores,
    result_from_quantities,
    spread,
)
from .gaussian import decompose_gaussian

_BASE = ("mi_1", "mi_2", "mi_joint", "union")
BIAS_CORRECTIONS = ("shuffle", "bootstrap", None)


class _Refittable:
    """Drops the bootstrap caches (this module's ``_boot_q``, the base's ``_boot_results``) on every fit."""

    _caches = ("_boot_results", "_boot_q")

    def fit(self, X1, X2, y):
        for name in self._caches:
            self.__dict__.pop(name, None)
        return super().fit(X1, X2, y)

    def _clone(self, **changes):
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return type(self)(**{**{p: getattr(self, p) for p in names}, **changes})


class PluginPID(_Refittable, PIDEstimator):
    """Plug-in PID of discrete samples: empirical table -> exact PID, with a sampling-bias correction.

    Parameters
    ----------
    measure : str, default "broja"
        Any measure of :func:`synergy_lab.pid.decompose` (``available_measures()``).
    bias_correction : {"shuffle", "bootstrap", None}, default "shuffle"
        ``"shuffle"``: subtract from each of I1, I2, I12 and UI its mean over ``n_shuffles`` tables with y
        permuted against (X1, X2). Under the permutation null every population quantity is 0, so this is the
        plug-in bias under independence, exact in expectation for any sample size, the undersampled regime
        included (where it removes almost all of the spurious synergy). Where Y depends on the sources the
        null bias is the bias of a table with all cells occupied: right for full-support tables, too large
        for tables with structural zeros (deterministic gates), where it over-corrects by O(cells / n).
        ``"bootstrap"``: subtract ``mean(bootstrap) - plug-in`` (Efron); adapts to structural zeros but
        under-corrects when cells are undersampled. ``None``: raw plug-in.
    n_shuffles : int, default 10
        Permutation surrogates for ``"shuffle"`` (their standard error enters the interval).
    n_bootstrap : int, default 50
        Multinomial resamples of the table for the intervals (and for ``"bootstrap"``); 0 disables intervals.
        Each costs one exact PID solve (10-50 ms on small tables, ~0.1 s at 16 x 16 x 2).
    random_state : int, numpy.random.Generator or None

    Attributes
    ----------
    decomposition_ : PIDResult
        Corrected atoms and MIs; ``info`` holds the plug-in values, the bias subtracted, ``n_samples``,
        ``table_shape`` and ``samples_per_occupied_cell``; ``gap`` is the largest solver gap met.
    plugin_ : PIDResult
        The uncorrected plug-in decomposition. ``bias_`` : dict, the bias subtracted from I1, I2, I12, UI.
    counts_ : numpy.ndarray
        The count table ``n[x1, x2, y]``.

    Notes
    -----
    ``confidence_interval`` is a normal bootstrap interval: ``estimate -/+ z * sd`` with ``sd`` the standard
    deviation of the plug-in over the multinomial resamples (the shuffle correction's own standard error
    added in quadrature). For ``"shuffle"`` it is widened to contain the bootstrap-corrected value as well:
    where the two corrections disagree (structural zeros, atoms on the boundary 0) the bias is uncertain and
    the interval says so. The bootstrap replicates are not themselves bias corrected.

    Examples
    --------
    >>> from synergy_lab.data import gate, sample_table
    >>> from synergy_lab.pid import PluginPID
    >>> x1, x2, y = sample_table(gate("xor"), 5000, random_state=0)
    >>> est = PluginPID(n_bootstrap=20, random_state=0).fit(x1, x2, y)
    >>> r = est.decomposition_
    >>> round(r.synergy, 2), abs(r.redundancy) < 0.01, est.plugin_.synergy > r.synergy
    (1.0, True, True)
    >>> list(est.confidence_interval(0.05).columns)
    ['estimate', 'low', 'high']
    """

    target_kind = "discrete"

    def __init__(self, measure="broja", bias_correction="shuffle", n_shuffles=10, n_bootstrap=50,
                 random_state=None):
        super().__init__(n_bootstrap=n_bootstrap, random_state=random_state)
        self.measure = measure
        self.bias_correction = bias_correction
        self.n_shuffles = n_shuffles

    def _check_params(self):
        if not isinstance(self.measure, str) or self.measure.lower() not in available_measures():
            raise ValueError(f"measure must be one of {available_measures()}, got {self.measure!r}")
        if self.bias_correction not in BIAS_CORRECTIONS:
            raise ValueError(
                f"bias_correction must be one of {list(BIAS_CORRECTIONS)}, got {self.bias_correction!r}")
        shuffles = self.n_shuffles
        if self.bias_correction == "shuffle" and (int(shuffles) != shuffles or shuffles < 2):
            raise ValueError(f"n_shuffles must be an integer >= 2, got {self.n_shuffles!r}")
        if self.bias_correction == "bootstrap" and self.n_bootstrap < 2:
            raise ValueError("bias_correction='bootstrap' needs n_bootstrap >= 2")

    def _validate(self, X1, X2, y):
        self._check_params()
        X1, X2 = self._sources(X1, X2)
        y = check_labels(y)
        check_lengths(X1=X1, X2=X2, y=y)
        if len(y) < 2:
            raise ValueError(f"need at least 2 samples, got {len(y)}")
        return X1, X2, y

    def _sources(self, X1, X2):
        return check_symbols(X1, "X1"), check_symbols(X2, "X2")

    def _encode(self, X1, X2, y, rng):
        return X1, X2

    def _estimate(self, X1, X2, y, rng):
        measure = self.measure.lower()
        c1, c2 = self._encode(X1, X2, y, rng)
        shape = (int(c1.max()) + 1, int(c2.max()) + 1, int(y.max()) + 1)
        cell = np.ravel_multi_index((c1, c2), shape[:2]) * shape[2]
        self.counts_ = np.bincount(cell + y, minlength=int(np.prod(shape))).reshape(shape)
        raw, gap = table_quantities(self.counts_, measure)
        self.plugin_ = result_from_quantities(raw, measure, gap)
        bias = np.zeros(4)
        if self.bias_correction == "shuffle":
            draws = [table_quantities(np.bincount(cell + rng.permutation(y), minlength=self.counts_.size)
                                      .reshape(shape), measure) for _ in range(int(self.n_shuffles))]
            self._surrogates = np.array([d[0] for d in draws])
            gap = max([gap] + [d[1] for d in draws])
            bias = self._surrogates.mean(axis=0)
        elif self.bias_correction == "bootstrap":
            bias = self._bootstrap_quantities().mean(axis=0) - raw
        self.bias_ = dict(zip(_BASE, (float(b) for b in bias), strict=True))
        occupied = int(np.count_nonzero(self.counts_))
        return result_from_quantities(
            raw - bias, measure, gap, plugin=self.plugin_.as_dict(), bias=dict(self.bias_),
            bias_correction=self.bias_correction, n_samples=len(y), table_shape=shape,
            samples_per_occupied_cell=len(y) / occupied)

    def _bootstrap_quantities(self) -> np.ndarray:
        """``(n_bootstrap, 4)`` plug-in (I1, I2, I12, UI) on multinomial resamples of the count table."""
        if not hasattr(self, "_boot_q"):
            if self.n_bootstrap < 1:
                raise ValueError("confidence intervals need n_bootstrap >= 1")
            rng = np.random.default_rng(self._boot_seed)
            n, p = int(self.counts_.sum()), (self.counts_ / self.counts_.sum()).ravel()
            self._boot_q = np.array([
                table_quantities(rng.multinomial(n, p).reshape(self.counts_.shape), self.measure.lower())[0]
                for _ in range(int(self.n_bootstrap))
            ])
        return self._boot_q

    def _interval(self, alpha) -> pd.DataFrame:
        boot = self._bootstrap_quantities()
        raw = np.array([self.plugin_.mi_1, self.plugin_.mi_2, self.plugin_.mi_joint,
                        self.plugin_.mi_1 + self.plugin_.mi_2 - self.plugin_.redundancy])
        sd = spread(expand_quantities(boot))
        alt = None
        if self.bias_correction == "shuffle":
            se = spread(expand_quantities(self._surrogates), mean=True)
            sd = {k: float(np.hypot(sd[k], se[k])) for k in sd}
            alt = expand_quantities(2 * raw - boot.mean(axis=0))  # the bootstrap-corrected estimate
        return normal_interval(self.decomposition_, sd, alpha, alt)


class ClusterPID(PluginPID):
    """PID of continuous sources by k-means clustering each source, then :class:`PluginPID` on the labels.

    Each source (any dimension) is z-scored per column and clustered by k-means; a source with at most
    ``n_clusters`` distinct rows keeps its rows as symbols (exact for discrete-valued inputs). The result is
    the PID of the clustered variables. Their MIs are lower bounds on the sources' (data processing); the
    atoms are not bounded either way: a source clustered worse than the other turns redundancy into the
    other's unique information. Too few clusters merge relevant states and lose information (run
    :meth:`sensitivity`); too many inflate the plug-in bias (corrected as in :class:`PluginPID`).

    Parameters
    ----------
    n_clusters : int or "auto", default "auto"
        Clusters per source. ``"auto"``: ``floor(sqrt(n / (20 K)))`` clipped to [2, 16], with ``K`` the number
        of classes of y, i.e. at least 20 samples per cell of the table on average
        (:func:`synergy_lab.pid._discretise.auto_n_clusters`).
    measure, bias_correction, n_shuffles, n_bootstrap, random_state
        As in :class:`PluginPID`.
    standardize : bool, default True
        z-score each column before clustering.
    n_init : int, default 3
        k-means restarts.

    Attributes
    ----------
    labels1_, labels2_ : numpy.ndarray of int
        Cluster labels of the samples. ``n_clusters_`` : (int, int), non-empty clusters per source.
    decomposition_, plugin_, bias_, counts_
        As in :class:`PluginPID`, for the clustered table.

    Notes
    -----
    The clustering is fitted once; the bootstrap resamples the table of labels, so the intervals ignore the
    variance of the clustering itself.

    Examples
    --------
    >>> import numpy as np
    >>> from synergy_lab.pid import ClusterPID
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.integers(0, 2, 4000), rng.integers(0, 2, 4000)
    >>> x1 = a[:, None] + 0.1 * rng.standard_normal((4000, 3))
    >>> x2 = b[:, None] + 0.1 * rng.standard_normal((4000, 3))
    >>> est = ClusterPID(n_clusters=2, n_bootstrap=0, random_state=0).fit(x1, x2, a ^ b)
    >>> round(est.decomposition_.synergy, 2), est.n_clusters_
    (1.0, (2, 2))
    """

    def __init__(self, n_clusters="auto", measure="broja", bias_correction="shuffle", n_shuffles=10,
                 n_bootstrap=50, standardize=True, n_init=3, random_state=None):
        super().__init__(measure=measure, bias_correction=bias_correction, n_shuffles=n_shuffles,
                         n_bootstrap=n_bootstrap, random_state=random_state)
        self.n_clusters = n_clusters
        self.standardize = standardize
        self.n_init = n_init

    def _check_params(self):
        super()._check_params()
        k = self.n_clusters
        if not (k == "auto" or (isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 2)):
            raise ValueError(f"n_clusters must be an integer >= 2 or 'auto', got {k!r}")

    def _sources(self, X1, X2):
        return check_source(X1, "X1"), check_source(X2, "X2")

    def _encode(self, X1, X2, y, rng):
        k = auto_n_clusters(len(y), int(y.max()) + 1) if self.n_clusters == "auto" else int(self.n_clusters)
        self.labels1_, self.labels2_ = (
            cluster_labels(x, k, rng, self.standardize, self.n_init) for x in (X1, X2))
        self.n_clusters_ = (int(self.labels1_.max()) + 1, int(self.labels2_.max()) + 1)
        return self.labels1_, self.labels2_

    def sensitivity(self, n_clusters=None) -> pd.DataFrame:
        """The estimate across cluster counts, refitted on the fitted data (no intervals).

        Parameters
        ----------
        n_clusters : sequence of int, optional
            Counts to try; default ``k/4, k/2, k, 2k`` (at least 2) around the fitted count ``k``.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``n_clusters``: the corrected atoms and MIs, the plug-in synergy ``synergy_plugin``,
            the non-empty clusters per source ``k1, k2`` and ``samples_per_cell`` = n / (k1 k2 K). Atoms
            that keep rising with the count mean the clustering still merges relevant states; a gap between
            ``synergy`` and ``synergy_plugin`` that grows with it is sampling bias.
        """
        self._check_fitted()
        if n_clusters is None:
            k = max(self.n_clusters_)
            n_clusters = sorted({max(2, k // 4), max(2, k // 2), k, 2 * k})
        X1, X2, y = self._data
        seed = self.random_state  # an int seed reproduces the fit itself at the fitted count
        if not isinstance(seed, (int, np.integer)):
            seed = int(self._seed_sequence.generate_state(1)[0])
        rows = {}
        for k in n_clusters:
            boot = self.n_bootstrap if self.bias_correction == "bootstrap" else 0
            est = self._clone(n_clusters=int(k), n_bootstrap=boot, random_state=seed).fit(X1, X2, y)
            row = est.decomposition_.as_dict()
            row.pop("measure")
            k1, k2 = est.n_clusters_
            row.update(synergy_plugin=est.plugin_.synergy, k1=k1, k2=k2,
                       samples_per_cell=len(y) / (k1 * k2 * (int(y.max()) + 1)))
            rows[int(k)] = row
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("n_clusters")


class GaussianPID(_Refittable, PIDEstimator):
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
        if self.discrete_target not in ("auto", True, False):
            raise ValueError(f"discrete_target must be 'auto', True or False, got {self.discrete_target!r}")
        X1, X2 = check_source(X1, "X1"), check_source(X2, "X2")
        discrete = self.discrete_target
        if discrete == "auto":
            discrete = np.asarray(y).dtype.kind in "iubUSO"
        self._discrete = bool(discrete)
        y = check_labels(y) if discrete else check_source(y, "y")
        n = check_lengths(X1=X1, X2=X2, y=y)
        dy = int(y.max()) if discrete else y.shape[1]
        if discrete and dy < 1:
            raise ValueError("y has a single class: there is no information to decompose")
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
        z = np.hstack(cols + ([y] if self._discrete else []))
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
