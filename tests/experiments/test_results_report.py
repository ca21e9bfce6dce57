"""The method-comparison report: per-method CIs and paired statistics match scipy on a fixed table."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from synergy_lab.cli import main
from synergy_lab.experiments import append_results
from synergy_lab.experiments.report import describe, markdown_report, paired

REF = {"match": [0.79, 0.82, 0.80, 0.75, 0.83, 0.77], "redundancy": [0.99, 1.0, 0.98, 0.99, 1.0, 0.97]}
OTHER = {"match": [0.65, 0.72, 0.78, 0.69, 0.66, 0.66], "redundancy": [1.0, 0.99, 0.99, 1.0, 0.98, 0.99]}


def _table():
    rows = []
    for target in REF:
        for seed in range(6):
            common = {"experiment": "methods", "target": target, "metric": "balanced_accuracy", "seed": seed}
            rows.append({**common, "method": "comm", "value": REF[target][seed]})
            if seed != 5:  # infmasking lacks seed 5: the pairs are seeds 0-4
                rows.append({**common, "method": "infmasking", "value": OTHER[target][seed]})
            rows.append({**common, "method": "cross", "value": 0.5})
    return pd.DataFrame(rows)


def test_paired_statistics_match_scipy():
    diffs = paired(_table(), "comm").set_index(["target", "method"])
    for target in REF:
        a, b = np.array(OTHER[target][:5]), np.array(REF[target][:5])
        row = diffs.loc[(target, "infmasking")]
        t = stats.ttest_rel(a, b)
        ci = t.confidence_interval(0.95)
        assert row["n_pairs"] == 5 and row["wins"] == int((a > b).sum())
        assert row["mean_diff"] == pytest.approx((a - b).mean(), abs=1e-12)
        assert row["sd_diff"] == pytest.approx((a - b).std(ddof=1), abs=1e-12)
        assert row["t_p"] == pytest.approx(t.pvalue, rel=1e-12)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-12)
        assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-12)
    assert diffs.loc[("match", "cross"), "n_pairs"] == 6  # cross has every seed


def test_describe_matches_the_t_interval():
    desc = describe(_table()).set_index(["target", "method"])
    values = np.array(REF["match"])
    row = desc.loc[("match", "comm")]
    low, high = stats.t.interval(0.95, len(values) - 1, values.mean(), stats.sem(values))
    assert row["n"] == 6 and row["sd"] == pytest.approx(values.std(ddof=1))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-12)
    assert desc.loc[("match", "cross"), ["ci_low", "ci_high"]].tolist() == [0.5, 0.5]  # no spread


def test_markdown_report_and_cli(tmp_path, capsys):
    text = markdown_report(_table(), "comm", targets=["match"])
    assert text.splitlines()[0] == "experiment = methods, target = match, metric = balanced_accuracy"
    assert "| infmasking | 5 | -0.098 | [" in text and "| 0/5 |" in text
    store = tmp_path / "s.sqlite"
    rows = _table().to_dict("records")
    append_results(store, [{**r, "task_id": f"t{r['seed']}{r['method']}"} for r in rows])
    assert main(["report", str(store), "--reference", "comm", "--target", "match"]) == 0
    assert "| infmasking | 5 | -0.098 |" in capsys.readouterr().out


def test_bad_input_raises_naming_it():
    with pytest.raises(ValueError, match="reference method 'supervised'"):
        paired(_table(), "supervised")
    with pytest.raises(ValueError, match="share \\(by, method, seed\\)"):
        describe(_table(), by=["metric"])
    with pytest.raises(ValueError, match="metrics \\['bits'\\]"):
        markdown_report(_table(), "comm", metrics=["bits"])
    with pytest.raises(ValueError, match="confidence"):
        describe(_table(), confidence=95)
