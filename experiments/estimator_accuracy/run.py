"""Every PID estimator on every generator with exact ground truth: a tidy accuracy table and a figure.

    python experiments/estimator_accuracy/run.py --quick          # minutes on 2 cores
    python experiments/estimator_accuracy/run.py                  # the full grid
    python experiments/estimator_accuracy/run.py --plot-only      # redraw the figure from the table

Writes the results store ``experiments/estimator_accuracy/results.sqlite``, committed beside this file
(resumable: finished tasks are skipped
on a rerun; several invocations, e.g. one per ``--estimators`` group, may write into it at once; an earlier
``results.csv`` beside it is imported first) and
``figures/estimator_accuracy.png``. Columns: generator, params, n, estimator, component, estimate, ci_low,
ci_high, ground_truth, error, estimator_version, harness_version, plus the tidy columns of
``synergy_lab.experiments``. Tasks carry their estimator's ``version`` and HARNESS_VERSION: after a change
bumps either, a rerun recomputes the affected rows, and the summary and figure read only current rows
(current_rows).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from synergy_lab.data import make
from synergy_lab.experiments import read_results, run_tasks, store_path_for
from synergy_lab.pid import COMPONENTS

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "experiments" / "estimator_accuracy" / "results.sqlite"
FIGURE = ROOT / "figures" / "estimator_accuracy.png"

#: Which inputs each estimator reads: integer symbols ("discrete") or feature vectors ("continuous").
ESTIMATOR_INPUTS = {
    "PluginPID": "discrete",
    "ClusterPID": "continuous",
    "GaussianPID": "continuous",
    "NeuralPID": "continuous",
}
#: Targets that are class labels (every estimator) vs continuous (Gaussian sources: GaussianPID only).
DISCRETE_GENERATORS = ("gate", "compositional")
#: NeuralPID trains 5 independent copies (3 classifiers and an aligner each) per fit: ~40-70 s at n = 20k on
#: 2 busy cores, so the grid stops it at this n (raise it on a bigger machine).
NEURAL_MAX_N = 5000
#: Bumped when a change to this harness alters its results (2: each (seed, n) draws its own samples).
HARNESS_VERSION = 2


def estimator_version(name) -> int:
    """The estimator class's ``version`` (bumped when its results change)."""
    import synergy_lab.pid as pid  # noqa: PLC0415

    return int(getattr(pid, name).version)


def estimator(name, seed, n_bootstrap):
    import synergy_lab.pid as pid  # noqa: PLC0415

    if name == "NeuralPID":  # n_bootstrap there counts resamples per ensemble member: keep its default
        return pid.NeuralPID(random_state=seed)
    return getattr(pid, name)(random_state=seed, n_bootstrap=n_bootstrap)


def settings(quick: bool, sizes=None) -> list[dict]:
    """Generator settings: (generator, params, target) with the sample sizes to try."""
    sizes = sizes or ([2000, 5000] if quick else [500, 2000, 5000, 20000])
    out = []
    for gate in ("xor", "and", "copy", "rdn", "unq", "sum"):
        out.append({"generator": "gate", "params": {"name": gate}, "target": "y", "sizes": sizes})
    for dim in (8, 32) if not quick else (16,):
        for noise in (0.0, 0.3) if not quick else (0.0,):
            for target in ("synergy", "redundancy", "unique1", "match"):
                out.append(
                    {
                        "generator": "compositional",
                        "params": {"k": 2, "dim": dim, "noise": noise},
                        "target": target,
                        "sizes": sizes,
                    }
                )
    for recipe in ("redundant", "unique", "synergy", "mixed"):
        dims = [(1, 1, 1), (4, 4, 2)] if not quick else [(1, 1, 1)]
        for d1, d2, dy in dims:
            out.append(
                {
                    "generator": "gaussian",
                    "params": {"recipe": recipe, "dim1": d1, "dim2": d2, "dim_y": dy},
                    "target": "y",
                    "sizes": sizes,
                }
            )
    return out


def tasks(quick: bool, seeds, estimators, sizes=None, generators=None,
          neural_max_n=NEURAL_MAX_N) -> list[dict]:
    """One task per (setting, estimator, n, seed), carrying the harness's and its estimator's version (both
    enter the task id, so a bump reruns the task)."""
    versions = {est: estimator_version(est) for est in estimators}
    out = []
    for s in settings(quick, sizes):
        if generators and s["generator"] not in generators:
            continue
        for est in estimators:
            if s["generator"] not in DISCRETE_GENERATORS and est != "GaussianPID":
                continue  # continuous targets: only the Gaussian estimator applies
            for n in s["sizes"]:
                if est == "NeuralPID" and n > neural_max_n:
                    continue  # minutes per fit on 2 cores beyond this; run it on a bigger machine
                for seed in seeds:
                    task = {
                        "harness_version": HARNESS_VERSION,
                        "generator": s["generator"],
                        "params": s["params"],
                        "target": s["target"],
                        "n": n,
                        "estimator": est,
                        "seed": seed,
                    }
                    if versions[est] != 1:  # version 1 is implicit: tables from before versions stay valid
                        task["estimator_version"] = versions[est]
                    out.append(task)
    return out


def inputs(dataset, target, kind, rng):
    y = dataset.targets[target]
    if kind == "discrete":
        f = dataset.factors
        if dataset.name == "gate":
            return f["x1"], f["x2"], y
        # compositional: each modality's factors as one symbol (the embedding is injective)
        k = dataset.params["k"]
        x1 = (f["r"] * k + f["u1"]) * k + f["s1"]
        x2 = (f["r"] * k + f["u2"]) * k + f["s2"]
        return x1, x2, y
    x1, x2 = dataset.x1, dataset.x2
    if dataset.name == "gate":  # one-hot symbols made continuous with a little noise
        x1 = x1 + 0.1 * rng.standard_normal(x1.shape)
        x2 = x2 + 0.1 * rng.standard_normal(x2.shape)
    return x1, x2, y


def data_seed(task) -> np.random.Generator:
    """The generator for a task's samples. Harness version 2 draws each (seed, n) from its own stream; version
    1 drew every n of a seed from one stream, so the samples at different n shared a prefix and coverage read
    across n was correlated."""
    if task.get("harness_version", 1) == 1:
        return np.random.default_rng(task["seed"])
    return np.random.default_rng(np.random.SeedSequence([task["seed"], task["n"]]))


def run_task(task) -> list[dict]:
    rng = np.random.default_rng(task["seed"])
    dataset = make(task["generator"], n_samples=task["n"], random_state=data_seed(task), **task["params"])
    x1, x2, y = inputs(dataset, task["target"], ESTIMATOR_INPUTS[task["estimator"]], rng)
    truth = dataset.truth(task["target"])
    try:
        est = estimator(task["estimator"], task["seed"], task.get("n_bootstrap", 50)).fit(x1, x2, y)
        ci = est.confidence_interval(0.05)
        failure = ""
    except ValueError as exc:  # an estimator that cannot handle this data is a result, not a crash
        est, ci, failure = None, None, f"{type(exc).__name__}: {exc}"
    rows = []
    for comp in COMPONENTS:
        value = float(getattr(est.decomposition_, comp)) if est is not None else float("nan")
        rows.append(
            {
                "experiment": "estimator_accuracy",
                "method": task["estimator"],
                "dataset": task["generator"],
                "params": json.dumps(task["params"], sort_keys=True),
                "seed": task["seed"],
                "target": task["target"],
                "metric": comp,
                "value": value,
                "ground_truth": float(truth[comp]),
                "n": task["n"],
                "ci_low": float(ci.loc[comp, "low"]) if ci is not None else float("nan"),
                "ci_high": float(ci.loc[comp, "high"]) if ci is not None else float("nan"),
                "error": value - float(truth[comp]),
                "failure": failure,
                "estimator_version": task.get("estimator_version", 1),
                "harness_version": task.get("harness_version", 1),
            }
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small grid (minutes on 2 cores)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATOR_INPUTS))
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--backend", default="loky")
    parser.add_argument("--out", default=str(OUT),
                        help="results store (.sqlite; for a .csv name, the store beside it)")
    parser.add_argument("--figure", default=str(FIGURE))
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", help="sample sizes (default: by --quick)")
    parser.add_argument("--generators", nargs="+", choices=["gate", "compositional", "gaussian"],
                        help="only these generators")
    parser.add_argument("--neural-max-n", type=int, default=NEURAL_MAX_N,
                        help=f"largest n for NeuralPID (default {NEURAL_MAX_N})")
    args = parser.parse_args(argv)
    args.out = store_path_for(args.out)  # a .csv --out (or an earlier table beside the store) is imported
    unknown = sorted(set(args.estimators) - set(ESTIMATOR_INPUTS))
    if unknown:
        parser.error(f"unknown estimator(s) {unknown}; valid: {sorted(ESTIMATOR_INPUTS)}")
    if not args.plot_only:
        todo = tasks(args.quick, range(args.seeds), args.estimators, args.sizes, args.generators,
                     args.neural_max_n)
        run_tasks(todo, run_task, args.out, n_jobs=args.n_jobs, backend=args.backend)
    from synergy_lab.plots import estimator_accuracy_figure  # noqa: PLC0415

    table = current_rows(read_results(args.out))
    estimator_accuracy_figure(table, args.figure)
    print(f"wrote {args.figure}")
    print(summary(table).to_string())


def current_rows(table):
    """The rows of the current harness and of each estimator's current version (rows written before a
    version column existed count as version 1).

    Older rows stay in the table file (no result is lost) but would mix two versions' results in a summary
    or figure; they are left out, with a note of how many.
    """
    if table.empty:
        return table

    def column(name):
        values = table[name] if name in table else 1
        return pd.Series(values, index=table.index).fillna(1).astype(int)

    current = table["method"].map({m: estimator_version(m) for m in table["method"].unique()})
    keep = (column("estimator_version") == current) & (column("harness_version") == HARNESS_VERSION)
    if not keep.all():
        print(f"left out {int((~keep).sum())} rows of older estimator or harness versions")
    return table[keep]


def summary(table):
    """Mean absolute error and CI coverage per estimator, generator and component."""
    t = table.copy()
    t["abs_error"] = t["error"].abs()
    t["covered"] = ((t["ci_low"] <= t["ground_truth"]) & (t["ground_truth"] <= t["ci_high"])).astype(float)
    if "failure" in t:
        t["failed"] = t["failure"].fillna("").astype(str).str.len() > 0
    else:
        t["failed"] = False
    t.loc[t["failed"], "covered"] = np.nan
    return (
        t.groupby(["method", "dataset", "metric"])[["abs_error", "covered", "failed"]]
        .mean()
        .unstack("metric")
        .round(3)
    )


if __name__ == "__main__":
    main()
