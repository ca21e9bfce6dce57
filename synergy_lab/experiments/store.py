"""A results store for concurrent sweeps: one SQLite file, one row per result, one record per task.

Layout (schema version 1):

``tasks``
    one record per task: ``task_id`` (primary key), ``task`` (its parameters as canonical JSON), ``status``
    (``"done"`` or ``"failed"``), ``n_rows``, ``error`` and ``traceback`` of a failed attempt, ``wall_s``,
    ``attempts``, ``finished_at`` (UTC) and ``writer`` (host:pid).
``rows``
    one row per result: ``row_id`` (insertion order), ``task_id`` with the row's index inside its task
    (unique together), one column per tidy column, and ``extra``: the row's other keys as a JSON object.

Writers append inside one ``BEGIN IMMEDIATE`` transaction per batch, in WAL mode with a busy timeout, so any
number of processes can write into one store and readers never block them. A task already recorded as done
is never written again: of two processes finishing the same task, the first to commit keeps its rows and the
second's are dropped. Appending costs O(batch) (B-tree inserts); nothing is rewritten.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from .tidy import REQUIRED_COLUMNS, TIDY_COLUMNS, canonical_json, jsonable

SCHEMA_VERSION = 1
#: Suffixes that name a store; any other suffix is a plain table file (``.csv``, ``.parquet``).
STORE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_ROW_COLUMNS = [c for c in TIDY_COLUMNS if c != "task_id"]
_QUOTED = ", ".join(f'"{c}"' for c in _ROW_COLUMNS)  # "value", "version": quoted, whatever SQLite reserves
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    task TEXT,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    n_rows INTEGER NOT NULL,
    error TEXT,
    traceback TEXT,
    wall_s REAL,
    attempts INTEGER NOT NULL DEFAULT 1,
    finished_at TEXT NOT NULL,
    writer TEXT
);
CREATE TABLE IF NOT EXISTS rows (
    row_id INTEGER PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (task_id),
    idx INTEGER NOT NULL,
    {_QUOTED},
    extra TEXT,
    UNIQUE (task_id, idx)
);
"""
_INSERT_ROW = (f"INSERT INTO rows (task_id, idx, {_QUOTED}, extra) "
               f"VALUES ({', '.join('?' * (len(_ROW_COLUMNS) + 3))})")
#: Task columns returned by :meth:`ResultStore.tasks`.
TASK_COLUMNS = ("task_id", "task", "status", "n_rows", "error", "traceback", "wall_s", "attempts",
                "finished_at", "writer")


def is_store_path(path) -> bool:
    """Whether ``path`` names a results store (by its suffix: ``.sqlite``, ``.sqlite3`` or ``.db``)."""
    return Path(path).suffix.lower() in STORE_SUFFIXES


@dataclass
class TaskOutcome:
    """What running one task produced: its rows, or the error it raised (``rows`` then empty)."""

    task_id: str
    task: dict | None
    rows: list = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    wall_s: float | None = None


@dataclass
class RecordSummary:
    """Counts from one :meth:`ResultStore.record` call."""

    done: int = 0
    failed: int = 0
    rows: int = 0
    skipped: int = 0  # already done (by this or another process): its new rows were dropped


def _sql_value(value):
    """A row value as SQLite stores it: numbers, strings and None as they are, containers as JSON."""
    if isinstance(value, int) and not -2**63 <= value < 2**63:
        raise ValueError(f"integer {value} does not fit a results-store column (64 bits); store it as a "
                         "float or a string")
    if value is None or isinstance(value, (str, int, float, bytes)):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    return canonical_json(value)


class ResultStore:
    """An open results store (a context manager; one connection, not shareable across processes).

    Parameters
    ----------
    path : path-like
        The SQLite file (suffix ``.sqlite``, ``.sqlite3`` or ``.db``); created with its folder if absent.
    timeout : float
        Seconds a writer waits for another process's transaction before giving up.
    """

    def __init__(self, path, timeout: float = 120.0):
        self.path = Path(path)
        if not is_store_path(self.path):
            raise ValueError(f"path {str(self.path)!r} is not a results store: use a suffix in "
                             f"{STORE_SUFFIXES}")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if self.path.is_dir():
            raise ValueError(f"path {str(self.path)!r} is a directory, not a results store")
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, "rb") as fh:
                if fh.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                    raise ValueError(f"path {str(self.path)!r} is not a results store (not an SQLite file)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE) around each batch.
        self._con = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        try:
            self._con.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            # WAL is a property of the file: set it once, so that opening a store to read writes nothing.
            if self._con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                self._con.execute("PRAGMA journal_mode = WAL")
            if self._schema_version() is None:
                with self._transaction():
                    # executescript() would commit on its own: run the statements inside this transaction.
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self._con.execute(statement)
                    self._con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                                      (str(SCHEMA_VERSION),))
            version = self._schema_version()
            if version is None or version > SCHEMA_VERSION:
                raise ValueError(f"store {str(self.path)!r} has schema version {version}; this "
                                 f"synergy_lab reads version {SCHEMA_VERSION}: upgrade synergy_lab")
        except sqlite3.DatabaseError as exc:
            self._con.close()
            raise ValueError(f"path {str(self.path)!r} is not a usable results store: {exc}") from exc
        except BaseException:
            self._con.close()
            raise

    def _schema_version(self) -> int | None:
        if self._con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
            row = self._con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            return None if row is None else int(row[0])
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self._con.close()

    def _transaction(self):
        return _Transaction(self._con)

    # -- writing ---------------------------------------------------------------------------------------
    def record(self, outcomes) -> RecordSummary:
        """Record a batch of task outcomes in one transaction.

        A task already done keeps its rows (the new ones are dropped: ``skipped``). A finished task replaces
        an earlier failed attempt; a failure updates the error of an earlier failed attempt; the task record
        counts ``attempts``. A task with no rows is recorded as done with ``n_rows = 0``.
        """
        summary = RecordSummary()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        writer = f"{socket.gethostname()}:{os.getpid()}"
        with self._transaction():
            for out in outcomes:
                prev = self._con.execute("SELECT status FROM tasks WHERE task_id = ?",
                                         (out.task_id,)).fetchone()
                if prev is not None and prev[0] == "done":
                    summary.skipped += 1
                    continue
                status = "done" if out.error is None else "failed"
                rows = out.rows if out.error is None else []
                self._con.execute(
                    "INSERT INTO tasks (task_id, task, status, n_rows, error, traceback, wall_s, finished_at,"
                    " writer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET"
                    " task = coalesce(excluded.task, task), status = excluded.status,"
                    " n_rows = excluded.n_rows, error = excluded.error, traceback = excluded.traceback,"
                    " wall_s = excluded.wall_s, finished_at = excluded.finished_at, writer = excluded.writer,"
                    " attempts = attempts + 1",
                    (out.task_id, None if out.task is None else canonical_json(out.task), status, len(rows),
                     out.error, out.traceback, out.wall_s, now, writer),
                )
                if rows:
                    self._con.executemany(_INSERT_ROW, [_row_record(out.task_id, i, r)
                                                             for i, r in enumerate(rows)])
                summary.rows += len(rows)
                summary.done += status == "done"
                summary.failed += status == "failed"
        return summary

    # -- reading ---------------------------------------------------------------------------------------
    def done_ids(self, ids=None) -> set[str]:
        """Ids of the tasks recorded as done (among ``ids`` if given)."""
        return self._ids_with_status("done", ids)

    def failed_ids(self, ids=None) -> set[str]:
        """Ids of the tasks whose latest attempt failed (among ``ids`` if given)."""
        return self._ids_with_status("failed", ids)

    def _ids_with_status(self, status, ids) -> set[str]:
        sql = "SELECT task_id FROM tasks WHERE status = ?"
        if ids is None:
            return {r[0] for r in self._con.execute(sql, (status,))}
        ids, found = list(ids), set()
        for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[start:start + 500]
            query = f"{sql} AND task_id IN ({', '.join('?' * len(chunk))})"
            found.update(r[0] for r in self._con.execute(query, (status, *chunk)))
        return found

    def rows(self) -> pd.DataFrame:
        """All result rows as the tidy DataFrame, in the order they were written.

        Tidy columns come first; a tidy column that no row has is left out (as a table built from those rows
        would lack it), except the required ones. Extra keys become columns in order of first appearance.
        """
        cur = self._con.execute(
            f"SELECT task_id, {_QUOTED}, extra FROM rows ORDER BY row_id")
        records = cur.fetchall()
        if not records:
            return pd.DataFrame(columns=list(TIDY_COLUMNS))
        tidy = pd.DataFrame.from_records(records, columns=["task_id", *_ROW_COLUMNS, "extra"])
        # One JSON document for all rows: a single parse is several times faster than one per row.
        # (a row without extra keys reads back as None or, among rows with them, as NaN)
        documents = (e if isinstance(e, str) else "{}" for e in tidy.pop("extra"))
        extras = pd.DataFrame(json.loads("[" + ",".join(documents) + "]"))
        keep = [c for c in TIDY_COLUMNS if c in REQUIRED_COLUMNS or tidy[c].notna().any()]
        for col in keep:  # SQLite stores NaN as NULL: a required column of NaN only reads back as NaN floats
            if tidy[col].isna().all():
                tidy[col] = tidy[col].astype(float)
        table = pd.concat([tidy[keep], extras.set_axis(tidy.index)], axis=1)
        return table

    def tasks(self) -> pd.DataFrame:
        """The task records (one per task, done or failed), in the order they were first recorded."""
        cur = self._con.execute(f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks ORDER BY rowid")
        return pd.DataFrame.from_records(cur.fetchall(), columns=list(TASK_COLUMNS))


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception): takes the write lock up front, so
    two writers never deadlock upgrading read locks."""

    def __init__(self, con):
        self._con = con

    def __enter__(self):
        self._con.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb):
        self._con.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _row_record(tid: str, idx: int, row: dict) -> tuple:
    extra = {k: v for k, v in row.items() if k not in TIDY_COLUMNS}
    # NaN survives in JSON (Python's reader accepts it); SQLite itself stores a NaN column value as NULL.
    extra_json = json.dumps(extra, default=jsonable) if extra else None
    return (tid, idx, *(_sql_value(row.get(c)) for c in _ROW_COLUMNS), extra_json)


def validate_rows(rows, required=REQUIRED_COLUMNS) -> list[dict]:
    """Check a task's return value: a list of dicts with string keys holding the ``required`` columns."""
    if not isinstance(rows, (list, tuple)):
        raise TypeError(f"a task must return a list of row dicts, got {type(rows).__name__}")
    for row in rows:
        if not isinstance(row, dict):
            raise TypeError(f"a task must return a list of row dicts, got an item of type "
                            f"{type(row).__name__}")
        missing = [c for c in required if c not in row]
        if missing:
            raise ValueError(f"result rows lack required columns {missing}")
        bad = [k for k in row if not isinstance(k, str)]
        if bad:
            raise TypeError(f"result row keys must be strings, got {bad!r}")
        _row_record("", 0, row)  # encodes, or raises here (in the task) rather than when the batch is written
    return list(rows)
