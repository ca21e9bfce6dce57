"""Experiment plumbing: tidy result rows, a results store safe for concurrent sweeps, a resumable runner."""

from .results import (
    TIDY_COLUMNS,
    append_results,
    canonical_json,
    export_results,
    import_table,
    is_store_path,
    read_results,
    read_tasks,
    store_path_for,
    store_summary,
    task_id,
)
from .runner import grid, run_tasks
from .store import ResultStore

__all__ = ["TIDY_COLUMNS", "ResultStore", "append_results", "canonical_json", "export_results", "grid",
           "import_table", "is_store_path", "read_results", "read_tasks", "run_tasks", "store_path_for",
           "store_summary", "task_id"]
