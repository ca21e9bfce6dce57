"""Sample estimators on awkward but valid input (extreme scales, constant targets) and their error messages.

Every user mistake gives one ValueError or TypeError naming the parameter; finite data of any scale give the
estimate they give at scale 1; a constant target gives the exact all-zero PID for every estimator.
"""

import numpy as np
import pandas as pd
import pytest

from synergy_lab.data import make_gaussian
from synergy_lab.pid import ClusterPID, GaussianPID, PluginPID
from synergy_lab.pid.estimators._discretise import cluster_labels, unique_rows
from synergy_lab.pid.estimators._sample_tools import pow2_normalised, standardised
from synergy_lab.pid.estimators.base import INTERVAL_QUANTITIES


def _neural(**params):
    from synergy_lab.pid import NeuralPID  # noqa: PLC0415  (torch only for the cases that need it)

    return NeuralPID(**params)


def _binary_sources(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    x1 = a[:, None] + 0.3 * rng.standard_normal((n, 2))
    x2 = b[:, None] + 0.3 * rng.standard_normal((n, 2))
    return x1, x2, a & b


def _same_partition(a, b):
    """Do two labellings split the samples the same way (cluster numbers aside)?"""
    table = pd.crosstab(a, b).gt(0)
    return bool(table.sum(axis=0).eq(1).all() and table.sum(axis=1).eq(1).all())


def _values(result):
    return np.array([getattr(result, q) for q in INTERVAL_QUANTITIES])


# -- extreme scales ---------------------------------------------------------------------------------

@pytest.mark.parametrize("standardize", [True, False])
def test_cluster_pid_is_scale_safe(standardize):
    """Before: the standard deviation overflowed at 1e160 (underflowed at 1e-200) and I(X1;Y) came out 0."""
    x1, x2, y = _binary_sources()
    base = ClusterPID(n_clusters=2, n_bootstrap=0, standardize=standardize, random_state=0).fit(x1, x2, y)
    assert base.decomposition_.mi_1 > 0.25  # AND: I(X1;Y) = 0.311 bit, a little less after clustering
    for scale in (1e160, 1e-200):
        est = ClusterPID(n_clusters=2, n_bootstrap=0, standardize=standardize, random_state=0)
        est.fit(x1 * scale, x2 / scale, y)
        assert _same_partition(est.labels1_, base.labels1_) and _same_partition(est.labels2_, base.labels2_)
        np.testing.assert_allclose(_values(est.decomposition_), _values(base.decomposition_), atol=1e-12)


@pytest.mark.parametrize("measure", ["mmi", "broja"])
def test_gaussian_pid_is_scale_safe(measure):
    """Before: data scaled by 1e200 were called "non-finite" and by 1e-200 "singular"."""
    ds = make_gaussian(n_samples=2000, dim1=2, dim2=1, dim_y=2, recipe="mixed", random_state=0)
    base = GaussianPID(measure=measure, n_bootstrap=0).fit(ds.x1, ds.x2, ds.targets["y"]).decomposition_
    assert base.mi_joint > 0.1
    for scale in (1e200, 1e-200):
        r = GaussianPID(measure=measure, n_bootstrap=0).fit(
            ds.x1 * scale, ds.x2 / scale, ds.targets["y"] * scale).decomposition_
        np.testing.assert_allclose(_values(r), _values(base), atol=1e-9)


def test_power_of_two_scaling_is_exact():
    """The scale-safe helpers change nothing, bit for bit, on data that never neared the float limits."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 3)) * [1.0, 7.0, 1e-3] + [0.0, 3.0, 1.0]
    x[:, 1] = np.round(x[:, 1])
    plain = (x - x.mean(0)) / x.std(0)
    np.testing.assert_array_equal(standardised(x), plain)
    rows = np.arange(0, 500, 3)
    np.testing.assert_array_equal(standardised(x, rows), (x - x[rows].mean(0)) / x[rows].std(0))
    peak = np.abs(pow2_normalised(x)).max(0)
    assert np.all((peak >= 0.5) & (peak < 1.0))
    np.testing.assert_array_equal(pow2_normalised(np.zeros((3, 2))), np.zeros((3, 2)))
    # The constant column is only centred; the labels equal those of k-means on the plain z-scores.
    const = np.c_[x, np.full(500, 5.0)]
    assert np.all(standardised(const)[:, 3] == 0.0)
    # cluster_labels gives exactly the labels of the plain formula (the pre-scale-safe implementation).
    from sklearn.cluster import KMeans  # noqa: PLC0415

    rows, inverse, counts = unique_rows(x)
    seed = int(np.random.default_rng(0).integers(2**31 - 1))
    km = KMeans(n_clusters=4, n_init=3, random_state=seed)
    ref = km.fit_predict((rows - x.mean(0)) / x.std(0), sample_weight=counts.astype(float))[inverse]
    labels = cluster_labels(x, 4, np.random.default_rng(0))
    np.testing.assert_array_equal(labels, np.unique(ref, return_inverse=True)[1])


# -- constant target: one behaviour for every estimator ----------------------------------------------

@pytest.mark.parametrize("make, sources", [
    (lambda: PluginPID(n_bootstrap=5, random_state=0), "discrete"),
    (lambda: ClusterPID(n_clusters=3, n_bootstrap=5, random_state=0), "continuous"),
    (lambda: GaussianPID(n_bootstrap=5, random_state=0), "continuous"),
    (lambda: _neural(n_fits=2, random_state=0), "continuous"),
])
@pytest.mark.parametrize("label", [0, "a"])
def test_constant_target_gives_exact_zeros(make, sources, label):
    rng = np.random.default_rng(0)
    if sources == "discrete":
        x1, x2 = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
    else:
        x1, x2 = rng.normal(size=(300, 2)), rng.normal(size=(300, 3))
    est = make().fit(x1, x2, np.full(300, label))
    r = est.decomposition_
    assert np.all(_values(r) == 0.0) and r.info["constant_target"] is True and r.info["n_samples"] == 300
    ci = est.confidence_interval(0.05)
    assert list(ci.index) == list(INTERVAL_QUANTITIES) and np.all(ci.to_numpy() == 0.0)


def test_constant_target_keeps_fitted_attributes_and_refits():
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
    est = ClusterPID(n_clusters=3, n_bootstrap=0, random_state=0).fit(x1, x2, np.ones(400, int))
    assert est.counts_.shape == (3, 3, 1) and est.n_clusters_ == (3, 3)
    assert np.all(est.sensitivity([2, 3])[list(INTERVAL_QUANTITIES)].to_numpy() == 0.0)
    # A refit on a target with information leaves the constant-target state behind.
    est.fit(x1, x2, (x1[:, 0] > 0).astype(int))
    assert est.decomposition_.mi_1 > 0.3 and "constant_target" not in est.decomposition_.info
    # A continuous constant target for GaussianPID: every row equal, whatever the number of columns.
    r = GaussianPID(n_bootstrap=0).fit(x1, x2, np.full((400, 2), 1.5)).decomposition_
    assert r.info["constant_target"] and r.mi_joint == 0.0


# -- user mistakes: one clear error naming the parameter -------------------------------------------

def _labels_with_none():
    y = np.array([0, 1] * 30, dtype=object)
    y[7] = None
    return y


def _fit(est, y=None):
    rng = np.random.default_rng(0)
    x1, x2 = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    return est.fit(x1, x2, rng.integers(0, 2, 60) if y is None else y)


def _interval(est, alpha):
    return _fit(est).confidence_interval(alpha)


@pytest.mark.parametrize("call, error, message", [
    # booleans must be bools: "no" and "false" are truthy strings
    (lambda: _fit(GaussianPID(bias_correction="no", n_bootstrap=0)), TypeError, "bias_correction"),
    (lambda: _fit(GaussianPID(bias_correction="false", n_bootstrap=0)), TypeError, "bias_correction"),
    (lambda: _fit(GaussianPID(copula="yes", n_bootstrap=0)), TypeError, "copula"),
    (lambda: _fit(GaussianPID(discrete_target=1, n_bootstrap=0)), TypeError, "discrete_target"),
    (lambda: _fit(ClusterPID(standardize="no", n_bootstrap=0)), TypeError, "standardize"),
    (lambda: _fit(_neural(bias_correction="no")), TypeError, "bias_correction"),
    # labels
    (lambda: _fit(PluginPID(n_bootstrap=0), _labels_with_none()), ValueError, "y has missing labels"),
    (lambda: _fit(ClusterPID(n_bootstrap=0), _labels_with_none()), ValueError, "y has missing labels"),
    (lambda: _fit(GaussianPID(n_bootstrap=0), _labels_with_none()), ValueError, "y has missing labels"),
    (lambda: _fit(_neural(), _labels_with_none()), ValueError, "y has missing labels"),
    # alpha
    (lambda: _interval(PluginPID(n_bootstrap=2), "0.05"), TypeError, "alpha"),
    (lambda: _interval(GaussianPID(n_bootstrap=2), None), TypeError, "alpha"),
    (lambda: _interval(PluginPID(n_bootstrap=2), 1.5), ValueError, "alpha"),
    (lambda: _neural().confidence_interval("0.05"), TypeError, "alpha"),
    # integer parameters
    (lambda: _fit(ClusterPID(n_init=0, n_bootstrap=0)), ValueError, "n_init"),
    (lambda: _fit(ClusterPID(n_init=2.5, n_bootstrap=0)), TypeError, "n_init"),
    (lambda: _fit(PluginPID(n_shuffles="10", n_bootstrap=0)), TypeError, "n_shuffles"),
    (lambda: _fit(PluginPID(n_bootstrap=None)), TypeError, "n_bootstrap"),
    (lambda: _fit(GaussianPID(n_bootstrap=True)), TypeError, "n_bootstrap"),
    (lambda: _fit(GaussianPID(measure="imin", n_bootstrap=0)), ValueError, "unknown Gaussian PID measure"),
])
def test_user_mistakes_raise_one_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_object_labels_without_missing_values_are_accepted():
    y = np.array(["a", 1] * 30, dtype=object)
    est = _fit(PluginPID(n_bootstrap=0, random_state=0), y)
    assert est.counts_.shape[2] == 2
