"""Figures: each is drawn from a tidy table, and the numbers it plots are the table's means over seeds."""

import itertools

import numpy as np
import pandas as pd
import pytest

from synergy_lab.cli import main
from synergy_lab.experiments import append_results
from synergy_lab.pid import COMPONENTS
from synergy_lab.plots import (
    ablation_figure,
    bits_vs_truth_figure,
    error_curves,
    estimator_accuracy_figure,
    methods_rus_figure,
    readout_pid_figure,
    synergy_vs_steps_figure,
)


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


# --- method-comparison figures, from a synthetic tidy table of the wave-2 contract's shape ----------------

METHODS = ("infmasking", "comm", "cross")
TARGETS = ("redundancy", "unique1", "unique2", "match")
TRUTH_BITS = {"redundancy": 2.0, "unique1": 2.0, "unique2": 2.0, "match": 0.81}
ATOMS = {"readout_R": 0.1, "readout_U1": 0.2, "readout_U2": 0.3, "readout_S": 0.4}


def _method_rows(experiment="methods_vectors"):
    rng = np.random.default_rng(0)
    rows = []
    runs = [(m, "trained", s) for m in METHODS for s in (100, 400)]
    runs += [(m, "untrained", s) for m in METHODS for s in (100, 400)]  # the floor, recorded at both lengths
    for (method, state, steps), seed, target in itertools.product(runs, (0, 1, 2), TARGETS):
        level = 0.25 if state == "untrained" else 0.5 + 0.1 * METHODS.index(method) + steps / 4000
        base = {"experiment": experiment, "method": method, "dataset": "compositional", "seed": seed,
                "steps": steps, "state": state, "cell": "base", "params": "{}", "target": target}
        noise = rng.normal(0, 0.02)
        rows.append({**base, "metric": "balanced_accuracy", "value": level + noise, "ground_truth": np.nan})
        rows.append({**base, "metric": "chance", "value": 0.5, "ground_truth": np.nan})
        rows.append({**base, "metric": "bits", "value": TRUTH_BITS[target] * level + noise,
                     "ground_truth": TRUTH_BITS[target]})
        for metric, atom in ATOMS.items():
            rows.append({**base, "metric": metric, "value": atom * level + noise, "ground_truth": atom})
    return pd.DataFrame(rows)


def _means(table, **where):
    rows = table
    for column, value in where.items():
        rows = rows[rows[column] == value]
    return rows.groupby("method")["value"].mean()


@pytest.fixture(scope="module")
def method_table():
    return _method_rows()


def test_methods_rus_plots_the_table_means_beside_the_floor(method_table, tmp_path):
    agg = methods_rus_figure(method_table, tmp_path / "rus.png")
    assert (tmp_path / "rus.png").stat().st_size > 10_000
    assert set(agg["target"]) == set(TARGETS) and set(agg["state"]) == {"trained", "untrained"}
    for state in ("trained", "untrained"):
        got = agg[(agg["target"] == "match") & (agg["state"] == state)].set_index("method")["mean"]
        want = _means(method_table, state=state, steps=100, target="match", metric="balanced_accuracy")
        pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)
    assert (agg["n"] == 3).all()
    assert (agg["ci_low"] < agg["mean"]).all() and (agg["mean"] < agg["ci_high"]).all()
    longer = methods_rus_figure(method_table, tmp_path / "rus400.png", steps=400)
    got = longer[longer["state"] == "trained"].groupby("method")["mean"].mean()
    assert got["comm"] == pytest.approx(_means(method_table, state="trained", steps=400,
                                               metric="balanced_accuracy")["comm"])


def test_bits_vs_truth_carries_the_ground_truth(method_table, tmp_path):
    agg = bits_vs_truth_figure(method_table, tmp_path / "bits.png")
    assert (tmp_path / "bits.png").stat().st_size > 10_000
    truth = agg.groupby("target")["truth"].first()
    assert truth.to_dict() == pytest.approx(TRUTH_BITS)
    got = agg[(agg["state"] == "trained") & (agg["target"] == "unique1")].set_index("method")["mean"]
    want = _means(method_table, state="trained", steps=100, target="unique1", metric="bits")
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)


def test_synergy_vs_steps_puts_the_floor_at_step_zero(method_table, tmp_path):
    agg = synergy_vs_steps_figure(method_table, tmp_path / "steps.png")
    assert (tmp_path / "steps.png").stat().st_size > 10_000
    assert sorted(agg["steps"].unique()) == [0, 100, 400]
    floor = agg[agg["steps"] == 0].set_index("method")
    assert (floor["n"] == 3).all()  # the floor recorded at two lengths counts once per seed
    want = _means(method_table, state="untrained", steps=100, target="match", metric="balanced_accuracy")
    assert floor["mean"].sort_index().to_numpy() == pytest.approx(want.sort_index().to_numpy())


def test_readout_pid_stacks_the_atoms_beside_the_truth(method_table, tmp_path):
    agg = readout_pid_figure(method_table, tmp_path / "readout.png", targets=["match"])
    assert (tmp_path / "readout.png").stat().st_size > 10_000
    truth = agg[agg["method"] == "truth"].set_index("metric")["mean"]
    assert truth.to_dict() == pytest.approx(ATOMS)
    cross_s = agg[(agg["method"] == "cross") & (agg["metric"] == "readout_S")]["mean"].item()
    assert cross_s == pytest.approx(_means(method_table, state="trained", steps=100, target="match",
                                           metric="readout_S")["cross"])


def _ablation_rows():
    rows = []
    cells = {"base": 0.70, "T=1": 0.60, "T=4": 0.72, "mask_ratio=0.5": 0.65, "mask_ratio=0.9": 0.75}
    for cell, level in cells.items():
        for seed in (0, 1, 2):
            rows.append({"method": "infmasking", "cell": cell, "seed": seed, "value": level + 0.01 * seed})
    for seed in (0, 1, 2, 3):  # the reference ran at base on one seed more, and in a cell of its own
        rows.append({"method": "comm", "cell": "base", "seed": seed, "value": 0.80 + 0.1 * (seed == 3)})
        rows.append({"method": "comm", "cell": "weights=x5", "seed": seed, "value": 0.9})
    return pd.DataFrame(rows).assign(experiment="infmasking_ablation", steps=300, state="trained",
                                     target="match", metric="balanced_accuracy", ground_truth=np.nan)


def test_ablation_compares_each_cell_with_the_reference_on_its_seeds(tmp_path):
    agg = ablation_figure(_ablation_rows(), tmp_path / "ablation.png")
    assert (tmp_path / "ablation.png").stat().st_size > 10_000
    assert set(agg["factor"]) == {"T", "mask_ratio", "weights", ""}
    ours = agg[agg["method"] == "infmasking"].set_index("value")["mean"]
    assert ours["1"] == pytest.approx(0.61) and ours["base"] == pytest.approx(0.71)
    assert ours["x5"] == pytest.approx(0.71)  # a cell that does not change InfMasking shows its base runs
    ref = agg[(agg["method"] == "comm")].set_index("value")
    assert (ref["n"] == 3).all()  # paired: seed 3, which InfMasking lacks, is left out
    assert ref.drop(index="x5")["mean"].to_numpy() == pytest.approx(0.80) and ref.loc["x5", "mean"] == 0.9


def test_method_figures_are_deterministic(method_table, tmp_path):
    methods_rus_figure(method_table, tmp_path / "a.png")
    methods_rus_figure(method_table, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_method_figures_refuse_tables_without_their_rows(method_table, tmp_path):
    with pytest.raises(ValueError, match="lacks columns"):
        methods_rus_figure(method_table.drop(columns="state"), tmp_path / "x.png")
    with pytest.raises(ValueError, match="no rows for the bits_vs_truth figure"):
        bits_vs_truth_figure(method_table[method_table["metric"] != "bits"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="select one"):
        methods_rus_figure(pd.concat([method_table, _method_rows("quickstart")]), tmp_path / "x.png")
    with pytest.raises(ValueError, match="steps 7 not in the table"):
        readout_pid_figure(method_table, tmp_path / "x.png", steps=7)
    with pytest.raises(ValueError, match="no ablation cells"):
        ablation_figure(method_table, tmp_path / "x.png")
    with pytest.raises(TypeError, match="DataFrame"):
        synergy_vs_steps_figure(method_table.to_dict("records"), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def _store(table, path):
    keys = ["method", "state", "steps", "seed"]
    rows = table.assign(task_id=table[keys].astype(str).agg("-".join, axis=1)).to_dict("records")
    append_results(path, rows)
    return path


def test_plot_command_draws_each_method_figure_from_a_store(method_table, tmp_path, capsys):
    store = _store(method_table, tmp_path / "results.sqlite")
    for name in ("methods_rus", "bits_vs_truth", "synergy_vs_steps", "readout_pid"):
        out = tmp_path / f"{name}.png"
        assert main(["plot", name, "--store", str(store), "--out", str(out)]) == 0
        assert f"wrote {out}" in capsys.readouterr().out and out.stat().st_size > 10_000


def test_plot_command_refuses_a_store_without_the_rows(method_table, tmp_path, capsys):
    store = _store(method_table, tmp_path / "results.sqlite")
    assert main(["plot", "ablation", "--store", str(store), "--out", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: store") and "lacks the rows of the ablation figure" in err
    assert err.count("\n") == 1 and not (tmp_path / "a.png").exists()
    assert main(["plot", "methods_rus", "--store", str(tmp_path / "none.sqlite")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["plot", "methods_rus", "--store", str(store), "--experiment", "quickstart"]) == 2
    assert "no rows of experiment 'quickstart'" in capsys.readouterr().err
