"""The tidy row format shared by every experiment: column names, task identifiers, JSON encoding.

One row per (experiment, method, dataset, params, seed, target, metric); rows are plain dicts and may carry
further keys (e.g. ``ci_low``, ``ci_high``, ``error``). This module has no dependencies inside the package,
so the store, the path-level API and the runner can all build on it.
"""

from __future__ import annotations

import hashlib
import json

#: Columns every tidy table has (experiments may add more, e.g. ``ci_low``, ``ci_high``, ``error``).
TIDY_COLUMNS = (
    "experiment",
    "method",
    "dataset",
    "params",
    "seed",
    "target",
    "metric",
    "value",
    "ground_truth",
    "wall_s",
    "version",
    "task_id",
)

#: Keys a result row must have; the other tidy columns are optional.
REQUIRED_COLUMNS = ("experiment", "method", "metric", "value", "task_id")


def jsonable(obj):
    """``json.dumps`` fallback: numpy arrays and scalars become lists and Python numbers."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot serialise {type(obj).__name__} into the results table")


def canonical_json(obj) -> str:
    """JSON with sorted keys and no whitespace: the same parameters always give the same string."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=jsonable)


def task_id(task: dict) -> str:
    """Stable 16-hex-digit identifier of a task's parameters (used to resume)."""
    return hashlib.sha256(canonical_json(task).encode()).hexdigest()[:16]
