"""experiments/trifeature: the experiment file parses, the four CPU configs differ only in what their headers
declare, tasks run seed-major and cheap first over both pairing cells (synergy_lab.experiments.plan), the
R/U/S table reads R and U from unbiased runs and S from biased runs, and a tiny end-to-end sweep gives
contract rows with an untrained floor, resumably."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synergy_lab.cli import main as cli_main
from synergy_lab.experiments import append_results, plan, read_results, read_tasks
from synergy_lab.experiments.tidy import task_id
from synergy_lab.plots.methods import TRIFEATURE_CELL_EXCEPTIONS, TRIFEATURE_CELLS, trifeature_rus_figure
from synergy_lab.train import load_config

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "experiments" / "trifeature"
METHODS = ["infmasking", "comm", "cross", "supervised"]
CONTRACT = ["experiment", "method", "dataset", "seed", "steps", "state", "cell", "params", "target", "metric",
            "value", "ground_truth", "train_s"]
#: 32-px renders (the smallest), a 4-token CNN, few pairs, two targets and short probe fits: seconds a task.
TINY = {"data.params.resolution": 32, "data.n_train": 64, "data.n_probe": 200, "data.n_val": 100,
        "optim.batch_size": 16, "optim.warmup_steps": 0, "checkpoint_every": 1, "model.T": 2,
        "model.encoder_hidden": 8, "model.encoder_out": 16, "model.grid": 2, "model.fusion_dim": 16,
        "model.head_hidden": 32, "model.head_out": 16, "eval.targets": ["redundancy", "synergy"],
        "eval.max_iter": 50}


@pytest.fixture(scope="module")
def experiment(experiment_script):
    return experiment_script("trifeature")


@pytest.fixture(scope="module")
def spec():
    return plan.load_experiment(HERE / "experiment.toml")


def test_experiment_file_parses(spec):
    assert spec["experiment"] == "trifeature_cpu" and spec["seeds"] == [0, 1, 2] and spec["steps"] == 1500
    assert list(spec["methods"]) == METHODS
    assert Path(spec["store"]) == HERE / "results.sqlite"
    assert Path(spec["runs_dir"]) == ROOT / "results" / "trifeature_cpu"  # gitignored
    cells = {c["name"]: c for c in spec["cells"]}
    assert cells["pairing=unbiased"]["overrides"] == {"data.pairing": "unbiased"}
    assert cells["pairing=biased"]["overrides"] == {"data.pairing": "biased"}
    assert cells["pairing=unbiased"]["methods"] == METHODS
    assert cells["pairing=biased"]["methods"] == ["infmasking", "comm", "cross"]  # supervised: label constant
    assert spec["untrained"] and spec["overrides"] == {}
    assert [(e["steps"], e["cells"]) for e in spec["longer"]] == [(3000, ["pairing=unbiased"])]
    assert set(spec["cost"]["train_s_per_1k"]) == set(METHODS)


def _comparable(method):
    d = load_config(HERE / f"cpu_{method}.toml").to_dict()
    assert d.pop("method")["name"] == method
    assert d.pop("out_dir") == f"results/train/trifeature_cpu_{method}"
    # declared: the supervised label (synergy) is constant on biased pairs; the cells set the pairing anyway
    assert d["data"].pop("pairing") == ("unbiased" if method == "supervised" else "biased")
    # declared: the ceiling trains without the colour jitter that perturbs its label's attribute
    assert d["data"].pop("colour_jitter") is (method != "supervised")
    return d


def test_configs_differ_only_in_what_their_headers_declare():
    reference = _comparable("comm")
    assert reference["optim"]["steps"] == 1500 and reference["optim"]["batch_size"] == 64
    assert reference["data"]["params"] == {"resolution": 48} and reference["model"]["encoder"] == "small_cnn"
    for method in METHODS:
        assert _comparable(method) == reference, method
    assert load_config(HERE / "cpu_supervised.toml").method.target == "synergy"
    assert load_config(HERE / "cpu_cross.toml").method.clip_temperature == 0.1
    for method in ("cross", "supervised"):
        header = (HERE / f"cpu_{method}.toml").read_text().split("\nseed = ")[0]
        assert "what differs" in header and "cpu_comm.toml" in header, method


def test_task_order_is_seed_major_and_cheap_first(experiment, spec, capsys):
    tasks = plan.build_tasks(spec)
    floors, trained = tasks[:21], tasks[21:]
    assert len(tasks) == 7 * 3 + 7 * 3 + 3 * 3  # floors and 1,500-step runs of 7 (cell, method), 3,000-step
    assert {t["state"] for t in floors} == {"untrained"} and {t["state"] for t in trained} == {"trained"}
    assert {t["steps"] for t in floors} == {1500}
    assert [t["steps"] for t in trained] == [1500] * 21 + [3000] * 9
    assert [t["seed"] for t in trained[:21]] == sorted(t["seed"] for t in trained[:21])
    first = trained[:7]
    costs = [plan.train_cost(spec, t["method"], 1500) for t in first]
    assert costs == sorted(costs)
    assert {(t["method"], t["cell"]) for t in first} == {(m, "pairing=unbiased") for m in METHODS} | {
        (m, "pairing=biased") for m in ("infmasking", "comm", "cross")}
    for t in tasks:
        assert t["overrides"] == {"data.pairing": t["cell"].split("=")[1]}
    assert {(t["cell"], t["method"]) for t in trained[21:]} == {
        ("pairing=unbiased", m) for m in ("infmasking", "comm", "cross")}
    only = plan.build_tasks(spec, methods=["comm"], seeds=[1], only_steps=1500, cells=["pairing=biased"])
    assert [(t["state"], t["seed"], t["cell"]) for t in only] == [("untrained", 1, "pairing=biased"),
                                                                    ("trained", 1, "pairing=biased")]
    with pytest.raises(ValueError, match="seeds"):
        plan.build_tasks(spec, seeds=[99])
    assert experiment.main(["--dry-run", "--seeds", "99"]) == 2
    assert experiment.main(["--dry-run", "--only-steps", "7"]) == 2
    assert experiment.main(["--dry-run", "--max-tasks", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)


def test_plan_resumes_the_committed_method_comparison():
    """Every task recorded in the committed methods_vectors store is one the plan builds (same ids), so a
    rerun of its run.py resumes rather than starting over."""
    store = ROOT / "experiments/methods_vectors/results.sqlite"
    spec = plan.load_experiment(ROOT / "experiments/methods_vectors/experiment.toml")
    ids = {task_id(t) for t in plan.build_tasks(spec)}
    assert len(ids) == 152
    assert store.is_file(), "the method comparison's store is committed"
    recorded = set(read_tasks(store)["task_id"])
    assert recorded and recorded <= ids
    assert plan.pending(plan.build_tasks(spec), store) == [t for t in plan.build_tasks(spec)
                                                          if task_id(t) not in recorded]


@pytest.mark.parametrize("extra, message", [
    ('unknown = 1\n', "unknown key 'unknown'"),
    ('[methods.cross]\n', "methods.cross must be a config path"),
    ('[[cells]]\nname = "a"\nmethods = ["simclr"]\n', r"not among the methods"),
    ('[[cells]]\nname = "a"\noverrides = { "data.n_train" = 2 }\n', "both set 'data.n_train'"),
    ('[[cells]]\nname = "a"\n[[cells]]\nname = "a"\n', "new non-empty string"),
    ('[[longer]]\nsteps = 9\nmethods = ["comm"]\ncells = ["nope"]\n', "not among the cells"),
])
def test_bad_experiment_file_is_named(tmp_path, extra, message):
    path = tmp_path / "experiment.toml"
    top, tables = ("", extra) if extra.startswith("[") else (extra, "")
    path.write_text(f'{top}experiment = "x"\nstore = "r.sqlite"\nruns_dir = "runs"\nseeds = [0]\nsteps = 2\n'
                    f'overrides = {{ "data.n_train" = 64 }}\n[methods]\ncomm = "{HERE / "cpu_comm.toml"}"\n'
                    + tables)
    with pytest.raises(ValueError, match=message):
        plan.load_experiment(path)


def _synthetic_rows():
    """Rows by hand: comm (2 seeds, both cells, two lengths of unbiased runs), supervised (unbiased only),
    their floors; fair probe = value, paper probe = value - 0.1."""
    rows = []

    def add(method, state, steps, cell, seed, target, value):
        for metric, v in (("balanced_accuracy", value), ("balanced_accuracy_paper", value - 0.1)):
            rows.append({"experiment": "trifeature_cpu", "method": method, "dataset": "trifeature",
                         "seed": seed, "steps": steps, "state": state, "cell": cell, "params": "{}",
                         "target": target, "metric": metric, "value": v, "ground_truth": 1.0,
                         "train_s": 0.0, "task_id": f"{method}-{state}-{steps}-{cell}-{seed}"})

    for seed, base in ((0, 0.9), (1, 0.8)):
        for steps, gain in ((1500, 0.0), (6000, 0.05)):
            add("comm", "trained", steps, "pairing=unbiased", seed, "redundancy", base + gain)
            add("comm", "trained", steps, "pairing=unbiased", seed, "unique1", base - 0.2)
            add("comm", "trained", steps, "pairing=unbiased", seed, "unique2", base - 0.4)
            add("comm", "trained", steps, "pairing=unbiased", seed, "synergy", 0.99)  # not S: unbiased
        for target in ("redundancy", "unique1", "unique2"):
            add("comm", "trained", 1500, "pairing=biased", seed, target, 0.01)  # not R/U: biased
        add("comm", "trained", 1500, "pairing=biased", seed, "synergy", 0.55 + seed / 10)
        for cell in ("pairing=unbiased", "pairing=biased"):
            for target in ("redundancy", "unique1", "unique2", "synergy"):
                add("comm", "untrained", 1500, cell, seed, target, 0.3 if cell == "pairing=unbiased" else 0.5)
        for target, value in (("redundancy", 0.4), ("unique1", 0.3), ("unique2", 0.1), ("synergy", 0.7)):
            add("supervised", "trained", 1500, "pairing=unbiased", seed, target, value + seed / 10)
    return rows


def test_table_reads_each_component_from_its_cell(experiment, tmp_path, capsys):
    table = pd.DataFrame(_synthetic_rows())
    summary = experiment.rus_summary(table, METHODS).set_index(["method", "state", "steps", "probe",
                                                                 "component"])
    comm = summary.loc[("comm", "trained", 1500, "fair")]
    assert comm.loc["R", "mean"] == pytest.approx(85.0) and comm.loc["R", "sd"] == pytest.approx(7.0711, 1e-4)
    assert comm.loc["U", "mean"] == pytest.approx(55.0)      # mean of unique1 and unique2, then over seeds
    assert comm.loc["S", "mean"] == pytest.approx(60.0)      # biased synergy: 0.55 and 0.65
    assert (comm["n"] == 2).all()
    assert summary.loc[("comm", "trained", 1500, "paper", "S"), "mean"] == pytest.approx(50.0)
    longer = summary.loc[("comm", "trained", 6000, "fair")]
    assert longer.loc["R", "mean"] == pytest.approx(90.0) and "S" not in longer.index  # no biased 6k runs
    floor = summary.loc[("comm", "untrained", 1500, "fair")]
    assert list(floor["mean"]) == pytest.approx([30.0, 30.0, 50.0])  # R, U unbiased; S biased
    sup = summary.loc[("supervised", "trained", 1500, "fair")]
    assert list(sup["mean"]) == pytest.approx([45.0, 25.0, 75.0])  # S from its unbiased run
    assert experiment.component_cell("supervised", "S") == "pairing=unbiased"

    store = tmp_path / "results.sqlite"
    append_results(store, _synthetic_rows())
    assert experiment.main(["--table", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "| comm | trained | 1,500 | fair | 85.0 ± 7.1 (2) | 55.0 ± 7.1 (2) | 60.0 ± 7.1 (2) |  |" in out
    assert "| comm | trained | 1,500 | paper | 75.0 ± 7.1 (2) | 45.0 ± 7.1 (2) | 50.0 ± 7.1 (2) | " \
           "99.9 / 86.8 / 71.4 |" in out
    assert "| comm | trained | 6,000 | fair | 90.0 ± 7.1 (2) | 55.0 ± 7.1 (2) | — |" in out
    assert "| comm | untrained | init | fair | 30.0 ± 0.0 (2) | 30.0 ± 0.0 (2) | 50.0 ± 0.0 (2) |" in out
    assert out.index("| comm |") < out.index("| supervised |")  # the experiment's method order
    assert experiment.main(["--table", "--store", str(tmp_path / "none.sqlite")]) == 2
    assert experiment.main(["--table", "--store", str(store), "--seeds", "7"]) == 2
    assert capsys.readouterr().err.count("error: ") == 2

    # The figure reads the same cells as the table.
    assert {t for targets in experiment.COMPONENTS.values() for t in targets} == set(TRIFEATURE_CELLS)
    for method in ("comm", "supervised"):
        for component, targets in experiment.COMPONENTS.items():
            assert {experiment.component_cell(method, component)} == {
                TRIFEATURE_CELL_EXCEPTIONS.get((method, t), TRIFEATURE_CELLS[t]) for t in targets}
    agg = trifeature_rus_figure(table, tmp_path / "rus.png").set_index(["state", "method", "target"])
    assert (tmp_path / "rus.png").stat().st_size > 1000
    figure = tmp_path / "cli.png"
    assert cli_main(["plot", "trifeature_rus", "--store", str(store), "--out", str(figure)]) == 0
    assert agg.loc[("trained", "comm", "synergy"), "mean"] == pytest.approx(0.60)
    assert agg.loc[("trained", "comm", "redundancy"), "mean"] == pytest.approx(0.85)
    assert agg.loc[("trained", "supervised", "synergy"), "mean"] == pytest.approx(0.75)
    assert agg.loc[("untrained", "comm", "synergy"), "mean"] == pytest.approx(0.5)


def _tiny_experiment(tmp_path, spec):
    """A copy of experiment.toml with two methods, one seed, 2 + 3 steps and :data:`TINY` overrides."""
    methods = ["comm", "supervised"]
    lines = ['experiment = "trifeature_test"', 'store = "results.sqlite"', 'runs_dir = "runs"', "seeds = [0]",
             "steps = 2", "n_jobs = 1", "[methods]"]
    lines += [f'{m} = {json.dumps(spec["methods"][m])}' for m in methods]
    lines += ["[overrides]"] + [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in TINY.items()]
    for cell in spec["cells"]:
        overrides = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in cell["overrides"].items())
        lines += ["[[cells]]", f"name = {json.dumps(cell['name'])}", f"overrides = {{ {overrides} }}",
                  f"methods = {json.dumps([m for m in cell['methods'] if m in methods])}"]
    lines += ["[[longer]]", "steps = 3", 'methods = ["comm"]', 'cells = ["pairing=unbiased"]']
    path = tmp_path / "experiment.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.filterwarnings("ignore:lbfgs failed to converge")  # eval.max_iter = 50 on purpose
def test_tiny_sweep_rows_floor_table_and_resume(experiment, spec, tmp_path, capsys):
    path = _tiny_experiment(tmp_path, spec)
    assert experiment.main(["--experiment", str(path)]) == 0
    table = read_results(tmp_path / "results.sqlite")
    assert set(CONTRACT) <= set(table.columns) and (table["experiment"] == "trifeature_test").all()
    tasks = table.groupby(["method", "state", "cell", "steps"]).size().index.tolist()
    assert sorted(tasks) == sorted([
        ("comm", "trained", "pairing=biased", 2), ("comm", "trained", "pairing=unbiased", 2),
        ("comm", "trained", "pairing=unbiased", 3), ("comm", "untrained", "pairing=biased", 2),
        ("comm", "untrained", "pairing=unbiased", 2), ("supervised", "trained", "pairing=unbiased", 2),
        ("supervised", "untrained", "pairing=unbiased", 2)])
    assert (table["dataset"] == "trifeature").all() and set(table["target"]) == {"redundancy", "synergy"}
    assert {"balanced_accuracy", "balanced_accuracy_paper", "val_balanced_accuracy", "bits", "capture_ratio",
            "readout_S"} <= set(table["metric"])
    bits = table[(table["metric"] == "bits") & (table["target"] == "synergy")]
    assert np.isfinite(bits["ground_truth"]).all() and (bits["ground_truth"] > 0).all()  # I(X1,X2;Y) of test
    assert (table.loc[table["state"] == "untrained", "train_s"] == 0).all()
    assert (table.loc[table["state"] == "trained", "train_s"] > 0).all()
    # The floor does not depend on the training pairing: same initialisation, same probe pairs.
    floors = table[(table["state"] == "untrained") & (table["method"] == "comm")]
    by_cell = {c: f.sort_values(["target", "metric"])["value"].to_numpy() for c, f in floors.groupby("cell")}
    np.testing.assert_array_equal(by_cell["pairing=unbiased"], by_cell["pairing=biased"])
    params = {json.loads(p)["overrides"]["data.pairing"] for p in table["params"]}
    assert params == {"unbiased", "biased"}
    for run in (tmp_path / "runs" / "trifeature_test" / "comm" / "pairing=biased").glob("*-trained-*"):
        assert (run / "config.toml").read_text().count('pairing = "biased"') == 1

    capsys.readouterr()
    assert experiment.main(["--experiment", str(path), "--table"]) == 0
    out = capsys.readouterr().out
    assert "| comm | trained | 2 | fair |" in out and "| comm | untrained | init | paper |" in out
    assert "| supervised | trained | 2 | fair |" in out
    assert experiment.main(["--experiment", str(path)]) == 0  # resume: nothing left to run
    assert "7 of 7 tasks already in" in capsys.readouterr().out
    assert experiment.main(["--experiment", str(path), "--dry-run"]) == 0
    assert "0 tasks;" in capsys.readouterr().out
