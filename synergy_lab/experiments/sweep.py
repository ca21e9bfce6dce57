"""One task of a method-comparison sweep: train a method (or take it at initialisation) and score it.

A sweep task is a JSON-able dict (the shared row contract of the method comparison, the InfMasking ablation
and the quickstart)::

    {"experiment": "methods_vectors", "method": "comm", "seed": 0, "steps": 3000,
     "state": "trained" | "untrained", "cell": "base" | "<factor>=<value>",
     "overrides": {"dotted.config.key": value}}

:func:`run_sweep_task` turns it into tidy rows: it loads the method's base config, applies the cell's
``overrides`` and the task's seed and steps, then either trains the method (resuming from the checkpoint a
killed run left in its run folder; scored by the trainer with
:func:`synergy_lab.evaluate.score_representation`) or scores the same architecture at initialisation
(``"untrained"``, the floor: :func:`synergy_lab.train.score_saved_run`, no training). Each row of the
scores gains ``experiment, method, dataset, seed, steps, state, cell, params`` with ``params`` the canonical
JSON of ``{"steps", "state", "cell", "overrides"}``. Give it to :func:`synergy_lab.experiments.run_tasks`
through :class:`SweepRunner` (picklable, for the process pool)::

    tasks = [sweep_task("methods_vectors", m, s, 3000) for s in range(8) for m in ("comm", "infmasking")]
    run_tasks(tasks, SweepRunner({"comm": "experiments/configs/compositional_comm.toml", ...}, "results/x"),
              "experiments/x/results.sqlite", n_jobs=2)

This module imports torch only inside :func:`run_sweep_task`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from .._validate import check_int
from .tidy import canonical_json

STATES = ("trained", "untrained")
TASK_KEYS = ("experiment", "method", "seed", "steps", "state", "cell", "overrides")
#: Config keys a task sets itself: a cell's overrides may not change them.
_TASK_OWNED = ("seed", "optim.steps", "optim.epochs", "out_dir", "keep_checkpoints", "progress")


def _text(name, value):
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty string, got {value!r}")
    return value


def sweep_task(experiment: str, method: str, seed: int, steps: int, state: str = "trained",
               cell: str = "base", overrides: Mapping | None = None) -> dict:
    """A validated sweep task (the dict of the contract in this module's docstring).

    Parameters
    ----------
    experiment, method : str
        Experiment name (rows' ``experiment``) and registered method name.
    seed : int
        The run's seed (data, initialisation, batches): methods on one seed are paired.
    steps : int
        Training steps (>= 1); for ``"untrained"`` it names the trained runs this floor belongs to.
    state : {"trained", "untrained"}
    cell : str
        Name of the ablation cell, ``"base"`` for the base config.
    overrides : mapping, optional
        Dotted config keys the cell changes, e.g. ``{"model.T": 2}``; not the keys the task sets itself
        (``seed``, ``optim.steps``, ``optim.epochs``, ``out_dir``, ``keep_checkpoints``, ``progress``).
    """
    task = {"experiment": _text("experiment", experiment), "method": _text("method", method),
            "seed": check_int("seed", seed, 0), "steps": check_int("steps", steps, 1), "state": state,
            "cell": _text("cell", cell), "overrides": dict(overrides or {})}
    return check_task(task)


def check_task(task) -> dict:
    """Check a task dict has exactly the contract's keys with valid values; return it unchanged."""
    if not isinstance(task, Mapping):
        raise TypeError(f"task must be a dict, got {type(task).__name__}")
    missing = [k for k in TASK_KEYS if k not in task]
    extra = [k for k in task if k not in TASK_KEYS]
    if missing or extra:
        raise ValueError(f"task: missing keys {missing}, unknown keys {extra}; a task has {list(TASK_KEYS)}")
    for key in ("experiment", "method", "cell"):
        _text(f"task.{key}", task[key])
    check_int("task.seed", task["seed"], 0)
    check_int("task.steps", task["steps"], 1)
    if task["state"] not in STATES:
        raise ValueError(f"task.state must be one of {list(STATES)}, got {task['state']!r}")
    overrides = task["overrides"]
    if not isinstance(overrides, Mapping):
        raise TypeError(f"task.overrides must be a dict of dotted config keys, got {overrides!r}")
    owned = [k for k in overrides if k in _TASK_OWNED]
    if owned:
        raise ValueError(f"task.overrides: {owned[0]!r} is set by the task itself (seed, steps, run folder)")
    canonical_json(task)  # JSON-able, or raises here rather than in the store
    return task


def task_params(task: Mapping) -> str:
    """The rows' ``params`` column: canonical JSON of the task's steps, state, cell and overrides."""
    return canonical_json({k: task[k] for k in ("steps", "state", "cell", "overrides")})


def run_dir_for(task: Mapping, runs_dir) -> Path:
    """The run folder of a task: ``runs_dir/<experiment>/<method>/<cell>/steps<N>-seed<S>-<state>-<hash>``.

    The hash (of the overrides) keeps two cells that slugify alike, or a changed cell, from sharing a folder.
    """
    slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", task["cell"])
    digest = hashlib.sha256(canonical_json(task["overrides"]).encode()).hexdigest()[:8]
    return (Path(runs_dir) / task["experiment"] / task["method"] / slug
            / f"steps{task['steps']}-seed{task['seed']}-{task['state']}-{digest}")


def task_config(task: Mapping, base_configs: Mapping, runs_dir=None):
    """The :class:`~synergy_lab.train.TrainConfig` of a task: base config + overrides + seed, steps, folder.

    ``base_configs`` maps method names to TOML paths (or TrainConfigs); a method it lacks raises ValueError
    naming ``base_configs``. Runs keep only their latest checkpoint and show no progress bar.
    """
    from ..train.config import TrainConfig, load_config

    check_task(task)
    if not isinstance(base_configs, Mapping):
        raise TypeError(f"base_configs must map method names to config paths, got "
                        f"{type(base_configs).__name__}")
    method = task["method"]
    if method not in base_configs:
        raise ValueError(f"base_configs has no config for method {method!r}; it has {sorted(base_configs)}")
    base = base_configs[method]
    base = base if isinstance(base, TrainConfig) else load_config(base)
    if base.method.name != method:
        raise ValueError(f"base_configs[{method!r}] configures method {base.method.name!r}")
    updates = {**task["overrides"], "seed": task["seed"], "optim.steps": task["steps"], "progress": False,
               "keep_checkpoints": 1,
               "out_dir": None if runs_dir is None else str(run_dir_for(task, runs_dir))}
    if base.optim.epochs is not None:
        updates["optim.epochs"] = None  # the task's steps are the length
    return base.override(updates)


def run_sweep_task(task: Mapping, base_configs: Mapping, runs_dir, *, torch_threads: int | None = None
                   ) -> list[dict]:
    """Train (or take at initialisation) and score one sweep task; return its tidy rows.

    Parameters
    ----------
    task : dict
        A sweep task (:func:`sweep_task`).
    base_configs : mapping
        Method name -> base config (TOML path or TrainConfig) the task's overrides apply to.
    runs_dir : path-like
        Parent of the run folders (:func:`run_dir_for`): config.toml, the latest checkpoint (a killed run
        resumes from it when the task is run again), history.csv and metrics.json.
    torch_threads : int, optional
        Threads of this task's torch and of its BLAS/OpenMP pools (``threadpoolctl``), e.g. 1 when several
        workers share the cores; None leaves both. The BLAS limit matters as much as torch's: the probes'
        logistic regressions run in numpy, and a two-thread BLAS beside a second busy process made one
        Trifeature floor take over 14 minutes instead of one (loky workers already start with one BLAS
        thread; a sequential run does not).

    Returns
    -------
    list of dict
        The rows of :func:`synergy_lab.evaluate.score_representation` (``target, metric, value,
        ground_truth``) with ``experiment, method, dataset, seed, steps, state, cell, params`` added,
        plus ``train_s`` (seconds of training in this call, 0 for the untrained floor).
    """
    import contextlib

    import torch
    from threadpoolctl import threadpool_limits

    if not isinstance(runs_dir, (str, Path)):
        raise TypeError(f"runs_dir must be a folder path, got {runs_dir!r}")
    limits = contextlib.nullcontext()
    if torch_threads is not None:
        torch.set_num_threads(check_int("torch_threads", torch_threads, 1))
        limits = threadpool_limits(limits=torch_threads)
    with limits:
        return _train_and_score(task, task_config(task, base_configs, runs_dir))


def _train_and_score(task: Mapping, cfg) -> list[dict]:
    from ..io import atomic_write_text
    from ..train.config import dump_config
    from ..train.distributed import resolve_device
    from ..train.saved_run import score_saved_run
    from ..train.trainer import train

    folder = Path(cfg.out_dir)
    if task["state"] == "trained":
        result = train(cfg, resume=True)
        scores, train_s = result.scores, result.wall_s
        if not scores:
            raise ValueError(f"the run in {str(folder)!r} produced no scores (eval disabled in its config?)")
    else:
        # The floor needs no training: only the run's config, from which the initial network is rebuilt.
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "config.toml", dump_config(cfg))
        scores = score_saved_run(folder, "untrained", device=resolve_device(cfg.device))
        train_s = 0.0
    extra = {"experiment": task["experiment"], "method": task["method"], "dataset": cfg.data.name,
             "seed": task["seed"], "steps": task["steps"], "state": task["state"], "cell": task["cell"],
             "params": task_params(task), "train_s": float(train_s)}
    return [{**row, **extra} for row in scores]


class SweepRunner:
    """``run_sweep_task`` with its configuration bound: a picklable ``fn(task)`` for :func:`run_tasks`.

    Parameters
    ----------
    base_configs, runs_dir, torch_threads
        As in :func:`run_sweep_task` (paths are kept as strings so the object pickles small).
    """

    def __init__(self, base_configs: Mapping, runs_dir, torch_threads: int | None = 1):
        if not isinstance(base_configs, Mapping):
            raise TypeError(f"base_configs must map method names to config paths, got "
                            f"{type(base_configs).__name__}")
        self.base_configs = {k: v if not isinstance(v, Path) else str(v) for k, v in base_configs.items()}
        self.runs_dir = str(runs_dir)
        self.torch_threads = torch_threads

    def __call__(self, task: Mapping) -> list[dict]:
        return run_sweep_task(task, self.base_configs, self.runs_dir, torch_threads=self.torch_threads)

    def __repr__(self) -> str:
        return f"SweepRunner({sorted(self.base_configs)}, runs_dir={self.runs_dir!r})"
