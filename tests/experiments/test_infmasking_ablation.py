"""experiments/infmasking_ablation: the declared cells expand to tasks that change exactly their overrides,
the task order is cell-major / seed-major, unchanged methods share their base runs, and one tiny cell runs
end to end (factor-block data and input-block tokens) into a store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from synergy_lab.experiments import read_results, run_tasks
from synergy_lab.experiments.sweep import SweepRunner, task_config

ROOT = Path(__file__).resolve().parents[2]
TOKENS = "tokens=factor_blocks+input_blocks"
#: Makes a run take seconds: tiny data, two steps, one probe target, no checkpoints.
TINY = {"data.n_train": 64, "data.n_probe": 200, "data.n_val": 200, "optim.batch_size": 16,
        "checkpoint_every": 0, "eval.targets": ["match"]}


@pytest.fixture(scope="module")
def ablation(experiment_script):
    return experiment_script("infmasking_ablation")


@pytest.fixture(scope="module")
def spec(ablation):
    return ablation.load_experiment()


def _flat(d, prefix=""):
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


def test_the_file_declares_one_factor_at_a_time(spec, ablation):
    cells = {c["name"]: c for c in spec["cells"]}
    assert spec["cells"][0]["name"] == "base" and spec["reference"] == "comm"
    assert spec["seeds"] == [0, 1, 2, 3] and spec["steps"] == 3000
    values = {}
    for name in cells:
        if name != "base":
            factor, value = name.split("=")
            values.setdefault(factor, []).append(value)
    assert sorted(values["T"], key=int) == ["1", "2", "6", "8"]  # + the base's 4
    assert values["lam"] == ["0", "0.5", "2"] and values["mask_ratio"] == ["0.3", "0.5", "0.85"]
    assert values["weights"] == ["uniform", "x5"] and len(values["tokens"]) == 3
    # InfMasking-only factors leave CoMM alone; the weight and token factors apply to both methods
    for name, cell in cells.items():
        factor = name.split("=")[0]
        if factor in ("T", "lam", "mask_ratio", "weights"):
            assert len(cell["overrides"]) == 1
        if factor == "tokens":
            assert cell["overrides"]["comm"] == cell["overrides"]["infmasking"] and cell["floor"]
    assert cells["weights=x5"]["overrides"] == {"comm": {"method.weights": [1, 1, 5]}}
    # cell order = priority: weights and tokens before lambda, ratio and T
    order = [c["name"].split("=")[0] for c in spec["cells"]]
    assert order.index("tokens") < order.index("lam") < order.index("mask_ratio") < order.index("T")
    assert max(i for i, f in enumerate(order) if f == "weights") < order.index("tokens")


def test_each_task_changes_exactly_its_overrides(spec, ablation, tmp_path):
    tasks = ablation.build_tasks(spec)
    n_floor = sum(len(ablation.cell_methods(spec, c)) for c in spec["cells"] if c["floor"])
    n_trained = sum(len(ablation.cell_methods(spec, c)) for c in spec["cells"])
    assert len(tasks) == 4 * (n_floor + n_trained)
    checked = set()
    for task in tasks:
        if (task["method"], task["cell"]) in checked:
            continue
        checked.add((task["method"], task["cell"]))
        cfg = _flat(task_config(task, spec["configs"], tmp_path).to_dict())
        base_task = {**task, "cell": "base", "overrides": {}}
        base = _flat(task_config(base_task, spec["configs"], tmp_path).to_dict())
        changed = {k for k in set(cfg) | set(base) if cfg.get(k) != base.get(k) and k != "out_dir"}
        assert changed == set(task["overrides"]), task
        for key, value in task["overrides"].items():
            assert cfg[key] == value
        assert cfg["seed"] == task["seed"] and cfg["optim.steps"] == 3000
    assert len(checked) == sum(len(ablation.cell_methods(spec, c)) for c in spec["cells"])


def test_task_order_and_selection(spec, ablation):
    tasks = ablation.build_tasks(spec, cells=["lam=0", TOKENS], seeds=[5, 6], steps=10)
    key = [(t["cell"], t["seed"], t["state"], t["method"]) for t in tasks]
    assert key[:4] == [("base", 5, "untrained", "infmasking"), ("base", 5, "untrained", "comm"),
                       ("base", 5, "trained", "infmasking"), ("base", 5, "trained", "comm")]
    cells = [c for c, *_ in key]
    assert cells == sorted(cells, key=[c["name"] for c in spec["cells"]].index)  # file order, cell-major
    lam = [k for k in key if k[0] == "lam=0"]
    assert lam == [("lam=0", 5, "trained", "infmasking"), ("lam=0", 6, "trained", "infmasking")]
    assert all(t["steps"] == 10 and t["experiment"] == "infmasking_ablation" for t in tasks)
    with pytest.raises(ValueError, match="cells"):
        ablation.build_tasks(spec, cells=["T=3"])


def test_unchanged_methods_share_their_base_runs(spec, ablation):
    rows = [{"experiment": "infmasking_ablation", "method": m, "seed": s, "steps": 3000, "state": "trained",
             "cell": c, "target": "match", "metric": "balanced_accuracy", "value": v}
            for m, c, s, v in [("comm", "base", 0, 0.80), ("comm", "base", 1, 0.82),
                               ("infmasking", "base", 0, 0.70), ("infmasking", "base", 1, 0.72),
                               ("infmasking", "T=2", 0, 0.75), ("infmasking", "T=2", 1, 0.71),
                               ("comm", "weights=x5", 0, 0.90), ("comm", "weights=x5", 1, 0.91)]]
    table = ablation.with_shared_runs(pd.DataFrame(rows), spec)
    t2 = table[table["cell"] == "T=2"]
    assert sorted(t2["method"]) == ["comm", "comm", "infmasking", "infmasking"]
    assert t2.loc[t2["method"] == "comm", "value"].tolist() == [0.80, 0.82]
    assert set(t2.loc[t2["method"] == "comm", "shared_from"]) == {"base"}
    x5 = table[table["cell"] == "weights=x5"]
    assert x5.loc[x5["method"] == "comm", "value"].tolist() == [0.90, 0.91]  # its own runs, not the base's
    assert x5.loc[x5["method"] == "infmasking", "value"].tolist() == [0.70, 0.72]
    from synergy_lab.experiments.report import paired

    diffs = paired(table, "comm", by=ablation.REPORT_BY).set_index("cell")
    assert diffs.loc["T=2", "mean_diff"] == pytest.approx(((0.75 - 0.80) + (0.71 - 0.82)) / 2)
    assert diffs.loc["weights=x5", "mean_diff"] == pytest.approx(((0.70 - 0.90) + (0.72 - 0.91)) / 2)


def test_tiny_token_cell_end_to_end(spec, ablation, tmp_path, capsys):
    tasks = [t for t in ablation.build_tasks(spec, cells=[TOKENS], seeds=[0], steps=2, extra_overrides=TINY)
             if t["cell"] == TOKENS and t["method"] == "comm"]
    assert [t["state"] for t in tasks] == ["untrained", "trained"]
    store = tmp_path / "results.sqlite"
    run_tasks(tasks, SweepRunner(spec["configs"], tmp_path / "runs"), store, n_jobs=1, backend="sequential",
              progress=False)
    table = read_results(store)
    assert set(table["state"]) == {"untrained", "trained"} and set(table["cell"]) == {TOKENS}
    assert set(table["target"]) == {"match"} and table["value"].notna().any()
    for column in ("experiment", "method", "dataset", "seed", "steps", "params", "metric", "ground_truth"):
        assert column in table.columns
    run = next((tmp_path / "runs" / "infmasking_ablation" / "comm").glob("*/steps2-seed0-trained-*"))
    assert 'tokenizer = "input_blocks"' in (run / "config.toml").read_text()
    assert 'layout = "factor_blocks"' in (run / "config.toml").read_text()
    # the CLI: the finished tasks are no longer pending; a bad cell is one error line and exit code 2
    argv = ["--store", str(store), "--cells", TOKENS, "--seeds", "0", "--steps", "2", "--dry-run"]
    argv += [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]
    assert ablation.main(argv) == 0
    out = capsys.readouterr().out
    assert "infmasking" in out and "tasks pending" in out
    pending = ablation.build_tasks(spec, cells=[TOKENS], seeds=[0], steps=2, extra_overrides=TINY)
    assert f"{len(pending) - len(tasks)} of {len(pending)} tasks pending" in out
    assert ablation.main(["--report", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "mean ± sd" in out and TOKENS in out and "bits" in out
    assert ablation.main(["--cells", "T=3", "--dry-run", "--store", str(store)]) == 2
    assert capsys.readouterr().err.startswith("error: cells")
