"""experiments/estimator_accuracy/run.py: tasks and rows carry the estimator's version, so a changed estimator
is rerun and its older rows are left out of summaries and figures (but stay in the table)."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

import synergy_lab.pid as pid
from synergy_lab.experiments import read_results, run_tasks, task_id

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def experiment():
    spec = importlib.util.spec_from_file_location(
        "estimator_accuracy_run", ROOT / "experiments/estimator_accuracy/run.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_tasks(experiment):
    tasks = experiment.tasks(True, [0], ["PluginPID"], sizes=[300], generators=["gate"])
    return [dict(t, n_bootstrap=5) for t in tasks if t["params"]["name"] in ("xor", "and")]


def test_version_1_tasks_keep_their_ids_and_a_bumped_version_changes_them(experiment, monkeypatch):
    before = experiment.tasks(True, [0], ["PluginPID", "NeuralPID"], sizes=[300], generators=["gate"])
    assert all("estimator_version" not in t for t in before)  # tables from before versions stay valid
    monkeypatch.setattr(pid.PluginPID, "version", 2)
    after = experiment.tasks(True, [0], ["PluginPID", "NeuralPID"], sizes=[300], generators=["gate"])
    changed = [a for a in after if a["estimator"] == "PluginPID"]
    assert changed and all(t["estimator_version"] == 2 for t in changed)
    ids_before = {task_id(t) for t in before}
    assert not {task_id(t) for t in changed} & ids_before  # a rerun recomputes them
    assert all(task_id(t) in ids_before for t in after if t["estimator"] == "NeuralPID")


def test_a_bumped_estimator_is_rerun_and_its_old_rows_are_left_out(experiment, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results.csv"
    run_tasks(_tiny_tasks(experiment), experiment.run_task, out, progress=False)
    old = read_results(out)
    assert len(old) == 8 and set(old["estimator_version"]) == {1}
    assert len(experiment.current_rows(old)) == 8

    monkeypatch.setattr(pid.PluginPID, "version", 2)
    run_tasks(_tiny_tasks(experiment), experiment.run_task, out, progress=False)
    both = read_results(out)
    assert len(both) == 16  # the old rows are kept in the file
    current = experiment.current_rows(both)
    assert len(current) == 8 and set(current["estimator_version"]) == {2}
    assert "left out 8 rows of older estimator versions" in capsys.readouterr().out


def test_rows_written_before_versions_existed_count_as_version_1(experiment):
    table = pd.DataFrame({"method": ["PluginPID", "NeuralPID"], "value": [0.1, 0.2]})
    assert len(experiment.current_rows(table)) == 2
    table["estimator_version"] = [1.0, float("nan")]
    assert len(experiment.current_rows(table)) == 2
