"""The quickstart end to end at a tiny size: three methods trained in parallel, scored beside their floor."""

import pytest

from synergy_lab.cli import main
from synergy_lab.experiments import read_results, read_tasks
from synergy_lab.quickstart import QUICKSTART_METHODS, quickstart_tasks, summary_table

#: A few steps on little data, two targets: the whole pipeline in seconds (no claim about the numbers).
TINY = ["--steps", "5", "--set", "data.n_train=600", "--set", "data.n_probe=600", "--set", "data.n_val=300",
        "--set", "eval.targets=['redundancy','match']"]


def test_quickstart_trains_scores_and_draws(tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path), *TINY]) == 0
    out = capsys.readouterr().out
    table = read_results(tmp_path / "results.sqlite")
    assert set(read_tasks(tmp_path / "results.sqlite")["status"]) == {"done"}
    assert set(table["method"]) == set(QUICKSTART_METHODS) and set(table["state"]) == {"trained", "untrained"}
    assert set(table["target"]) == {"redundancy", "match"} and (table["steps"] == 5).all()
    figure = tmp_path / "quickstart.png"
    assert figure.stat().st_size > 10_000 and f"wrote {figure}" in out
    # the printed table is the store's numbers
    summary = summary_table(table)
    match = table[(table["method"] == "comm") & (table["target"] == "match") & (table["state"] == "trained")]
    assert summary.loc[("comm", "match"), "bits"] == pytest.approx(match.loc[match["metric"] == "bits",
                                                                              "value"].item())
    assert summary.loc[("cross", "match"), "I(X1,X2;Y)"] == pytest.approx(0.811278, abs=1e-5)
    lines = out.splitlines()
    first = next(i for i, r in enumerate(lines) if r.startswith("comm "))  # the method names its first row
    line = next(r for r in lines[first:] if "match" in r)
    assert f"{summary.loc[('comm', 'match'), 'bal.acc']:.3f}" in line
    assert "bal.acc" in out and "floor bits" in out and "total" in out
    # a rerun finds every task done and trains nothing
    assert main(["quickstart", "--out", str(tmp_path), *TINY]) == 0
    assert "6 of 6 tasks already" in capsys.readouterr().out


def test_quickstart_orders_long_runs_first_and_applies_overrides():
    tasks = quickstart_tasks(7, seeds=(0, 1), overrides={"data.n_train": 600})
    assert [t["method"] for t in tasks[:3]] == ["infmasking", "comm", "cross"]
    assert [t["state"] for t in tasks] == ["trained"] * 6 + ["untrained"] * 6
    assert all(t["overrides"] == {"data.n_train": 600} and t["steps"] == 7 for t in tasks)


def test_quickstart_refuses_bad_options(tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path), "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    assert main(["quickstart", "--out", str(tmp_path), "--configs", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: configs") and "compositional_cross.toml" in err
    assert main(["quickstart", "--out", str(tmp_path), "--n-jobs", "0"]) == 2
    assert "n_jobs" in capsys.readouterr().err
    assert not (tmp_path / "results.sqlite").exists()
