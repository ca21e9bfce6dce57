"""NeuralPID (Liang et al. BATCH): accuracy and intervals on gates and compositional data, coverage,
determinism, validation.

The accuracy tests run at n = 4000 with a fast configuration (FAST), not at n = 20k with the defaults: a
default five-member fit takes ~40 s at n = 20k on 2 cores, over this file's share of the CI budget.
"""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from synergy_lab.data import gate, make_compositional, make_gate, sample_table  # noqa: E402
from synergy_lab.pid import COMPONENTS  # noqa: E402
from synergy_lab.pid.estimators._neural_batch import (  # noqa: E402
    _batch_union_information,
    _batch_union_information_draws,
    _SinkhornProjection,
)
from synergy_lab.pid.estimators.base import INTERVAL_QUANTITIES  # noqa: E402
from synergy_lab.pid.estimators.neural import (  # noqa: E402
    NeuralPID,
    _bracket,
    _bracket_half_range,
    _fit_temperature,
    _quantities,
    _tempered,
)


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


#: A fast configuration (small networks, few epochs, big steps): ~0.5 s per ensemble member at n = 4000.
FAST = dict(hidden=16, classifier_epochs=10, align_epochs=4, batch_size=200, eval_batch_size=512, lr=0.02)
ALPHA_ALL = 0.01  # seven quantities at once: 99% intervals (Bonferroni), as in test_estimators.py


def _inside(ci, truth):
    return {q: bool(ci.loc[q, "low"] <= truth[q] <= ci.loc[q, "high"]) for q in INTERVAL_QUANTITIES}


def gate_data(name, n, seed):
    """make_gate's one-hot sources plus N(0, 0.1^2) noise; the truth is the gate's exact PID."""
    ds = make_gate(name, n_samples=n, random_state=seed)
    rng = np.random.default_rng(seed + 1000)
    noise = 0.1 * rng.standard_normal((2, *ds.x1.shape))
    return ds.x1 + noise[0], ds.x2 + noise[1], ds.targets["y"], ds.truth("y")


@pytest.fixture(scope="module")
def xor_fit():
    x1, x2, y, truth = gate_data("xor", 4000, 0)
    return NeuralPID(random_state=0, **FAST).fit(x1, x2, y), truth


def test_xor_is_synergy_within_ci(xor_fit):
    est, truth = xor_fit
    r = est.decomposition_
    assert r.synergy == pytest.approx(1.0, abs=0.05)
    for atom in (r.redundancy, r.unique1, r.unique2):
        assert abs(atom) < 0.05
    check_identities(r)
    assert r.measure == "neural-broja" and r.gap == np.inf
    assert r.info["n_train"] + r.info["n_eval"] == 4000 and r.info["sinkhorn_residual"] < 1e-2
    assert r.info["n_fits"] == 5 and est.n_classes_ == 2 and est.device_ == "cpu"
    # the estimate is the ensemble mean
    assert list(est.fits_.index) == list(range(5)) and len(est.history_) == 5
    for q in INTERVAL_QUANTITIES:
        assert getattr(r, q) == pytest.approx(est.fits_[q].mean(), abs=1e-12)
    ci = est.confidence_interval(ALPHA_ALL)
    assert all(_inside(ci, truth).values()), (ci, truth)


def test_and_gate_within_ci():
    x1, x2, y, truth = gate_data("and", 4000, 1)
    est = NeuralPID(random_state=1, **FAST).fit(x1, x2, y)
    ci = est.confidence_interval(ALPHA_ALL)
    assert all(_inside(ci, truth).values()), (ci, truth)
    r = est.decomposition_
    assert r.redundancy == pytest.approx(0.311278, abs=0.05) and r.synergy == pytest.approx(0.5, abs=0.05)
    check_identities(r)


@pytest.mark.parametrize("name", ["copy", "rdn", "unq"])
def test_deterministic_coupling_gates_within_ci(name):
    """Gates whose truth puts the union information at its upper end (a deterministic coupling): the
    posterior tails and the per-batch label entropy used to bias I_q low (COPY's S came out 0.012 bit high
    at n = 20k with intervals of +-0.004)."""
    x1, x2, y, truth = gate_data(name, 4000, 0)
    est = NeuralPID(random_state=0, **FAST).fit(x1, x2, y)
    ci = est.confidence_interval(ALPHA_ALL)
    assert all(_inside(ci, truth).values()), (ci, truth)
    check_identities(est.decomposition_)


def test_compositional_synergy():
    ds = make_compositional(n_samples=4000, k=2, noise=0.0, random_state=0, targets=["synergy"])
    r = NeuralPID(random_state=0, **FAST).fit(ds.x1, ds.x2, ds.targets["synergy"]).decomposition_
    truth = ds.truth("synergy")
    assert truth["synergy"] == pytest.approx(1.0)  # log2 K, K = 2
    for q in COMPONENTS:
        assert abs(getattr(r, q) - truth[q]) < 0.1


def test_confidence_interval_structure(xor_fit):
    est, _ = xor_fit
    ci = est.confidence_interval(0.1)
    assert isinstance(ci, pd.DataFrame) and list(ci.index) == list(INTERVAL_QUANTITIES)
    assert list(ci.columns) == ["estimate", "low", "high"]
    assert np.all(np.isfinite(ci.values)) and np.all(ci["low"] < ci["high"])
    assert ci.loc["synergy", "estimate"] == est.decomposition_.synergy
    assert len(est._boot_results) == 5 and est._boot_results[0].shape == (10, 7)
    pd.testing.assert_frame_equal(ci, est.confidence_interval(0.1))
    wide = est.confidence_interval(0.01)
    assert np.all(wide["low"] < ci["low"]) and np.all(wide["high"] > ci["high"])


COVERAGE = dict(FAST, classifier_epochs=8, align_epochs=3, lr=0.03, n_bootstrap=5)


def test_ci_coverage_small_case():
    """95% intervals cover the AND truth in >= 18 of 20 seeded repeats per PID component, and >= 90% for
    the three MIs pooled (the rule of test_estimators.py); n = 600, small networks: ~1 s per repeat."""
    rows = []
    for seed in range(20):
        x1, x2, y, truth = gate_data("and", 600, 100 + seed)
        rows.append(_inside(NeuralPID(random_state=seed, **COVERAGE).fit(x1, x2, y).confidence_interval(0.05),
                            truth))
    hits = pd.DataFrame(rows)
    assert (hits[list(COMPONENTS)].sum() >= 18).all(), hits.sum()
    assert hits[["mi_1", "mi_2", "mi_joint"]].to_numpy().mean() >= 0.9, hits.sum()


SMALL = dict(hidden=16, classifier_epochs=3, align_epochs=2, batch_size=128, eval_batch_size=256, n_fits=2,
             n_bootstrap=2)


def test_same_seed_gives_identical_results():
    data = noisy_gate("xor", n=800, seed=3)
    rng_state, threads = torch.get_rng_state(), torch.get_num_threads()
    a = NeuralPID(random_state=7, **SMALL).fit(*data)
    b = NeuralPID(random_state=7, **SMALL).fit(*data)
    c = NeuralPID(random_state=8, **SMALL).fit(*data)
    assert a.decomposition_ == b.decomposition_ and a.decomposition_.info == b.decomposition_.info
    assert a.history_ == b.history_
    pd.testing.assert_frame_equal(a.fits_, b.fits_)
    pd.testing.assert_frame_equal(a.confidence_interval(), b.confidence_interval())
    assert a.decomposition_.atoms() != c.decomposition_.atoms()
    assert not a.confidence_interval().equals(c.confidence_interval())
    # the members differ from each other (own splits and seeds)
    assert a.fits_["synergy"].nunique() == 2
    # library code leaves the global torch RNG and the thread setting alone
    assert torch.equal(rng_state, torch.get_rng_state()) and torch.get_num_threads() == threads
    # refitting draws fresh bootstrap samples (cached draws belong to the previous fit)
    a.fit(*noisy_gate("xor", n=800, seed=4))
    assert not hasattr(a, "_boot_results")


def test_interval_needs_two_fits_and_two_resamples():
    data = noisy_gate("xor", n=400, seed=3)
    with pytest.raises(ValueError, match="n_fits >= 2"):
        NeuralPID(random_state=0, **dict(SMALL, n_fits=1)).fit(*data).confidence_interval()
    with pytest.raises(ValueError, match="n_bootstrap >= 2"):
        NeuralPID(random_state=0, **dict(SMALL, n_bootstrap=1)).fit(*data).confidence_interval()


def test_weighted_batch_equals_resampled_batch():
    """Bootstrap counts as weights give the I_q of the batch with rows repeated by their counts."""
    gen = torch.Generator().manual_seed(0)
    b, k, d = 9, 3, 4
    e1, e2 = (torch.randn(b, k, d, dtype=torch.float64, generator=gen) for _ in range(2))
    p1, p2 = (torch.softmax(torch.randn(b, k, dtype=torch.float64, generator=gen), 1) for _ in range(2))
    counts = torch.tensor([[2, 0, 1, 1, 3, 0, 1, 1, 0], [1] * 9], dtype=torch.float64)
    vals, _ = _batch_union_information_draws(e1, e2, p1, p2, counts, 5000, 1e-12)
    for w, v in zip(counts, vals, strict=True):
        rep = torch.repeat_interleave(torch.arange(b), w.long())
        with torch.no_grad():
            iq, _ = _batch_union_information(e1[rep], e2[rep], p1[rep], p2[rep], 5000, 1e-12)
        assert v[0] == pytest.approx(float(iq), abs=1e-9)


def test_bracket_correction_exact():
    """Symmetric biases (CE MI low by b, posterior MI high by b, I_q high by b1 + b2) are removed exactly;
    a negative gap is left alone; the half-ranges are those of the implied atom brackets."""
    i1, i2, ij, iq, b1, b2, bj = 0.2, 0.3, 0.9, 0.4, 0.01, 0.02, 0.004
    rows = np.array([[i1 - b1, i2 - b2, ij - bj, iq + b1 + b2, i1 + b1, i2 + b2, ij + bj]])
    np.testing.assert_allclose(_bracket(rows, np.ones(3, bool)), [[i1, i2, ij, iq]], atol=1e-15)
    np.testing.assert_allclose(_bracket(rows, np.array([True, False, True])),
                               [[i1, i2 - b2, ij, iq + b2]], atol=1e-15)
    np.testing.assert_allclose(_bracket(rows, np.zeros(3, bool)), rows[:, :4])
    d = np.array([2 * b1, 2 * b2, 2 * bj])
    half = _bracket_half_range(d)
    corners = []  # atoms at every combination of bracket ends of the four base quantities
    for s1 in (-1, 1):
        for s2 in (-1, 1):
            for sj in (-1, 1):
                for sq in (-1, 1):
                    base = [i1 + s1 * b1, i2 + s2 * b2, ij + sj * bj, iq + sq * (b1 + b2)]
                    corners.append(_quantities(np.array([base]))[0])
    spread = np.ptp(corners, axis=0) / 2
    np.testing.assert_allclose(half, spread, atol=1e-15)


def _member(y, p1, p2, p12, batch_size, rng):
    """An evaluation state with constant alignment scores (embeddings of zeros) and given posteriors."""
    n = len(y)
    zeros = torch.zeros((n, p1.shape[1], 4))
    return _tempered({"y": y, "logits": [np.log(np.maximum(p, 1e-300)) for p in (p1, p2, p12)], "e1": zeros,
                      "e2": zeros, "batches": NeuralPID._batches(n, batch_size, rng)}, 1.0)


def test_bias_correction_on_known_classifier_noise():
    """y independent of both sources (every atom and MI is 0) and posteriors 0.5 + N(0, 0.08^2) noise, as an
    unbiased but noisy classifier gives: the cross-entropy MIs are biased by -E chi2 / 2 ~ -0.018 bit, the
    posterior MIs and I_q (product coupling: constant scores) upwards. The corrected estimate is ~0 and the
    brackets contain the truth."""
    rng = np.random.default_rng(0)
    n, sigma = 20000, 0.08
    y = rng.integers(0, 2, n)
    p = [np.clip(0.5 + sigma * rng.standard_normal(n), 0.05, 0.95) for _ in range(3)]
    post = [np.column_stack([1 - q, q]) for q in p]
    est = NeuralPID()
    est.n_classes_ = 2
    rows, _ = est._evaluate(_member(y, *post, 256, rng), np.ones((1, n)))
    raw, corrected = _quantities(rows[:, :4])[0], _quantities(_bracket(rows, np.ones(3, bool)))[0]
    gaps = rows[0, 4:7] - rows[0, :3]
    assert np.all(gaps > 0.02)  # ~ E chi2 = 4 sigma^2 / ln 2 = 0.037 bit
    assert rows[0, 3] == pytest.approx(rows[0, 4] + rows[0, 5], abs=1e-3)  # I_q ~ sum of posterior MIs
    assert abs(raw[0]) > 0.05 and abs(raw[1]) > 0.03 and abs(raw[3]) > 0.03  # R, U1, S badly biased
    assert np.all(np.abs(corrected) < 0.005), corrected
    assert np.all(np.abs(corrected) <= _bracket_half_range(gaps))


def test_temperature_scaling_recovers_a_known_temperature():
    """Labels drawn from softmax(z): logits 2z (over-confident) give T = 2, z / 2 give T = 0.5; separable
    data give the lower end of the range."""
    rng = np.random.default_rng(0)
    z = 2.0 * rng.standard_normal((20000, 3))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = torch.as_tensor((rng.random(20000)[:, None] > np.cumsum(p, 1)).sum(1))
    for scale, expected in ((2.0, 2.0), (0.5, 0.5), (1.0, 1.0)):
        assert _fit_temperature(torch.as_tensor(scale * z, dtype=torch.float32), y) == pytest.approx(
            expected, rel=0.05)
    separable = torch.as_tensor(np.eye(3)[y.numpy()] * 5.0, dtype=torch.float32)
    assert _fit_temperature(separable, y) == pytest.approx(0.2, rel=1e-2)


def _label_entropy(labels):
    freq = np.bincount(labels) / len(labels)
    freq = freq[freq > 0]
    return -np.sum(freq * np.log2(freq))


def test_batch_label_entropy_is_the_evaluation_parts():
    """Y = X1 = X2 with exact posteriors: I_q and both posterior MIs equal the label entropy of the whole
    evaluation part, not the mean label entropy of its batches (low by ~(K - 1) / (2 B ln 2) bit)."""
    rng = np.random.default_rng(0)
    n, k, batch = 4000, 3, 16
    y = rng.integers(0, k, n)
    onehot = np.eye(k)[y]
    est = NeuralPID()
    est.n_classes_ = k
    member = _member(y, onehot, onehot, onehot, batch, rng)
    rows, _ = est._evaluate(member, np.ones((1, n)))
    h_y = _label_entropy(y)
    np.testing.assert_allclose(rows[0, 3:7], h_y, atol=1e-5)
    np.testing.assert_allclose(rows[0, :3], h_y, atol=1e-5)  # cross-entropy 0
    batch_mean = np.mean([_label_entropy(y[b]) for b in member["batches"]])
    assert h_y - batch_mean > 0.05  # what the per-batch entropies would have cost


def test_tempered_member_and_calibration_term():
    """Factor 1 reproduces the member; a factor below 1 sharpens the posteriors. The calibration term is
    added to the interval and leaves the point estimate alone."""
    rng = np.random.default_rng(1)
    n, k = 500, 3
    p = rng.dirichlet(np.ones(k), size=(3, n))
    y = rng.integers(0, k, n)
    member = _member(y, p[0], p[1], p[2], 100, rng)
    np.testing.assert_allclose(member["p12"], p[2], atol=1e-12)
    np.testing.assert_allclose(member["loss"][:, 0], -np.log(p[0][np.arange(n), y]), atol=1e-12)
    sharp = _tempered(member, 0.5)
    np.testing.assert_allclose(sharp["p12"], p[2] ** 2 / np.sum(p[2] ** 2, 1, keepdims=True), atol=1e-12)
    data = noisy_gate("copy", n=800, seed=3)
    plain = NeuralPID(random_state=2, **dict(SMALL, calibration_margin=0.0)).fit(*data)
    wide = NeuralPID(random_state=2, **dict(SMALL, calibration_margin=0.3)).fit(*data)
    assert plain.decomposition_.atoms() == wide.decomposition_.atoms()
    assert all(v == 0 for v in plain.decomposition_.info["calibration_range"].values())
    extra = pd.Series(wide.decomposition_.info["calibration_range"])
    assert extra.max() > 0
    ci0, ci1 = plain.confidence_interval(), wide.confidence_interval()
    extra = extra[ci0.index].to_numpy()
    np.testing.assert_allclose((ci1["high"] - ci0["high"]).to_numpy(), extra, atol=1e-12)
    np.testing.assert_allclose((ci0["low"] - ci1["low"]).to_numpy(), extra, atol=1e-12)


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
        (dict(n_fits=0), "n_fits"),
        (dict(align_max_steps=0), "align_max_steps"),
        (dict(calibration_margin=1.0), "calibration_margin"),
        (dict(calibration_margin=-0.1), "calibration_margin"),
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
    assert est.fit(x1, x2, np.zeros(60, dtype=int)).decomposition_.info["constant_target"]  # no training
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


def test_diverging_classifier_raises_a_clear_error():
    rng = np.random.default_rng(0)
    x1, x2, y = rng.normal(size=(400, 3)) * 1e6, rng.normal(size=(400, 3)) * 1e6, rng.integers(0, 2, 400)
    with pytest.raises(ValueError, match="a classifier diverged"):
        NeuralPID(lr=1e12, n_fits=2, random_state=0).fit(x1, x2, y)
