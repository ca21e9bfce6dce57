"""Generators of datasets whose redundancy, uniqueness and synergy are known exactly."""

from ._dataset import GROUND_TRUTH_COLUMNS, SyntheticDataset
from .compositional import make_compositional
from .gates import GATES, empirical_table, gate, make_gate, random_table, sample_table
from .gaussian import make_gaussian
from .registry import available_generators, describe, make

__all__ = [
    "GATES",
    "GROUND_TRUTH_COLUMNS",
    "SyntheticDataset",
    "available_generators",
    "describe",
    "empirical_table",
    "gate",
    "make",
    "make_compositional",
    "make_gate",
    "make_gaussian",
    "random_table",
    "sample_table",
]
