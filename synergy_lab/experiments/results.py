"""Tidy result tables: one row per (experiment, method, dataset, params, seed, target, metric).

Rows are plain dicts; tables are pandas DataFrames written atomically as CSV, so an interrupted run never
leaves a half-written file, and a rerun can skip the tasks whose rows are already there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from ..io import atomic_write_csv

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


def canonical_json(obj) -> str:
    """JSON with sorted keys and no whitespace: the same parameters always give the same string."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_jsonable)


def _jsonable(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot serialise {type(obj).__name__} into the results table")


def task_id(task: dict) -> str:
    """Stable 16-hex-digit identifier of a task's parameters (used to resume)."""
    return hashlib.sha256(canonical_json(task).encode()).hexdigest()[:16]


def read_results(path) -> pd.DataFrame:
    """The table at ``path``, or an empty table with the tidy columns if it does not exist yet."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(TIDY_COLUMNS))
    return pd.read_csv(path, dtype={"task_id": str})


def append_results(path, rows) -> pd.DataFrame:
    """Append rows to the table at ``path`` (atomically rewriting it) and return the whole table."""
    new = pd.DataFrame(list(rows))
    missing = [c for c in ("experiment", "method", "metric", "value", "task_id") if c not in new.columns]
    if len(new) and missing:
        raise ValueError(f"result rows lack required columns {missing}")
    old = read_results(path)
    table = new if old.empty else pd.concat([old, new], ignore_index=True)
    known = [c for c in TIDY_COLUMNS if c in table.columns]
    ordered = known + [c for c in table.columns if c not in TIDY_COLUMNS]
    table = table[ordered]
    atomic_write_csv(table, path)
    return table
