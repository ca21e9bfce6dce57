"""Read-out PID: which kind of information a representation's linear read-out carries about a label.

Given the predictive distribution ``proba`` of a probe on test samples and the discrete latent factors
``f1``, ``f2`` of modality 1 and 2 that the label depends on, the table

    p(f1, f2, yhat) = (1 / n) * sum_i 1[f1_i = f1, f2_i = f2] * proba_i[yhat]

is the joint distribution of the factors and the probe's (randomised) prediction, and its exact PID says how
much of the read-out is redundant, unique to one modality's factors or synergistic: the "interactions
captured by a model" of Liang et al. (NeurIPS 2023), here exact because the factors are known. Compare it with
the truth PID(F1, F2; Y). It describes the *linear read-out*, not everything the representation Z holds.
numpy and :mod:`synergy_lab.pid` only.
"""

from __future__ import annotations

import numpy as np

from ..pid import decompose

#: Rows of ``proba`` must sum to 1 within this tolerance (float32 probabilities).
PROBA_TOLERANCE = 1e-5


def _codes(name: str, f, n: int) -> np.ndarray:
    a = np.asarray(f)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) like the rows of proba, got {a.shape}")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.bool_)):
        raise TypeError(f"{name} must hold integer factor codes, got dtype {a.dtype}")
    return np.unique(a, return_inverse=True)[1].reshape(-1)  # a PID is invariant under relabelling


def readout_table(proba, f1, f2) -> np.ndarray:
    """The table ``p(f1, f2, yhat)`` (see the module docstring), factors relabelled 0..n_i-1."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"proba must be a non-empty (n, K) array, got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("proba must hold finite non-negative probabilities")
    worst = float(np.abs(p.sum(axis=1) - 1.0).max())
    if worst > PROBA_TOLERANCE:
        raise ValueError(f"proba rows must sum to 1 (within {PROBA_TOLERANCE}), worst row is off by "
                         f"{worst:.3g}")
    n = p.shape[0]
    a, b = _codes("f1", f1, n), _codes("f2", f2, n)
    table = np.zeros((int(a.max()) + 1, int(b.max()) + 1, p.shape[1]))
    np.add.at(table, (a, b), p)
    return table / table.sum()  # exact normalisation of rows that sum to 1 within float32 round-off


def readout_pid(proba, f1, f2, measure: str = "broja"):
    """Exact PID of (F1, F2; Yhat) for a probe's predictive distribution on test samples.

    Parameters
    ----------
    proba : array_like, shape (n, K)
        Predictive distribution of the probe on each test sample (rows sum to 1), e.g.
        ``bits_captured(...).proba``. One-hot rows give the PID of the hard predictions.
    f1, f2 : array_like of int, shape (n,)
        Factor codes of modality 1 and 2 that the label depends on, per test sample (a modality with no
        relevant factor: a constant array).
    measure : str, default "broja"
        Any measure of :func:`synergy_lab.pid.decompose`.

    Returns
    -------
    synergy_lab.pid.PIDResult
        In bits. With ``proba`` the one-hot true label, the PID of the factors' empirical table with the
        label; with a constant ``proba``, every atom 0.

    Examples
    --------
    >>> import numpy as np
    >>> from synergy_lab.evaluate import readout_pid
    >>> f1, f2 = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    >>> round(readout_pid(np.eye(2)[f1 ^ f2], f1, f2).synergy, 6)
    1.0
    """
    return decompose(readout_table(proba, f1, f2), measure=measure)
