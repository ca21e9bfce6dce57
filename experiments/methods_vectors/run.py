"""The method comparison on compositional vectors: every method x seed, trained and untrained, into a store.

    python experiments/methods_vectors/run.py --dry-run                 # task list + estimated CPU time
    python experiments/methods_vectors/run.py                           # run, or resume where it stopped
    python experiments/methods_vectors/run.py --max-tasks 20            # a time-boxed slice (in task order)
    python experiments/methods_vectors/run.py --only-steps 3000 --methods comm infmasking --seeds 0 1

The tasks come from ``experiment.toml`` beside this file (methods and their base configs, seeds, lengths,
the untrained floor) and run through :func:`synergy_lab.experiments.run_tasks` with
:class:`synergy_lab.experiments.sweep.SweepRunner`: rows in ``results.sqlite`` beside this file, run folders
(the latest checkpoint of each run, so a killed run resumes) under ``results/methods_vectors/``. The order
is seed-major and cheap first: every untrained floor, then the base-length runs seed by seed over all
methods, then the longer runs seed by seed, so whatever has finished is a set of complete paired seeds.
Finished tasks are skipped on a rerun; ``synergy-lab report experiments/methods_vectors/results.sqlite
--reference comm`` compares the methods.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from synergy_lab.experiments import run_tasks
from synergy_lab.experiments.sweep import SweepRunner, sweep_task
from synergy_lab.train._toml import read_toml

ROOT = Path(__file__).resolve().parent
EXPERIMENT = ROOT / "experiment.toml"


def load_experiment(path=EXPERIMENT) -> dict:
    """The declarative experiment file as a checked dict, relative paths resolved against its folder."""
    path = Path(path)
    spec = read_toml(path)
    known = {"experiment", "store", "runs_dir", "seeds", "steps", "untrained", "n_jobs", "methods", "longer",
             "cost", "overrides"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}; valid: {sorted(known)}")
    for key in ("experiment", "store", "runs_dir", "seeds", "steps", "methods"):
        if key not in spec:
            raise ValueError(f"{path}: missing key {key!r}")
    methods = spec["methods"]
    if not isinstance(methods, Mapping) or not methods:
        raise ValueError(f"{path}: [methods] must map method names to base config paths")
    base = path.parent
    spec["methods"] = {m: str((base / p).resolve()) for m, p in methods.items()}
    for m, p in spec["methods"].items():
        if not Path(p).is_file():
            raise ValueError(f"{path}: methods.{m}: no config file {p}")
    spec["store"] = str((base / spec["store"]).resolve())
    spec["runs_dir"] = str((base / spec["runs_dir"]).resolve())
    for entry in spec.setdefault("longer", []):
        stray = [m for m in entry.get("methods", []) if m not in spec["methods"]]
        if stray or "steps" not in entry:
            raise ValueError(f"{path}: each [[longer]] needs steps and methods from [methods]; got {entry}")
    spec.setdefault("untrained", True)
    spec.setdefault("n_jobs", 2)
    spec.setdefault("overrides", {})
    spec.setdefault("cost", {})
    return spec


def train_cost(spec: Mapping, method: str, steps: int) -> float:
    """Estimated seconds (one thread) of one run: training at the experiment's rate, plus scoring."""
    cost = spec.get("cost", {})
    per_1k = cost.get("train_s_per_1k", {}).get(method, 30.0)
    return per_1k * steps / 1000 + cost.get("score_s", 10.0)


def build_tasks(spec: Mapping, methods=None, seeds=None, only_steps=None) -> list[dict]:
    """Every task of the experiment, in run order (the module docstring), optionally restricted.

    ``methods`` / ``seeds`` must be among the experiment's; ``only_steps`` keeps the tasks of one length
    (the untrained floors belong to the base length).
    """
    for name, wanted, have in (("methods", methods, list(spec["methods"])), ("seeds", seeds, spec["seeds"])):
        stray = sorted(set(wanted or []) - set(have))
        if stray:
            raise ValueError(f"{name}: {stray} not in the experiment; have {have}")
    methods = [m for m in spec["methods"] if methods is None or m in methods]
    seeds = [s for s in spec["seeds"] if seeds is None or s in seeds]
    lengths = {spec["steps"]} | {e["steps"] for e in spec["longer"]}
    if only_steps is not None and only_steps not in lengths:
        raise ValueError(f"only_steps: {only_steps} is not a length of the experiment; "
                         f"have {sorted(lengths)}")

    def task(method, seed, steps, state):
        return sweep_task(spec["experiment"], method, seed, steps, state, "base", spec["overrides"])

    def cheap_first(ms, steps):
        return sorted(ms, key=lambda m: train_cost(spec, m, steps))

    base = spec["steps"]
    tasks = []
    if spec["untrained"]:
        tasks += [task(m, s, base, "untrained") for s in seeds for m in methods]
    tasks += [task(m, s, base, "trained") for s in seeds for m in cheap_first(methods, base)]
    for entry in sorted(spec["longer"], key=lambda e: e["steps"]):
        chosen = [m for m in entry["methods"] if m in methods]
        tasks += [task(m, s, entry["steps"], "trained") for s in seeds
                  for m in cheap_first(chosen, entry["steps"])]
    if only_steps is not None:
        tasks = [t for t in tasks if t["steps"] == only_steps]
    return tasks


def estimate_s(spec: Mapping, tasks) -> float:
    """Estimated CPU seconds (one thread per task) of the tasks."""
    score = spec.get("cost", {}).get("score_s", 10.0)
    return sum(score if t["state"] == "untrained" else train_cost(spec, t["method"], t["steps"])
               for t in tasks)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default=str(EXPERIMENT), help="the experiment file (experiment.toml)")
    parser.add_argument("--n-jobs", type=int, help="parallel runs, one thread each (default: the file's)")
    parser.add_argument("--max-tasks", type=int, help="run at most this many of the tasks not yet done")
    parser.add_argument("--only-steps", type=int, help="only the tasks of this training length")
    parser.add_argument("--methods", nargs="+", help="only these methods")
    parser.add_argument("--seeds", nargs="+", type=int, help="only these seeds")
    parser.add_argument("--store", help="results store (default: the file's, results.sqlite beside it)")
    parser.add_argument("--runs-dir", help="run folders (default: the file's, results/methods_vectors)")
    parser.add_argument("--dry-run", action="store_true", help="print the tasks and the estimated CPU time")
    args = parser.parse_args(argv)
    try:
        for name in ("n_jobs", "max_tasks"):
            value = getattr(args, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        spec = load_experiment(args.experiment)
        tasks = build_tasks(spec, args.methods, args.seeds, args.only_steps)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = Path(args.store) if args.store else Path(spec["store"])
    runs_dir = Path(args.runs_dir) if args.runs_dir else Path(spec["runs_dir"])
    n_jobs = args.n_jobs or spec["n_jobs"]
    if args.max_tasks is not None:
        from synergy_lab.experiments.store import ResultStore
        from synergy_lab.experiments.tidy import task_id

        if store.exists():
            with ResultStore(store) as opened:
                done = opened.done_ids([task_id(t) for t in tasks])
            tasks = [t for t in tasks if task_id(t) not in done]
        tasks = tasks[:args.max_tasks]
    if args.dry_run:
        for i, t in enumerate(tasks):
            print(f"{i:4d}  {t['state']:9s} {t['method']:11s} seed={t['seed']:<3d} steps={t['steps']}")
        cpu = estimate_s(spec, tasks)
        print(f"{len(tasks)} tasks; estimated {cpu / 3600:.1f} CPU hours, ~{cpu / n_jobs / 3600:.1f} h wall "
              f"on {n_jobs} workers (finished tasks in {store} are skipped when run)")
        return 0
    runner = SweepRunner(spec["methods"], runs_dir, torch_threads=1)
    # A killed sweep loses no training: unrecorded runs keep their final checkpoint and are only re-scored.
    run_tasks(tasks, runner, store, n_jobs=n_jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
