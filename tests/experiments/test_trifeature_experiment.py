"""experiments/trifeature/run.py: tasks train the shipped configs, rows are tidy, reruns resume, and the
R/U/S table reads R and U from unbiased runs and S from biased runs."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from synergy_lab.experiments import read_results

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def experiment():
    spec = importlib.util.spec_from_file_location("trifeature_run", ROOT / "experiments/trifeature/run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = ["--set", "optim.steps=2", "--set", "optim.warmup_steps=0", "--set", "optim.batch_size=16",
        "--set", "data.n_train=32", "--set", "data.n_probe=200", "--set", "data.n_val=100",
        "--set", "data.params.resolution=32", "--set", "model.T=2", "--set", "checkpoint_every=0"]


def test_tiny_sweep_writes_tidy_rows_and_resumes(experiment, tmp_path, capsys):
    argv = ["--scale", "cpu", "--methods", "comm", "--seeds", "0", "--pairings", "biased", "--backend",
            "sequential", "--out", str(tmp_path), *TINY]
    assert experiment.main(argv) == 0
    table = read_results(tmp_path / "results.sqlite")
    assert sorted(table["target"].unique()) == ["redundancy", "synergy", "unique1", "unique2"]
    assert sorted(table["metric"].unique()) == ["balanced_accuracy", "val_balanced_accuracy"]
    assert (table["method"] == "comm").all() and (table["pairing"] == "biased").all()
    assert table["value"].between(0, 1).all() and len(table) == 8
    assert (tmp_path / "runs" / "comm_seed0_biased" / "metrics.json").is_file()
    capsys.readouterr()
    assert experiment.main(argv) == 0
    assert "1 of 1 tasks already in" in capsys.readouterr().out
    assert len(read_results(tmp_path / "results.sqlite")) == 8


def test_summary_reads_each_component_from_its_pairing(experiment):
    rows = []
    for seed, base in ((0, 0.9), (1, 0.8)):
        for pairing, shift in (("unbiased", 0.0), ("biased", 0.05)):
            for target, acc in (("redundancy", base), ("unique1", base - 0.2), ("unique2", base - 0.4),
                                ("synergy", 0.5 + shift + seed / 10)):
                rows.append({"method": "infmasking", "seed": seed, "pairing": pairing, "target": target,
                             "metric": "balanced_accuracy", "value": acc})
                rows.append({**rows[-1], "metric": "val_balanced_accuracy", "value": 0.0})
    summary = experiment.summary_table(pd.DataFrame(rows)).iloc[0]
    assert summary["R"] == "85.0 ± 7.1 (n=2)"      # unbiased redundancy, seeds 0.9 and 0.8
    assert summary["U"] == "55.0 ± 7.1 (n=2)"      # mean of unique1 and unique2 per seed
    assert summary["S"] == "60.0 ± 7.1 (n=2)"      # biased synergy: 0.55 and 0.65
    assert summary["paper R/U/S"] == "99.9/90.6/77.0"


def test_unknown_method_config_raises(experiment):
    with pytest.raises(ValueError, match="no config cpu_simclr.toml"):
        experiment.main(["--methods", "simclr", "--table-only"])
