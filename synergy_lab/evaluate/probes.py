"""Linear probes: standardised features -> multinomial logistic regression -> balanced accuracy.

Balanced accuracy is the mean over the classes present in the test labels of the per-class recall (the
macro-averaged accuracy), so chance is 1 / K for K classes whatever their frequencies. numpy and
scikit-learn only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from .protocols import check_split as _check


def chance_level(y) -> float:
    """Balanced-accuracy chance of labels ``y``: 1 / (number of distinct classes)."""
    return 1.0 / len(np.unique(np.asarray(y)))


def fit_linear_probe(train_feats, train_y, random_state=0, *, C: float = 1.0, max_iter: int = 1000):
    """Logistic regression on standardised features; returns ``predict(feats) -> labels``.

    Parameters are those of :func:`linear_probe`. The returned function checks the width of what it gets.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x_tr, y_tr = _check("train", train_feats, train_y)
    if len(np.unique(y_tr)) < 2:
        raise ValueError("train_y must hold at least two classes")
    if isinstance(random_state, np.random.Generator):
        random_state = int(random_state.integers(0, 2**31 - 1))
    scaler = StandardScaler().fit(x_tr)
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=random_state)
    clf.fit(scaler.transform(x_tr), y_tr)
    width = x_tr.shape[1]

    def predict(feats, name="test"):
        x = np.asarray(feats, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(f"train and {name} features differ in width: {width} vs "
                             f"{x.shape[1] if x.ndim == 2 else x.shape}")
        return clf.predict(scaler.transform(x))

    return predict


def linear_probe(train_feats, train_y, test_feats, test_y, random_state=0, *, C: float = 1.0,
                 max_iter: int = 1000) -> float:
    """Balanced accuracy on the test set of a logistic regression fitted on standardised train features.

    Parameters
    ----------
    train_feats, test_feats : array_like, shape (n, d)
        Frozen features (the same d for both).
    train_y, test_y : array_like, shape (n,)
        Class labels; the train labels need at least two classes.
    random_state : int or numpy.random.Generator
        Seed of the solver (L-BFGS is deterministic; kept for solvers that shuffle).
    C : float
        Inverse L2 regularisation strength (on standardised features).
    max_iter : int
        L-BFGS iterations.

    Returns
    -------
    float
        Balanced accuracy in [0, 1].
    """
    from sklearn.metrics import balanced_accuracy_score

    x_te, y_te = _check("test", test_feats, test_y)
    predict = fit_linear_probe(train_feats, train_y, random_state, C=C, max_iter=max_iter)
    return float(balanced_accuracy_score(y_te, predict(x_te)))


def probe_targets(train_feats, train_labels: Mapping, test_feats, test_labels: Mapping,
                  targets: Iterable[str] | None = None, random_state=0, *, more_tests: Mapping | None = None,
                  **kwargs) -> dict:
    """:func:`linear_probe` for several targets on the same features.

    Returns ``{target: {"balanced_accuracy": float, "chance": float, "n_classes": int}}``; targets default
    to every key of ``train_labels`` (an unknown target raises ValueError naming it).
    ``more_tests`` ``{split: (feats, labels)}`` scores the same fitted probe on further held-out splits too,
    as ``"<split>_balanced_accuracy"`` entries (e.g. a validation split for model selection).
    """
    from sklearn.metrics import balanced_accuracy_score

    targets = list(train_labels) if targets is None else list(targets)
    more_tests = dict(more_tests or {})
    out = {}
    for t in targets:
        label_sets = (train_labels, test_labels, *(labels for _, labels in more_tests.values()))
        if any(t not in labels for labels in label_sets):
            raise ValueError(f"unknown target {t!r}; available: {sorted(train_labels)}")
        y_tr, (x_te, y_te) = np.asarray(train_labels[t]), _check("test", test_feats, test_labels[t])
        predict = fit_linear_probe(train_feats, y_tr, random_state, **kwargs)
        out[t] = {"balanced_accuracy": float(balanced_accuracy_score(y_te, predict(x_te))),
                  "chance": chance_level(y_te), "n_classes": int(len(np.unique(y_te)))}
        for split, (feats, labels) in more_tests.items():
            x, y = _check(split, feats, labels[t])
            out[t][f"{split}_balanced_accuracy"] = float(balanced_accuracy_score(y, predict(x, split)))
    return out
