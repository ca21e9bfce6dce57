"""experiments/estimator_accuracy/run.py: tasks and rows carry the estimator's and the harness's version, so a
changed estimator is rerun and older rows are left out of summaries and figures (but stay in the table); each
(seed, n) draws its own samples."""

from pathlib import Path

import pandas as pd
import pytest

import synergy_lab.pid as pid
from synergy_lab.experiments import read_results, run_tasks, task_id

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def experiment(experiment_script):
    return experiment_script("estimator_accuracy")


def _tiny_tasks(experiment):
    tasks = experiment.tasks(True, [0], ["PluginPID"], sizes=[300], generators=["gate"])
    return [dict(t, n_bootstrap=5) for t in tasks if t["params"]["name"] in ("xor", "and")]


def test_a_bumped_estimator_version_changes_only_its_task_ids(experiment, monkeypatch):
    before = experiment.tasks(True, [0], ["PluginPID", "NeuralPID"], sizes=[300], generators=["gate"])
    assert all("estimator_version" not in t for t in before)  # version 1 is implicit
    assert all(t["harness_version"] == experiment.HARNESS_VERSION for t in before)
    monkeypatch.setattr(pid.PluginPID, "version", 2)
    after = experiment.tasks(True, [0], ["PluginPID", "NeuralPID"], sizes=[300], generators=["gate"])
    changed = [a for a in after if a["estimator"] == "PluginPID"]
    assert changed and all(t["estimator_version"] == 2 for t in changed)
    ids_before = {task_id(t) for t in before}
    assert not {task_id(t) for t in changed} & ids_before  # a rerun recomputes them
    assert all(task_id(t) in ids_before for t in after if t["estimator"] == "NeuralPID")


def test_a_bumped_estimator_is_rerun_and_its_old_rows_are_left_out(experiment, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results.sqlite"
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
    assert "left out 8 rows of older estimator or harness versions" in capsys.readouterr().out


def test_rows_without_version_columns_count_as_version_1(experiment):
    table = pd.DataFrame({"method": ["PluginPID", "NeuralPID"], "value": [0.1, 0.2]})
    assert len(experiment.current_rows(table)) == 0  # written by harness version 1
    table["harness_version"] = [experiment.HARNESS_VERSION, 1]
    assert list(experiment.current_rows(table)["method"]) == ["PluginPID"]  # no estimator_version: 1
    table["estimator_version"] = [2, 1]
    assert len(experiment.current_rows(table)) == 0


def test_each_seed_and_n_draws_its_own_samples(experiment):
    """Harness version 1 drew every n of a seed from one stream (shared prefixes); version 2 does not."""
    def first_rows(version, n):
        task = {"generator": "gate", "params": {"name": "xor"}, "target": "y", "n": n, "seed": 0,
                "harness_version": version}
        rng = experiment.data_seed(task)
        return experiment.make("gate", n_samples=n, random_state=rng, name="xor").x1[:50]

    assert (first_rows(1, 300) == first_rows(1, 600)).all()
    assert not (first_rows(2, 300) == first_rows(2, 600)).all()
    assert (first_rows(2, 300) == first_rows(2, 300)).all()
