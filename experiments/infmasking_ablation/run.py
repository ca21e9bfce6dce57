"""The InfMasking ablation: one factor at a time around the shipped InfMasking config, CoMM as reference.

    python experiments/infmasking_ablation/run.py --dry-run         # pending tasks and a rough CPU estimate
    python experiments/infmasking_ablation/run.py --n-jobs 2        # every cell, seeds 0-3 (resumable)
    python experiments/infmasking_ablation/run.py --cells weights=uniform --seeds 4 5 6 7   # more seeds
    python experiments/infmasking_ablation/run.py --report          # paired table from the store

The cells, seeds and base configs are declared in ``experiment.toml`` beside this file (README.md explains
them). Every task is one sweep task of :mod:`synergy_lab.experiments.sweep` (train, or score the network
at initialisation for the floor) run through :func:`synergy_lab.experiments.run_tasks`: rows go to
``experiments/infmasking_ablation/results.sqlite``, run folders (the latest checkpoint, so a killed run
resumes) to ``results/infmasking_ablation/``. A rerun skips finished tasks. Tasks are ordered cell-major in
the file's order and seed-major within a cell, so whatever has finished is a set of complete paired seeds
of the most important cells.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from synergy_lab.experiments import read_results, run_tasks, store_path_for
from synergy_lab.experiments.plan import check_configs, pending
from synergy_lab.experiments.sweep import SweepRunner, sweep_task

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXPERIMENT_FILE = HERE / "experiment.toml"
STORE = HERE / "results.sqlite"
RUNS_DIR = REPO / "results"
#: Columns that identify one quantity measured once per (method, seed) in this experiment's rows.
REPORT_BY = ["experiment", "state", "steps", "cell", "target", "metric"]
#: Rough single-thread seconds per 1,000 training steps (issue 14's 3k-step runs: CoMM 90-200 s,
#: InfMasking 130-245 s) and per untrained floor (scoring only); only for --dry-run's estimate.
SECONDS_PER_1K_STEPS = {"infmasking": 65.0, "comm": 50.0}
FLOOR_SECONDS = 20.0


def load_experiment(path=EXPERIMENT_FILE) -> dict:
    """Read and check ``experiment.toml``: name, steps, seeds, reference, configs and cells (in order).

    Returns the parsed table with ``configs`` resolved to absolute paths and every cell completed with
    ``floor`` (default False), ``about`` (default "") and ``overrides`` (default {}).

    Raises
    ------
    ValueError
        If a field is missing or invalid (the message names it): the first cell must be ``"base"`` with no
        overrides, cell names are unique, and overrides name only methods of ``configs``.
    """
    with open(path, "rb") as fh:
        spec = tomllib.load(fh)
    for key in ("experiment", "steps", "seeds", "reference", "configs", "cells"):
        if key not in spec:
            raise ValueError(f"{path}: missing field {key!r}")
    configs = spec["configs"]
    if not isinstance(configs, Mapping) or not configs:
        raise ValueError(f"{path}: configs must map method names to config paths")
    spec["configs"] = {m: str(p if Path(p).is_absolute() else REPO / p) for m, p in configs.items()}
    if spec["reference"] not in spec["configs"]:
        raise ValueError(f"{path}: reference {spec['reference']!r} is not one of configs {sorted(configs)}")
    cells, seen = [], set()
    for i, cell in enumerate(spec["cells"]):
        name = cell.get("name")
        if not isinstance(name, str) or not name or name in seen:
            raise ValueError(f"{path}: cells[{i}].name must be a new non-empty string, got {name!r}")
        seen.add(name)
        overrides = dict(cell.get("overrides", {}))
        unknown = sorted(set(overrides) - set(spec["configs"]))
        if unknown:
            raise ValueError(f"{path}: cells[{i}] ({name}) overrides methods {unknown} not in configs")
        if name != "base" and not overrides:
            raise ValueError(f"{path}: cells[{i}] ({name}) changes nothing: give overrides.<method>")
        floor = cell.get("floor", False)
        if not isinstance(floor, bool):
            raise ValueError(f"{path}: cells[{i}].floor must be true or false, got {floor!r}")
        cells.append({"name": name, "floor": floor, "about": str(cell.get("about", "")),
                      "overrides": {m: dict(o) for m, o in overrides.items()}})
    if not cells or cells[0]["name"] != "base" or cells[0]["overrides"]:
        raise ValueError(f"{path}: the first cell must be 'base' (the unchanged configs, no overrides)")
    spec["cells"] = cells
    return spec


def cell_methods(spec: Mapping, cell: Mapping) -> list[str]:
    """Methods a cell trains: all of them for ``base``, else those it has overrides for."""
    return list(spec["configs"]) if cell["name"] == "base" else list(cell["overrides"])


def select_cells(spec: Mapping, names: Sequence[str] | None) -> list[dict]:
    """The cells named (in the file's order, ``base`` always included), or all of them."""
    if names is None:
        return list(spec["cells"])
    known = [c["name"] for c in spec["cells"]]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"cells: unknown {unknown}; the experiment has {known}")
    return [c for c in spec["cells"] if c["name"] == "base" or c["name"] in names]


def build_tasks(spec: Mapping, cells: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                steps: int | None = None, extra_overrides: Mapping | None = None) -> list[dict]:
    """The sweep tasks: cell-major (file order), seed-major within a cell, floors before trained runs.

    Parameters
    ----------
    spec : dict
        :func:`load_experiment`'s result.
    cells : list of str, optional
        Cell names to run (``base`` is always included: every cell is compared with it).
    seeds : list of int, optional
        Default: the file's seeds.
    steps : int, optional
        Training steps (default: the file's).
    extra_overrides : dict, optional
        Dotted config keys added to every task's overrides (e.g. a smaller data set for a smoke run; they
        make new tasks, distinct from the real ones).
    """
    seeds = list(spec["seeds"] if seeds is None else seeds)
    steps = spec["steps"] if steps is None else steps
    extra = dict(extra_overrides or {})
    tasks = []
    for cell in select_cells(spec, cells):
        for seed in seeds:
            for state in (("untrained", "trained") if cell["floor"] else ("trained",)):
                for method in cell_methods(spec, cell):
                    overrides = {**cell["overrides"].get(method, {}), **extra}
                    tasks.append(sweep_task(spec["experiment"], method, seed, steps, state, cell["name"],
                                            overrides))
    return tasks


def with_shared_runs(table: pd.DataFrame, spec: Mapping) -> pd.DataFrame:
    """The rows plus, for each non-base cell, the ``base`` rows of every method the cell leaves unchanged.

    A cell trains only the methods it changes; the others are identical to their base runs, which are
    copied into the cell (with ``shared_from = "base"``) so that each cell holds every method on its seeds
    and can be compared per cell (:data:`REPORT_BY`). Copied floors: only where the cell has no floor of
    its own for that method.
    """
    table = table.copy()
    if "shared_from" not in table.columns:
        table["shared_from"] = None
    base = table[(table["cell"] == "base") & table["shared_from"].isna()]
    copies = []
    for cell in spec["cells"][1:]:
        own = set(cell_methods(spec, cell))
        shared = base[~base["method"].isin(own)]
        if not shared.empty:
            copies.append(shared.assign(cell=cell["name"], shared_from="base"))
    return pd.concat([table, *copies], ignore_index=True) if copies else table


def estimate_seconds(tasks: Sequence[Mapping]) -> float:
    """Rough single-thread CPU seconds of the tasks (:data:`SECONDS_PER_1K_STEPS`, :data:`FLOOR_SECONDS`)."""
    total = 0.0
    for t in tasks:
        if t["state"] == "untrained":
            total += FLOOR_SECONDS
        else:
            per_k = SECONDS_PER_1K_STEPS.get(t["method"], 60.0)
            # InfMasking's cost grows with its views: 1 + n + T of them, 7 at the base T = 4.
            views = 3 + t["overrides"].get("model.T", 4) if t["method"] == "infmasking" else 7
            total += per_k * t["steps"] / 1000 * views / 7
    return total


def report(store, spec: Mapping, metrics=("balanced_accuracy", "bits"), targets=("match",)) -> str:
    """Markdown: per cell, mean ± sd per method and the paired differences against the reference."""
    from synergy_lab.experiments.report import markdown_report

    table = read_results(store)
    table = table[table["experiment"] == spec["experiment"]]
    if table.empty:
        raise ValueError(f"no {spec['experiment']} rows in {store}")
    return markdown_report(with_shared_runs(table, spec), reference=spec["reference"], metrics=list(metrics),
                           targets=list(targets), by=REPORT_BY)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment-file", default=str(EXPERIMENT_FILE), help="the cells (experiment.toml)")
    parser.add_argument("--cells", nargs="+", metavar="CELL", help="cells to run (base is always included)")
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds (default: the file's)")
    parser.add_argument("--steps", type=int, help="training steps (default: the file's)")
    parser.add_argument("--n-jobs", type=int, default=2, help="parallel runs, one torch thread each")
    parser.add_argument("--backend", default="loky", help="joblib backend: loky, sequential or ray")
    parser.add_argument("--max-tasks", type=int, help="run at most this many of the pending tasks (in order)")
    parser.add_argument("--store", default=str(STORE), help="results store (.sqlite)")
    parser.add_argument("--runs-dir", default=str(RUNS_DIR),
                        help="parent of the run folders (<runs-dir>/infmasking_ablation/<method>/<cell>/...)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra override for every task, e.g. --set data.n_train=512 (new tasks)")
    parser.add_argument("--dry-run", action="store_true", help="print the pending tasks and an estimate")
    parser.add_argument("--report", action="store_true", help="print the paired table from the store")
    args = parser.parse_args(argv)
    try:
        spec = load_experiment(args.experiment_file)
        from synergy_lab.cli import parse_assignments

        tasks = build_tasks(spec, args.cells, args.seeds, args.steps, parse_assignments(args.set))
        if args.max_tasks is not None and args.max_tasks < 1:
            raise ValueError(f"--max-tasks must be >= 1, got {args.max_tasks}")
        store = store_path_for(Path(args.store))
        if args.report:
            print(report(store, spec))
            return 0
        check_configs(spec["configs"], tasks, args.runs_dir)
    except (ValueError, TypeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    todo = pending(tasks, store)
    if args.max_tasks is not None:
        todo = todo[:args.max_tasks]
    if args.dry_run:
        for t in todo:
            print(f"{t['cell']:36s} {t['method']:11s} seed {t['seed']:2d} {t['state']:9s} {t['overrides']}")
        hours = estimate_seconds(todo) / 3600
        print(f"{len(todo)} of {len(tasks)} tasks pending; about {hours:.1f} CPU hours on one thread each "
              f"(~{hours / max(1, args.n_jobs):.1f} h wall with --n-jobs {args.n_jobs}; rough)")
        return 0
    run_tasks(todo, SweepRunner(spec["configs"], args.runs_dir), store, n_jobs=args.n_jobs,
              backend=args.backend)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
