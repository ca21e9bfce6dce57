"""NeuralPID (Liang et al. BATCH): accuracy on gates and compositional data, determinism, validation."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from synergy_lab.data import gate, make_compositional, sample_table  # noqa: E402
from synergy_lab.pid._estimator_base import INTERVAL_QUANTITIES  # noqa: E402
from synergy_lab.pid.neural import NeuralPID, _SinkhornProjection  # noqa: E402

TOL = 0.15


def noisy_gate(name, n=4000, dim=4, noise=0.1, seed=0):
    """One-hot gate inputs in ``dim`` dimensions plus N(0, noise^2) noise in every dimension."""
    rng = np.random.default_rng(seed)
    a, b, y = sample_table(gate(name), n, random_state=rng)
    eye = np.eye(dim)
    return (eye[a] + noise * rng.standard_normal((n, dim)), eye[b] + noise * rng.standard_normal((n, dim)), y)


def check_identities(r):
    assert r.redundancy + r.unique1 == pytest.approx(r.mi_1, abs=1e-9)
    assert r.redundancy + r.unique2 == pytest.approx(r.mi_2, abs=1e-9)
    assert r.redundancy + r.unique1 + r.unique2 + r.synergy == pytest.approx(r.mi_joint, abs=1e-9)
    assert r.info["negative_atoms"] == [c for c in r.atoms() if r.atoms()[c] < 0]  # reported, not clipped


@pytest.fixture(scope="module")
def xor_fit():
    return NeuralPID(n_bootstrap=10, random_state=0).fit(*noisy_gate("xor"))


def test_xor_is_synergy(xor_fit):
    r = xor_fit.decomposition_
    assert r.synergy == pytest.approx(1.0, abs=TOL)
    for atom in (r.redundancy, r.unique1, r.unique2):
        assert abs(atom) < TOL
    assert r.mi_joint == pytest.approx(1.0, abs=0.05)
    check_identities(r)
    assert r.measure == "neural-broja" and r.gap == np.inf
    assert r.info["n_train"] + r.info["n_eval"] == 4000 and r.info["sinkhorn_residual"] < 1e-2
    assert xor_fit.n_classes_ == 2 and xor_fit.device_ == "cpu"


def test_and_gate():
    r = NeuralPID(random_state=1).fit(*noisy_gate("and", seed=1)).decomposition_
    assert r.redundancy == pytest.approx(0.311278, abs=TOL)
    assert r.synergy == pytest.approx(0.5, abs=TOL)
    assert abs(r.unique1) < TOL and abs(r.unique2) < TOL
    check_identities(r)


def test_compositional_synergy():
    ds = make_compositional(n_samples=4000, k=2, noise=0.0, random_state=0, targets=["synergy"])
    r = NeuralPID(random_state=0).fit(ds.x1, ds.x2, ds.targets["synergy"]).decomposition_
    assert ds.truth("synergy")["synergy"] == pytest.approx(1.0)
    assert r.synergy == pytest.approx(1.0, abs=TOL)
    for atom in (r.redundancy, r.unique1, r.unique2):
        assert abs(atom) < TOL


def test_confidence_interval_bootstraps_the_evaluation_set(xor_fit):
    ci = xor_fit.confidence_interval(0.1)
    assert isinstance(ci, pd.DataFrame) and list(ci.index) == list(INTERVAL_QUANTITIES)
    assert np.all(np.isfinite(ci.values)) and np.all(ci["low"] <= ci["high"])
    assert ci.loc["synergy", "estimate"] == xor_fit.decomposition_.synergy
    assert len(xor_fit._boot_results) == 10
    pd.testing.assert_frame_equal(ci, xor_fit.confidence_interval(0.1))


SMALL = dict(hidden=16, classifier_epochs=3, align_epochs=2, batch_size=128, eval_batch_size=256)


def test_same_seed_gives_identical_results():
    data = noisy_gate("xor", n=800, seed=3)
    rng_state, threads = torch.get_rng_state(), torch.get_num_threads()
    a = NeuralPID(random_state=7, **SMALL).fit(*data)
    b = NeuralPID(random_state=7, **SMALL).fit(*data)
    c = NeuralPID(random_state=8, **SMALL).fit(*data)
    assert a.decomposition_ == b.decomposition_ and a.decomposition_.info == b.decomposition_.info
    assert a.history_ == b.history_
    assert a.decomposition_.atoms() != c.decomposition_.atoms()
    # library code leaves the global torch RNG and the thread setting alone
    assert torch.equal(rng_state, torch.get_rng_state()) and torch.get_num_threads() == threads
    # refitting draws fresh bootstrap samples (cached draws belong to the previous fit)
    a.n_bootstrap = 2
    a.confidence_interval()
    a.fit(*noisy_gate("xor", n=800, seed=4))
    assert not hasattr(a, "_boot_results")


def test_multiclass_string_labels():
    x1, x2, y = noisy_gate("xor_k", n=900, seed=5)
    est = NeuralPID(random_state=0, **SMALL).fit(x1, x2, np.array(["a", "b", "c"])[y])
    assert est.n_classes_ == 3
    check_identities(est.decomposition_)


def test_sinkhorn_projection_marginals_and_implicit_gradient():
    gen = torch.Generator().manual_seed(0)
    k, b = 2, 7
    scores = torch.randn(k, b, b, dtype=torch.float64, generator=gen, requires_grad=True)
    row = torch.rand(k, b, dtype=torch.float64, generator=gen)
    col = torch.rand(k, b, dtype=torch.float64, generator=gen)
    col = col * row.sum(1, keepdim=True) / col.sum(1, keepdim=True)  # balanced per label
    weights = torch.randn(k, b, b, dtype=torch.float64, generator=gen)

    def loss(s):
        return (_SinkhornProjection.apply(s, row, col, 5000, 1e-13) * weights).sum()

    q = _SinkhornProjection.apply(scores, row, col, 5000, 1e-13)
    torch.testing.assert_close(q.sum(2), row)
    torch.testing.assert_close(q.sum(1), col)
    loss(scores).backward()
    direction = torch.randn(k, b, b, dtype=torch.float64, generator=gen)
    with torch.no_grad():
        h = 1e-6
        fd = (loss(scores + h * direction) - loss(scores - h * direction)) / (2 * h)
    assert float((scores.grad * direction).sum()) == pytest.approx(float(fd), rel=1e-5, abs=1e-9)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(hidden=0), "hidden"),
        (dict(batch_size=1), "batch_size"),
        (dict(classifier_epochs=2.5), "classifier_epochs"),
        (dict(lr=-1.0), "lr"),
        (dict(eval_fraction=1.0), "eval_fraction"),
        (dict(sinkhorn_tol=0), "sinkhorn_tol"),
        (dict(device="tpu"), "device"),
        (dict(n_bootstrap=-1), "n_bootstrap"),
    ],
)
def test_bad_parameters_raise(params, message):
    x1, x2, y = noisy_gate("xor", n=50)
    with pytest.raises(ValueError, match=message):
        NeuralPID(**params).fit(x1, x2, y)


def test_bad_data_raise():
    x1, x2, y = noisy_gate("xor", n=60)
    est = NeuralPID(**SMALL)
    with pytest.raises(ValueError, match="continuous targets are not supported"):
        est.fit(x1, x2, y + 0.5)
    with pytest.raises(ValueError, match="max_classes"):
        NeuralPID(max_classes=10).fit(x1, x2, np.arange(60))
    with pytest.raises(ValueError, match="single class"):
        est.fit(x1, x2, np.zeros(60, dtype=int))
    with pytest.raises(ValueError, match="same number of samples"):
        est.fit(x1[:-1], x2, y)
    with pytest.raises(ValueError, match="non-finite"):
        est.fit(np.where(x1 > 0.5, np.nan, x1), x2, y)
    with pytest.raises(ValueError, match="too few"):
        est.fit(x1, x2, np.r_[np.ones(2, dtype=int), np.zeros(58, dtype=int)])
    with pytest.raises(RuntimeError, match="not fitted"):
        NeuralPID().confidence_interval()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            NeuralPID(device="cuda").fit(x1, x2, y)


def test_importing_pid_does_not_import_torch():
    code = "import sys, synergy_lab.pid; assert 'torch' not in sys.modules, 'synergy_lab.pid imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
