"""The synergy-lab command line, the registry and atomic writes."""

import subprocess
import sys

import pandas as pd
import pytest

from synergy_lab.cli import main
from synergy_lab.data import available_generators, describe, make
from synergy_lab.io import atomic_write_csv, atomic_write_text


def test_quickstart_truth_only_writes_the_ground_truth_csv(tmp_path, capsys):
    assert main(["quickstart", "--truth-only", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "ground_truth.csv")
    assert set(table["target"]) == {"redundancy", "unique1", "unique2", "synergy", "mixed", "match"}
    synergy = table.set_index("target").loc["synergy"]
    assert synergy["synergy"] == pytest.approx(1.0, abs=1e-6)
    assert synergy["redundancy"] == pytest.approx(0.0, abs=1e-6)
    assert "ground-truth PID" in out
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary left behind


def test_data_describe_prints_the_table(capsys):
    assert main(["data", "gate", "--describe", "-p", "name='and'"]) == 0
    out = capsys.readouterr().out
    assert "0.311278" in out and "0.500000" in out


def test_data_list(capsys):
    assert main(["data", "--list"]) == 0
    out = capsys.readouterr().out
    for name in available_generators():
        assert name in out


def test_cli_errors_name_the_problem(capsys):
    assert main(["data", "nope", "--describe"]) == 2
    assert "unknown generator 'nope'" in capsys.readouterr().err
    assert main(["data", "compositional", "--describe", "-p", "kk=3"]) == 2
    assert "kk" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["data", "gate", "-p", "no-equals-sign"])


def test_console_script_entry_point_runs():
    res = subprocess.run(
        [sys.executable, "-m", "synergy_lab.cli", "data", "gaussian", "--describe", "-p", "recipe='synergy'"],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "synergy" in res.stdout


def test_registry_make_and_describe():
    ds = make("gate", name="copy", n_samples=50, random_state=1)
    assert ds.x1.shape == (50, 2) and ds.truth("y")["unique1"] == pytest.approx(1.0, abs=1e-6)
    assert list(describe("compositional", k=2)["target"])[:2] == ["redundancy", "unique1"]
    with pytest.raises(ValueError, match="unknown generator"):
        make("trifeature_typo")
    with pytest.raises(ValueError, match="'bogus'"):
        make("compositional", bogus=1)


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "x.csv"
    atomic_write_csv(pd.DataFrame({"a": [1, 2]}), path)
    atomic_write_text(path, "a\n3\n")
    assert path.read_text() == "a\n3\n"
    assert [p.name for p in path.parent.iterdir()] == ["x.csv"]


def test_importing_the_package_does_not_import_torch():
    code = "import sys, synergy_lab, synergy_lab.data, synergy_lab.pid; print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"
