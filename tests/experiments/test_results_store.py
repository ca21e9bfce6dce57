"""The SQLite results store: concurrent writers lose and duplicate nothing, failed and empty tasks are
recorded, types and extra columns survive, CSV tables stay readable and can be imported, export works."""

import importlib.util
import sqlite3
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest

from synergy_lab.experiments import (
    ResultStore,
    append_results,
    export_results,
    grid,
    import_table,
    read_results,
    read_tasks,
    run_tasks,
    store_path_for,
    task_id,
)
from synergy_lab.experiments.store import TaskOutcome

# Each writer process waits at a file barrier so that both really overlap, then runs two sweeps in small
# batches (many interleaved transactions) with a little work per task: its own 40 tasks into one store, and
# the same 40 tasks as the other writer into another. One pair of processes serves both tests (start-up
# dominates their runtime).
WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from synergy_lab.experiments import grid, run_tasks

    def task(t):
        time.sleep(0.004)
        return [{"experiment": "conc", "method": "m", "metric": "sq", "value": t["x"] ** 2, "seed": 0}]

    distinct, identical, first, barrier, me = sys.argv[1:6]
    (Path(barrier) / me).touch()
    deadline = time.time() + 60
    while len(list(Path(barrier).iterdir())) < 2 and time.time() < deadline:
        time.sleep(0.005)
    for store, start in ((distinct, int(first)), (identical, 0)):
        run_tasks(grid(x=range(start, start + 40)), task, store, backend="sequential", batch_size=3,
                  progress=False)
""")


@pytest.fixture(scope="module")
def two_writers(tmp_path_factory):
    """Two processes: 40 distinct tasks each into ``distinct``, the same 40 tasks each into ``identical``."""
    root = tmp_path_factory.mktemp("writers")
    stores = {"distinct": root / "distinct.sqlite", "identical": root / "identical.sqlite"}
    barrier = root / "barrier"
    barrier.mkdir()
    args = [str(stores["distinct"]), str(stores["identical"])]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, *args, str(first), str(barrier), f"w{k}"],
                              stderr=subprocess.PIPE, text=True)
             for k, first in enumerate((0, 40))]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    return stores


def test_two_processes_with_distinct_tasks_keep_every_row(two_writers):
    store = two_writers["distinct"]
    table = read_results(store)
    assert len(table) == 80 and table["task_id"].is_unique
    assert sorted(table["value"]) == [x * x for x in range(80)]
    assert (read_tasks(store)["status"] == "done").sum() == 80


def test_two_processes_with_identical_tasks_keep_one_copy(two_writers):
    store = two_writers["identical"]
    table = read_results(store)
    assert len(table) == 40 and table["task_id"].is_unique
    assert set(table["task_id"]) == {task_id({"x": x}) for x in range(40)}
    assert len(read_tasks(store)) == 40


def test_of_two_identical_outcomes_the_first_recorded_is_kept(tmp_path):
    path = tmp_path / "s.sqlite"
    row = {"experiment": "e", "method": "m", "metric": "v", "task_id": "t1"}
    with ResultStore(path) as a, ResultStore(path) as b:
        assert a.record([TaskOutcome("t1", {"x": 1}, [{**row, "value": 1.0}])]).done == 1
        second = b.record([TaskOutcome("t1", {"x": 1}, [{**row, "value": 2.0}])])
    assert (second.skipped, second.rows) == (1, 0)
    assert read_results(path)["value"].tolist() == [1.0]
    assert append_results(path, [{**row, "value": 3.0}]) == 0  # appending a done task's rows again: dropped


def _square(task):
    if task["x"] == 3:
        raise ArithmeticError(f"no square for {task['x']}")
    return [{"experiment": "t", "method": "sq", "metric": "value", "value": task["x"] ** 2, "seed": 0}]


CALLS = []


def _empty_counting(task):
    CALLS.append(task["x"])
    return []


def test_a_raising_task_is_recorded_with_its_error_and_the_batch_is_kept(tmp_path):
    out = tmp_path / "r.sqlite"
    tasks = grid(x=[1, 2, 3, 4])
    with pytest.warns(RuntimeWarning, match="1 of 4 tasks failed.*ArithmeticError: no square for 3"):
        table = run_tasks(tasks, _square, out, backend="sequential", batch_size=4, progress=False)
    assert sorted(table["value"]) == [1, 4, 16]
    records = read_tasks(out).set_index("task_id")
    failed = records.loc[task_id({"x": 3})]
    assert failed["status"] == "failed" and failed["error"] == "ArithmeticError: no square for 3"
    assert "raise ArithmeticError" in failed["traceback"] and failed["n_rows"] == 0
    assert (records.drop(task_id({"x": 3}))["status"] == "done").all()
    # The next run retries only the failed task; it now succeeds and replaces the failure record.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = run_tasks(tasks, _square_fixed, out, backend="sequential", progress=False)
    assert sorted(table["value"]) == [1, 4, 9, 16]
    again = read_tasks(out).set_index("task_id").loc[task_id({"x": 3})]
    assert again["status"] == "done" and again["attempts"] == 2 and pd.isna(again["error"])
    assert read_tasks(out)["attempts"].sum() == 5


def _square_fixed(task):
    return [{"experiment": "t", "method": "sq", "metric": "value", "value": task["x"] ** 2, "seed": 0}]


def test_an_all_empty_batch_leaves_a_readable_store_and_is_not_rerun(tmp_path):
    out = tmp_path / "r.sqlite"
    CALLS.clear()
    table = run_tasks(grid(x=[1, 2]), _empty_counting, out, backend="sequential", progress=False)
    assert table.empty and list(table.columns)[:3] == ["experiment", "method", "dataset"]
    assert read_results(out).empty
    records = read_tasks(out)
    assert list(records["status"]) == ["done", "done"] and list(records["n_rows"]) == [0, 0]
    run_tasks(grid(x=[1, 2, 5]), _empty_counting, out, backend="sequential", progress=False)
    assert CALLS == [1, 2, 5]  # the two empty tasks are done: only the new one ran


def _rows():
    """Rows as experiments write them: numpy scalars, NaN, extra keys that appear only in later rows."""
    return [
        {"experiment": "e", "method": "A", "dataset": "d", "params": '{"k":2}', "seed": np.int64(0),
         "target": "y", "metric": "synergy", "value": np.float64(0.5), "ground_truth": 1.0, "wall_s": 0.1,
         "version": "0.1.0", "task_id": "aaaa", "n": 500, "ci_low": float("nan"), "failure": "ValueError: x"},
        {"experiment": "e", "method": "B", "dataset": "d", "params": '{"k":2}', "seed": 1,
         "target": "y", "metric": "synergy", "value": float("nan"), "ground_truth": 1.0, "wall_s": 0.2,
         "version": "0.1.0", "task_id": "bbbb", "n": 2000, "ci_low": 0.25, "failure": "x", "late": 7},
    ]


def test_the_store_reads_back_what_a_csv_table_of_the_same_rows_reads(tmp_path):
    csv = tmp_path / "old.csv"
    pd.DataFrame(_rows()).to_csv(csv, index=False)
    append_results(tmp_path / "s.sqlite", _rows())
    from_store = read_results(tmp_path / "s.sqlite")
    pd.testing.assert_frame_equal(from_store, read_results(csv))
    assert from_store["seed"].dtype == np.int64 and from_store["late"].tolist()[1] == 7


def test_an_existing_csv_table_is_readable_and_imports_once(tmp_path):
    csv = tmp_path / "results.csv"
    pd.DataFrame(_rows()).to_csv(csv, index=False)
    store = tmp_path / "results.sqlite"
    with pytest.raises(ValueError, match="results import"):  # the runner never appends to a CSV table
        run_tasks([{"x": 1}], _square, csv, progress=False)
    assert import_table(csv, store) == 2 and import_table(csv, store) == 0
    pd.testing.assert_frame_equal(read_results(store), read_results(csv))
    assert set(read_tasks(store)["status"]) == {"done"}
    (tmp_path / "broken.csv").write_text("\n")  # what an all-empty first batch used to leave behind
    assert read_results(tmp_path / "broken.csv").empty


def test_export_writes_the_tidy_table(tmp_path):
    store = tmp_path / "s.sqlite"
    append_results(store, _rows())
    out = export_results(store, tmp_path / "sub" / "table.csv")
    pd.testing.assert_frame_equal(pd.read_csv(out, dtype={"task_id": str}), read_results(store))
    if importlib.util.find_spec("pyarrow") is None:
        with pytest.raises(ValueError, match="pyarrow"):
            export_results(store, tmp_path / "t.parquet")
    else:
        pd.testing.assert_frame_equal(read_results(export_results(store, tmp_path / "t.parquet")),
                                      read_results(store))
    with pytest.raises(ValueError, match="out"):
        export_results(store, tmp_path / "t.xlsx")


def test_bad_paths_and_rows_raise_naming_the_problem(tmp_path):
    (tmp_path / "text.sqlite").write_text("not a database")
    with pytest.raises(ValueError, match="not an SQLite file"):
        read_results(tmp_path / "text.sqlite")
    with pytest.raises(ValueError, match="suffix"):
        read_results(tmp_path / "table.txt")
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(ValueError, match="directory"):
        read_results(tmp_path / "dir.sqlite")
    with pytest.raises(ValueError, match="required columns"):
        append_results(tmp_path / "s.sqlite", [{"experiment": "e", "task_id": "t"}])
    with pytest.raises(ValueError, match="timeout"):
        ResultStore(tmp_path / "s.sqlite", timeout=0)
    with pytest.raises(ValueError, match="batch_size"):
        run_tasks([{"x": 1}], _square, tmp_path / "s.sqlite", batch_size=0)


def test_sweep_scripts_bring_an_earlier_csv_table_into_their_store(tmp_path):
    csv = tmp_path / "results.csv"
    pd.DataFrame(_rows()).to_csv(csv, index=False)
    notes = []
    store = store_path_for(tmp_path / "results.sqlite", log=notes.append)
    assert store == tmp_path / "results.sqlite" and len(read_results(store)) == 2
    assert notes == [f"imported 2 rows of the earlier table {csv} into the results store {store}"]
    assert store_path_for(csv, log=notes.append) == store and len(notes) == 1  # a .csv --out: its store
    assert csv.is_file()  # the old table is left in place


def _malformed(task):
    if task["x"] == 0:
        return {"value": 1}  # not a list
    if task["x"] == 1:
        return [{"experiment": "t", "method": "m", "metric": "v", "value": object()}]
    return [{"experiment": "t", "method": "m", "metric": "v", "value": float(task["x"])}]


def test_malformed_rows_fail_their_task_not_the_batch(tmp_path):
    out = tmp_path / "r.sqlite"
    with pytest.warns(RuntimeWarning, match="2 of 3 tasks failed"):
        table = run_tasks(grid(x=[0, 1, 2]), _malformed, out, backend="sequential", progress=False)
    assert table["value"].tolist() == [2.0]
    errors = read_tasks(out).set_index("task_id")["error"]
    assert errors[task_id({"x": 0})] == "TypeError: a task must return a list of row dicts, got dict"
    assert errors[task_id({"x": 1})] == "TypeError: cannot serialise object into the results table"


def test_a_store_from_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    append_results(path, [{"experiment": "e", "method": "m", "metric": "v", "value": 1.0, "task_id": "t"}])
    with sqlite3.connect(path) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(ValueError, match="schema version 99"):
        read_results(path)


def test_rows_with_and_without_extra_keys_read_back_together(tmp_path):
    base = {"experiment": "e", "method": "m", "seed": 0, "metric": "v", "value": 1.0}
    append_results(tmp_path / "s.sqlite", [{**base, "task_id": "a", "late": 7}])
    append_results(tmp_path / "s.sqlite", [{**base, "task_id": "b", "seed": s} for s in range(1, 4)])
    table = read_results(tmp_path / "s.sqlite")
    assert table["late"].tolist()[0] == 7 and table["late"].iloc[1:].isna().all()
    assert table["seed"].tolist() == [0, 1, 2, 3]
