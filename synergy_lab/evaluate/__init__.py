"""Evaluation of learned representations: probe features (:mod:`.features`, torch) and linear probes
(:mod:`.probes`, scikit-learn). ``extract_features`` is imported lazily, so the probes need no torch."""

from .probes import chance_level, linear_probe, probe_targets

__all__ = ["chance_level", "extract_features", "linear_probe", "probe_targets"]


def __getattr__(name):
    if name == "extract_features":
        from .features import extract_features

        return extract_features
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
