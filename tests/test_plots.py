"""The estimator-accuracy figure: error curves average the same settings at every n; the figure is drawn."""

import itertools

import pandas as pd
import pytest

from synergy_lab.pid import COMPONENTS
from synergy_lab.plots import error_curves, estimator_accuracy_figure


def _rows():
    rows = []
    for method, settings in (("A", {"gate": [500, 2000], "comp": [500, 2000]}), ("B", {"gate": [500, 2000],
                                                                                       "comp": [500]})):
        for dataset, sizes in settings.items():
            for n in sizes:
                for seed, metric in itertools.product((0, 1), COMPONENTS):
                    err = {"gate": 0.1, "comp": 1.0}[dataset] / n * 500
                    rows.append({"method": method, "dataset": dataset, "params": "{}", "target": "y", "n": n,
                                 "seed": seed, "metric": metric, "value": 1.0 + err, "ground_truth": 1.0})
    return pd.DataFrame(rows)


def test_error_curves_average_settings_present_at_every_n():
    t = _rows()
    agg = t.assign(abs_error=(t["value"] - t["ground_truth"]).abs())
    curves = error_curves(agg)
    curves = curves[curves["metric"] == "synergy"].set_index(["method", "n"])["abs_error"]
    assert curves[("A", 500)] == pytest.approx((0.1 + 1.0) / 2)  # both settings at both sizes
    assert curves[("A", 2000)] == pytest.approx((0.025 + 0.25) / 2)
    # B ran "comp" only at n = 500: its curve is the gate's alone, not a drop caused by the mix changing
    assert curves[("B", 500)] == pytest.approx(0.1) and curves[("B", 2000)] == pytest.approx(0.025)


def test_estimator_accuracy_figure_writes_a_png(tmp_path):
    path = estimator_accuracy_figure(_rows(), tmp_path / "fig.png")
    assert path.exists() and path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="lacks columns"):
        estimator_accuracy_figure(_rows().drop(columns="seed"), tmp_path / "bad.png")
