"""Linear-probe protocols with the regularisation chosen on held-out data: ``fair`` and ``paper``.

* **fair** (the default everywhere in :mod:`synergy_lab.evaluate`): standardised features,
  class-balanced weights (``class_weight="balanced"``), the inverse L2 strength C chosen from
  :data:`FAIR_C_GRID` by balanced accuracy on the validation split. Balanced weights matter for rare labels:
  on a 10%-positive synergy label an unweighted probe predicts the majority class and scores exactly
  chance, whatever the features carry.
* **paper**: the probe of the public InfMasking / CoMM code (``evaluation/linear_probe.py``), kept so that
  published numbers stay comparable: raw (unstandardised) features, no class weights, a stratified 60/40
  holdout of the probe-training set (``StratifiedShuffleSplit(train_size=0.6, random_state=48)``), a coarse
  sweep over :data:`PAPER_COARSE` then a bisection over 29 log-spaced costs in [C*/100, 100 C*] scored by
  macro-averaged (balanced) accuracy on the holdout (:func:`paper_cost_search`, the same visiting order and
  tie rules), and a final refit on train + holdout. Two differences are declared: scikit-learn's L-BFGS
  logistic regression replaces the public torch one, and its penalty is the squared norm ½‖W‖² beside the
  mean cross-entropy (the public loss uses a non-squared norm); C keeps the public meaning of "inverse
  strength against the *mean* cross-entropy" (scikit-learn's C is C / n).

Selection never sees test data: where no validation split exists, :func:`carve_validation` takes a seeded,
stratified quarter of the probe-training set.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np

#: Costs (inverse L2 strength, standardised features) tried by the fair probe and the bits probe.
FAIR_C_GRID = tuple(float(c) for c in np.logspace(-3, 3, 7))
#: The public code's coarse sweep.
PAPER_COARSE = (1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4, 1e6)
#: L-BFGS iterations of the paper probe (the public code's ``max_iter=100``).
PAPER_MAX_ITER = 100
#: Fraction of the probe-training set carved out for validation when there is no validation split.
VAL_FRACTION = 0.25


def as_seed(random_state) -> int:
    """An int seed from an int or a ``numpy.random.Generator`` (one draw)."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise TypeError(f"random_state must be a non-negative int or a numpy Generator, got {random_state!r}")
    return int(random_state)


def check_split(name: str, feats, labels, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(features as float64 (n, d), labels (n,))``, or ValueError naming ``name``."""
    x = np.asarray(feats, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"{name}_feats must be a non-empty (n, d) array, got shape {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"{name}_y must have shape ({x.shape[0]},), got {y.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}_feats contains NaN or infinite values")
    if width is not None and x.shape[1] != width:
        raise ValueError(f"train and {name} features differ in width: {width} vs {x.shape[1]}")
    return x, y


def carve_validation(y, fraction: float = VAL_FRACTION, random_state=0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of ``range(len(y))`` into (fit, validation) indices.

    Each class gives ``floor(fraction * n_class)`` samples to validation, and at least one sample stays in
    the fit part, so the probe sees every class; both index arrays are sorted.
    """
    y = np.asarray(y)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    rng = np.random.default_rng(as_seed(random_state))
    val = []
    for cls in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == cls))
        val.append(members[:min(int(fraction * members.size), members.size - 1)])
    val = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    fit = np.setdiff1d(np.arange(y.size), val)
    return fit, val


class _Prior:
    """The C -> 0 limit of a logistic probe: the training-label frequencies for every row."""

    def __init__(self, y):
        self.classes_, counts = np.unique(y, return_counts=True)
        self.p = counts / counts.sum()

    def predict_proba(self, z):
        return np.tile(self.p, (z.shape[0], 1))

    def predict(self, z):
        return np.full(z.shape[0], self.classes_[np.argmax(self.p)])


@dataclass(eq=False)
class ProbeFit:
    """A fitted linear probe: ``predict``/``predict_proba`` take raw features (the scaler is inside).

    Attributes
    ----------
    C : float
        The chosen cost, in the protocol's convention.
    classes : numpy.ndarray
        The classes the probe knows (those of its training labels), the columns of ``predict_proba``.
    val_score : float
        The selection score of the chosen C (balanced accuracy, or log-loss in bits for the bits probe).
    scores : dict
        Selection score of every cost tried.
    """

    C: float
    classes: np.ndarray
    val_score: float
    scores: dict
    _clf: object
    _scaler: object | None
    width: int

    def _x(self, feats, name="test"):
        x = np.asarray(feats, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.width:
            raise ValueError(f"train and {name} features differ in width: {self.width} vs "
                             f"{x.shape[1] if x.ndim == 2 else x.shape}")
        return self._scaler.transform(x) if self._scaler is not None else x

    def predict(self, feats, name="test") -> np.ndarray:
        return self._clf.predict(self._x(feats, name))

    def predict_proba(self, feats, name="test") -> np.ndarray:
        return self._clf.predict_proba(self._x(feats, name))


def _logreg(C, class_weight, random_state, max_iter, warm_start=False):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter, random_state=random_state,
                              warm_start=warm_start)


def balanced_accuracy(y_true, y_pred) -> float:
    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():
        # A probe may predict a class absent from a small validation set; the score stays well defined.
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y_true, y_pred))


def log_loss_bits(proba: np.ndarray, classes: np.ndarray, y) -> np.ndarray:
    """Per-sample cross-entropy ``-log2 p(y)`` (inf for a class the probe never saw)."""
    col = np.searchsorted(classes, y)
    known = (col < classes.size) & (classes[np.minimum(col, classes.size - 1)] == y)
    out = np.full(len(y), np.inf)
    rows = np.flatnonzero(known)
    with np.errstate(divide="ignore"):
        out[rows] = -np.log2(proba[rows, col[rows]])
    return out


def fit_selected_probe(train_feats, train_y, val_feats, val_y, *, select="balanced_accuracy",
                       class_weight="balanced", grid=FAIR_C_GRID, random_state=0, max_iter: int = 1000,
                       include_prior: bool = False) -> ProbeFit:
    """Standardised logistic regression with C chosen on the validation split.

    Parameters
    ----------
    train_feats, val_feats : array_like, shape (n, d)
    train_y, val_y : array_like, shape (n,)
    select : {"balanced_accuracy", "log_loss"}
        Highest validation balanced accuracy (fair probe) or lowest validation cross-entropy (bits probe;
        validation samples of a class absent from training add the same infinite loss to every C and are
        left out of the comparison). Ties go to the smaller C (stronger regularisation).
    class_weight : "balanced" or None
    grid : sequence of float
        Costs to try (fitted in increasing order, each warm-started from the previous one).
    random_state : int or numpy.random.Generator
    max_iter : int
    include_prior : bool
        Also consider C = 0, the probe that ignores the features and predicts the training-label frequencies
        (it wins ties). For the bits probe: a representation with nothing to read then scores ~0 bits
        instead of paying for a fitted probe's estimation error.

    Returns
    -------
    ProbeFit
        ``C = 0.0`` when the prior won.
    """
    from sklearn.preprocessing import StandardScaler

    if select not in ("balanced_accuracy", "log_loss"):
        raise ValueError(f"select must be 'balanced_accuracy' or 'log_loss', got {select!r}")
    x_tr, y_tr = check_split("train", train_feats, train_y)
    x_val, y_val = check_split("val", val_feats, val_y, x_tr.shape[1])
    if len(np.unique(y_tr)) < 2:
        raise ValueError("train_y must hold at least two classes")
    grid = sorted(float(c) for c in grid)
    if not grid or min(grid) <= 0:
        raise ValueError(f"grid must hold positive costs, got {grid}")
    scaler = StandardScaler().fit(x_tr)
    z_tr, z_val = scaler.transform(x_tr), scaler.transform(x_val)
    clf = _logreg(grid[0], class_weight, as_seed(random_state), max_iter, warm_start=True)
    scores, best, best_score = {}, None, None
    for c in ([0.0] if include_prior else []) + grid:
        if c == 0.0:
            model = _Prior(y_tr)
        else:
            clf.set_params(C=c)
            model = clf.fit(z_tr, y_tr)
        if select == "balanced_accuracy":
            score = balanced_accuracy(y_val, model.predict(z_val))
            better = best_score is None or score > best_score
        else:
            ce = log_loss_bits(model.predict_proba(z_val), model.classes_, y_val)
            score = float(np.mean(ce[np.isfinite(ce)])) if np.isfinite(ce).any() else np.inf
            better = best_score is None or score < best_score
        scores[c] = score
        if better:
            best, best_score = (c, copy.deepcopy(model)), score
    return ProbeFit(C=best[0], classes=best[1].classes_, val_score=best_score, scores=scores, _clf=best[1],
                    _scaler=scaler, width=x_tr.shape[1])


def paper_cost_search(score, coarse=PAPER_COARSE, n_fine: int = 29) -> tuple[float, dict]:
    """The public code's two-stage cost search, for any ``score(cost) -> float`` (higher is better).

    A coarse sweep (first maximum wins), then a bisection on ``n_fine`` log-spaced costs within two decades
    either side of the coarse best (kept within the coarse range): each round scores the points at 25%, 50%
    and 75% of the remaining list and keeps the half, or middle half, around the best of them (ties: 25%,
    then 75%, then the middle), until one cost is left. Returns ``(best cost, {cost: score})`` over every
    cost visited, the best being the first maximum in visiting order.
    """
    scores = {}
    for c in coarse:
        scores[float(c)] = float(score(float(c)))
    best = max(scores, key=scores.get)
    costs = np.logspace(np.log10(best) - 2, np.log10(best) + 2, n_fine)
    costs = [float(c) for c in costs if min(coarse) <= c <= max(coarse)]
    while len(costs) > 1:
        quarter = (costs[len(costs) // 4], costs[len(costs) // 2], costs[-len(costs) // 4])
        for c in quarter:
            if c not in scores:
                scores[c] = float(score(c))
        top = max(scores[c] for c in quarter)
        if top == scores[quarter[0]]:
            costs = costs[:len(costs) // 2]
        elif top == scores[quarter[2]]:
            costs = costs[len(costs) // 2:]
        else:
            costs = costs[len(costs) // 4:-len(costs) // 4]
    best = max(scores, key=scores.get)
    return best, scores


def fit_paper_probe(train_feats, train_y, *, max_iter: int = PAPER_MAX_ITER,
                    holdout_seed: int = 48) -> ProbeFit:
    """The public code's probe (see the module docstring): holdout C search, refit on all training data.

    ``max_iter`` is the public code's 100 L-BFGS iterations; its convergence warnings are silenced, as there.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedShuffleSplit

    x, y = check_split("train", train_feats, train_y)
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2:
        raise ValueError("train_y must hold at least two classes")
    if counts.min() >= 2:
        fit_idx, hold_idx = next(StratifiedShuffleSplit(train_size=0.6, random_state=holdout_seed)
                                 .split(np.zeros((y.size, 1)), y))
    else:  # StratifiedShuffleSplit needs two members per class; the seeded per-class split does not
        fit_idx, hold_idx = carve_validation(y, 0.4, holdout_seed)

    def fitted(c, rows):
        clf = _logreg(c / rows.size, None, 0, max_iter)
        with warnings.catch_warnings():
            # The public code silences these too: unstandardised features at C = 1e6 converge slowly.
            warnings.simplefilter("ignore", ConvergenceWarning)
            return clf.fit(x[rows], y[rows])

    def score(c):
        return balanced_accuracy(y[hold_idx], fitted(c, fit_idx).predict(x[hold_idx]))

    best, scores = paper_cost_search(score)
    clf = fitted(best, np.arange(y.size))
    return ProbeFit(C=best, classes=clf.classes_, val_score=scores[best], scores=scores, _clf=clf,
                    _scaler=None, width=x.shape[1])
