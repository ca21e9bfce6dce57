"""The resumable grid runner and tidy tables."""

import time

import pandas as pd
import pytest

from synergy_lab.experiments import ResultStore, grid, read_results, read_tasks, run_tasks, task_id


def square_task(task):
    row = {"experiment": "t", "method": "sq", "metric": "value", "value": task["x"] ** 2}
    return [{**row, "seed": task["seed"]}]


def failing_on_three(task):
    if task["x"] == 3:
        raise KeyboardInterrupt("simulated interruption")
    return square_task(task)


def waits_for_the_others(task):
    """The slow task finishes only once the store has recorded every other task: a runner that waits for a
    whole batch before recording anything never gets there."""
    if task["x"] == 0:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with ResultStore(task["store"]) as store:
                if len(store.done_ids()) == task["others"]:
                    return square_task(task)
            time.sleep(0.05)
        raise TimeoutError("the other tasks were not recorded while this one ran")
    return square_task(task)


def test_each_task_is_recorded_as_it_finishes(tmp_path):
    out = tmp_path / "res.sqlite"
    tasks = [{"x": x, "seed": 0, "store": str(out), "others": 5} for x in range(6)]
    table = run_tasks(tasks, waits_for_the_others, out, n_jobs=2, backend="threading", batch_size=6,
                      progress=False)
    assert sorted(table["value"]) == [0, 1, 4, 9, 16, 25]
    assert read_tasks(out)["error"].isna().all()


def test_grid_is_the_cartesian_product():
    tasks = grid(x=[1, 2, 3], seed=[0, 1])
    assert len(tasks) == 6 and {"x": 2, "seed": 1} in tasks
    with pytest.raises(ValueError, match="axis 'x'"):
        grid(x=5)


def test_runs_in_parallel_and_resumes_without_duplicates(tmp_path):
    out = tmp_path / "res.sqlite"
    tasks = grid(x=[1, 2, 3, 4], seed=[0])
    # An interruption after the first batch: the finished batch is on disk, the rest is not.
    with pytest.raises(KeyboardInterrupt):
        run_tasks(tasks, failing_on_three, out, n_jobs=1, backend="sequential", batch_size=2, progress=False)
    partial = read_results(out)
    assert sorted(partial["value"]) == [1, 4]
    table = run_tasks(tasks, square_task, out, n_jobs=2, backend="loky", batch_size=2, progress=False)
    assert sorted(table["value"]) == [1, 4, 9, 16]
    assert table["task_id"].is_unique
    assert set(table["task_id"]) == {task_id(t) for t in tasks}
    # A rerun does nothing new.
    again = run_tasks(tasks, square_task, out, progress=False)
    pd.testing.assert_frame_equal(again, read_results(out))
    assert len(again) == 4


def test_bad_backend_and_duplicate_tasks(tmp_path):
    with pytest.raises(ValueError, match="backend"):
        run_tasks([{"x": 1}], square_task, tmp_path / "r.sqlite", backend="dask")
    with pytest.raises(ValueError, match="distinct"):
        run_tasks([{"x": 1}, {"x": 1}], square_task, tmp_path / "r.sqlite")


def test_a_one_worker_loky_sweep_opens_no_second_connection_in_its_own_process(tmp_path, monkeypatch):
    # joblib runs n_jobs=1 in the calling process: a second store connection there shares the sweep's POSIX
    # locks, so the "already done elsewhere?" check must only open the store in a worker process.
    import synergy_lab.experiments.runner as runner

    opened = []
    real = runner.ResultStore

    def counting(path, *args, **kwargs):
        opened.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(runner, "ResultStore", counting)
    out = tmp_path / "res.sqlite"
    table = run_tasks(grid(x=[1, 2, 3], seed=[0]), square_task, out, n_jobs=1, backend="loky", progress=False)
    assert sorted(table["value"]) == [1, 4, 9]
    assert opened == [str(out)]  # the sweep's own connection only
