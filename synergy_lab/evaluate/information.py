"""Bits captured: how much information about a label a linear read-out of a representation carries.

``bits = H(Y) - CE`` where ``CE`` is the held-out cross-entropy (bits) of a calibrated multinomial logistic
probe p(y | z) and ``H(Y)`` the plug-in entropy of the test labels. Since CE is the expected log-loss of one
particular predictor, ``H(Y) - CE`` is a lower bound on I(Z; Y) up to estimation error (finite test set,
plug-in H): a representation may carry more than a *linear* read-out can show, never less (in expectation).
C is chosen on the validation split by log-loss with no class weights, because the bound needs calibrated
probabilities, not a good balanced accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .protocols import FAIR_C_GRID, as_seed, carve_validation, check_split, fit_selected_probe, log_loss_bits

#: Bootstrap resamples of the test set behind ``low``/``high``.
N_RESAMPLES = 1000


def entropy_bits(y) -> float:
    """Plug-in entropy (bits) of the labels ``y``."""
    _, counts = np.unique(np.asarray(y), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


@dataclass(frozen=True, eq=False)
class BitsCaptured:
    """Result of :func:`bits_captured` (all information in bits).

    Attributes
    ----------
    bits : float
        ``entropy - cross_entropy``: a lower bound on I(Z; Y) up to estimation error (may be slightly
        negative for a representation that carries nothing: the probe's own estimation error).
    low, high : float
        95% percentile-bootstrap interval of ``bits`` over test samples.
    entropy : float
        H(Y) of the test labels (plug-in).
    cross_entropy : float
        Mean held-out cross-entropy ``-log2 p(y | z)`` of the probe on the test samples.
    C : float
        The cost chosen on validation (standardised features).
    n_test : int
    proba : numpy.ndarray, shape (n_test, K)
        The probe's predictive distribution on the test samples (columns: ``classes``), e.g. for
        :func:`~synergy_lab.evaluate.readout_pid`.
    classes : numpy.ndarray
    """

    bits: float
    low: float
    high: float
    entropy: float
    cross_entropy: float
    C: float
    n_test: int
    proba: np.ndarray = field(repr=False)
    classes: np.ndarray = field(repr=False)


def bits_captured(train_feats, train_y, test_feats, test_y, *, val_feats=None, val_y=None, random_state=0,
                  grid=FAIR_C_GRID, n_resamples: int = N_RESAMPLES, max_iter: int = 1000) -> BitsCaptured:
    """Bits about ``y`` that a calibrated linear probe reads from held-out features.

    Parameters
    ----------
    train_feats, test_feats : array_like, shape (n, d)
    train_y, test_y : array_like of int, shape (n,)
    val_feats, val_y : array_like, optional
        Validation split on which C is chosen (lowest log-loss). Without it a seeded stratified quarter of
        the training set is carved out for the choice (see
        :func:`~synergy_lab.evaluate.protocols.carve_validation`) and the probe is fitted on the rest.
        The test split is never used for selection.
    random_state : int or numpy.random.Generator
        Seeds the carving and the bootstrap.
    grid : sequence of float
        Costs tried.
    n_resamples : int
        Bootstrap resamples (percentile interval, ``scipy.stats.bootstrap``).
    max_iter : int

    Returns
    -------
    BitsCaptured

    Raises
    ------
    ValueError
        For misshapen or non-finite inputs, fewer than two training classes, or test labels of a class absent
        from the training labels (their cross-entropy is infinite).
    """
    from scipy.stats import bootstrap

    seed = as_seed(random_state)
    x_tr, y_tr = check_split("train", train_feats, train_y)
    x_te, y_te = check_split("test", test_feats, test_y, x_tr.shape[1])
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 2:
        raise ValueError(f"n_resamples must be an int >= 2, got {n_resamples!r}")
    if (val_feats is None) != (val_y is None):
        raise ValueError("val_feats and val_y must be given together")
    if val_feats is None:
        fit, val = carve_validation(y_tr, random_state=seed)
        x_tr, y_tr, x_val, y_val = x_tr[fit], y_tr[fit], x_tr[val], y_tr[val]
    else:
        x_val, y_val = check_split("val", val_feats, val_y, x_tr.shape[1])
    unseen = np.setdiff1d(np.unique(y_te), np.unique(y_tr))
    if unseen.size:
        raise ValueError(f"test_y holds class(es) {unseen.tolist()[:5]} absent from the probe's training "
                         f"labels: their cross-entropy is infinite (use more probe samples)")
    probe = fit_selected_probe(x_tr, y_tr, x_val, y_val, select="log_loss", class_weight=None, grid=grid,
                               random_state=seed, max_iter=max_iter, include_prior=True)
    proba = probe.predict_proba(x_te)
    ce = log_loss_bits(proba, probe.classes, y_te)
    # Per-sample information gain over the test-label marginal: its mean is exactly H(Y) - CE.
    _, inverse, counts = np.unique(y_te, return_inverse=True, return_counts=True)
    gain = -np.log2(counts / y_te.size)[inverse] - ce
    entropy = entropy_bits(y_te)
    bits = float(gain.mean())
    if np.ptp(gain) == 0.0:  # a constant gain has a degenerate (zero-width) interval
        low = high = bits
    else:
        ci = bootstrap((gain,), np.mean, n_resamples=int(n_resamples), confidence_level=0.95,
                       method="percentile", vectorized=True, random_state=np.random.default_rng(seed))
        low, high = float(ci.confidence_interval.low), float(ci.confidence_interval.high)
    return BitsCaptured(bits=bits, low=low, high=high, entropy=entropy, cross_entropy=float(ce.mean()),
                        C=probe.C, n_test=int(y_te.size), proba=proba, classes=probe.classes)
