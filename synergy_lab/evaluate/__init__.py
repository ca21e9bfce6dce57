"""Evaluation of learned representations against the exact truth.

* :mod:`.protocols` -- linear probes with C chosen on held-out data: ``fair`` (standardised, class-balanced,
  C by validation balanced accuracy) and ``paper`` (the public InfMasking/CoMM probe);
* :mod:`.information` -- :func:`bits_captured`, H(Y) minus the held-out cross-entropy of a calibrated probe;
* :mod:`.readout` -- :func:`readout_pid`, the exact PID of (F1, F2; Yhat) for the probe's read-out;
* :mod:`.score` -- :func:`score_representation`, all of it as tidy rows beside the ground truth;
* :mod:`.export` -- datasets written as ``.npz`` splits for models outside synergy_lab, and loaded back;
* :mod:`.run_scores` -- which of a training run's pair sets fit, select and report (``score_run_data``);
* :mod:`.probes` -- the fixed-C probe (``linear_probe``); :mod:`.features` -- feature extraction (torch).

``extract_features`` is imported lazily: nothing here imports torch at import time. Re-scoring a saved run
rebuilds it, so it lives with training: :func:`synergy_lab.train.score_saved_run`.
"""

from .export import export_dataset, load_export, load_features
from .information import BitsCaptured, bits_captured, entropy_bits
from .probes import chance_level, linear_probe, probe_targets
from .protocols import carve_validation, fit_paper_probe, fit_selected_probe, paper_cost_search
from .readout import readout_pid, readout_table
from .score import format_scores, metrics_by_target, score_representation

__all__ = [
    "BitsCaptured", "bits_captured", "carve_validation", "chance_level", "entropy_bits", "extract_features",
    "export_dataset", "fit_paper_probe", "fit_selected_probe", "format_scores", "linear_probe", "load_export",
    "load_features",
    "metrics_by_target", "paper_cost_search", "probe_targets", "readout_pid", "readout_table",
    "score_representation",
]

_LAZY = {"extract_features": "features"}


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
