"""Experiment plumbing: tidy result tables and a resumable joblib grid runner."""

from .results import TIDY_COLUMNS, append_results, canonical_json, read_results, task_id
from .runner import grid, run_tasks

__all__ = ["TIDY_COLUMNS", "append_results", "canonical_json", "grid", "read_results", "run_tasks", "task_id"]
