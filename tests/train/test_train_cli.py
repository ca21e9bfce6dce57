"""`synergy-lab train CONFIG` end to end, and the CPU smoke mode of benchmarks/gpu_check.sh."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from synergy_lab.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "experiments" / "configs" / "cpu_tiny_infmasking.toml"


def test_cli_trains_a_tiny_toml_config(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(TINY), "--out", str(out), "--no-progress", "--set", "optim.steps=30"]) == 0
    printed = capsys.readouterr().out
    assert "infmasking: 30/30 steps" in printed
    # The new scores table (format_scores): one line per target with bits and the read-out PID.
    header, *lines = printed.split("scores (bits in bits")[1].splitlines()[1:5]
    assert "bits [95% CI]" in header and "read-out R / U1 / U2 / S" in header
    assert [line.split()[0] for line in lines] == ["redundancy", "unique1", "match"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["probes"]) == {"redundancy", "unique1", "match"}
    assert metrics["probes"]["redundancy"]["balanced_accuracy"] > 0.5
    assert (out / "config.toml").is_file() and (out / "history.csv").is_file()
    assert list((out / "checkpoints").glob("checkpoint-*.pt"))


def test_cli_reports_config_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.read_text().replace("mask_ratio = 0.5", "mask_ratio = 1.2"))
    assert main(["train", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "model.mask_ratio must be in [0.0, 1.0), got 1.2" in capsys.readouterr().err
    assert main(["train", str(TINY), "--set", "method.name=infmask"]) == 2
    assert "method.name: unknown method 'infmask'" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.toml")]) == 2
    assert not (tmp_path / "x").exists()


def test_shipped_configs_are_valid():
    from synergy_lab.train import load_config

    # experiment.toml files describe sweeps over training configs (read by their run.py), not runs.
    paths = sorted(p for p in (ROOT / "experiments").rglob("*.toml") if p.name != "experiment.toml")
    assert len(paths) >= 7
    for path in paths:
        load_config(path)


@pytest.fixture(scope="module")
def render_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("trifeature_cache"))


@pytest.mark.parametrize("name", ["paper_infmasking", "paper_comm"])
def test_paper_scale_trifeature_config_takes_a_step_on_cpu(name, render_cache):
    """The GPU config, unchanged but for its length and size: 224-px renders, AlexNet, E = 512, T = 6."""
    from synergy_lab.train import load_config, train

    cfg = load_config(ROOT / "experiments" / "trifeature" / f"{name}.toml").override({
        "data.n_train": 4, "optim.batch_size": 2, "optim.steps": 1, "optim.epochs": None,
        "data.params.cache_dir": render_cache, "eval.enabled": False, "out_dir": None, "checkpoint_every": 0,
        "device": "cpu", "progress": False})
    assert (cfg.data.params["resolution"], cfg.model.encoder, cfg.model.fusion_dim) == (224, "alexnet", 512)
    result = train(cfg)
    assert len(result.losses) == 1 and np.isfinite(result.losses).all()


def test_gpu_check_smoke_runs_on_cpu():
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--smoke"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "summary" in proc.stdout and "loss curves" in proc.stdout
    for method in ("infmasking", "comm"):
        assert f"\n{method}" in proc.stdout
    print(f"gpu_check.sh --smoke: {time.perf_counter() - t0:.1f} s")
