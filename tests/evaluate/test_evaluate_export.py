"""Bring your own model: export a dataset, compute features outside synergy_lab, score them from the CLI
and from Python with the same result; malformed features files are refused with one clear error line."""

import numpy as np
import pandas as pd
import pytest
import torch

from synergy_lab.cli import main
from synergy_lab.evaluate import load_export, load_features, score_representation
from synergy_lab.evaluate.export import export_dataset


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    assert main(["data", "compositional", "--export", str(out), "-p", "k=2", "-p", "dim=8",
                 "-p", "n_samples=1000", "-p", "random_state=0"]) == 0
    return out


def _model_features(data):
    """A model synergy_lab knows nothing about: a seeded random torch MLP on [x1, x2]."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 24))
    with torch.no_grad():
        return {s: net(torch.as_tensor(np.c_[data.x1[s], data.x2[s]], dtype=torch.float32)).numpy()
                for s in data.splits}


def test_export_layout(export):
    data = load_export(export)
    assert data.splits == ("train", "val", "test")
    assert [len(data.x1[s]) for s in data.splits] == [600, 200, 200]
    assert data.meta["params"]["pairing"] == "unbiased" and data.pretrain[0].shape == (1000, 8)
    assert set(data.labels["test"]) == set(data.factors) == set(data.ground_truth["target"])
    with np.load(export / "test.npz") as z:
        np.testing.assert_array_equal(z["y__match"], data.labels["test"]["match"])
        f1, f2 = z["f1__synergy"], z["f2__synergy"]
    np.testing.assert_array_equal(data.labels["test"]["synergy"], (f1 + f2) % 2)  # s1, s2 codes
    with pytest.raises(ValueError, match="fractions"):
        export_dataset("compositional", export / "x", fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="no meta.json"):
        load_export(export / "missing")


def test_cli_scores_external_features_like_python(export, tmp_path, capsys):
    data = load_export(export)
    feats = _model_features(data)
    path = tmp_path / "feats.npz"
    np.savez(path, **feats)
    out = tmp_path / "rows.csv"
    assert main(["evaluate", "--features", str(path), "--data", str(export), "--target", "synergy",
                 "redundancy", "--out", str(out)]) == 0
    assert "synergy" in capsys.readouterr().out
    cli = pd.read_csv(out)
    py = pd.DataFrame(score_representation(feats, data.labels, factors=data.factors,
                                           ground_truth=data.ground_truth, targets=["synergy", "redundancy"]))
    pd.testing.assert_frame_equal(cli, py, check_exact=False, rtol=1e-9)
    truth = cli.query("target == 'synergy' and metric == 'readout_S'")["ground_truth"].item()
    assert truth == pytest.approx(1.0)


@pytest.mark.parametrize("bad, message", [
    (lambda f: {**f, "test": f["test"][1:]}, "has shape (199, 24), but the export's test split has 200 rows"),
    (lambda f: {**f, "train": f["train"][:, :, None]}, "features must be (n_rows, d)"),
    (lambda f: {"train": f["train"]}, "lacks split(s) ['test']"),
    (lambda f: {**f, "dev": f["val"]}, "unknown split(s) ['dev']"),
    (lambda f: {**f, "val": f["val"][:, :3]}, "differ in width"),
])
def test_malformed_features_are_refused(export, tmp_path, capsys, bad, message):
    data = load_export(export)
    path = tmp_path / "bad.npz"
    np.savez(path, **bad(_model_features(data)))
    assert main(["evaluate", "--features", str(path), "--data", str(export)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    with pytest.raises(ValueError, match="not found"):
        load_features(tmp_path / "none.npz", data)
    assert main(["evaluate", "--features", str(path)]) == 2
    assert "go together" in capsys.readouterr().err
