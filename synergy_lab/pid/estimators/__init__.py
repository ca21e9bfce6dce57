"""PID estimators from samples, scikit-learn style: PluginPID, ClusterPID, GaussianPID and NeuralPID.

``Estimator(...).fit(X1, X2, y)`` returns the estimator; ``decomposition_`` is a :class:`PIDResult` in bits
(atoms and mutual informations, identities exact) and ``confidence_interval(alpha)`` a DataFrame of
``estimate, low, high`` per quantity. Every estimator is deterministic under ``random_state`` and is a
scikit-learn ``BaseEstimator`` (``get_params``, ``set_params``, ``sklearn.base.clone``); the class attribute
``version`` is bumped whenever a change alters what it returns.

One estimator per module: :mod:`.plugin` (discrete samples), :mod:`.cluster` (k-means, then plug-in),
:mod:`.gaussian` (closed form on the sample covariance) and :mod:`.neural` (Liang et al.'s BATCH estimator;
torch, imported only when ``NeuralPID`` is first accessed). :mod:`.base` holds the shared base class and
input checks.

A constant target (a single class, or a continuous y whose rows are all equal) carries no information: every
estimator then reports the exact all-zero decomposition (``info["constant_target"]``) with zero-width
intervals rather than an error, since "no information" is the right answer, not a failure (a sweep over
small samples or rare classes meets such targets). Sources of any scale are accepted: every standardisation
and covariance is computed in exact power-of-two units, so data of order 1e160 or 1e-200 give the estimate
they give at order 1.
"""

from .base import PIDEstimator
from .cluster import ClusterPID
from .gaussian import GaussianPID
from .plugin import PluginPID


def __getattr__(name):
    # NeuralPID needs torch; importing it lazily keeps `import synergy_lab.pid` torch-free.
    if name == "NeuralPID":
        from .neural import NeuralPID  # noqa: PLC0415

        return NeuralPID
    raise AttributeError(f"module 'synergy_lab.pid.estimators' has no attribute {name!r}")


__all__ = ["ClusterPID", "GaussianPID", "NeuralPID", "PIDEstimator", "PluginPID"]
