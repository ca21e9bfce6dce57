"""The Trifeature R/U/S table: methods x seeds x {unbiased, biased} training pairs, probed after training.

    python experiments/trifeature/run.py --scale cpu --methods infmasking comm --seeds 0 1 2
    python experiments/trifeature/run.py --scale paper --seeds 42 43 44 45 46     # GPU (or a Ray cluster)
    python experiments/trifeature/run.py --scale cpu --table-only                 # re-print the table

Each task trains ``experiments/trifeature/<scale>_<method>.toml`` with its seed and pairing (resumable:
checkpoints in ``results/trifeature/<scale>/runs/``, finished tasks are skipped on a rerun), then probes it.
As in the paper, R (shape) and U (texture of image 1 and of image 2, averaged) are read from the run on
unbiased pairs and S (the texture -> colour match) from the run on biased pairs; balanced accuracy on the
test split (chance 10 / 10 / 50%). The validation split's scores are kept beside them for model selection.

Writes the results store ``results/trifeature/<scale>/results.sqlite`` (one row per task x probe target x
split: metric ``balanced_accuracy`` on test, ``val_balanced_accuracy`` on validation; several invocations may
write into it at once; an earlier ``results.csv`` there is imported first) and prints mean +- std over seeds
beside the published numbers. ``synergy-lab results export`` writes it as CSV.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from synergy_lab.experiments import grid, read_results, run_tasks, store_path_for

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT.parents[1] / "results" / "trifeature"
#: Published R / U / S (%, InfMasking README; paper_repro.md).
PUBLISHED = {"infmasking": (99.9, 90.6, 77.0), "comm": (99.9, 86.8, 71.4), "cross": (100.0, 11.6, 50.0),
             "cross_self": (99.7, 86.9, 50.0), "factorcl": (99.8, 62.5, 46.5)}
#: Which probe target gives each component, and from which training pairs.
COMPONENTS = {"R": ("unbiased", ["redundancy"]), "U": ("unbiased", ["unique1", "unique2"]),
              "S": ("biased", ["synergy"])}


def config_path(scale: str, method: str) -> Path:
    path = ROOT / f"{scale}_{method}.toml"
    if not path.is_file():
        valid = sorted(p.stem for p in ROOT.glob(f"{scale}_*.toml"))
        raise ValueError(f"no config {path.name} for scale {scale!r} and method {method!r}; have {valid}")
    return path


def run_task(task: dict) -> list[dict]:
    """Train one (scale, method, seed, pairing) and return one row per probe target."""
    from synergy_lab.train import load_config, train

    cfg = load_config(config_path(task["scale"], task["method"]))
    run = f"{task['method']}_seed{task['seed']}_{task['pairing']}"
    cfg = cfg.override({"seed": task["seed"], "data.pairing": task["pairing"], "progress": False,
                        "out_dir": str(Path(task.get("out_root", RESULTS / task["scale"])) / "runs" / run),
                        **dict(task.get("overrides", {}))})
    result = train(cfg)
    common = {"experiment": "trifeature", "method": task["method"], "dataset": f"trifeature_{task['scale']}",
              "params": json.dumps({"pairing": task["pairing"], **dict(task.get("overrides", {}))},
                                   sort_keys=True),
              "seed": task["seed"], "scale": task["scale"], "pairing": task["pairing"], "steps": result.steps,
              "final_loss": result.losses[-1] if result.losses else None, "train_s": result.wall_s}
    return [{**common, "target": target, "metric": metric, "value": probe[metric], "chance": probe["chance"]}
            for target, probe in result.metrics.items()
            for metric in ("balanced_accuracy", "val_balanced_accuracy") if metric in probe]


def _mean_std(values: pd.Series) -> str:
    """``mean ± std (n=k)`` of per-seed percentages (no std for one seed, a dash for none)."""
    if values.empty:
        return "—"
    spread = f" ± {values.std(ddof=1):.1f}" if len(values) > 1 else ""
    return f"{values.mean():.1f}{spread} (n={len(values)})"


def summary_table(table: pd.DataFrame, metric: str = "balanced_accuracy") -> pd.DataFrame:
    """Mean and std over seeds of R, U, S (%) per method, beside the published numbers (``metric``: the test
    split's ``balanced_accuracy``, or ``val_balanced_accuracy``)."""
    table = table[table["metric"] == metric]
    rows = []
    for method, runs in table.groupby("method", sort=False):
        row = {"method": method}
        for comp, (pairing, targets) in COMPONENTS.items():
            sel = runs[(runs["pairing"] == pairing) & runs["target"].isin(targets)]
            per_seed = 100 * sel.groupby("seed")["value"].mean()
            row[comp] = _mean_std(per_seed)
        published = PUBLISHED.get(method)
        row["paper R/U/S"] = "/".join(f"{v:.1f}" for v in published) if published else "—"
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["cpu", "paper"], default="cpu")
    parser.add_argument("--methods", nargs="+", default=["infmasking", "comm"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--pairings", nargs="+", choices=["unbiased", "biased"],
                        default=["unbiased", "biased"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every task, e.g. --set optim.steps=200 (a new task set)")
    parser.add_argument("--n-jobs", type=int, default=1, help="parallel runs (joblib; one thread each)")
    parser.add_argument("--backend", default="loky", help="joblib backend: loky, sequential or ray")
    parser.add_argument("--out", help="results folder (default results/trifeature/<scale>)")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    for method in args.methods:
        config_path(args.scale, method)
    from synergy_lab.cli import parse_assignments

    overrides = parse_assignments(args.set)
    root = Path(args.out) if args.out else RESULTS / args.scale
    out = store_path_for(root / "results.sqlite")
    if not args.table_only:
        extra = {"overrides": overrides} if overrides else {}
        extra.update({"out_root": str(root)} if args.out else {})
        tasks = [{"scale": args.scale, **t, **extra}
                 for t in grid(method=args.methods, seed=args.seeds, pairing=args.pairings)]
        run_tasks(tasks, run_task, out, n_jobs=args.n_jobs, backend=args.backend)
    table = read_results(out)
    if table.empty:
        print(f"no results in {out}")
        return 1
    table = table[table["method"].isin(args.methods)]
    print(summary_table(table).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
