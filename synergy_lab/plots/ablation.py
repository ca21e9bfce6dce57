"""The ablation figure: one panel per factor, a method's metric against the factor's value, with a reference
method on the same seeds.

Ablation cells are named ``"<factor>=<value>"`` (``"base"`` is the unchanged setting), one factor changed at
a time, and only for the methods it changes: in each cell, a method that did not run there is represented by
its base-cell runs (the cell does not change its training). Both methods are drawn on the seeds they share in
the cell, so that every gap drawn is a paired one.
"""

from __future__ import annotations

import pandas as pd

from ._common import (
    METRIC_LABELS,
    aggregate,
    check_table,
    colours,
    figure_style,
    plt,
    save_figure,
    select,
    yerr,
)


def split_cell(cell: str) -> tuple[str, str]:
    """``"mask_ratio=0.5"`` -> ``("mask_ratio", "0.5")``; ValueError for a name without ``=``."""
    if not isinstance(cell, str) or "=" not in cell:
        raise ValueError(f"ablation cell {cell!r} must look like FACTOR=VALUE")
    factor, value = cell.split("=", 1)
    return factor, value


def _value_order(values) -> list[str]:
    try:
        return sorted(values, key=float)
    except ValueError:  # non-numeric levels (e.g. weights "uniform"): keep a stable alphabetical order
        return sorted(values)


def ablation_figure(table: pd.DataFrame, path, method: str = "infmasking", reference: str = "comm",
                    metric: str = "balanced_accuracy", target: str = "match", steps: int | None = None,
                    confidence: float = 0.95) -> pd.DataFrame:
    """``method``'s metric against each factor's value (one panel per factor), ``reference`` beside it.

    Parameters
    ----------
    table : DataFrame
        Tidy rows of an ablation sweep (trained runs; columns as the method figures).
    path : path-like
        Output image.
    method, reference : str
        The ablated method and the one it is compared with.
    metric, target : str
        What is drawn (default: fair-probe balanced accuracy on the pure-synergy "match" label).
    steps : int, optional
        Training length (default: the one with the most rows).
    confidence : float
        Level of the error bars and bands.

    Returns
    -------
    DataFrame
        One row per (factor, value, method) with ``n``, ``mean``, ``sd``, ``ci_low``, ``ci_high``; value
        ``"base"`` holds the base cell of ``method`` (drawn as a dotted line in every panel).
    """
    table = check_table(table, "ablation")
    rows = select(table, "ablation", metrics=[metric], targets=[target], cell=None)
    rows = rows[(rows["state"] == "trained") & rows["method"].isin([method, reference])]
    if steps is None and not rows.empty:
        steps = int(rows["steps"].value_counts().idxmax())
    rows = rows[rows["steps"] == steps]
    ours = rows[rows["method"] == method]
    cells = [c for c in rows["cell"].unique() if c != "base"]
    if ours.empty or not cells:
        raise ValueError(f"the table has no ablation cells (FACTOR=VALUE) with method {method!r} for "
                         f"{metric} on {target!r}")
    parts = []
    for cell in cells:
        factor, value = split_cell(cell)
        pair = []
        for name in (method, reference):
            mine = rows[rows["method"] == name]
            # A method a cell does not change is represented there by its base runs (the same training).
            pair.append(mine[mine["cell"] == cell] if (mine["cell"] == cell).any() else
                        mine[mine["cell"] == "base"])
        seeds = set(pair[0]["seed"]) & set(pair[1]["seed"]) if not pair[1].empty else set(pair[0]["seed"])
        parts += [p[p["seed"].isin(seeds)].assign(factor=factor, value_label=value) for p in pair]
    base = ours[ours["cell"] == "base"]
    if not base.empty:
        parts.append(base.assign(factor="", value_label="base"))
    agg = aggregate(pd.concat(parts), ["factor", "value_label"], confidence).rename(
        columns={"value_label": "value"})
    factors = sorted(f for f in agg["factor"].unique() if f)
    colour = colours([method, reference])
    label = METRIC_LABELS.get(metric, metric)
    with figure_style():
        fig, axes = plt.subplots(1, len(factors), figsize=(0.6 + 3.2 * len(factors), 3.6), sharey=True,
                                 squeeze=False)
        for ax, factor in zip(axes[0], factors, strict=True):
            levels = _value_order(agg.loc[agg["factor"] == factor, "value"].unique())
            for name, style in ((reference, "band"), (method, "points")):
                sub = agg[(agg["factor"] == factor) & (agg["method"] == name)].set_index("value")
                sub = sub.reindex([v for v in levels if v in sub.index])
                x = [levels.index(v) for v in sub.index]
                if style == "band":
                    # Open squares beside the method's points: a one-level factor has no band to show.
                    ax.errorbar([v + 0.08 for v in x], sub["mean"], yerr=yerr(sub), fmt="s--", mfc="white",
                                color=colour[name], capsize=3, ms=5, lw=1.2, label=f"{name} (same seeds)")
                    if len(x) > 1:
                        ax.fill_between(x, sub["ci_low"], sub["ci_high"], color=colour[name], alpha=0.15,
                                        lw=0)
                else:
                    ax.errorbar(x, sub["mean"], yerr=yerr(sub), fmt="o-", color=colour[name], capsize=3,
                                ms=5, label=name)
            if not base.empty:
                ax.axhline(agg.loc[agg["factor"] == "", "mean"].iloc[0], color=colour[method], ls=":",
                           lw=1, label=f"{method} base")
            ax.set_xticks(range(len(levels)), levels, rotation=30 if max(map(len, levels)) > 4 else 0)
            ax.set_xlim(-0.5, len(levels) - 0.5)
            ax.set(title=factor, xlabel=factor)
        axes[0, 0].set_ylabel(label)
        axes[0, 0].legend(fontsize=8)
        fig.suptitle(f"{method} ablation: {label} on {target!r}, {steps:,} steps "
                     f"({round(100 * confidence)}% CI over seeds)")
        save_figure(fig, path)
    return agg
