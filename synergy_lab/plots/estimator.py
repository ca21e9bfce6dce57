"""The estimator-accuracy figure: PID estimates against the exact truth, and error against sample size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..pid import COMPONENTS
from ._common import plt, save_figure

_LABELS = {
    "redundancy": "redundancy R",
    "unique1": "unique U1",
    "unique2": "unique U2",
    "synergy": "synergy S",
}


def error_curves(agg: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error per (method, metric, n) over the settings (dataset, params, target) that the
    method ran at every one of its sample sizes, so that each curve averages the same settings at every n
    (e.g. when NeuralPID's largest n was run on the gates only, its whole curve is the gates')."""
    setting = ["method", "dataset", "params", "target"]
    runs = agg.groupby(setting)["n"].transform("nunique")
    complete = agg[runs == agg.groupby("method")["n"].transform("nunique")]
    return complete.groupby(["method", "metric", "n"])["abs_error"].mean().reset_index()


def estimator_accuracy_figure(table: pd.DataFrame, path) -> Path:
    """Estimate vs ground truth per PID component (top) and absolute error vs sample size (bottom).

    ``table`` has one row per (estimator ``method``, generator ``dataset``, ``params``, ``target``, ``n``,
    ``seed``, component ``metric``) with ``value`` and ``ground_truth``. Error bars: one standard deviation
    over seeds; the top row uses each setting's largest ``n``.
    """
    needed = {"method", "dataset", "params", "target", "n", "seed", "metric", "value", "ground_truth"}
    missing = sorted(needed - set(table.columns))
    if missing:
        raise ValueError(f"estimator accuracy table lacks columns {missing}")
    methods = sorted(table["method"].unique())
    colours = dict(zip(methods, plt.get_cmap("tab10").colors, strict=False))
    keys = ["method", "dataset", "params", "target", "metric", "n"]
    agg = (
        table.assign(abs_error=(table["value"] - table["ground_truth"]).abs())
        .groupby(keys)
        .agg(
            mean=("value", "mean"),
            std=("value", "std"),
            truth=("ground_truth", "first"),
            abs_error=("abs_error", "mean"),
        )
        .reset_index()
    )
    largest = agg[agg["n"] == agg.groupby(keys[:-1])["n"].transform("max")]
    curves = error_curves(agg)

    fig, axes = plt.subplots(2, len(COMPONENTS), figsize=(4.2 * len(COMPONENTS), 8.2))
    for col, comp in enumerate(COMPONENTS):
        ax = axes[0, col]
        sub = largest[largest["metric"] == comp]
        hi = max(1.0, float(np.nanmax(np.r_[sub["truth"], sub["mean"]])) if len(sub) else 1.0) * 1.05
        ax.plot([0, hi], [0, hi], color="0.6", lw=1, zorder=0)
        for m in methods:
            s = sub[sub["method"] == m]
            ax.errorbar(
                s["truth"],
                s["mean"],
                yerr=s["std"].fillna(0),
                fmt="o",
                ms=4,
                alpha=0.8,
                color=colours[m],
                label=m,
                capsize=2,
            )
        ax.set(title=_LABELS[comp], xlabel="ground truth (bits)", ylabel="estimate (bits)")
        ax = axes[1, col]
        err = curves[curves["metric"] == comp]
        for m in methods:
            s = err[err["method"] == m]
            ax.plot(s["n"], s["abs_error"], "o-", color=colours[m], label=m)
        ax.set(xscale="log", yscale="log", xlabel="samples n", ylabel="mean |error| (bits)")
        ax.set_xticks(sorted(err["n"].unique()), [f"{n:,}" for n in sorted(err["n"].unique())])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("PID estimators against exact ground truth (top: largest n, error bars: std over seeds; "
                 "bottom: settings run at every n)")
    return save_figure(fig, path)
