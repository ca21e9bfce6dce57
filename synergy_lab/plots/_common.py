"""What every figure shares: the Agg backend, one style, method colours, row selection and aggregation.

Aggregates come from :func:`synergy_lab.experiments.report.describe` (mean, sd and t-interval over seeds),
so a figure shows exactly the numbers ``synergy-lab report`` prints for the same rows.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never need a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..experiments.report import describe  # noqa: E402
from ..io import atomic_write_bytes  # noqa: E402

__all__ = ["COLUMNS", "METHOD_ORDER", "aggregate", "check_table", "colours", "figure_style", "method_order",
           "plt", "save_figure", "select", "yerr"]

#: Columns of a method-comparison table (the wave-2 contract) that the method figures read.
COLUMNS = ("experiment", "method", "seed", "steps", "state", "cell", "target", "metric", "value",
           "ground_truth")
#: Display order of the methods; others follow alphabetically.
METHOD_ORDER = ("infmasking", "comm", "cross", "cross_self", "simclr", "cmc", "factorcl", "supervised")
#: Display order of the compositional targets; others follow alphabetically.
TARGET_ORDER = ("redundancy", "unique1", "unique2", "synergy", "mixed", "match")
METRIC_LABELS = {
    "balanced_accuracy": "balanced accuracy (fair probe)",
    "balanced_accuracy_paper": "balanced accuracy (paper probe)",
    "bits": "bits captured",
    "capture_ratio": "bits captured / I(X1,X2;Y)",
}


def save_figure(fig, path) -> Path:
    """Write ``fig`` atomically in the format of ``path``'s suffix (PNG by default) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


@contextmanager
def figure_style():
    """Seaborn's white-grid paper style for the figures drawn inside the block."""
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.15):
        yield


def _ordered(values, order) -> list:
    values = list(dict.fromkeys(values))
    return [v for v in order if v in values] + sorted(v for v in values if v not in order)


def method_order(methods) -> list[str]:
    """The methods in display order (:data:`METHOD_ORDER`, then the rest sorted)."""
    return _ordered(methods, METHOD_ORDER)


def target_order(targets) -> list[str]:
    """The targets in display order (:data:`TARGET_ORDER`, then the rest sorted)."""
    return _ordered(targets, TARGET_ORDER)


def colours(methods) -> dict:
    """One colour-blind-safe colour per method, fixed by the method's place in :data:`METHOD_ORDER`, so a
    method has the same colour in every figure whatever else the figure shows."""
    palette = sns.color_palette("colorblind", 10)
    full = method_order([*METHOD_ORDER, *methods])
    return {m: palette[full.index(m) % len(palette)] for m in methods}


def check_table(table, name: str, columns=COLUMNS) -> pd.DataFrame:
    """``table`` as a DataFrame with the needed ``columns`` and a single experiment."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"the {name} figure's table lacks columns {missing}")
    if "experiment" in columns and table["experiment"].nunique() > 1:
        raise ValueError(f"the {name} figure draws one experiment; the table has "
                         f"{sorted(table['experiment'].unique())}: select one first")
    return table


def select(table, name: str, *, metrics, targets=None, cell="base") -> pd.DataFrame:
    """Rows of ``cell`` with a metric in ``metrics`` (and a target in ``targets``); ValueError if none."""
    rows = table[table["metric"].isin(metrics) & table["value"].notna()]
    if cell is not None:
        rows = rows[rows["cell"] == cell]
    if targets is not None:
        rows = rows[rows["target"].isin(targets)]
    if rows.empty:
        what = f"metric {list(metrics)}" + (f", targets {list(targets)}" if targets is not None else "")
        where = f" in cell {cell!r}" if cell is not None else ""
        raise ValueError(f"the table has no rows for the {name} figure ({what}{where})")
    return rows


def at_steps(rows: pd.DataFrame, steps=None) -> tuple[pd.DataFrame, int]:
    """Trained rows at ``steps`` (default: the shortest training length, the one every method ran) and the
    untrained floor (each method's rows at its smallest recorded ``steps``: all share the initialisation)."""
    trained = rows[rows["state"] == "trained"]
    if trained.empty:
        raise ValueError("the table has no trained rows for this figure")
    if steps is None:
        steps = int(trained["steps"].min())
    elif steps not in set(trained["steps"]):
        have = sorted(set(trained["steps"]))
        raise ValueError(f"steps {steps!r} not in the table; trained runs have {have}")
    untrained = rows[rows["state"] == "untrained"]
    untrained = untrained[untrained["steps"] == untrained.groupby("method")["steps"].transform("min")]
    return pd.concat([trained[trained["steps"] == steps], untrained]), int(steps)


def aggregate(rows: pd.DataFrame, by, confidence: float = 0.95) -> pd.DataFrame:
    """Mean, sd and t-interval over seeds per ``by`` + method, with the mean ground truth as ``truth``."""
    agg = describe(rows, by=list(by), confidence=confidence)
    truth = rows.groupby([*by, "method"])["ground_truth"].mean().rename("truth").reset_index()
    return agg.merge(truth, on=[*by, "method"], how="left")


def yerr(agg: pd.DataFrame) -> np.ndarray:
    """Asymmetric error-bar lengths from ``ci_low``/``ci_high`` (0 where a single seed has no interval).

    Identical values over seeds give an interval equal to the mean up to rounding (lengths of -1e-17):
    those are zero-length bars, and matplotlib refuses negative ones.
    """
    low = (agg["mean"] - agg["ci_low"]).fillna(0).to_numpy(float)
    high = (agg["ci_high"] - agg["mean"]).fillna(0).to_numpy(float)
    bars = np.vstack([low, high])
    if (bars < -1e-9).any():
        raise ValueError("ci_low/ci_high do not enclose the mean: not a confidence interval")
    return np.maximum(bars, 0.0)
