"""A declarative sweep experiment: its file, its tasks in run order, their cost, and the command line.

An experiment file (TOML; relative paths are relative to its folder) declares what a sweep of
:mod:`synergy_lab.experiments.sweep` tasks runs::

    experiment = "trifeature_cpu"                  # the rows' ``experiment``
    store = "results.sqlite"                       # the results store
    runs_dir = "../../results/trifeature_cpu"      # run folders (checkpoints)
    seeds = [0, 1, 2]
    steps = 1500                                   # the base training length
    untrained = true                               # the floor: each method at initialisation (default)
    n_jobs = 2                                     # parallel runs, one torch thread each (default 2)

    [methods]                                      # method -> base config (order = display order)
    comm = "cpu_comm.toml"

    [overrides]                                    # optional: dotted config keys set in every task
    "data.n_train" = 512

    [[cells]]                                      # optional: without cells there is one, "base"
    name = "pairing=biased"
    overrides = { "data.pairing" = "biased" }
    methods = ["comm"]                             # optional: the methods this cell runs (default: all)
    about = "..."

    [[longer]]                                     # optional: further lengths, after every base run
    steps = 6000
    methods = ["comm"]
    cells = ["pairing=unbiased"]                   # optional (default: every cell)

    [cost]                                         # optional: for --dry-run and the cheap-first order
    score_s = 60.0                                 # seconds to score one run (and floor_s: one floor)
    train_s_per_1k = { comm = 400.0 }              # training seconds per 1,000 steps, one thread

:func:`build_tasks` orders the tasks seed-major and cheap first: every untrained floor (seed by seed), then
the base-length runs seed by seed, cheapest method first within a seed (cells in the file's order among
equals), then each longer length in the same way. Whatever has finished is therefore a set of complete
paired seeds. :func:`main` is the command line every experiment's ``run.py`` shares (``--dry-run``,
``--max-tasks``, ``--only-steps``, ``--methods``, ``--seeds``, ``--cells``, ``--n-jobs``, ``--store``,
``--runs-dir``, ``--experiment``, ``--backend``); tasks already recorded in the store are skipped and a killed
run resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .runner import run_tasks
from .store import ResultStore
from .sweep import SweepRunner, sweep_task, task_config
from .tidy import task_id

KEYS = ("experiment", "store", "runs_dir", "seeds", "steps", "untrained", "n_jobs", "methods", "overrides",
        "cells", "longer", "cost")
REQUIRED = ("experiment", "store", "runs_dir", "seeds", "steps", "methods")
BASE_CELL = "base"
#: Defaults of the cost model when the file's [cost] table leaves them out.
DEFAULT_SCORE_S = 10.0
DEFAULT_TRAIN_S_PER_1K = 30.0


def _names(where: str, values, known: Sequence[str], what: str) -> list:
    if not isinstance(values, list) or not values:
        raise ValueError(f"{where} must be a non-empty list of {what}, got {values!r}")
    stray = [v for v in values if v not in known]
    if stray:
        raise ValueError(f"{where}: {stray} not among the {what} {list(known)}")
    return list(values)


def _overrides(where: str, value) -> dict:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a table of dotted config keys, got {value!r}")
    return dict(value)


def _cells(path, raw, methods: Sequence[str], common: Mapping) -> list[dict]:
    if raw is None:
        return [{"name": BASE_CELL, "overrides": {}, "methods": list(methods), "about": ""}]
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path}: cells must be a non-empty array of tables ([[cells]])")
    cells, seen = [], set()
    for i, cell in enumerate(raw):
        where = f"{path}: cells[{i}]"
        if not isinstance(cell, Mapping):
            raise ValueError(f"{where} must be a table")
        stray = sorted(set(cell) - {"name", "overrides", "methods", "about"})
        if stray:
            raise ValueError(f"{where}: unknown key {stray[0]!r}; valid: about, methods, name, overrides")
        name = cell.get("name")
        if not isinstance(name, str) or not name or name in seen:
            raise ValueError(f"{where}.name must be a new non-empty string, got {name!r}")
        seen.add(name)
        overrides = _overrides(f"{where}.overrides", cell.get("overrides", {}))
        clash = sorted(set(overrides) & set(common))
        if clash:
            raise ValueError(f"{where} ({name}) and [overrides] both set {clash[0]!r}")
        cells.append({"name": name, "overrides": overrides,
                      "methods": _names(f"{where}.methods", cell.get("methods", list(methods)), methods,
                                        "methods"),
                      "about": str(cell.get("about", ""))})
    return cells


def load_experiment(path) -> dict:
    """The experiment file at ``path`` as a checked dict (see the module docstring).

    Relative paths (``store``, ``runs_dir``, the base configs) are resolved against the file's folder; the
    optional keys get their defaults; ``cells`` is always a list of ``{name, overrides, methods, about}``
    and every ``[[longer]]`` entry has ``cells``.

    Raises
    ------
    ValueError
        Naming the file and the key: an unknown or missing key, a missing base config, a cell or longer
        length naming a method or cell the file does not declare, a key set both by ``[overrides]`` and by a
        cell.
    """
    from ..train._toml import read_toml

    path = Path(path)
    spec = read_toml(path)
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}; valid: {sorted(KEYS)}")
    missing = [k for k in REQUIRED if k not in spec]
    if missing:
        raise ValueError(f"{path}: missing key {missing[0]!r}")
    methods = spec["methods"]
    if not isinstance(methods, Mapping) or not methods:
        raise ValueError(f"{path}: [methods] must map method names to base config paths")
    base = path.parent
    for m, p in methods.items():
        if not isinstance(p, str):
            raise ValueError(f"{path}: methods.{m} must be a config path, got {p!r}")
    spec["methods"] = {m: str((base / p).resolve()) for m, p in methods.items()}
    for m, p in spec["methods"].items():
        if not Path(p).is_file():
            raise ValueError(f"{path}: methods.{m}: no config file {p}")
    spec["store"] = str((base / spec["store"]).resolve())
    spec["runs_dir"] = str((base / spec["runs_dir"]).resolve())
    seeds = spec["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ValueError(f"{path}: seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    spec.setdefault("untrained", True)
    spec.setdefault("n_jobs", 2)
    spec["overrides"] = _overrides(f"{path}: overrides", spec.get("overrides", {}))
    spec.setdefault("cost", {})
    names = list(spec["methods"])
    spec["cells"] = _cells(path, spec.get("cells"), names, spec["overrides"])
    cell_names = [c["name"] for c in spec["cells"]]
    longer = spec.setdefault("longer", [])
    for i, entry in enumerate(longer):
        where = f"{path}: longer[{i}]"
        if not isinstance(entry, Mapping) or "steps" not in entry or "methods" not in entry:
            raise ValueError(f"{where}: each [[longer]] needs steps and methods from [methods]; got {entry}")
        _names(f"{where}.methods", entry["methods"], names, "methods")
        entry["cells"] = _names(f"{where}.cells", entry.get("cells", cell_names), cell_names, "cells")
    for name, value in (("steps", spec["steps"]), *((f"longer[{i}].steps", e["steps"])
                                                       for i, e in enumerate(longer))):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{path}: {name} must be an integer >= 1, got {value!r}")
    return spec


def train_cost(spec: Mapping, method: str, steps: int) -> float:
    """Estimated seconds (one thread) of one run: training at the experiment's rate, plus scoring."""
    cost = spec.get("cost", {})
    per_1k = cost.get("train_s_per_1k", {}).get(method, DEFAULT_TRAIN_S_PER_1K)
    return per_1k * steps / 1000 + cost.get("score_s", DEFAULT_SCORE_S)


def floor_cost(spec: Mapping) -> float:
    """Estimated seconds (one thread) of one untrained floor: scoring only."""
    cost = spec.get("cost", {})
    return cost.get("floor_s", cost.get("score_s", DEFAULT_SCORE_S))


def build_tasks(spec: Mapping, methods=None, seeds=None, only_steps=None, cells=None) -> list[dict]:
    """Every task of the experiment, in run order (the module docstring), optionally restricted.

    ``methods`` / ``seeds`` / ``cells`` must be among the experiment's; ``only_steps`` keeps the tasks of
    one length (the untrained floors belong to the base length). A task's overrides are the file's
    ``[overrides]`` plus its cell's.
    """
    cell_names = [c["name"] for c in spec["cells"]]
    for name, wanted, have in (("methods", methods, list(spec["methods"])), ("seeds", seeds, spec["seeds"]),
                               ("cells", cells, cell_names)):
        stray = sorted(set(wanted or []) - set(have))
        if stray:
            raise ValueError(f"{name}: {stray} not in the experiment; have {have}")
    seeds = [s for s in spec["seeds"] if seeds is None or s in seeds]
    chosen = [c for c in spec["cells"] if cells is None or c["name"] in cells]
    lengths = {spec["steps"]} | {e["steps"] for e in spec["longer"]}
    if only_steps is not None and only_steps not in lengths:
        raise ValueError(f"only_steps: {only_steps} is not a length of the experiment; "
                         f"have {sorted(lengths)}")

    def runs(cell_filter=None, method_filter=None):
        """(cell, method) pairs, cell-major in the file's order."""
        return [(c, m) for c in chosen if cell_filter is None or c["name"] in cell_filter
                for m in c["methods"] if (methods is None or m in methods)
                and (method_filter is None or m in method_filter)]

    def task(cell, method, seed, steps, state):
        return sweep_task(spec["experiment"], method, seed, steps, state, cell["name"],
                          {**spec["overrides"], **cell["overrides"]})

    def cheap_first(pairs, steps):  # stable: equal costs keep the cells' order
        return sorted(pairs, key=lambda cm: train_cost(spec, cm[1], steps))

    base = spec["steps"]
    tasks = []
    if spec["untrained"]:
        tasks += [task(c, m, s, base, "untrained") for s in seeds for c, m in runs()]
    tasks += [task(c, m, s, base, "trained") for s in seeds for c, m in cheap_first(runs(), base)]
    for entry in sorted(spec["longer"], key=lambda e: e["steps"]):
        pairs = cheap_first(runs(entry["cells"], entry["methods"]), entry["steps"])
        tasks += [task(c, m, s, entry["steps"], "trained") for s in seeds for c, m in pairs]
    if only_steps is not None:
        tasks = [t for t in tasks if t["steps"] == only_steps]
    return tasks


def estimate_s(spec: Mapping, tasks) -> float:
    """Estimated CPU seconds (one thread per task) of the tasks."""
    return sum(floor_cost(spec) if t["state"] == "untrained" else train_cost(spec, t["method"], t["steps"])
               for t in tasks)


def pending(tasks: Sequence[Mapping], store) -> list[dict]:
    """The tasks not yet recorded as done in the results store ``store`` (in order)."""
    store = Path(store)
    if not store.exists():
        return list(tasks)
    with ResultStore(store) as opened:
        done = opened.done_ids([task_id(t) for t in tasks])
    return [t for t in tasks if task_id(t) not in done]


def check_configs(base_configs: Mapping, tasks, runs_dir=None) -> None:
    """Build each (method, cell)'s config once (cheap), so a bad override fails before anything trains.

    ``base_configs`` maps method names to their base configs (:func:`~.sweep.task_config`).
    """
    seen = set()
    for t in tasks:
        if (t["method"], t["cell"]) not in seen:
            seen.add((t["method"], t["cell"]))
            task_config(t, base_configs, runs_dir)


def sweep_parser(description: str, experiment) -> argparse.ArgumentParser:
    """The shared command line of an experiment's ``run.py`` (``experiment``: its default file)."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default=str(experiment), help="the experiment file (experiment.toml)")
    parser.add_argument("--n-jobs", type=int, help="parallel runs, one thread each (default: the file's)")
    parser.add_argument("--max-tasks", type=int, help="run at most this many of the tasks not yet done")
    parser.add_argument("--only-steps", type=int, help="only the tasks of this training length")
    parser.add_argument("--methods", nargs="+", help="only these methods")
    parser.add_argument("--seeds", nargs="+", type=int, help="only these seeds")
    parser.add_argument("--cells", nargs="+", help="only these cells")
    parser.add_argument("--store", help="results store (default: the file's)")
    parser.add_argument("--runs-dir", help="parent of the run folders (default: the file's)")
    parser.add_argument("--backend", default="loky", help="joblib backend: loky, sequential or ray")
    parser.add_argument("--dry-run", action="store_true", help="print the tasks and the estimated CPU time")
    return parser


def run_sweep(args: argparse.Namespace) -> int:
    """Run (or with ``--dry-run`` list) the experiment's tasks not yet done; 2 with one ``error:`` line on
    bad input."""
    try:
        for name in ("n_jobs", "max_tasks"):
            value = getattr(args, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        spec = load_experiment(args.experiment)
        tasks = build_tasks(spec, args.methods, args.seeds, args.only_steps, args.cells)
        runs_dir = Path(args.runs_dir) if args.runs_dir else Path(spec["runs_dir"])
        check_configs(spec["methods"], tasks, runs_dir)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = Path(args.store) if args.store else Path(spec["store"])
    n_jobs = args.n_jobs or spec["n_jobs"]
    todo = pending(tasks, store)
    if args.max_tasks is not None:
        todo = todo[:args.max_tasks]
    if args.dry_run:
        for i, t in enumerate(todo):
            print(f"{i:4d}  {t['state']:9s} {t['method']:11s} {t['cell']:18s} seed={t['seed']:<3d} "
                  f"steps={t['steps']}")
        if spec["cost"]:
            cpu = estimate_s(spec, todo)
            estimate = (f"estimated {cpu / 3600:.1f} CPU hours, ~{cpu / n_jobs / 3600:.1f} h wall on "
                        f"{n_jobs} workers (the file's [cost] model)")
        else:
            estimate = "no estimate (the experiment file has no [cost] table)"
        print(f"{len(todo)} tasks; {estimate}; {len(tasks) - len(todo)} of {len(tasks)} already in {store}")
        return 0
    runner = SweepRunner(spec["methods"], runs_dir, torch_threads=1)
    # A killed sweep loses no training: unrecorded runs keep their final checkpoint and are only re-scored.
    run_tasks(todo if args.max_tasks is not None else tasks, runner, store, n_jobs=n_jobs,
              backend=args.backend)
    return 0


def main(argv=None, *, experiment, description: str = __doc__) -> int:
    """``run.py``'s entry point: :func:`sweep_parser` then :func:`run_sweep`."""
    return run_sweep(sweep_parser(description, experiment).parse_args(argv))
