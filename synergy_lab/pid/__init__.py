"""Partial information decomposition: exact discrete measures (numpy/scipy only, no torch)."""

from . import measures  # noqa: F401  (importing it registers every measure)
from ._base import DiscreteMeasure, available_measures, decompose
from ._result import COMPONENTS, PIDResult
from ._tables import entropy, mutual_informations, validate_table
from .estimators import ClusterPID, GaussianPID, PluginPID
from .gaussian import decompose_gaussian, gaussian_mutual_information


def __getattr__(name):
    # NeuralPID needs torch; importing it lazily keeps `import synergy_lab.pid` torch-free.
    if name == "NeuralPID":
        from .estimators.neural import NeuralPID

        return NeuralPID
    raise AttributeError(f"module 'synergy_lab.pid' has no attribute {name!r}")


__all__ = [
    "ClusterPID",
    "GaussianPID",
    "NeuralPID",
    "PluginPID",
    "COMPONENTS",
    "DiscreteMeasure",
    "PIDResult",
    "available_measures",
    "decompose",
    "decompose_gaussian",
    "gaussian_mutual_information",
    "entropy",
    "mutual_informations",
    "validate_table",
]
