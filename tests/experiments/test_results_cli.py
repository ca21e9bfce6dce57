"""``synergy-lab results summary | export | import``: one call each; a mistake: one ``error:`` line."""

import pandas as pd

from synergy_lab.cli import main
from synergy_lab.experiments import grid, read_results, run_tasks


def _task(task):
    if task["x"] == 2:
        raise ValueError("x = 2 is not allowed")
    return [{"experiment": "cli", "method": "m", "metric": "sq", "value": task["x"] ** 2, "seed": 0,
             "ci_low": 0.5}]


def test_summary_export_and_import(tmp_path, capsys, recwarn):
    store = tmp_path / "s.sqlite"
    run_tasks(grid(x=[1, 2, 3]), _task, store, backend="sequential", progress=False)
    assert main(["results", "summary", str(store)]) == 0
    out = capsys.readouterr().out
    assert "3 tasks (2 done, 0 of them with no rows; 1 failed), 2 rows" in out
    assert "ValueError: x = 2 is not allowed" in out and '{"x":2}' in out

    assert main(["results", "export", str(store), str(tmp_path / "t.csv")]) == 0
    table = pd.read_csv(tmp_path / "t.csv", dtype={"task_id": str})
    pd.testing.assert_frame_equal(table, read_results(store))
    assert list(table.columns[-1:]) == ["ci_low"]

    assert main(["results", "import", str(tmp_path / "t.csv"), str(tmp_path / "copy.sqlite")]) == 0
    assert "copied 2 rows" in capsys.readouterr().out
    pd.testing.assert_frame_equal(read_results(tmp_path / "copy.sqlite"), table)


def test_mistakes_give_one_error_line(tmp_path, capsys):
    cases = [
        ["results", "summary", str(tmp_path / "missing.sqlite")],
        ["results", "summary", str(tmp_path / "table.csv")],
        ["results", "export", str(tmp_path / "missing.sqlite"), str(tmp_path / "t.csv")],
        ["results", "import", str(tmp_path / "missing.csv"), str(tmp_path / "s.sqlite")],
    ]
    (tmp_path / "t.sqlite").write_text("text")
    cases.append(["results", "export", str(tmp_path / "t.sqlite"), str(tmp_path / "t.csv")])
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), (argv, err)
