"""The sample estimators are scikit-learn estimators: get_params, set_params and clone work on all four."""

import inspect

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone

from synergy_lab.pid import ClusterPID, GaussianPID, PluginPID
from synergy_lab.pid.estimators import PIDEstimator


def _neural_cls():
    from synergy_lab.pid import NeuralPID  # noqa: PLC0415  (torch only where needed)

    return NeuralPID


# Small settings that keep each fit well under a second, and a non-default value per estimator.
CASES = {
    "PluginPID": (lambda: PluginPID, dict(n_bootstrap=3, n_shuffles=3), ("measure", "imin")),
    "ClusterPID": (lambda: ClusterPID, dict(n_clusters=3, n_bootstrap=3, n_shuffles=3), ("n_init", 2)),
    "GaussianPID": (lambda: GaussianPID, dict(n_bootstrap=3), ("copula", True)),
    "NeuralPID": (_neural_cls, dict(hidden=8, classifier_epochs=2, align_epochs=1, n_fits=2, n_bootstrap=2,
                                    batch_size=64, eval_batch_size=64), ("embed_dim", 4)),
}


def _data(discrete=False):
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, (2, 300))
    if discrete:
        return a, b, a ^ b
    x1 = a[:, None] + 0.2 * rng.standard_normal((300, 2))
    x2 = b[:, None] + 0.2 * rng.standard_normal((300, 2))
    return x1, x2, a ^ b


@pytest.mark.parametrize("name", list(CASES))
def test_get_and_set_params(name):
    cls_fn, small, (param, value) = CASES[name]
    cls = cls_fn()
    assert issubclass(cls, PIDEstimator) and issubclass(cls, BaseEstimator)
    est = cls()
    signature = inspect.signature(cls.__init__).parameters
    defaults = {k: v.default for k, v in signature.items() if k != "self"}
    assert est.get_params() == defaults
    # `version` stays a class attribute, never a parameter.
    assert "version" not in est.get_params() and "version" not in vars(est)
    assert isinstance(cls.version, int) and est.version == cls.version
    assert est.set_params(**{param: value}, random_state=3) is est
    assert est.get_params()[param] == value and est.random_state == 3
    assert repr(est) == f"{name}({param}={value!r}, random_state=3)"
    with pytest.raises(ValueError, match="nope"):
        est.set_params(nope=1)


@pytest.mark.parametrize("name", list(CASES))
def test_clone_is_an_unfitted_copy_that_refits_identically(name):
    cls_fn, small, (param, value) = CASES[name]
    est = cls_fn()(**small, **{param: value}, random_state=7)
    x1, x2, y = _data(discrete=name == "PluginPID")
    est.fit(x1, x2, y)
    twin = clone(est)
    assert type(twin) is type(est) and twin is not est
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "decomposition_")
    twin.set_params(n_bootstrap=5)
    assert est.n_bootstrap == small["n_bootstrap"]  # the original is untouched
    # With an int seed a clone reproduces the fit exactly.
    again = clone(est).fit(x1, x2, y)
    assert again.decomposition_.as_dict() == est.decomposition_.as_dict()
    ci, ci_again = est.confidence_interval(0.1), again.confidence_interval(0.1)
    np.testing.assert_array_equal(ci.to_numpy(), ci_again.to_numpy())


def test_clone_of_a_generator_seed_copies_its_state():
    """clone deep-copies a Generator seed: the clone draws the same stream, the original's is untouched."""
    x1, x2, y = _data()
    gen = np.random.default_rng(5)
    est = ClusterPID(n_clusters=3, n_bootstrap=0, n_shuffles=3, random_state=gen)
    twin = clone(est)
    assert twin.random_state is not gen
    first = est.fit(x1, x2, y).decomposition_.as_dict()
    assert twin.fit(x1, x2, y).decomposition_.as_dict() == first
