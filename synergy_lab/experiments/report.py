"""Method comparisons from a tidy table: mean, sd and 95% CI per method, and paired differences over seeds.

Seeds are the replicates: methods run on the same seed see the same data, so each method is compared with a
reference on the seeds both have (paired t-test and Wilcoxon signed-rank test, :mod:`scipy.stats`).

    synergy-lab report results/methods_vectors/results.sqlite --reference comm --metric balanced_accuracy
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

#: Columns that, with the method, identify one quantity measured once per seed (those present are used).
GROUP_COLUMNS = ("experiment", "dataset", "params", "target", "metric")


def _groups(table: pd.DataFrame, by) -> list[str]:
    missing = [c for c in ("method", "seed", "value") if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks the columns {missing} a comparison needs")
    by = [c for c in GROUP_COLUMNS if c in table.columns] if by is None else list(by)
    unknown = [c for c in by if c not in table.columns]
    if unknown:
        raise ValueError(f"by names columns {unknown} that the table does not have")
    dup = table.duplicated([*by, "method", "seed"], keep=False)
    if dup.any():
        example = table.loc[dup, [*by, "method", "seed"]].iloc[0].to_dict()
        raise ValueError(f"{int(dup.sum())} rows share (by, method, seed), e.g. {example}: add the column "
                         "that tells them apart to by (e.g. 'n') or select rows first")
    return by


def _check_confidence(confidence) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    return float(confidence)


def describe(table: pd.DataFrame, by=None, confidence: float = 0.95) -> pd.DataFrame:
    """Per method and group: ``n`` seeds, ``mean``, ``sd`` (ddof 1) and the t-interval ``ci_low``/``ci_high``.

    Parameters
    ----------
    table : DataFrame
        Tidy rows with ``method``, ``seed`` and ``value``; rows with a missing value are left out.
    by : list of str, optional
        Columns that identify a quantity (default: those of ``GROUP_COLUMNS`` the table has).
    confidence : float
        Level of the interval (the CI is NaN for fewer than two seeds).
    """
    confidence = _check_confidence(confidence)
    by = _groups(table, by)
    out = []
    for key, rows in table.dropna(subset=["value"]).groupby([*by, "method"], sort=True):
        values = rows["value"].to_numpy(float)
        low = high = np.nan
        if len(values) > 1 and np.ptp(values) > 0:
            ci = stats.ttest_1samp(values, 0.0).confidence_interval(confidence)
            low, high = float(ci.low), float(ci.high)
        elif len(values) > 1:  # no spread: the interval is the value itself
            low = high = float(values[0])
        sd = float(values.std(ddof=1)) if len(values) > 1 else np.nan
        out.append({**dict(zip([*by, "method"], key, strict=True)), "n": len(values),
                    "mean": float(values.mean()), "sd": sd, "ci_low": low, "ci_high": high})
    return pd.DataFrame(out, columns=[*by, "method", "n", "mean", "sd", "ci_low", "ci_high"])


def paired(table: pd.DataFrame, reference: str, by=None, confidence: float = 0.95) -> pd.DataFrame:
    """Each method minus ``reference`` over the seeds both have, per group.

    Returns one row per (group, method): ``n_pairs``, ``mean_diff``, ``sd_diff``, the paired t-interval
    ``ci_low``/``ci_high``, ``t_p`` (:func:`scipy.stats.ttest_rel`), ``wilcoxon_p``
    (:func:`scipy.stats.wilcoxon`, two-sided; NaN when every difference is 0) and ``wins`` (seeds where the
    method is higher). Tests need at least two pairs (NaN otherwise).
    """
    confidence = _check_confidence(confidence)
    by = _groups(table, by)
    if reference not in set(table["method"]):
        have = sorted(set(table["method"]))
        raise ValueError(f"reference method {reference!r} is not in the table; have {have}")
    out = []
    for key, rows in table.dropna(subset=["value"]).groupby(by, sort=True) if by else [((), table)]:
        key = key if isinstance(key, tuple) else (key,)
        wide = rows.pivot(index="seed", columns="method", values="value")
        if reference not in wide:
            continue
        for method in (m for m in wide.columns if m != reference):
            pair = wide[[method, reference]].dropna()
            a, b = pair[method].to_numpy(float), pair[reference].to_numpy(float)
            out.append({**dict(zip(by, key, strict=True)), "method": method, "reference": reference,
                        **_paired_stats(a, b, confidence)})
    columns = [*by, "method", "reference", "n_pairs", "mean_diff", "sd_diff", "ci_low", "ci_high", "t_p",
               "wilcoxon_p", "wins"]
    return pd.DataFrame(out, columns=columns)


def _paired_stats(a, b, confidence) -> dict:
    diff = a - b
    res = {"n_pairs": len(diff), "mean_diff": float(diff.mean()) if len(diff) else np.nan,
           "sd_diff": float(diff.std(ddof=1)) if len(diff) > 1 else np.nan, "ci_low": np.nan,
           "ci_high": np.nan, "t_p": np.nan, "wilcoxon_p": np.nan, "wins": int((diff > 0).sum())}
    if len(diff) < 2 or not np.any(diff != 0):
        return res
    with warnings.catch_warnings():  # constant non-zero differences: scipy warns of precision loss
        warnings.simplefilter("ignore", RuntimeWarning)
        t = stats.ttest_rel(a, b)
        ci = t.confidence_interval(confidence)
        res.update(t_p=float(t.pvalue), ci_low=float(ci.low), ci_high=float(ci.high),
                   wilcoxon_p=float(stats.wilcoxon(a, b).pvalue))
    return res


def markdown_report(table: pd.DataFrame, reference: str, metrics=None, targets=None, by=None,
                    confidence: float = 0.95) -> str:
    """Both tables (:func:`describe`, :func:`paired`) as markdown, for the chosen metrics and targets.

    Group columns with one value throughout are stated once above the tables instead of in every row.
    """
    for name, wanted, column in (("metrics", metrics, "metric"), ("targets", targets, "target")):
        if wanted is not None:
            if column not in table.columns:
                raise ValueError(f"{name} given but the table has no {column!r} column")
            unknown = sorted(set(wanted) - set(table[column]))
            if unknown:
                raise ValueError(f"{name} {unknown} not in the table; have {sorted(set(table[column]))}")
            table = table[table[column].isin(wanted)]
    if table.empty:
        raise ValueError("no rows to report")
    level = f"{round(100 * _check_confidence(confidence))}%"
    desc, diffs = describe(table, by, confidence), paired(table, reference, by, confidence)
    by = [c for c in desc.columns if c not in ("method", "n", "mean", "sd", "ci_low", "ci_high")]
    constant = [c for c in by if desc[c].nunique(dropna=False) == 1]
    lines = []
    if constant:
        lines += [", ".join(f"{c} = {desc[c].iloc[0]}" for c in constant), ""]
    shown = [c for c in by if c not in constant]
    lines += [f"### mean ± sd over seeds, {level} CI", ""]
    lines += _markdown([{**{c: r[c] for c in shown}, "method": r["method"], "n": r["n"],
                         "mean ± sd": f"{r['mean']:.3f} ± {r['sd']:.3f}",
                         f"{level} CI": f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"}
                        for _, r in desc.iterrows()])
    lines += ["", f"### paired difference: method − {reference} (shared seeds)", ""]
    lines += _markdown([{**{c: r[c] for c in shown}, "method": r["method"], "pairs": r["n_pairs"],
                         "mean diff": f"{r['mean_diff']:+.3f}", f"{level} CI": f"[{r['ci_low']:+.3f}, "
                         f"{r['ci_high']:+.3f}]", "paired t p": f"{r['t_p']:.2g}",
                         "Wilcoxon p": f"{r['wilcoxon_p']:.2g}", "wins": f"{r['wins']}/{r['n_pairs']}"}
                        for _, r in diffs.iterrows()])
    return "\n".join(lines)


def _markdown(records) -> list[str]:
    if not records:
        return ["(none)"]
    cols = list(records[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in records]
    return lines
