"""ClusterPID: k-means on each continuous source, then the plug-in PID of the cluster labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from ._discretise import auto_n_clusters, cluster_labels
from .base import check_bool, check_int, check_source
from .plugin import PluginPID


class ClusterPID(PluginPID):
    """PID of continuous sources by k-means clustering each source, then :class:`PluginPID` on the labels.

    Each source (any dimension) is z-scored per column (scale-safely) and clustered by k-means; a source with
    at most ``n_clusters`` distinct rows keeps its rows as symbols (exact for discrete-valued inputs). The
    result is the PID of the clustered variables. Their MIs are lower bounds on the sources' (data
    processing); the atoms are not bounded either way: a source clustered worse than the other turns
    redundancy into the other's unique information. Too few clusters merge relevant states and lose
    information (run :meth:`sensitivity`); too many inflate the plug-in bias (corrected as in
    :class:`PluginPID`).

    Parameters
    ----------
    n_clusters : int or "auto", default "auto"
        Clusters per source. ``"auto"``: ``floor(sqrt(n / (20 K)))`` clipped to [2, 16], with ``K`` the number
        of classes of y, i.e. at least 20 samples per cell of the table on average
        (:func:`synergy_lab.pid.estimators._discretise.auto_n_clusters`).
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
        check_bool(self.standardize, "standardize")
        check_int(self.n_init, "n_init", 1)

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
            est = clone(self).set_params(n_clusters=int(k), n_bootstrap=boot, random_state=seed)
            est.fit(X1, X2, y)
            row = est.decomposition_.as_dict()
            row.pop("measure")
            k1, k2 = est.n_clusters_
            row.update(synergy_plugin=est.plugin_.synergy, k1=k1, k2=k2,
                       samples_per_cell=len(y) / (k1 * k2 * (int(y.max()) + 1)))
            rows[int(k)] = row
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("n_clusters")
