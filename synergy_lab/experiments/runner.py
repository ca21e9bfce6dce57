"""Run a grid of independent tasks (settings x methods x seeds) with joblib, resumably.

Each task is a dict of JSON-serialisable parameters; ``fn(task) -> list of row dicts``. Finished tasks are
appended to the results table after every batch, so an interrupted sweep resumes where it stopped. The
joblib backend is a parameter: ``"loky"`` (processes on this machine, one BLAS/torch thread each) or
``"ray"`` (the same sweep on a Ray cluster, if ``ray`` is installed) — no home-made scheduler.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable

from joblib import Parallel, delayed, parallel_config

from .. import __version__
from .results import append_results, read_results, task_id


def grid(**axes) -> list[dict]:
    """Cartesian product of keyword axes: ``grid(seed=[0, 1], n=[100, 1000])`` -> 4 dicts."""
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise ValueError(f"grid axis {name!r} must be a list of values, got {values!r}")
    keys = list(axes)
    combos = itertools.product(*(list(axes[k]) for k in keys))
    return [dict(zip(keys, combo, strict=True)) for combo in combos]


def _run_one(fn, task):
    # loky workers start with OMP/BLAS thread limits of 1 (inner_max_num_threads), which torch honours.
    t0 = time.perf_counter()
    rows = fn(task)
    wall = time.perf_counter() - t0
    tid = task_id(task)
    for row in rows:
        row.setdefault("wall_s", wall)
        row.setdefault("version", __version__)
        row["task_id"] = tid
    return rows


def run_tasks(
    tasks: list[dict],
    fn: Callable[[dict], list[dict]],
    out_path,
    n_jobs: int = 1,
    backend: str = "loky",
    batch_size: int | None = None,
    progress: bool = True,
):
    """Run the tasks not yet in ``out_path``; append their rows after each batch; return the full table.

    Parameters
    ----------
    tasks : list of dict
        Task parameters (JSON-serialisable). Their hash identifies them for resuming.
    fn : callable
        A module-level function (picklable) mapping a task to a list of tidy row dicts.
    out_path : path-like
        CSV results table; created if absent, rewritten atomically after every batch.
    n_jobs : int
        Parallel workers (joblib). Use the number of cores; each worker runs single-threaded.
    backend : {"loky", "threading", "ray"}
        joblib backend. ``"ray"`` needs ``ray`` installed (``ray.util.joblib.register_ray``).
    """
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
    ids = [task_id(t) for t in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError("tasks must be distinct: two tasks have identical parameters")
    done = set(read_results(out_path).get("task_id", []))
    todo = [t for t, i in zip(tasks, ids, strict=True) if i not in done]
    if progress:
        print(f"{len(tasks) - len(todo)} of {len(tasks)} tasks already in {out_path}; running {len(todo)}")
    batch_size = batch_size or max(1, 4 * max(1, n_jobs))
    table = read_results(out_path)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        limits = {"inner_max_num_threads": 1} if backend == "loky" else {}
        with parallel_config(backend=backend, n_jobs=n_jobs, **limits):
            results = Parallel()(delayed(_run_one)(fn, t) for t in batch)
        table = append_results(out_path, [row for rows in results for row in rows])
        if progress:
            print(f"  {min(start + batch_size, len(todo))}/{len(todo)} tasks done")
    return table
