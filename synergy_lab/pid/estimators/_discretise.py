"""Discrete symbols and tables from samples, for the estimators in :mod:`synergy_lab.pid.estimators`.

Codes for discrete sources (:func:`check_symbols`), k-means labels for continuous ones
(:func:`cluster_labels`, :func:`auto_n_clusters`), and the plug-in information quantities of a count table
(:func:`table_quantities`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._base import decompose
from .._tables import mutual_informations
from ..solvers.broja import BrojaConvergenceError, solve_broja
from ._sample_tools import pow2_normalised
from .base import as_2d

#: ``n_clusters="auto"`` keeps at least this many samples per cell of the k x k x K table on average.
MIN_SAMPLES_PER_CELL = 20
#: Largest cluster count ``"auto"`` picks per source (a 16 x 16 x K BROJA solve is ~0.1 s; the bootstrap
#: repeats it ``n_bootstrap`` times).
MAX_AUTO_CLUSTERS = 16
#: Certified-gap tolerances (bits) tried in turn when the BROJA solver cannot certify its default on a
#: plug-in table (it happens on a few % of near-independent 2 x 2 x 2 tables); far below sampling noise.
FALLBACK_TOLS = (1e-6, 1e-4, 1e-3)


def table_quantities(counts: np.ndarray, measure: str = "broja") -> tuple[np.ndarray, float]:
    """``([I(X1;Y), I(X2;Y), I(X1,X2;Y), union information], solver gap)`` in bits of a count table.

    The union information is ``I1 + I2 - R``; for BROJA, ``min_q I_q(X1,X2;Y)`` from
    :func:`synergy_lab.pid.solvers.broja.solve_broja`, retried with the looser :data:`FALLBACK_TOLS` if the
    default certificate fails, and projected onto its bounds ``[max(I1, I2), min(I1 + I2, I12)]``.
    """
    p = counts / counts.sum()
    if measure != "broja":
        r = decompose(p, measure)
        return np.array([r.mi_1, r.mi_2, r.mi_joint, r.mi_1 + r.mi_2 - r.redundancy]), float(r.gap)
    i1, i2, ij = mutual_informations(p)
    last = None
    for tol in (None, *FALLBACK_TOLS):
        try:
            _, union, gap, _ = solve_broja(p) if tol is None else solve_broja(p, tol=tol)
            break
        except BrojaConvergenceError as exc:
            last = exc
    else:
        raise ArithmeticError(f"BROJA failed on a plug-in table of shape {p.shape} even at a gap of "
                              f"{FALLBACK_TOLS[-1]} bits: {last}")
    lower = max(i1, i2)
    union = float(np.clip(union, lower, max(min(i1 + i2, ij), lower)))
    return np.array([i1, i2, ij, union]), float(gap)


def check_symbols(x, name: str) -> np.ndarray:
    """1-D int64 codes ``0..K-1`` of discrete samples.

    ``x`` is 1-D (one symbol per sample) or 2-D ``(n_samples, n_features)``, whose distinct rows are the
    symbols (e.g. one-hot vectors or tuples of factors). Integers, bools, strings and integral floats are
    accepted; NaN, inf, missing values and non-integer floats raise ``ValueError``.
    """
    arr = as_2d(np.asarray(x), name)
    kind = arr.dtype.kind
    if kind == "f":
        if not np.all(np.isfinite(arr)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            raise ValueError(f"{name} has {bad} non-finite values (NaN or inf)")
        if not np.all(arr == np.round(arr)):
            raise ValueError(
                f"{name} holds non-integer floats; PluginPID needs discrete symbols (use ClusterPID or "
                "GaussianPID for continuous sources)"
            )
    elif kind == "O":
        if bool(pd.isna(arr).any()):
            raise ValueError(f"{name} has missing values (None or NaN)")
        arr = arr.astype(str)
    elif kind not in "iubUS":
        raise ValueError(f"{name} must hold discrete symbols, got dtype {arr.dtype}")
    if arr.shape[1] == 1:
        _, codes = np.unique(arr[:, 0], return_inverse=True)
    elif kind in "iubf":
        codes = unique_rows(arr)[1]
    else:
        _, codes = np.unique(arr, axis=0, return_inverse=True)
    return codes.reshape(-1).astype(np.int64)


def unique_rows(x: np.ndarray):
    """``(rows, inverse, counts)`` of the distinct rows of a 2-D numeric array (``-0.0`` counts as ``0.0``).

    Compares rows as raw bytes, which is ~20x faster than ``np.unique(axis=0)``; the rows come back in
    byte order, not lexicographic order.
    """
    x = np.ascontiguousarray(x + 0.0 if x.dtype.kind == "f" else x)
    keys = x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))).reshape(-1)
    _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    return x[first], inverse.reshape(-1), counts


def auto_n_clusters(n_samples: int, n_classes: int) -> int:
    """Cluster count per source for ``n_clusters="auto"``.

    The largest ``k`` with at least :data:`MIN_SAMPLES_PER_CELL` samples per cell of the ``k x k x n_classes``
    table on average, clipped to ``[2, MAX_AUTO_CLUSTERS]``: ``floor(sqrt(n / (20 K)))``. The plug-in bias of
    I(X1,X2;Y) grows like (number of cells) / (2 n ln 2), so this keeps the raw bias near 0.04 bit before
    correction, while more clusters keep more of the information in the sources.

    Examples
    --------
    >>> from synergy_lab.pid.estimators._discretise import auto_n_clusters
    >>> auto_n_clusters(2000, 2), auto_n_clusters(20000, 2), auto_n_clusters(100, 10)
    (7, 16, 2)
    """
    k = int(np.floor(np.sqrt(n_samples / (MIN_SAMPLES_PER_CELL * max(n_classes, 1)))))
    return int(np.clip(k, 2, MAX_AUTO_CLUSTERS))


def cluster_labels(x: np.ndarray, n_clusters: int, rng: np.random.Generator, standardize: bool = True,
                   n_init: int = 3) -> np.ndarray:
    """k-means labels ``0..k-1`` of the rows of ``x`` (validated, 2-D float).

    With at most ``n_clusters`` distinct rows every distinct row is its own cluster (exact, no k-means).
    Otherwise k-means (scikit-learn, Lloyd, k-means++ start, ``n_init`` restarts seeded from ``rng``) runs on
    the distinct rows weighted by their counts (the same objective as on all rows), after z-scoring each
    column when ``standardize`` (constant columns are left alone). Labels are renumbered consecutively, so
    ``labels.max() + 1`` is the number of non-empty clusters.

    Both paths are scale-safe: the rows are first multiplied by powers of two (per column when
    standardizing, one for the whole array otherwise, which keeps its geometry) so that means, variances and
    squared distances neither overflow nor underflow, whatever the units (sources of order 1e160 or 1e-200
    cluster as they do at order 1). Such scaling is exact, so data that never came near those limits get
    the same labels as without it.
    """
    from sklearn.cluster import KMeans  # noqa: PLC0415  (scikit-learn is only needed for clustering)

    rows, inverse, counts = unique_rows(x)
    if len(rows) <= n_clusters:
        return inverse.astype(np.int64)
    both = pow2_normalised(np.vstack([x, rows]), per_column=standardize)
    x, rows = both[:len(x)], both[len(x):]
    if standardize:
        mean, std = x.mean(axis=0), x.std(axis=0)
        rows = (rows - mean) / np.where(std > 0, std, 1.0)
    km = KMeans(n_clusters=int(n_clusters), n_init=int(n_init), random_state=int(rng.integers(2**31 - 1)))
    row_labels = km.fit_predict(rows, sample_weight=counts.astype(np.float64))
    _, labels = np.unique(row_labels[inverse], return_inverse=True)
    return labels.reshape(-1).astype(np.int64)
