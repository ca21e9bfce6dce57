"""The compact tables of paper_repro.md from the method-comparison store (mean ± sd, 95% CI, paired tests).

    python experiments/methods_vectors/tables.py                       # every table below, as markdown
    python experiments/methods_vectors/tables.py --store other.sqlite

Uses :func:`synergy_lab.experiments.report.describe` and :func:`~synergy_lab.experiments.report.paired`; only
the layout is this script's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from synergy_lab.experiments import read_results
from synergy_lab.experiments.report import describe, paired
from synergy_lab.plots._common import method_order

STORE = Path(__file__).resolve().parent / "results.sqlite"
BY = ["state", "steps", "cell", "target", "metric"]
TARGETS = ("redundancy", "unique1", "unique2", "match")


def _cell(row) -> str:
    if row is None or pd.isna(row["mean"]):
        return "—"
    ci = "" if pd.isna(row["ci_low"]) else f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    return f"{row['mean']:.3f} ± {row['sd']:.3f}{ci}"


def method_table(table: pd.DataFrame, steps: int, metrics=("balanced_accuracy", "bits", "readout_S")) -> str:
    """One line per method at ``steps``: the synergy target's metrics, R/U1/U2 fair probe, and the floor."""
    stats = describe(table, by=BY).set_index([*BY, "method"]).sort_index()

    def get(state, st, target, metric, method):
        key = (state, st, "base", target, metric, method)
        return stats.loc[key] if key in stats.index else None

    head = (["method", "seeds"] + [f"match {m}" for m in metrics]
            + [f"{t} (fair probe)" for t in TARGETS[:3]]
            + ["match, untrained floor", "bits, untrained floor"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    trained = table[(table["state"] == "trained") & (table["steps"] == steps)]
    floor_steps = int(table.loc[table["state"] == "untrained", "steps"].min()) if (
        table["state"] == "untrained").any() else steps
    for method in method_order(trained["method"].unique()):
        n = trained.loc[trained["method"] == method, "seed"].nunique()
        cells = [_cell(get("trained", steps, "match", m, method)) for m in metrics]
        cells += [_cell(get("trained", steps, t, "balanced_accuracy", method)) for t in TARGETS[:3]]
        cells += [_cell(get("untrained", floor_steps, "match", m, method))
                  for m in ("balanced_accuracy", "bits")]
        lines.append("| " + " | ".join([method, str(n)] + cells) + " |")
    return "\n".join(lines)


def paired_table(table: pd.DataFrame, reference: str, target: str = "match",
                 metrics=("balanced_accuracy", "bits")) -> str:
    """Paired differences method − reference per length, on the seeds both have."""
    rows = table[(table["state"] == "trained") & (table["target"] == target) & table["metric"].isin(metrics)]
    diffs = paired(rows, reference, by=BY)
    head = ["steps", "metric", "method", "pairs", f"mean diff vs {reference}", "95% CI", "paired t p",
            "Wilcoxon p", "wins"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in diffs.sort_values(["steps", "metric", "mean_diff"], ascending=[True, True, False]).iterrows():
        lines.append(f"| {r['steps']} | {r['metric']} | {r['method']} | {r['n_pairs']} "
                     f"| {r['mean_diff']:+.3f} "
                     f"| [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] | {r['t_p']:.2g} | {r['wilcoxon_p']:.2g} "
                     f"| {r['wins']}/{r['n_pairs']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default=str(STORE))
    parser.add_argument("--reference", default="comm")
    args = parser.parse_args(argv)
    table = read_results(args.store)
    for steps in sorted(table.loc[table["state"] == "trained", "steps"].unique()):
        print(f"\n#### {steps:,} steps\n")
        print(method_table(table, int(steps)))
    print("\n#### paired differences\n")
    print(paired_table(table, args.reference))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
