"""Bimodal Trifeature at CPU scale: every method x seed x training pairing, trained and untrained, in a store.

    python experiments/trifeature/run.py --dry-run                 # task list + estimated CPU time
    python experiments/trifeature/run.py                           # run, or resume where it stopped
    python experiments/trifeature/run.py --max-tasks 6             # a time-boxed slice (in task order)
    python experiments/trifeature/run.py --only-steps 1500 --methods comm infmasking --seeds 0
    python experiments/trifeature/run.py --table                   # the R/U/S table from the store

The tasks come from ``experiment.toml`` beside this file (methods and their base configs, seeds, the two
pairing cells, lengths, the untrained floor) and run through :func:`synergy_lab.experiments.plan.run_sweep`:
each is a sweep task of :mod:`synergy_lab.experiments.sweep`, scored by
:func:`synergy_lab.evaluate.score_representation` (probes fitted on unbiased pairs of the training split, C
chosen on the validation split, reported on the test split). Rows go to ``results.sqlite`` beside this
file, run folders (the latest checkpoint of each run, so a killed run resumes) to
``results/trifeature_cpu/``. The order is seed-major and cheap first: every untrained floor, then the
base-length runs seed by seed, then the longer runs; finished tasks are skipped on a rerun.

As in the paper, R (the shared shape) and U (the texture of image 1 and of image 2, averaged) are read from
the runs on unbiased training pairs (cell ``pairing=unbiased``) and S (colour 2 = pi(texture 1)) from the runs
on biased pairs (cell ``pairing=biased``); the supervised reference, whose training label is the synergy
label itself (constant on biased pairs), runs on unbiased pairs only and its S is read there. ``--table``
prints mean ± sd over seeds of the fair and the paper probe's balanced accuracy on the test split, per
training length, beside the untrained floor and the published numbers.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from synergy_lab.experiments import plan, read_results
from synergy_lab.plots.methods import TRIFEATURE_CELL_EXCEPTIONS, TRIFEATURE_CELLS

ROOT = Path(__file__).resolve().parent
EXPERIMENT = ROOT / "experiment.toml"
#: Published R / U / S (%, InfMasking README, the paper probe at 224 px; paper_repro.md).
PUBLISHED = {"infmasking": (99.9, 90.6, 77.0), "comm": (99.9, 86.8, 71.4), "cross": (100.0, 11.6, 50.0),
             "cross_self": (99.7, 86.9, 50.0), "factorcl": (99.8, 62.5, 46.5)}
#: The probe targets of each component; a component's per-seed value is the mean over its targets. Which
#: cell (training pairing) each target is read from is the figure's rule (TRIFEATURE_CELLS, with
#: TRIFEATURE_CELL_EXCEPTIONS: the supervised reference's synergy comes from its unbiased runs).
COMPONENTS = {"R": ("redundancy",), "U": ("unique1", "unique2"), "S": ("synergy",)}
#: The two probes of the table: the fair one and the public code's (comparable with PUBLISHED).
PROBES = {"fair": "balanced_accuracy", "paper": "balanced_accuracy_paper"}
STATES = ("trained", "untrained")


def component_cell(method: str, component: str) -> str:
    """The cell a method's component is read from (one cell for all of its targets)."""
    cells = {TRIFEATURE_CELL_EXCEPTIONS.get((method, t), TRIFEATURE_CELLS[t]) for t in COMPONENTS[component]}
    if len(cells) != 1:
        raise ValueError(f"component {component!r} of {method!r} would mix the cells {sorted(cells)}")
    return cells.pop()


def rus_summary(table: pd.DataFrame, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean, sd and number of seeds of R, U and S (%) per method, state, length and probe.

    Parameters
    ----------
    table : DataFrame
        Sweep rows (columns method, seed, steps, state, cell, target, metric, value) of one experiment.
    methods : list of str, optional
        Display order (others follow alphabetically).

    Returns
    -------
    DataFrame
        One row per (method, state, steps, probe, component) with ``mean``, ``sd`` (NaN for one seed) and
        ``n``. A component's value for one seed is 100 x the mean of its targets' values.
    """
    rows = []
    for (method, state, steps), runs in table.groupby(["method", "state", "steps"], sort=False):
        for probe, metric in PROBES.items():
            for component, targets in COMPONENTS.items():
                sel = runs[(runs["metric"] == metric) & (runs["cell"] == component_cell(method, component))
                           & runs["target"].isin(targets)]
                per_seed = 100 * sel.groupby("seed")["value"].mean()
                if per_seed.empty:
                    continue
                rows.append({"method": method, "state": state, "steps": int(steps), "probe": probe,
                             "component": component, "mean": per_seed.mean(),
                             "sd": per_seed.std(ddof=1) if len(per_seed) > 1 else float("nan"),
                             "n": len(per_seed)})
    columns = ["method", "state", "steps", "probe", "component", "mean", "sd", "n"]
    summary = pd.DataFrame(rows, columns=columns)
    order = list(methods or [])
    order += sorted(m for m in summary["method"].unique() if m not in order)
    key = {"method": order.index, "state": STATES.index, "probe": list(PROBES).index,
           "component": list(COMPONENTS).index}
    return summary.sort_values(["method", "state", "steps", "probe", "component"],
                               key=lambda col: col.map(key[col.name]) if col.name in key else col,
                               ignore_index=True)


def _cell_text(row) -> str:
    if row is None:
        return "—"
    spread = f" ± {row['sd']:.1f}" if row["n"] > 1 else ""
    return f"{row['mean']:.1f}{spread} ({row['n']})"


def format_table(summary: pd.DataFrame, published: Mapping = PUBLISHED) -> str:
    """:func:`rus_summary` as a markdown table: one line per (method, state, length, probe), R / U / S as
    ``mean ± sd (n seeds)``; the published numbers beside the trained paper-probe lines."""
    lines = ["| method | state | steps | probe | R | U | S | published R / U / S |",
             "|---|---|---|---|---|---|---|---|"]
    for (method, state, steps, probe), part in summary.groupby(["method", "state", "steps", "probe"],
                                                              sort=False):
        by_component = {r["component"]: r for _, r in part.iterrows()}
        cells = [_cell_text(by_component.get(c)) for c in COMPONENTS]
        paper = published.get(method) if state == "trained" and probe == "paper" else None
        paper_text = " / ".join(f"{v:.1f}" for v in paper) if paper else ""
        length = f"{steps:,}" if state == "trained" else "init"
        lines.append(f"| {method} | {state} | {length} | {probe} | {' | '.join(cells)} | {paper_text} |")
    return "\n".join(lines)


CAPTION = ("Bimodal Trifeature, experiment {experiment}: balanced accuracy on the test split (%), mean ± sd "
           "over seeds (n seeds). R = redundancy (shape) and U = mean of unique1 and unique2 (texture of "
           "each image) from the pairing=unbiased runs; S = synergy from the pairing=biased runs (the "
           "supervised reference: from its pairing=unbiased run). Chance 10 / 10 / 50. fair: the fair "
           "linear probe; paper: the public code's probe. untrained: the same architecture at "
           "initialisation (the floor). Published: the paper probe at 224 px (paper_repro.md).")


def print_table(args) -> int:
    """``--table``: the R/U/S table of the experiment's rows in its store; 2 with one ``error:`` line if
    there are none."""
    try:
        spec = plan.load_experiment(args.experiment)
        store = Path(args.store) if args.store else Path(spec["store"])
        if not store.exists():
            raise ValueError(f"store {str(store)!r} not found: run the experiment first")
        table = read_results(store)
        if not table.empty:
            table = table[table["experiment"] == spec["experiment"]]
            selection = (("method", args.methods), ("seed", args.seeds), ("steps", args.only_steps))
            for column, wanted in selection:
                if wanted is not None:
                    table = table[table[column].isin(wanted if isinstance(wanted, list) else [wanted])]
        if table.empty:
            selected = " for the selection" if args.methods or args.seeds or args.only_steps else ""
            name = spec["experiment"]
            raise ValueError(f"store {str(store)!r} has no rows of experiment {name!r}{selected}")
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(CAPTION.format(experiment=spec["experiment"]))
    print()
    print(format_table(rus_summary(table, list(spec["methods"]))))
    return 0


def main(argv=None) -> int:
    parser = plan.sweep_parser(__doc__, EXPERIMENT)
    parser.add_argument("--table", action="store_true",
                        help="print the R/U/S table from the store (--methods, --seeds, --only-steps select)")
    args = parser.parse_args(argv)
    return print_table(args) if args.table else plan.run_sweep(args)


if __name__ == "__main__":
    raise SystemExit(main())
