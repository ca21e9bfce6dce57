"""Gaussian generator: determinism, samples match the exact covariance, ground truth, recipes, validation."""

import numpy as np
import pytest

from synergy_lab.data._dataset import GROUND_TRUTH_COLUMNS
from synergy_lab.data.gaussian import RECIPES, gaussian_covariance, make_gaussian
from synergy_lab.pid.gaussian import decompose_gaussian, gaussian_mutual_information

ATOMS = ["redundancy", "unique1", "unique2", "synergy"]
LARGE_N = 200_000


def dims_of(ds):
    return ds.params["dim1"], ds.params["dim2"], ds.params["dim_y"]


def truth_atoms(ds):
    row = ds.truth("y")
    return np.array([row[k] for k in ATOMS])


@pytest.mark.parametrize("recipe", RECIPES)
def test_same_seed_same_arrays_different_seed_different(recipe):
    a = make_gaussian(500, 2, 1, 2, recipe=recipe, random_state=7)
    b = make_gaussian(500, 2, 1, 2, recipe=recipe, random_state=7)
    c = make_gaussian(500, 2, 1, 2, recipe=recipe, random_state=8)
    for name in ("x1", "x2"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert not np.array_equal(getattr(a, name), getattr(c, name))
    np.testing.assert_array_equal(a.targets["y"], b.targets["y"])
    assert a.params == b.params
    # Only the random recipe draws its covariance; the structured ones are fixed by their knobs.
    assert (a.params["cov"] != c.params["cov"]) == (recipe == "random")


def test_generator_random_state_and_legacy_rejected():
    ds = make_gaussian(10, random_state=np.random.default_rng(3))
    assert ds.x1.shape == (10, 1)
    with pytest.raises(TypeError):
        make_gaussian(10, random_state=np.random.RandomState(3))


def test_container_shapes_and_params():
    ds = make_gaussian(300, dim1=3, dim2=2, dim_y=4, recipe="mixed", synergy=0.5, random_state=0)
    assert ds.name == "gaussian" and ds.n_samples == 300 and ds.factors == {}
    assert ds.x1.shape == (300, 3) and ds.x2.shape == (300, 2) and ds.targets["y"].shape == (300, 4)
    assert list(ds.ground_truth.columns) == list(GROUND_TRUTH_COLUMNS) and len(ds.ground_truth) == 1
    assert ds.params["synergy"] == 0.5 and ds.params["redundancy"] == 1.0 and ds.params["noise"] == 1.0
    cov = np.array(ds.params["cov"])
    assert isinstance(ds.params["cov"], list) and cov.shape == (9, 9)
    np.testing.assert_array_equal(cov, gaussian_covariance("mixed", (3, 2, 4), synergy=0.5))
    # A pure recipe records None for the knobs it does not have, so the params replay the call.
    pure = make_gaussian(10, recipe="unique", random_state=0).params
    assert pure["redundancy"] is None and pure["synergy"] is None and pure["unique"] == 1.0
    replay = {k: v for k, v in pure.items() if k != "cov"}
    np.testing.assert_array_equal(make_gaussian(**replay, random_state=0).x1,
                                  make_gaussian(10, recipe="unique", random_state=0).x1)


def test_random_recipe_covariance_matches_its_seed():
    ds = make_gaussian(50, 2, 2, 1, recipe="random", random_state=11)
    expected = gaussian_covariance("random", (2, 2, 1), random_state=11)
    np.testing.assert_array_equal(np.array(ds.params["cov"]), expected)


def test_hand_derived_covariances():
    # redundant, r = 2: Y ~ N(0, 4), X_i = Y + N(0, 1).
    np.testing.assert_array_equal(gaussian_covariance("redundant", (1, 1, 1), redundancy=2.0),
                                  [[5, 4, 4], [4, 5, 4], [4, 4, 4]])
    # synergy, s = 1: Y = B1 + B2, X_i = B_i + N(0, 1).
    np.testing.assert_array_equal(gaussian_covariance("synergy", (1, 1, 1)),
                                  [[2, 0, 1], [0, 2, 1], [1, 1, 2]])
    # Var(Y|X1) = 1 + 1/2 and Var(Y|X1,X2) = 1/2 + 1/2, so I1 = 1/2 log2(4/3), I12 = 1/2 log2 2.
    truth = make_gaussian(10, recipe="synergy", random_state=0).truth("y")
    assert truth["redundancy"] == pytest.approx(0.5 * np.log2(4 / 3), abs=1e-12)
    assert truth["synergy"] == pytest.approx(0.5 - 0.5 * np.log2(4 / 3), abs=1e-12)


@pytest.mark.parametrize(
    ("recipe", "dims"),
    [("mixed", (1, 1, 1)), ("mixed", (2, 3, 2)), ("random", (2, 2, 2)), ("synergy", (1, 2, 3))],
)
def test_sample_covariance_matches_exact(recipe, dims):
    ds = make_gaussian(LARGE_N, *dims, recipe=recipe, random_state=1)
    cov = np.array(ds.params["cov"])
    samples = np.hstack([ds.x1, ds.x2, ds.targets["y"]])
    sample_cov = np.cov(samples, rowvar=False)
    # Standard error of a Gaussian sample covariance entry: sqrt((S_ii S_jj + S_ij^2) / n).
    stderr = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / LARGE_N)
    assert np.all(np.abs(sample_cov - cov) < 5 * stderr)
    assert np.abs(samples.mean(axis=0)).max() < 5 * np.sqrt(np.diag(cov).max() / LARGE_N)


@pytest.mark.parametrize("recipe", RECIPES)
def test_ground_truth_is_decomposition_of_exact_covariance(recipe):
    ds = make_gaussian(20, 2, 2, 2, recipe=recipe, random_state=5)
    result = decompose_gaussian(np.array(ds.params["cov"]), dims_of(ds), "mmi")
    row = ds.truth("y")
    assert row["measure"] == "mmi"
    for key in ATOMS + ["mi_1", "mi_2", "mi_joint"]:
        assert row[key] == getattr(result, key)


@pytest.mark.parametrize("dims", [(1, 1, 1), (2, 2, 2), (3, 1, 2)])
def test_recipes_move_the_atoms_as_intended(dims):
    red = truth_atoms(make_gaussian(10, *dims, recipe="redundant", random_state=0))
    assert red[0] > 0 and red[0] == red.max() and red[0] > red[1:].sum()
    syn = truth_atoms(make_gaussian(10, *dims, recipe="synergy", random_state=0))
    assert syn[3] == syn.max() and syn[3] > syn[0] > 0
    unq = truth_atoms(make_gaussian(10, *dims, recipe="unique", random_state=0))
    assert unq[1] > 0.1
    np.testing.assert_allclose(unq[[0, 2, 3]], 0.0, atol=1e-12)
    mixed = truth_atoms(make_gaussian(10, *dims, recipe="mixed", random_state=0))
    assert mixed[0] > 0 and mixed[1] > 0 and mixed[3] > 0


@pytest.mark.parametrize(("knob", "atom"), [("redundancy", 0), ("unique", 1), ("synergy", 3)])
def test_knobs_dial_their_atom(knob, atom):
    low = truth_atoms(make_gaussian(10, recipe="mixed", random_state=0, **{knob: 0.5}))
    high = truth_atoms(make_gaussian(10, recipe="mixed", random_state=0, **{knob: 2.0}))
    assert high[atom] > low[atom]


def test_less_noise_more_information():
    quiet = make_gaussian(10, recipe="synergy", noise=0.25, random_state=0).truth("y")
    loud = make_gaussian(10, recipe="synergy", noise=2.0, random_state=0).truth("y")
    assert quiet["mi_joint"] > loud["mi_joint"] and quiet["synergy"] > loud["synergy"]


@pytest.mark.parametrize(
    ("recipe", "dims"),
    [("mixed", (1, 1, 1)), ("mixed", (2, 2, 2)), ("redundant", (3, 2, 1)), ("random", (2, 2, 2))],
)
def test_plugin_gaussian_mi_from_samples_matches_truth(recipe, dims):
    ds = make_gaussian(LARGE_N, *dims, recipe=recipe, random_state=2)
    sample_cov = np.cov(np.hstack([ds.x1, ds.x2, ds.targets["y"]]), rowvar=False)
    d1, d2, dy = dims
    xs, y = range(d1 + d2), range(d1 + d2, d1 + d2 + dy)
    truth = ds.truth("y")
    assert abs(gaussian_mutual_information(sample_cov, list(xs), list(y)) - truth["mi_joint"]) < 0.02
    assert abs(gaussian_mutual_information(sample_cov, list(range(d1)), list(y)) - truth["mi_1"]) < 0.02


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"recipe": "bogus"}, r"valid recipes are \['redundant', 'unique', 'synergy', 'mixed', 'random'\]"),
        ({"noise": -1.0}, "noise"),
        ({"noise": 0.0}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"dim1": 0}, "dim1"),
        ({"dim2": -2}, "dim2"),
        ({"dim_y": 1.5}, "dim_y"),
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"redundancy": -0.1}, "redundancy"),
        ({"unique": float("inf")}, "unique"),
        ({"synergy": True}, "synergy"),
        ({"noise": "1"}, "noise"),
        ({"recipe": "redundant", "synergy": 1.0}, "does not use synergy"),
        ({"recipe": "random", "unique": 2.0}, "does not use unique"),
        ({"recipe": "synergy", "synergy": 0.0}, "positive amplitude"),
        ({"redundancy": 0.0, "unique": 0.0, "synergy": 0.0}, "positive amplitude"),
    ],
)
def test_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_gaussian(**{"n_samples": 10, "random_state": 0, **kwargs})


def test_gaussian_covariance_validates_dims():
    with pytest.raises(ValueError, match="three positive ints"):
        gaussian_covariance("mixed", (1, 1))
    with pytest.raises(ValueError, match=r"dims\[2\]"):
        gaussian_covariance("mixed", (1, 1, 0))
