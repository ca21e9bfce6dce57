"""Tests of the compositional-vector generator and its factor-level ground truth."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from synergy_lab.data.compositional import (
    TARGETS,
    compositional_ground_truth,
    compositional_table,
    make_compositional,
    target_alphabet,
)
from synergy_lab.data.gates import empirical_table
from synergy_lab.pid import decompose, mutual_informations

LN2 = np.log(2.0)
VALUES = ("redundancy", "unique1", "unique2", "synergy", "mi_1", "mi_2", "mi_joint")


def h2(q):
    """Binary entropy in bits."""
    return 0.0 if q in (0.0, 1.0) else float(-q * np.log2(q) - (1 - q) * np.log2(1 - q))


def source_codes(ds):
    f, k = ds.factors, ds.params["k"]
    return (f["r"] * k + f["u1"]) * k + f["s1"], (f["r"] * k + f["u2"]) * k + f["s2"]


# ---------------------------------------------------------------- reproducibility and the two pairings

def test_same_seed_same_data_different_seed_different_data():
    a, b = (make_compositional(600, k=3, noise=0.1, label_noise=0.1, random_state=7) for _ in range(2))
    c = make_compositional(600, k=3, noise=0.1, label_noise=0.1, random_state=8)
    np.testing.assert_array_equal(a.x1, b.x1)
    np.testing.assert_array_equal(a.x2, b.x2)
    assert set(a.targets) == set(TARGETS)
    for t in TARGETS:
        np.testing.assert_array_equal(a.targets[t], b.targets[t])
    for name in a.factors:
        np.testing.assert_array_equal(a.factors[name], b.factors[name])
    assert a.params == b.params
    assert not np.allclose(a.x1, c.x1) and not np.allclose(a.x2, c.x2)
    assert all(not np.array_equal(a.targets[t], c.targets[t]) for t in ("redundancy", "synergy", "mixed"))


def test_embedding_does_not_depend_on_n_samples():
    small, large = make_compositional(50, k=2, random_state=3), make_compositional(2000, k=2, random_state=3)

    def lookup(ds):
        f = ds.factors
        keys = np.column_stack([f["r"], f["u1"], f["s1"], f["nuisance1"]])
        return {tuple(key): row for key, row in zip(keys.tolist(), ds.x1, strict=True)}

    big = lookup(large)
    shared = [key for key in lookup(small) if key in big]
    assert len(shared) >= 10
    for key, row in lookup(small).items():
        if key in big:
            np.testing.assert_array_equal(row, big[key])


def test_biased_pairing_ties_s2_to_pi_of_s1():
    unb = make_compositional(3000, k=4, pairing="unbiased", random_state=11)
    bia = make_compositional(3000, k=4, pairing="biased", random_state=11)
    perm = np.asarray(bia.params["permutation"])
    assert bia.params["permutation"] == unb.params["permutation"]
    assert sorted(perm.tolist()) == [0, 1, 2, 3]
    np.testing.assert_array_equal(bia.factors["s2"], perm[bia.factors["s1"]])
    assert np.all(bia.targets["match"] == 1)
    assert np.mean(unb.factors["s2"] == perm[unb.factors["s1"]]) == pytest.approx(0.25, abs=0.03)
    # Only s2 differs: modality 1 and every factor but s2 are the same samples.
    np.testing.assert_array_equal(bia.x1, unb.x1)
    for name in ("r", "u1", "u2", "s1", "nuisance1", "nuisance2"):
        np.testing.assert_array_equal(bia.factors[name], unb.factors[name])


def test_observation_noise_and_label_noise_rates():
    clean = make_compositional(4000, k=3, random_state=5)
    noisy = make_compositional(4000, k=3, noise=0.3, label_noise=0.6, random_state=5)
    assert np.std(noisy.x1 - clean.x1) == pytest.approx(0.3, rel=0.02)
    for t in ("synergy", "mixed", "match"):
        a = target_alphabet(t, 3)
        changed = np.mean(noisy.targets[t] != clean.targets[t])
        assert changed == pytest.approx(0.6 * (a - 1) / a, abs=0.03), t  # replaced and not drawn back


# ---------------------------------------------------------------- learnability of synergy

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_reads_synergy_only_from_both_modalities():
    from sklearn.neural_network import MLPClassifier

    ds = make_compositional(5000, k=2, dim=32, noise=0.0, random_state=0)
    y, n = ds.targets["synergy"], 2500
    scores = {}
    for name, x in (("x1", ds.x1), ("x2", ds.x2), ("both", np.hstack([ds.x1, ds.x2]))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=200,
                                random_state=0)
            clf.fit(x[:n], y[:n])
        scores[name] = clf.score(x[n:], y[n:])
    # One modality is independent of the label: held-out accuracy is Binomial(2500, 1/2)/2500, sd 1 point.
    assert abs(scores["x1"] - 0.5) <= 0.03 and abs(scores["x2"] - 0.5) <= 0.03, scores
    assert scores["both"] > 0.95, scores


# ---------------------------------------------------------------- empirical information vs ground truth

def _tolerance(p_xy: np.ndarray, n: int) -> float:
    """Allowed |plug-in MI - true MI| for n samples of the 2-D joint ``p_xy``.

    The plug-in estimate's first-order (Miller-Madow) bias is (m_xy - m_x - m_y + 1)/(2n ln 2), at most
    (cells - 1)/(2n ln 2) in size for ``cells`` support cells; its chi-square fluctuation has sd about
    sqrt(2 (cells - 1))/(2n ln 2); the delta-method standard error is sd(pointwise MI)/sqrt(n).
    Allow the bias bound plus 4 of each fluctuation.
    """
    cells = int(np.count_nonzero(p_xy))
    px, py = p_xy.sum(axis=1, keepdims=True), p_xy.sum(axis=0, keepdims=True)
    nz = p_xy > 0
    pmi = np.log2(p_xy[nz] / (px * py)[nz])
    var = max(float(np.sum(p_xy[nz] * pmi**2) - np.sum(p_xy[nz] * pmi) ** 2), 0.0)
    return (cells - 1 + 4 * np.sqrt(2 * (cells - 1))) / (2 * n * LN2) + 4 * np.sqrt(var / n)


@pytest.mark.parametrize("k, pairing, label_noise", [(2, "unbiased", 0.0), (3, "unbiased", 0.0),
                                                     (2, "biased", 0.3), (2, "unbiased", 0.3)])
def test_plugin_information_matches_ground_truth(k, pairing, label_noise):
    n = 20000
    ds = make_compositional(n, k=k, dim=8, n_nuisance=1, label_noise=label_noise, pairing=pairing,
                            random_state=2)
    c1, c2 = source_codes(ds)
    perm = np.asarray(ds.params["permutation"])
    for t in TARGETS:
        p = compositional_table(t, k, pairing, label_noise, perm)
        est = mutual_informations(empirical_table(c1, c2, ds.targets[t], shape=p.shape))
        truth = ds.truth(t)
        for value, key, p_xy in zip(est, ("mi_1", "mi_2", "mi_joint"),
                                    (p.sum(axis=1), p.sum(axis=0), p.reshape(-1, p.shape[2])), strict=True):
            tol = _tolerance(p_xy, n)
            assert abs(value - truth[key]) <= tol, (t, key, value, truth[key], tol)


# ---------------------------------------------------------------- exact ground-truth values

@pytest.mark.parametrize("k", [2, 3, 4])
def test_textbook_atoms(k):
    gt = compositional_ground_truth(k)
    got = {row["target"]: row for row in gt.to_dict("records")}
    log_k = np.log2(k)
    expected = {
        "match": (0, 0, 0, h2(1 / k)),
        "synergy": (0, 0, 0, log_k),
        "redundancy": (log_k, 0, 0, 0),
        "unique1": (0, log_k, 0, 0),
        "unique2": (0, 0, log_k, 0),
        "mixed": (log_k, log_k, 0, log_k),
    }
    for t, atoms in expected.items():
        vals = [got[t][a] for a in ("redundancy", "unique1", "unique2", "synergy")]
        np.testing.assert_allclose(vals, atoms, atol=1e-6, err_msg=t)
        assert got[t]["measure"] == "broja"


@pytest.mark.parametrize("k", [2, 3, 4])
def test_biased_ground_truth(k):
    perm = np.random.default_rng(k).permutation(k)
    gt = compositional_ground_truth(k, "biased", targets=["synergy", "match", "unique1"], permutation=perm)
    got = {row["target"]: row for row in gt.to_dict("records")}
    # s2 = pi(s1): the synergy label is a function of either synergy half, hence all redundant.
    counts = np.bincount((np.arange(k) + perm) % k, minlength=k) / k
    h_y = float(-np.sum(counts[counts > 0] * np.log2(counts[counts > 0])))
    np.testing.assert_allclose([got["synergy"][a] for a in ("redundancy", "unique1", "unique2", "synergy")],
                               [h_y, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(got["match"]["mi_joint"], 0.0, atol=1e-12)
    np.testing.assert_allclose(got["unique1"]["unique1"], np.log2(k), atol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("eps", [0.1, 0.5, 1.0])
def test_label_noise_lowers_information_as_derived(k, eps):
    """Uniform A-ary label Y, determined by (X1, X2); noisy label: with probability eps a uniform draw.

    P(noisy = Y) = 1 - eps + eps/A and each other symbol has eps/A, so with flip mass d = eps (A - 1)/A,
    I(X1, X2; noisy) = H(noisy) - H(noisy | Y) = log2 A - h(d) - d log2(A - 1).
    For match (P(Y = 1) = 1/k, A = 2): I = h((1 - eps)/k + eps/2) - h(eps/2).
    """
    targets = ["redundancy", "synergy", "match"] + (["mixed"] if k < 4 else [])
    got = {row["target"]: row for row in compositional_ground_truth(k, label_noise=eps, targets=targets)
           .to_dict("records")}
    for t in targets:
        a = target_alphabet(t, k)
        if t == "match":
            expected = h2((1 - eps) / k + eps / 2) - h2(eps / 2)
        else:
            d = eps * (a - 1) / a
            expected = np.log2(a) - h2(d) - d * np.log2(a - 1)
        np.testing.assert_allclose(got[t]["mi_joint"], expected, atol=1e-9, err_msg=t)
    # Independent noise keeps each single-source label pure: synergy stays all synergy.
    np.testing.assert_allclose(got["synergy"]["synergy"], got["synergy"]["mi_joint"], atol=1e-6)
    np.testing.assert_allclose(got["redundancy"]["redundancy"], got["redundancy"]["mi_joint"], atol=1e-6)


@pytest.mark.parametrize("measure", ["broja", "mmi", "imin"])
def test_leaving_nuisance_out_of_the_table_changes_nothing(measure):
    k, perm = 2, np.array([1, 0])
    for t in ("mixed", "match"):
        p = compositional_table(t, k, "unbiased", 0.2, perm)
        # A nuisance bit in each source: independent of everything, enlarging each source alphabet 2-fold.
        p_n = np.einsum("abY,m,n->ambnY", p, [0.5, 0.5], [0.5, 0.5])
        p_n = p_n.reshape(2 * p.shape[0], 2 * p.shape[1], -1)
        r, r_n = decompose(p, measure), decompose(p_n, measure)
        np.testing.assert_allclose(list(r_n.atoms().values()), list(r.atoms().values()), atol=1e-6, err_msg=t)


@pytest.mark.parametrize("pairing", ["unbiased", "biased"])
@pytest.mark.parametrize("k, eps", [(2, 0.0), (2, 0.2), (3, 0.0)])
def test_reduced_tables_have_the_pid_of_the_full_factor_tables(k, pairing, eps):
    perm = np.random.default_rng(1).permutation(k)
    for t in TARGETS:
        full = decompose(compositional_table(t, k, pairing, eps, perm))
        red = decompose(compositional_table(t, k, pairing, eps, perm, reduced=True))
        np.testing.assert_allclose([getattr(red, a) for a in VALUES], [getattr(full, a) for a in VALUES],
                                   atol=1e-7, err_msg=t)


def test_dataset_ground_truth_equals_describe_table():
    ds = make_compositional(100, k=3, pairing="biased", label_noise=0.1, random_state=4,
                            targets=["synergy", "mixed"])
    gt = compositional_ground_truth(3, "biased", 0.1, random_state=4, targets=["synergy", "mixed"])
    assert list(ds.targets) == ["synergy", "mixed"]
    assert ds.ground_truth.equals(gt)
    assert ds.name == "compositional"


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("kwargs, name", [
    (dict(k=1), "k"), (dict(k=2.5), "k"), (dict(dim=3), "dim"), (dict(noise=-0.1), "noise"),
    (dict(noise=float("nan")), "noise"), (dict(label_noise=1.5), "label_noise"),
    (dict(label_noise=-0.01), "label_noise"), (dict(pairing="shuffled"), "pairing"),
    (dict(n_samples=0), "n_samples"), (dict(n_nuisance=-1), "n_nuisance"),
    (dict(embedding_depth=0), "embedding_depth"), (dict(measure="nope"), "measure"),
    (dict(targets=["colour"]), "targets"), (dict(k=4, dim=4, n_nuisance=1), "dim"),
    (dict(k=64), "k"), (dict(noise="x"), "noise"), (dict(label_noise=None), "label_noise"),
    (dict(noise=float("inf")), "noise"), (dict(k="3"), "k"),
])
def test_bad_inputs_raise_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        make_compositional(**{"n_samples": 10, "random_state": 0, **kwargs})


def test_bad_ground_truth_inputs():
    with pytest.raises(ValueError, match="permutation"):
        compositional_ground_truth(3, "biased", permutation=[0, 0, 1])
    with pytest.raises(ValueError, match="pairing"):
        compositional_ground_truth(3, "random")


@pytest.mark.parametrize("pairing", ["unbiased", "biased"])
def test_target_factors_carry_the_ground_truth(pairing):
    """The codes (f1, f2) exposed per target are the sources of the ground-truth table: the exact PID of
    their population table is the truth (checked on the full factor grid), and every sample's label is the
    target's function of them."""
    from synergy_lab.data import empirical_table
    from synergy_lab.data.compositional import RELEVANT_FACTORS, factor_codes
    from synergy_lab.pid import decompose

    ds = make_compositional(n_samples=400, k=2, pairing=pairing, random_state=3)
    grid = dict(zip(("r", "u1", "u2", "s1", "s2"), np.indices((2,) * 5).reshape(5, -1), strict=True))
    perm = np.asarray(ds.params["permutation"])
    if pairing == "biased":
        grid = {k: v[grid["s2"] == perm[grid["s1"]]] for k, v in grid.items()}
    for target in ds.targets:
        f1, f2 = ds.target_factors[target]
        np.testing.assert_array_equal((f1, f2), factor_codes(target, ds.factors, 2))
        g1, g2 = factor_codes(target, grid, 2)
        y = {"redundancy": grid["r"], "unique1": grid["u1"], "unique2": grid["u2"],
             "synergy": (grid["s1"] + grid["s2"]) % 2, "mixed": (grid["r"] * 2 + grid["u1"]) * 2
             + (grid["s1"] + grid["s2"]) % 2, "match": (grid["s2"] == perm[grid["s1"]]).astype(int)}[target]
        pid = decompose(empirical_table(g1, g2, y), measure="broja")
        truth = ds.truth(target)
        for atom in ("redundancy", "unique1", "unique2", "synergy"):
            assert getattr(pid, atom) == pytest.approx(truth[atom], abs=1e-7), (target, atom)
        assert len(RELEVANT_FACTORS[target][0]) == 0 or f1.max() < 2 ** len(RELEVANT_FACTORS[target][0])
    only = make_compositional(n_samples=10, targets=["match"], random_state=0)
    assert only.target_factors.keys() == {"match"}
