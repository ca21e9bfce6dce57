"""Run a grid of independent tasks (settings x methods x seeds) with joblib, resumably, into a results store.

Each task is a dict of JSON-serialisable parameters; ``fn(task) -> list of row dicts``. Every task's outcome
is recorded in the store (:mod:`.store`) as soon as it finishes, in its own transaction: its rows, or, if it
raised, its error and traceback. There is no barrier between tasks: a worker that finishes takes the next
task at once (a sweep of unequal runs keeps every core busy). Tasks recorded as done are skipped on a rerun,
also those that returned no rows; failed tasks are retried. Several processes may run sweeps into one store
at once: a worker skips a task another process has finished meanwhile (checked just before it starts), and
if two finish the same task, only the first one's rows are kept. The joblib backend is a parameter:
``"loky"`` (processes on this machine, one BLAS/torch thread each) or ``"ray"`` (the same sweep on a Ray
cluster, if ``ray`` is installed; there tasks are dispatched in batches, checked before each batch).
"""

from __future__ import annotations

import itertools
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

from joblib import Parallel, delayed, parallel_config

from .. import __version__
from .results import read_results
from .store import STORE_SUFFIXES, ResultStore, TaskOutcome, is_store_path, validate_rows
from .tidy import REQUIRED_COLUMNS, task_id

#: What a task's rows must hold (the runner adds ``task_id``).
_REQUIRED_FROM_TASKS = tuple(c for c in REQUIRED_COLUMNS if c != "task_id")


def grid(**axes) -> list[dict]:
    """Cartesian product of keyword axes: ``grid(seed=[0, 1], n=[100, 1000])`` -> 4 dicts."""
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise ValueError(f"grid axis {name!r} must be a list of values, got {values!r}")
    keys = list(axes)
    combos = itertools.product(*(list(axes[k]) for k in keys))
    return [dict(zip(keys, combo, strict=True)) for combo in combos]


def _run_one(fn, task, tid, store_check=None) -> TaskOutcome | None:
    """Run one task; None if the store already records it as done (by a concurrent sweep).

    ``store_check`` is ``(store path, pid of the process that holds the sweep's connection)``. Only another
    process opens the store here: joblib runs a one-worker loky sweep in the calling process, and a second
    connection beside the sweep's own there shares its POSIX locks (per process), which SQLite cannot guard
    (seen as "disk I/O error" on opening it).
    """
    if store_check is not None and os.getpid() != store_check[1]:
        with ResultStore(store_check[0]) as store:
            if store.done_ids([tid]):
                return None
    # loky workers start with OMP/BLAS thread limits of 1 (inner_max_num_threads), which torch honours.
    t0 = time.perf_counter()
    try:
        rows = validate_rows(fn(task), required=_REQUIRED_FROM_TASKS)
    except Exception as exc:  # noqa: BLE001  a failing task is a recorded result; KeyboardInterrupt still stops
        return TaskOutcome(tid, task, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                           wall_s=time.perf_counter() - t0)
    wall = time.perf_counter() - t0
    for row in rows:
        row.setdefault("wall_s", wall)
        row.setdefault("version", __version__)
        row["task_id"] = tid
    return TaskOutcome(tid, task, rows, wall_s=wall)


def _outcomes(todo, fn, store, backend: str, n_jobs: int, batch_size: int):
    """Yield each task's outcome (None: done elsewhere) as it finishes."""
    limits = {"inner_max_num_threads": 1} if backend == "loky" else {}
    with parallel_config(backend=backend, n_jobs=n_jobs, **limits):
        if backend != "ray":
            # Only a worker process checks the store itself: a second connection inside this process would
            # share its file locks with ``store``'s (POSIX locks are per process), which SQLite cannot guard.
            check = (store.path, os.getpid()) if backend == "loky" else None
            yield from Parallel(return_as="generator_unordered")(
                delayed(_run_one)(fn, t, i, check) for t, i in todo)
            return
        # Ray workers may not see this machine's disk: the store is checked here, before each batch.
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            elsewhere = store.done_ids([i for _, i in batch])
            yield from [None] * len(elsewhere)
            yield from Parallel()(delayed(_run_one)(fn, t, i) for t, i in batch if i not in elsewhere)


def run_tasks(
    tasks: list[dict],
    fn: Callable[[dict], list[dict]],
    out_path,
    n_jobs: int = 1,
    backend: str = "loky",
    batch_size: int | None = None,
    progress: bool = True,
):
    """Run the tasks not yet done in the store ``out_path``, recording each as it finishes; return the table.

    Parameters
    ----------
    tasks : list of dict
        Task parameters (JSON-serialisable). Their hash (:func:`task_id`) identifies them for resuming.
    fn : callable
        A module-level function (picklable) mapping a task to a list of tidy row dicts. An exception it
        raises (not ``KeyboardInterrupt``) marks that task failed in the store, with its message; the other
        tasks go on and the next run retries it. A task returning no rows is done (not rerun).
    out_path : path-like
        Results store (suffix ``.sqlite``, ``.sqlite3`` or ``.db``); created if absent. Other processes may
        write into it at the same time. A ``.csv`` table cannot be appended to safely: bring it into a store
        with :func:`synergy_lab.experiments.import_table` (``synergy-lab results import``).
    n_jobs : int
        Parallel workers (joblib). Use the number of cores; each worker runs single-threaded.
    backend : {"loky", "threading", "sequential", "ray"}
        joblib backend. ``"ray"`` needs ``ray`` installed (``ray.util.joblib.register_ray``).
    batch_size : int, optional
        Progress is printed every ``batch_size`` finished tasks (default ``4 * n_jobs``); with
        ``backend="ray"`` it is also the number of tasks dispatched together.
    progress : bool
        Print how many tasks are done, then the progress.

    Returns
    -------
    pandas.DataFrame
        Every result row in the store (:func:`read_results`), including rows of other tasks.

    Warns
    -----
    RuntimeWarning
        If any task of this call failed (its error is in the store's task records, :func:`read_tasks`).
    """
    out_path = Path(out_path)
    if not is_store_path(out_path):
        hint = " (bring the existing table in with `synergy-lab results import`)" if out_path.exists() else ""
        raise ValueError(f"out_path {str(out_path)!r} must be a results store with suffix in "
                         f"{STORE_SUFFIXES}, e.g. {str(out_path.with_suffix('.sqlite'))!r}{hint}")
    if backend == "ray":
        try:
            from ray.util.joblib import register_ray  # noqa: PLC0415
        except ImportError as exc:
            raise ValueError("backend='ray' needs the 'ray' package (pip install 'ray[default]')") from exc
        register_ray()
    elif backend not in ("loky", "threading", "sequential"):
        raise ValueError(
            f"unknown joblib backend {backend!r}; use 'loky', 'threading', 'sequential' or 'ray'"
        )
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    ids = [task_id(t) for t in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError("tasks must be distinct: two tasks have identical parameters")
    batch_size = batch_size or max(1, 4 * max(1, n_jobs))
    failures, elsewhere, finished = [], 0, 0
    with ResultStore(out_path) as store:
        done = store.done_ids(ids)
        retried = len(store.failed_ids(ids))
        todo = [(t, i) for t, i in zip(tasks, ids, strict=True) if i not in done]
        if progress:
            note = f" ({retried} failed before: retrying)" if retried else ""
            print(f"{len(tasks) - len(todo)} of {len(tasks)} tasks already in {out_path}; running {len(todo)}"
                  f"{note}")
        for outcome in _outcomes(todo, fn, store, backend, n_jobs, batch_size):
            finished += 1
            if outcome is None:
                elsewhere += 1
            else:
                store.record([outcome])
                if outcome.error is not None:
                    failures.append(outcome)
            if progress and (finished % batch_size == 0 or finished == len(todo)):
                skipped = f", {elsewhere} done by another process" if elsewhere else ""
                failed = f", {len(failures)} failed so far" if failures else ""
                print(f"  {finished}/{len(todo)} tasks done{skipped}{failed}", flush=True)
    if failures:
        message = (f"{len(failures)} of {len(todo)} tasks failed (recorded with their errors in {out_path}; "
                   f"a rerun retries them); first: {failures[0].error}")
        if progress:
            print(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return read_results(out_path)
