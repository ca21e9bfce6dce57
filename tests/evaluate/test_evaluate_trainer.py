"""Every training run is scored against the truth: metrics.json holds the tidy score rows, and
`synergy-lab evaluate RUN_DIR` re-scores the saved run, its untrained architecture and the raw inputs."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from _train_helpers import tiny_config  # noqa: E402

from synergy_lab.cli import main  # noqa: E402
from synergy_lab.train import train  # noqa: E402

TARGETS = ["redundancy", "match"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    cfg = tiny_config("comm", steps=20, out_dir=str(out), eval={"targets": TARGETS},
                      data={"pairing": "biased"})
    return train(cfg), out


def test_metrics_json_holds_the_score_rows(run):
    result, out = run
    metrics = json.loads((out / "metrics.json").read_text())
    rows = pd.DataFrame(metrics["scores"])
    assert set(rows["target"]) == set(TARGETS)
    assert {"method", "dataset", "seed", "steps", "target", "metric", "value", "ground_truth"} <= set(rows)
    assert (rows["method"] == "comm").all() and (rows["steps"] == 20).all()
    by = rows.set_index(["target", "metric"])
    for metric in ("balanced_accuracy", "balanced_accuracy_paper", "bits", "bits_low", "bits_high",
                   "capture_ratio", "readout_S", "sample_S"):
        assert np.isfinite(by.loc[("match", metric), "value"]), metric
    # Ground truth of the unbiased probe pairs: "match" is pure synergy, h(1/4) bits; redundancy 2 bits.
    assert by.loc[("match", "readout_S"), "ground_truth"] == pytest.approx(0.811278, abs=1e-6)
    assert by.loc[("redundancy", "bits"), "ground_truth"] == pytest.approx(2.0)
    assert pd.isna(by.loc[("redundancy", "balanced_accuracy"), "ground_truth"])  # null in the JSON
    m = result.metrics["redundancy"]
    assert m["chance"] == pytest.approx(0.25) and m["n_classes"] == 4
    assert m["balanced_accuracy"] == by.loc[("redundancy", "balanced_accuracy"), "value"]
    assert metrics["probes"]["redundancy"]["bits"] == m["bits"]
    # Vector data has no validation split: costs were chosen on a part carved out of the probe pairs.
    assert "val_balanced_accuracy" not in m


def test_cli_rescores_the_run_and_its_floors(run, tmp_path, capsys):
    _, out = run
    saved = tmp_path / "trained.csv"
    assert main(["evaluate", str(out), "--out", str(saved)]) == 0
    printed = capsys.readouterr().out
    assert "scores of" in printed and "match" in printed
    again = pd.read_csv(saved)
    trained = pd.DataFrame(json.loads((out / "metrics.json").read_text())["scores"])
    # Same checkpoint, same splits, same seed: the trainer's rows exactly.
    np.testing.assert_allclose(again["value"].to_numpy(), trained["value"].to_numpy(), rtol=1e-9)
    floors = {}
    for flag in ("--untrained", "--raw"):
        path = tmp_path / f"{flag[2:]}.csv"
        assert main(["evaluate", str(out), flag, "--out", str(path), "--target", "redundancy"]) == 0
        floors[flag] = pd.read_csv(path).set_index("metric")["value"]
    assert floors["--untrained"]["balanced_accuracy"] != floors["--raw"]["balanced_accuracy"]
    capsys.readouterr()
    assert main(["evaluate", str(out), "--untrained", "--raw"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "has no config.toml" in capsys.readouterr().err
