"""Tidy result tables by path: read a store or a table file, append to a store, export, import.

A path with suffix ``.sqlite``, ``.sqlite3`` or ``.db`` is a results store (:mod:`.store`, safe for concurrent
writers); ``.csv`` and ``.parquet`` are plain table files, read as they are and written only by
:func:`export_results`. A CSV table written by an earlier synergy_lab (which rewrote it after every batch) is
brought into a store with :func:`import_table`.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from ..io import atomic_write_bytes, atomic_write_csv
from .store import STORE_SUFFIXES, ResultStore, TaskOutcome, is_store_path, validate_rows
from .tidy import TIDY_COLUMNS, canonical_json, task_id

__all__ = ["TIDY_COLUMNS", "append_results", "canonical_json", "export_results", "import_table",
           "is_store_path", "read_results", "read_tasks", "store_path_for", "store_summary",
           "task_id"]
TABLE_SUFFIXES = (".csv", ".parquet")


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=list(TIDY_COLUMNS))


def _check_suffix(path: Path, name: str) -> None:
    suffix = path.suffix.lower()
    if suffix not in STORE_SUFFIXES + TABLE_SUFFIXES:
        raise ValueError(f"{name} {str(path)!r} has suffix {suffix!r}: a results store needs one of "
                         f"{STORE_SUFFIXES}, a table file one of {TABLE_SUFFIXES}")


def read_results(path) -> pd.DataFrame:
    """The tidy table at ``path``: a store, a CSV or a parquet table (empty, with tidy columns, if absent).

    A CSV table with no content (as an earlier synergy_lab wrote when every task of a first batch returned
    no rows) reads as an empty table.
    """
    path = Path(path)
    _check_suffix(path, "path")
    if not path.exists():
        return _empty()
    if is_store_path(path):
        with ResultStore(path) as store:
            return store.rows()
    if path.suffix.lower() == ".parquet":
        try:
            return pd.read_parquet(path)
        except ImportError as exc:
            raise ValueError(f"reading {str(path)!r} needs pyarrow (pip install pyarrow)") from exc
    try:
        return pd.read_csv(path, dtype={"task_id": str})
    except pd.errors.EmptyDataError:
        return _empty()


def read_tasks(path) -> pd.DataFrame:
    """The task records of the store at ``path`` (status ``done`` or ``failed``, error, attempts, ...)."""
    path = Path(path)
    if not is_store_path(path):
        raise ValueError(f"path {str(path)!r} is not a results store: task records live only in a store")
    if not path.exists():
        raise ValueError(f"results store {str(path)!r} not found")
    with ResultStore(path) as store:
        return store.tasks()


def append_results(path, rows) -> int:
    """Append finished rows to the store at ``path``, grouped into tasks by their ``task_id``.

    Each task is recorded as done; a task already done in the store keeps its rows and these are dropped
    (so appending the same rows twice does not duplicate them). Returns the number of rows written.
    """
    path = Path(path)
    if not is_store_path(path):
        raise ValueError(f"path {str(path)!r} is not a results store (suffix {STORE_SUFFIXES}); table files "
                         "are written whole by export_results")
    by_task: dict[str, list] = {}
    for row in validate_rows(list(rows)):
        by_task.setdefault(str(row["task_id"]), []).append(row)
    with ResultStore(path) as store:
        return store.record([TaskOutcome(tid, None, task_rows) for tid, task_rows in by_task.items()]).rows


def import_table(table_path, store_path) -> int:
    """Copy a CSV or parquet tidy table (with a ``task_id`` column) into a store; returns the rows copied.

    Each ``task_id`` becomes a done task (its parameters are unknown: ``task`` is empty). Tasks already done
    in the store are skipped, so importing twice copies nothing the second time. The store then reads back
    the table as :func:`read_results` reads the file.
    """
    table_path = Path(table_path)
    if table_path.suffix.lower() not in TABLE_SUFFIXES:
        raise ValueError(f"table_path {str(table_path)!r} must be a {TABLE_SUFFIXES} table")
    if not table_path.is_file():
        raise ValueError(f"table_path {str(table_path)!r} not found")
    table = read_results(table_path)
    if table.empty:
        with ResultStore(store_path):
            return 0
    if "task_id" not in table.columns:
        raise ValueError(f"table {str(table_path)!r} has no task_id column: it was not written by run_tasks")
    return append_results(store_path, table.to_dict("records"))


def export_results(path, out) -> Path:
    """Write the tidy table of ``path`` (a store or table) to ``out`` (``.csv``, or ``.parquet`` if pyarrow is
    installed), atomically; returns ``out``."""
    path, out = Path(path), Path(out)
    if not path.exists():
        raise ValueError(f"path {str(path)!r} not found")
    suffix = out.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"out {str(out)!r} must end in one of {TABLE_SUFFIXES}")
    table = read_results(path)
    if suffix == ".csv":
        return atomic_write_csv(table, out)
    try:
        import pyarrow  # noqa: F401, PLC0415  (optional: parquet export only)
    except ImportError as exc:
        raise ValueError("exporting to parquet needs pyarrow (pip install pyarrow); or use .csv") from exc
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return atomic_write_bytes(out, buffer.getvalue())


def store_summary(path, max_failed: int = 10) -> str:
    """A short text summary of a store: tasks done (and with no rows) or failed, rows per experiment and
    method, and the latest error of up to ``max_failed`` failed tasks."""
    tasks = read_tasks(path)
    rows = read_results(path)
    done = tasks["status"] == "done"
    empty = int((done & (tasks["n_rows"] == 0)).sum())
    failed = tasks[~done]
    lines = [f"{path}: {len(tasks)} tasks ({int(done.sum())} done, {empty} of them with no rows; "
             f"{len(failed)} failed), {len(rows)} rows"]
    if len(rows):
        per_method = rows.groupby(["experiment", "method"], sort=True)["task_id"]
        counts = per_method.agg(tasks="nunique", rows="size")
        lines += ["", counts.reset_index().to_string(index=False)]
    if len(failed):
        lines += ["", "failed tasks (latest attempt; a rerun of the sweep retries them):"]
        for rec in failed.head(max_failed).itertuples():
            lines.append(f"  {rec.task_id}  attempts {rec.attempts}  {rec.error}  task {rec.task}")
        if len(failed) > max_failed:
            lines.append(f"  ... and {len(failed) - max_failed} more (read_tasks lists them all)")
    return "\n".join(lines)


def store_path_for(path, log=print) -> Path:
    """The store a sweep script writes for ``path``, with an earlier CSV table of the same name brought in.

    ``path`` itself if it names a store, else the same name with suffix ``.sqlite`` (so ``--out results.csv``
    keeps working). If that store does not exist yet and a CSV table of the same name does (as earlier
    synergy_lab versions wrote), the table is imported first, so the sweep resumes where it stopped; the CSV
    file is left in place. ``log`` receives a one-line note of what was done.
    """
    path = Path(path)
    store = path if is_store_path(path) else path.with_suffix(".sqlite")
    legacy = path if path.suffix.lower() == ".csv" else store.with_suffix(".csv")
    if not store.exists() and legacy.is_file():
        n = import_table(legacy, store)
        log(f"imported {n} rows of the earlier table {legacy} into the results store {store}")
    return store
