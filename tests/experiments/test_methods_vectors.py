"""experiments/methods_vectors: the eight compositional configs differ only in their method (and declared
exceptions) and each trains; the sweep task (synergy_lab.experiments.sweep) gives contract rows, trained and
untrained; run.py orders the tasks seed-major and cheap first, runs them into a store, resumes, and the
report pairs the methods over seeds."""

from pathlib import Path

import numpy as np
import pytest

from synergy_lab.experiments import read_results, read_tasks
from synergy_lab.experiments.report import markdown_report, paired
from synergy_lab.experiments.sweep import SweepRunner, check_task, run_dir_for, sweep_task, task_config
from synergy_lab.plots.methods import bits_vs_truth_figure
from synergy_lab.train import load_config, train

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "experiments" / "configs"
METHODS = ["infmasking", "comm", "cross", "cross_self", "simclr", "cmc", "factorcl", "supervised"]
CONTRACT = ["experiment", "method", "dataset", "seed", "steps", "state", "cell", "params", "target", "metric",
            "value", "ground_truth"]
#: Small data and one target: the end-to-end sweep stays a few seconds per task.
SMALL = {"data.n_train": 256, "data.n_probe": 300, "data.n_val": 300, "data.params.dim": 16,
         "eval.targets": ["match"], "checkpoint_every": 2}


@pytest.fixture(scope="module")
def experiment(experiment_script):
    return experiment_script("methods_vectors")


def _comparable(method):
    d = load_config(CONFIGS / f"compositional_{method}.toml").to_dict()
    assert d.pop("method")["name"] == method
    assert d.pop("out_dir") == f"results/train/compositional_{method}"
    if method == "supervised":  # declared: "match" is constant on biased pairs
        assert d["data"].pop("pairing") == "unbiased"
    else:
        assert d["data"].pop("pairing") == "biased"
    return d


def test_configs_differ_only_in_the_method():
    reference = _comparable("comm")
    assert reference["optim"]["steps"] == 3000 and reference["optim"]["batch_size"] == 128
    for method in METHODS:
        assert _comparable(method) == reference, method
    assert load_config(CONFIGS / "compositional_supervised.toml").method.target == "match"


@pytest.mark.parametrize("method", METHODS[2:])
def test_config_trains_five_steps(method, tmp_path):
    cfg = load_config(CONFIGS / f"compositional_{method}.toml").override(
        {"optim.steps": 5, "data.n_train": 256, "data.n_probe": 64, "data.n_val": 64, "eval.enabled": False,
         "out_dir": None, "checkpoint_every": 0, "progress": False})
    result = train(cfg)
    assert result.steps == 5 and np.isfinite(result.losses).all()


def test_sweep_task_validation():
    task = sweep_task("x", "comm", 0, 10, overrides={"model.T": 2})
    assert check_task(task) is task and task["cell"] == "base" and task["state"] == "trained"
    with pytest.raises(ValueError, match="task.state"):
        sweep_task("x", "comm", 0, 10, state="trained-ish")
    with pytest.raises(ValueError, match="optim.steps"):
        sweep_task("x", "comm", 0, 10, overrides={"optim.steps": 5})
    with pytest.raises(TypeError, match="seed"):
        sweep_task("x", "comm", 0.5, 10)
    with pytest.raises(ValueError, match="unknown keys"):
        check_task({**task, "extra": 1})
    with pytest.raises(ValueError, match="base_configs has no config for method 'comm'"):
        task_config(task, {"cross": CONFIGS / "compositional_cross.toml"})
    with pytest.raises(ValueError, match="configures method 'cross'"):
        task_config(task, {"comm": CONFIGS / "compositional_cross.toml"})
    cfg = task_config(task, {"comm": CONFIGS / "compositional_comm.toml"}, "runs")
    assert (cfg.seed, cfg.optim.steps, cfg.model.T, cfg.keep_checkpoints) == (0, 10, 2, 1)
    assert Path(cfg.out_dir) == run_dir_for(task, "runs")
    other = sweep_task("x", "comm", 0, 10, overrides={"model.T": 3})
    assert run_dir_for(other, "runs") != run_dir_for(task, "runs")  # a changed cell never shares a folder


def test_task_order_is_seed_major_and_cheap_first(experiment):
    spec = experiment.load_experiment()
    assert spec["seeds"] == list(range(8)) and spec["steps"] == 3000 and set(spec["methods"]) == set(METHODS)
    tasks = experiment.build_tasks(spec)
    assert len(tasks) == 8 * 8 + 8 * 8 + 3 * 8  # floors, 3k runs, 12k runs
    states = [t["state"] for t in tasks]
    assert states == ["untrained"] * 64 + ["trained"] * 88
    trained = tasks[64:]
    assert [t["steps"] for t in trained] == [3000] * 64 + [12000] * 24
    assert [t["seed"] for t in trained[:64]] == sorted(t["seed"] for t in trained[:64])
    first_seed = [t["method"] for t in trained[:8]]
    costs = [experiment.train_cost(spec, m, 3000) for m in first_seed]
    assert costs == sorted(costs) and set(first_seed) == set(METHODS)
    assert {t["method"] for t in trained[64:]} == {"infmasking", "comm", "cross"}
    only = experiment.build_tasks(spec, methods=["comm"], seeds=[1], only_steps=12000)
    assert [(t["method"], t["seed"], t["steps"]) for t in only] == [("comm", 1, 12000)]
    with pytest.raises(ValueError, match="seeds"):
        experiment.build_tasks(spec, seeds=[99])
    assert experiment.main(["--dry-run", "--seeds", "99"]) == 2


def _tiny_experiment(tmp_path):
    text = f"""experiment = "methods_vectors_test"
store = "results.sqlite"
runs_dir = "runs"
seeds = [0, 1]
steps = 4
n_jobs = 1
[methods]
comm = "{CONFIGS / 'compositional_comm.toml'}"
cross = "{CONFIGS / 'compositional_cross.toml'}"
[overrides]
{chr(10).join(f'"{k}" = {v!r}'.replace("'", '"') for k, v in SMALL.items())}
"""
    path = tmp_path / "experiment.toml"
    path.write_text(text)
    return path


def test_tiny_sweep_rows_report_and_resume(experiment, tmp_path, capsys):
    path = _tiny_experiment(tmp_path)
    assert experiment.main(["--experiment", str(path)]) == 0
    table = read_results(tmp_path / "results.sqlite")
    assert set(CONTRACT) <= set(table.columns)
    assert set(table["state"]) == {"trained", "untrained"} and set(table["method"]) == {"comm", "cross"}
    assert table.groupby(["method", "state"])["seed"].nunique().eq(2).all()
    assert set(table["target"]) == {"match"} and (table["dataset"] == "compositional").all()
    assert {"balanced_accuracy", "bits", "capture_ratio", "readout_S"} <= set(table["metric"])
    bits = table[table["metric"] == "bits"]
    assert np.allclose(bits["ground_truth"], 0.811, atol=0.01)  # h(1/4): "match" is pure synergy
    assert (table.loc[table["state"] == "untrained", "train_s"] == 0).all()
    assert (table.loc[table["state"] == "trained", "train_s"] > 0).all()
    # the run folders keep only the latest checkpoint
    for folder in (tmp_path / "runs").glob("methods_vectors_test/*/base/*-trained-*"):
        kept = [p.name for p in (folder / "checkpoints").glob("checkpoint-*.pt")]
        assert len(kept) == 1 and int(kept[0].split("-")[1].split(".")[0]) == 4, kept

    by = ["experiment", "state", "steps", "cell", "target", "metric"]
    acc = table[table["metric"] == "balanced_accuracy"]
    text = markdown_report(acc, reference="comm", by=by)
    assert "paired difference: method − comm" in text and "| untrained |" in text and "| trained |" in text
    diffs = paired(acc, "comm", by=by)
    assert set(diffs["method"]) == {"cross"} and (diffs["n_pairs"] == 2).all()
    figure = tmp_path / "bits.png"
    drawn = bits_vs_truth_figure(table, figure, targets=["match"])
    assert figure.stat().st_size > 1000 and set(drawn["method"]) == {"comm", "cross"}

    capsys.readouterr()
    assert experiment.main(["--experiment", str(path)]) == 0  # resume: nothing left to run
    assert "8 of 8 tasks already in" in capsys.readouterr().out
    assert len(read_tasks(tmp_path / "results.sqlite")) == 8
    assert experiment.main(["--experiment", str(path), "--max-tasks", "3", "--dry-run"]) == 0
    assert "0 tasks;" in capsys.readouterr().out


def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    task = sweep_task("t", "cross", 0, 4, overrides=SMALL)
    runner = SweepRunner({"cross": CONFIGS / "compositional_cross.toml"}, tmp_path)
    cfg = task_config(task, runner.base_configs, tmp_path)
    train(cfg, stop_after=2)  # as if the sweep had been killed after step 2
    rows = runner(task)
    assert {r["steps"] for r in rows} == {4}
    history = (run_dir_for(task, tmp_path) / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 4  # header + steps 1..4, two of them from before the "kill"


def test_a_sweep_task_caps_blas_threads_as_well_as_torch(tmp_path, monkeypatch):
    # The probes run in numpy: a task given one thread must not score with a multi-threaded BLAS beside a
    # second busy worker (a sequential sweep's process keeps the machine's default otherwise).
    from threadpoolctl import threadpool_info, threadpool_limits

    import synergy_lab.train.saved_run as saved_run

    seen = []

    def fake_score(folder, mode, device):
        seen.append(max(p["num_threads"] for p in threadpool_info()))
        return [{"target": "xor", "metric": "bits", "value": 0.0, "ground_truth": 0.0}]

    monkeypatch.setattr(saved_run, "score_saved_run", fake_score)
    task = sweep_task("t", "cross", 0, 4, state="untrained", overrides=SMALL)
    with threadpool_limits(limits=2):
        SweepRunner({"cross": CONFIGS / "compositional_cross.toml"}, tmp_path, torch_threads=1)(task)
        after = max(p["num_threads"] for p in threadpool_info())
    assert seen == [1]
    assert after == 2  # the limit is the task's, not left behind in the caller's process
