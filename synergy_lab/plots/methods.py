"""Method-comparison figures from the tidy table of a sweep (one row per run, target and metric).

Each function takes the table (columns :data:`._common.COLUMNS`: experiment, method, seed, steps, state,
cell, target, metric, value, ground_truth) and a path, draws one figure, writes it atomically and returns the
aggregated numbers it plotted (mean, sd and 95% t-interval over seeds per method, as ``synergy-lab report``
computes them). Only the ``cell == "base"`` rows are read; the ablation cells have their own figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import (
    METRIC_LABELS,
    aggregate,
    at_steps,
    check_table,
    colours,
    figure_style,
    method_order,
    plt,
    save_figure,
    select,
    target_order,
    yerr,
)

#: Targets of the R/U/S figure: one per PID atom, synergy measured by the pure-synergy "match" label.
RUS_TARGETS = ("redundancy", "unique1", "unique2", "match")
#: Read-out PID metrics, bottom to top of each stacked bar.
READOUT_METRICS = ("readout_R", "readout_U1", "readout_U2", "readout_S")
_ATOM_LABELS = {"readout_R": "R", "readout_U1": "U1", "readout_U2": "U2", "readout_S": "S"}
_FLOOR = "0.55"  # grey of the untrained floor


def methods_rus_figure(table: pd.DataFrame, path, metric: str = "balanced_accuracy", targets=RUS_TARGETS,
                       steps: int | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Probe accuracy per method, trained beside the untrained floor, one panel per target (R, U1, U2, S).

    Parameters
    ----------
    table : DataFrame
        Tidy method-comparison rows.
    path : path-like
        Output image (format from the suffix).
    metric : str
        Metric on the y axis (default: the fair probe's balanced accuracy on the test split).
    targets : sequence of str
        Targets to draw, one panel each (those the table has).
    steps : int, optional
        Training length of the trained runs (default: the shortest in the table).
    confidence : float
        Level of the error bars (t-interval over seeds).

    Returns
    -------
    DataFrame
        One row per (state, target, metric, method): ``n`` seeds, ``mean``, ``sd``, ``ci_low``, ``ci_high``.
    """
    table = check_table(table, "methods_rus")
    rows, steps = at_steps(select(table, "methods_rus", metrics=[metric], targets=targets), steps)
    agg = aggregate(rows, ["state", "target", "metric"], confidence)
    chance = table[(table["metric"] == "chance") & (table["cell"] == "base")]
    chance = chance.groupby("target")["value"].mean()
    panels = target_order(agg["target"].unique())
    methods = method_order(agg["method"].unique())
    colour = colours(methods)
    with figure_style():
        fig, axes = plt.subplots(1, len(panels), figsize=(2.2 + 0.55 * len(methods) * len(panels), 3.6),
                                 sharey=True, squeeze=False)
        for ax, target in zip(axes[0], panels, strict=True):
            for offset, state in ((-0.2, "trained"), (0.2, "untrained")):
                sub = agg[(agg["target"] == target) & (agg["state"] == state)].set_index("method")
                sub = sub.reindex([m for m in methods if m in sub.index])
                x = np.array([methods.index(m) for m in sub.index]) + offset
                fill = [colour[m] for m in sub.index] if state == "trained" else _FLOOR
                ax.bar(x, sub["mean"], width=0.4, color=fill, alpha=1.0 if state == "trained" else 0.45,
                       label=f"{state}" if target == panels[0] else None)
                ax.errorbar(x, sub["mean"], yerr=yerr(sub), fmt="none", ecolor="0.15", capsize=2, lw=1)
            if target in chance.index:
                ax.axhline(chance[target], color="0.3", ls="--", lw=0.9, label="chance"
                           if target == panels[0] else None)
            ax.set_xticks(range(len(methods)), methods, rotation=40, ha="right")
            ax.set_title(target)
        axes[0, 0].set_ylabel(METRIC_LABELS.get(metric, metric))
        axes[0, 0].set_ylim(bottom=0)
        fig.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=9, frameon=False)
        seeds = int(agg["n"].max())
        fig.suptitle(f"{METRIC_LABELS.get(metric, metric)} per target, {steps:,} steps (bars: mean over "
                     f"{seeds} seed{'s' if seeds > 1 else ''}, {round(100 * confidence)}% CI; "
                     "grey: untrained floor)")
        save_figure(fig, path)
    return agg


#: Bimodal Trifeature (experiments/trifeature/experiment.toml): the cell each target is read from, as in the
#: paper -- R and U from the runs on unbiased training pairs, S from the runs on biased pairs.
TRIFEATURE_CELLS = {"redundancy": "pairing=unbiased", "unique1": "pairing=unbiased",
                    "unique2": "pairing=unbiased", "synergy": "pairing=biased"}
#: (method, target) read from another cell: the supervised reference trains on the synergy label, constant
#: on biased pairs, so it runs on unbiased pairs only.
TRIFEATURE_CELL_EXCEPTIONS = {("supervised", "synergy"): "pairing=unbiased"}


def trifeature_rus_figure(table: pd.DataFrame, path, metric: str = "balanced_accuracy",
                          steps: int | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """:func:`methods_rus_figure` of a Trifeature sweep, each target read from its pairing cell.

    Redundancy and the uniquenesses come from the ``pairing=unbiased`` runs, synergy from the
    ``pairing=biased`` runs (:data:`TRIFEATURE_CELLS`, :data:`TRIFEATURE_CELL_EXCEPTIONS`), trained and
    untrained alike. Parameters and result as :func:`methods_rus_figure`.
    """
    table = check_table(table, "trifeature_rus")
    cells = table["target"].map(TRIFEATURE_CELLS)
    for (method, target), cell in TRIFEATURE_CELL_EXCEPTIONS.items():
        cells = cells.mask((table["method"] == method) & (table["target"] == target), cell)
    view = table[table["cell"] == cells].assign(cell="base")
    return methods_rus_figure(view, path, metric=metric, targets=tuple(TRIFEATURE_CELLS), steps=steps,
                              confidence=confidence)


def bits_vs_truth_figure(table: pd.DataFrame, path, targets=None, steps: int | None = None,
                         confidence: float = 0.95) -> pd.DataFrame:
    """Bits captured per method and target, with the ground truth I(X1, X2; Y) as a line over each group.

    The untrained floor of each method is a short black tick on its bar. Parameters as
    :func:`methods_rus_figure` (``targets`` default: all the table has). Returns one row per (state, target,
    metric, method) with ``mean``, CI and ``truth`` (the ground truth of the rows).
    """
    table = check_table(table, "bits_vs_truth")
    rows, steps = at_steps(select(table, "bits_vs_truth", metrics=["bits"], targets=targets), steps)
    agg = aggregate(rows, ["state", "target", "metric"], confidence)
    panels = target_order(agg["target"].unique())
    methods = method_order(agg["method"].unique())
    colour = colours(methods)
    width = 0.8 / len(methods)
    with figure_style():
        fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(panels) * max(1, len(methods) / 3), 3.8))
        for i, method in enumerate(methods):
            x0 = np.arange(len(panels)) - 0.4 + width * (i + 0.5)
            for state in ("trained", "untrained"):
                sub = agg[(agg["method"] == method) & (agg["state"] == state)].set_index("target")
                keep = [j for j, t in enumerate(panels) if t in sub.index]
                sub = sub.reindex([panels[j] for j in keep])
                if state == "trained":
                    ax.bar(x0[keep], sub["mean"], width=width * 0.92, color=colour[method], label=method)
                    ax.errorbar(x0[keep], sub["mean"], yerr=yerr(sub), fmt="none", ecolor="0.15", capsize=2,
                                lw=1)
                else:
                    ax.scatter(x0[keep], sub["mean"], marker="_", s=120, color="black", zorder=3,
                               label="untrained floor" if i == 0 else None)
        truth = agg.groupby("target")["truth"].mean()
        for j, target in enumerate(panels):
            ax.hlines(truth[target], j - 0.45, j + 0.45, color="black", lw=1.6,
                      label="I(X1,X2;Y)" if j == 0 else None)
        ax.set_xticks(range(len(panels)), panels)
        ax.set(ylabel="bits", title=f"bits captured vs ground truth, {steps:,} steps "
                                    f"(mean over seeds, {round(100 * confidence)}% CI)")
        ax.legend(fontsize=8, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        save_figure(fig, path)
    return agg


def synergy_vs_steps_figure(table: pd.DataFrame, path, metric: str = "balanced_accuracy",
                            target: str = "match", confidence: float = 0.95) -> pd.DataFrame:
    """A synergy metric against training steps, one line per method with its CI band.

    Untrained runs are drawn at step 0. Returns one row per (steps, target, metric, method).
    """
    table = check_table(table, "synergy_vs_steps")
    rows = select(table, "synergy_vs_steps", metrics=[metric], targets=[target])
    rows = rows.assign(steps=rows["steps"].where(rows["state"] == "trained", 0))
    # An untrained run recorded beside several training lengths is one initialisation: keep it once.
    rows = rows.drop_duplicates(["method", "seed", "steps", "target", "metric"])
    agg = aggregate(rows, ["steps", "target", "metric"], confidence).sort_values(["method", "steps"])
    methods = method_order(agg["method"].unique())
    colour = colours(methods)
    with figure_style():
        fig, ax = plt.subplots(figsize=(6.0, 4.0))
        for method in methods:
            sub = agg[agg["method"] == method]
            ax.plot(sub["steps"], sub["mean"], "o-", color=colour[method], label=method, ms=4)
            band = sub.dropna(subset=["ci_low", "ci_high"])
            ax.fill_between(band["steps"], band["ci_low"], band["ci_high"], color=colour[method], alpha=0.18,
                            lw=0)
        ax.set(xlabel="training steps (0: untrained)", ylabel=METRIC_LABELS.get(metric, metric),
               title=f"{target}: {METRIC_LABELS.get(metric, metric)} vs training length "
                     f"({round(100 * confidence)}% CI over seeds)")
        ax.legend(fontsize=8)
        save_figure(fig, path)
    return agg


def readout_pid_figure(table: pd.DataFrame, path, targets=None, steps: int | None = None,
                       confidence: float = 0.95) -> pd.DataFrame:
    """Read-out PID (R, U1, U2, S of the bits probe's predictions) as stacked bars per method, beside the
    truth's atoms, one panel per target.

    Returns one row per (target, metric, method) of the trained runs, plus rows with method ``"truth"``
    whose ``mean`` is the ground-truth atom.
    """
    table = check_table(table, "readout_pid")
    rows = select(table, "readout_pid", metrics=READOUT_METRICS, targets=targets)
    rows, steps = at_steps(rows, steps)
    rows = rows[rows["state"] == "trained"]
    agg = aggregate(rows, ["target", "metric"], confidence)
    truth = (agg.groupby(["target", "metric"])["truth"].mean().rename("mean").reset_index()
             .assign(method="truth"))
    agg = pd.concat([agg, truth], ignore_index=True)
    panels = target_order(agg["target"].unique())
    bars = [*method_order(agg.loc[agg["method"] != "truth", "method"].unique()), "truth"]
    atom_colour = dict(zip(READOUT_METRICS, ("#4C72B0", "#DD8452", "#55A868", "#C44E52"), strict=True))
    with figure_style():
        fig, axes = plt.subplots(1, len(panels), figsize=(1.6 + 0.5 * len(bars) * len(panels), 3.8),
                                 sharey=True, squeeze=False)
        for ax, target in zip(axes[0], panels, strict=True):
            wide = (agg[agg["target"] == target].pivot(index="method", columns="metric", values="mean")
                    .reindex(index=[b for b in bars], columns=list(READOUT_METRICS)).fillna(0.0))
            bottom = np.zeros(len(wide))
            for metric in READOUT_METRICS:
                ax.bar(range(len(wide)), wide[metric], bottom=bottom, color=atom_colour[metric], width=0.7,
                       label=_ATOM_LABELS[metric] if target == panels[0] else None,
                       edgecolor=["black" if m == "truth" else "white" for m in wide.index], lw=0.8)
                bottom += wide[metric].to_numpy(float)
            ax.set_xticks(range(len(wide)), wide.index, rotation=40, ha="right")
            ax.set_title(target)
        axes[0, 0].set_ylabel("bits")
        axes[0, 0].legend(fontsize=8, title="atom", loc="upper left")
        fig.suptitle(f"read-out PID of the bits probe per method (mean over seeds), {steps:,} steps, "
                     "beside the truth")
        save_figure(fig, path)
    return agg
