"""PluginPID: the PID of the empirical table of discrete samples, corrected for sampling bias.

Sampling bias, not the solver, dominates the error of a PID from samples (Panzeri et al. 2007, "Correcting
for the sampling bias problem in spike train information measures"; docs/pid.md, "Estimators from
samples"), so the sample estimators correct the four quantities every atom is built from: I(X1;Y), I(X2;Y),
I(X1,X2;Y) and the union information ``UI = I1 + I2 - R`` (for BROJA, ``min_q I_q(X1,X2;Y)``). The atoms
then follow linearly, ``R = I1 + I2 - UI``, ``U1 = UI - I2``, ``U2 = UI - I1``, ``S = I12 - UI``, so the
identities still hold; the corrected atoms are not clipped at zero and can be slightly negative where the
truth is zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._base import available_measures
from ._discretise import check_symbols, table_quantities
from ._sample_tools import expand_quantities, normal_interval, result_from_quantities, spread
from .base import PIDEstimator, check_int, check_labels, check_lengths, constant_result

_BASE = ("mi_1", "mi_2", "mi_joint", "union")
BIAS_CORRECTIONS = ("shuffle", "bootstrap", None)


class PluginPID(PIDEstimator):
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
    _caches = ("_boot_results", "_boot_q")

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
        if self.bias_correction == "shuffle":
            check_int(self.n_shuffles, "n_shuffles", 2)
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

    def _fit_constant(self, X1, X2, y, rng):
        # The table, labels and plug-in attributes are still useful (and ClusterPID.sensitivity reads them);
        # the result itself is exact.
        self._estimate(X1, X2, y, rng)
        return constant_result(self.measure.lower(), len(y))

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
