"""Publication figures, one function per figure, each drawn from a tidy results table.

``synergy-lab plot NAME`` redraws a figure from its experiment's results store (:data:`FIGURES`). The method
figures read the wave-2 method-comparison columns (experiment, method, seed, steps, state, cell, target,
metric, value, ground_truth), return the aggregated numbers they drew, and are deterministic: the same table
gives the same image. The drawing functions are imported on first use, so that the command line can list the
figures without loading matplotlib.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import NamedTuple


class Figure(NamedTuple):
    """A named figure: its drawing function (``module:function`` in this package) and default store."""

    function_name: str
    store: Path
    summary: str

    @property
    def function(self):
        """The drawing function ``f(table, path)``."""
        module, name = self.function_name.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)


_METHODS_STORE = Path("experiments") / "methods_vectors" / "results.sqlite"

#: ``synergy-lab plot NAME`` -> figure; stores are relative to the repository root.
FIGURES = {
    "estimator_accuracy": Figure("estimator:estimator_accuracy_figure",
                                 Path("experiments") / "estimator_accuracy" / "results.sqlite",
                                 "PID estimators against exact ground truth"),
    "methods_rus": Figure("methods:methods_rus_figure", _METHODS_STORE,
                          "fair-probe accuracy on R, U1, U2 and synergy per method, beside the untrained "
                          "floor"),
    "bits_vs_truth": Figure("methods:bits_vs_truth_figure", _METHODS_STORE,
                            "bits captured per method and target against I(X1,X2;Y)"),
    "synergy_vs_steps": Figure("methods:synergy_vs_steps_figure", _METHODS_STORE,
                               "synergy (match) accuracy against training steps"),
    "ablation": Figure("ablation:ablation_figure",
                       Path("experiments") / "infmasking_ablation" / "results.sqlite",
                       "InfMasking's synergy per ablation factor, CoMM on the same seeds"),
    "readout_pid": Figure("methods:readout_pid_figure", _METHODS_STORE,
                          "read-out PID as stacked bars per method beside the truth"),
    "trifeature_rus": Figure("methods:trifeature_rus_figure",
                             Path("experiments") / "trifeature" / "results.sqlite",
                             "Trifeature R, U1, U2 (unbiased pairs) and S (biased pairs) per method, beside "
                             "the untrained floor"),
}

_EXPORTS = {"ablation_figure": "ablation", "bits_vs_truth_figure": "methods", "error_curves": "estimator",
            "estimator_accuracy_figure": "estimator", "methods_rus_figure": "methods",
            "readout_pid_figure": "methods", "synergy_vs_steps_figure": "methods",
            "trifeature_rus_figure": "methods"}

__all__ = ["FIGURES", "Figure", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
