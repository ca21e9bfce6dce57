"""Generators of datasets whose redundancy, uniqueness and synergy are known exactly.

Every source -- vector generators and image sources alike -- is reached through one registry
(:mod:`.registry`): ``make(name, **params)``, ``generator_parameters(name)``, ``available_generators()``.
"""

from ._dataset import GROUND_TRUTH_COLUMNS, SyntheticDataset
from .compositional import make_compositional
from .gates import GATES, empirical_table, gate, make_gate, random_table, sample_table
from .gaussian import make_gaussian
from .registry import (
    DataSource,
    available_generators,
    check_parameters,
    data_source,
    describe,
    generator_parameters,
    make,
)

#: Names served lazily: the Trifeature renderer and the augmentations need torch, the generators do not.
_LAZY = {
    "BimodalPairs": "trifeature",
    "BimodalTrifeature": "trifeature",
    "TrifeatureCacheWarning": "trifeature",
    "TrifeatureImages": "trifeature",
    "allowed_pair_count": "trifeature",
    "make_bimodal_pairs": "trifeature",
    "make_probe_pairs": "trifeature",
    "make_trifeature_images": "trifeature",
    "pair_factors": "trifeature",
    "trifeature_ground_truth": "trifeature",
    "render_trifeature": "trifeature",
    "split_combinations": "trifeature",
    "trifeature_mapping": "trifeature",
    "SimCLRAugment": "augment",
    "normalize_images": "augment",
}


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SimCLRAugment",
    "normalize_images",
    "BimodalPairs",
    "BimodalTrifeature",
    "TrifeatureCacheWarning",
    "TrifeatureImages",
    "allowed_pair_count",
    "make_bimodal_pairs",
    "make_probe_pairs",
    "make_trifeature_images",
    "pair_factors",
    "trifeature_ground_truth",
    "render_trifeature",
    "split_combinations",
    "trifeature_mapping",
    "GATES",
    "GROUND_TRUTH_COLUMNS",
    "DataSource",
    "SyntheticDataset",
    "available_generators",
    "check_parameters",
    "data_source",
    "describe",
    "empirical_table",
    "gate",
    "generator_parameters",
    "make",
    "make_compositional",
    "make_gate",
    "make_gaussian",
    "random_table",
    "sample_table",
]
