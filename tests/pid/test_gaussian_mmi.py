"""Closed-form MMI decomposition of jointly Gaussian variables: hand-derived values, identities, validation.

Every expected value below is derived by hand from conditional variances of the linear-Gaussian model
(``I(Y;X) = 1/2 log2(Var Y / Var(Y|X))`` for a scalar Y), independently of the log-determinant code.
"""

import numpy as np
import pytest
from _gaussian_helpers import atoms, half_log2

from synergy_lab.pid.gaussian import GAUSSIAN_MEASURES, decompose_gaussian, gaussian_mutual_information

TOL = 1e-9


def random_cov(rng, size, ridge=0.05):
    g = rng.standard_normal((size, size + 2))
    return g @ g.T / (size + 2) + ridge * np.eye(size)


# ---------------------------------------------------------------- hand-derived scalar cases


@pytest.mark.parametrize("noise_var", [1.0, 0.25, 4.0])
def test_sum_of_independent_sources(noise_var):
    # X1, X2 iid N(0,1), Y = X1 + X2 + N(0, s2): Var Y = 2 + s2, Var(Y|X1) = 1 + s2, Var(Y|X1,X2) = s2.
    cov = [[1, 0, 1], [0, 1, 1], [1, 1, 2 + noise_var]]
    r = decompose_gaussian(cov, (1, 1, 1))
    mi_single = half_log2((2 + noise_var) / (1 + noise_var))
    mi_joint = half_log2((2 + noise_var) / noise_var)
    assert r.mi_1 == pytest.approx(mi_single, abs=TOL) and r.mi_2 == pytest.approx(mi_single, abs=TOL)
    assert r.mi_joint == pytest.approx(mi_joint, abs=TOL)
    # S = I12 - I1 - I2 + R = I12 - I1 = 1/2 log2((1 + s2) / s2).
    expected = [mi_single, 0.0, 0.0, half_log2((1 + noise_var) / noise_var)]
    np.testing.assert_allclose(atoms(r), expected, atol=TOL, rtol=0)
    assert r.measure == "mmi" and r.gap == 0.0


def test_sum_literal_values_are_not_the_co_information():
    # S .2075 (s2 = 1) and .7370 (s2 = 0.25) would be I12 - I1 - I2, which forgets +R (a tempting slip).
    # With R + U1 + U2 + S = I12 and U = 0 the synergy is I12 - R: 0.5 and 1/2 log2(5) = 1.160964 bits.
    unit = decompose_gaussian([[1, 0, 1], [0, 1, 1], [1, 1, 3]], (1, 1, 1))
    quarter = decompose_gaussian([[1, 0, 1], [0, 1, 1], [1, 1, 2.25]], (1, 1, 1))
    np.testing.assert_allclose(atoms(unit), [0.2924812503605781, 0, 0, 0.5], atol=TOL, rtol=0)
    np.testing.assert_allclose(atoms(quarter), [0.423998453277475, 0, 0, 1.160964047443681], atol=TOL, rtol=0)
    for r in (unit, quarter):
        assert r.redundancy + r.unique1 + r.unique2 + r.synergy == pytest.approx(r.mi_joint, abs=TOL)
    assert abs(unit.synergy - 0.2075) > 0.29 and abs(quarter.synergy - 0.7370) > 0.42


@pytest.mark.parametrize(("var1", "var2"), [(1.0, 1.0), (0.5, 1.0), (1.0, 0.25)])
def test_redundant_noisy_copies(var1, var2):
    # Y ~ N(0,1), X_i = Y + N(0, v_i): precisions add, Var(Y|X1,X2) = 1 / (1 + 1/v1 + 1/v2).
    cov = [[1 + var1, 1, 1], [1, 1 + var2, 1], [1, 1, 1]]
    r = decompose_gaussian(cov, (1, 1, 1))
    mi_1, mi_2 = half_log2(1 + 1 / var1), half_log2(1 + 1 / var2)
    mi_joint = half_log2(1 + 1 / var1 + 1 / var2)
    low = min(mi_1, mi_2)
    expected = [low, mi_1 - low, mi_2 - low, mi_joint - max(mi_1, mi_2)]
    np.testing.assert_allclose(atoms(r), expected, atol=TOL, rtol=0)


def test_redundant_literal_values():
    # v1 = 1/2, v2 = 1: I1 = 1/2 log2 3, I2 = 1/2, I12 = 1/2 log2 4 = 1.
    r = decompose_gaussian([[1.5, 1, 1], [1, 2, 1], [1, 1, 1]], (1, 1, 1))
    np.testing.assert_allclose(atoms(r), [0.5, half_log2(3) - 0.5, 0.0, 1 - half_log2(3)], atol=TOL, rtol=0)


@pytest.mark.parametrize(("rho", "noise_var"), [(0.5, 1.0), (-0.8, 0.5), (0.0, 2.0)])
def test_correlated_sources_target_reads_x1_only(rho, noise_var):
    # corr(X1, X2) = rho, Y = X1 + N(0, s2): Y is independent of X2 given X1, so I12 = I1 and S = 0;
    # Var(Y|X2) = 1 + s2 - rho^2.
    cov = [[1, rho, 1], [rho, 1, rho], [1, rho, 1 + noise_var]]
    r = decompose_gaussian(cov, (1, 1, 1))
    mi_1 = half_log2((1 + noise_var) / noise_var)
    mi_2 = half_log2((1 + noise_var) / (1 + noise_var - rho**2))
    np.testing.assert_allclose(atoms(r), [mi_2, mi_1 - mi_2, 0.0, 0.0], atol=TOL, rtol=0)
    assert r.mi_joint == pytest.approx(mi_1, abs=TOL)


@pytest.mark.parametrize("rho", [0.5, -0.5, 0.3])
def test_correlated_sources_sum(rho):
    # corr(X1, X2) = rho, Y = X1 + X2 + N(0, 1): Var Y = 3 + 2 rho, Var(Y|X1) = 2 - rho^2, Var(Y|X1,X2) = 1.
    cov = [[1, rho, 1 + rho], [rho, 1, 1 + rho], [1 + rho, 1 + rho, 3 + 2 * rho]]
    r = decompose_gaussian(cov, (1, 1, 1))
    mi_single = half_log2((3 + 2 * rho) / (2 - rho**2))
    expected = [mi_single, 0.0, 0.0, half_log2(2 - rho**2)]
    np.testing.assert_allclose(atoms(r), expected, atol=TOL, rtol=0)


def test_multivariate_target_doubling_system():
    # Y = (Y1, Y2) iid N(0,1), X1 = (2 Y1, Y2) + N(0,I), X2 = (Y1, sqrt2 Y2) + N(0,I); per coordinate
    # I = 1/2 log2(1 + gain^2), so I1 = 1/2 log2(5*2), I2 = 1/2 log2(2*3), I12 = 1/2 log2(6*4).
    h1, h2 = np.diag([2.0, 1.0]), np.diag([1.0, np.sqrt(2.0)])
    loadings = np.block([[h1, np.eye(2), np.zeros((2, 2))], [h2, np.zeros((2, 2)), np.eye(2)],
                         [np.eye(2), np.zeros((2, 4))]])
    cov = loadings @ loadings.T
    r = decompose_gaussian(cov, (2, 2, 2))
    expected = [half_log2(6), half_log2(10 / 6), 0.0, half_log2(24 / 10)]
    np.testing.assert_allclose(atoms(r), expected, atol=TOL, rtol=0)
    # MMI is not the BROJA-type PID for a vector target: the ~G-PID values are R 1.0, U1 .661, U2 .2925
    # (docs/pid.md, Gaussian PID).
    assert r.redundancy > 1.29
    # Stacking the system with an independent copy of itself doubles every MMI atom.
    # Reorder blockdiag(cov, cov) from [X1, X2, Y, X1', X2', Y'] to [X1, X1', X2, X2', Y, Y'].
    order = [0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11]
    stacked = decompose_gaussian(np.kron(np.eye(2), cov)[np.ix_(order, order)], (4, 4, 4))
    np.testing.assert_allclose(atoms(stacked), 2 * np.array(expected), atol=TOL)


def test_near_deterministic_target_is_stable():
    # Y = X1 + N(0, eps), X2 independent: I1 = 1/2 log2((1 + eps) / eps), about 19.93 bits, all unique.
    # eps is the noise variance the float 1 + 1e-12 actually holds (1e-12 up to a relative 9e-5).
    eps = (1 + 1e-12) - 1
    # Power-of-two units keep the matrix exact, so only the algorithm's round-off is measured.
    for scale in (1.0, 2.0**-500, 2.0**500):
        cov = scale * np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1 + 1e-12]])
        r = decompose_gaussian(cov, (1, 1, 1))
        assert r.unique1 == pytest.approx(half_log2((1 + eps) / eps), rel=1e-9)
    assert abs(r.redundancy) < 1e-9 and abs(r.synergy) < 1e-6


# ---------------------------------------------------------------- identities on generic covariances


@pytest.mark.parametrize("dims", [(1, 1, 1), (2, 3, 1), (3, 2, 2), (1, 4, 3), (5, 5, 4)])
@pytest.mark.parametrize("seed", range(4))
def test_identities_and_mutual_informations(dims, seed):
    rng = np.random.default_rng(seed)
    d1, d2, dy = dims
    cov = random_cov(rng, sum(dims))
    r = decompose_gaussian(cov, dims)
    assert r.redundancy + r.unique1 == pytest.approx(r.mi_1, abs=TOL)
    assert r.redundancy + r.unique2 == pytest.approx(r.mi_2, abs=TOL)
    assert atoms(r).sum() == pytest.approx(r.mi_joint, abs=TOL)
    assert np.all(atoms(r) >= 0) and min(r.unique1, r.unique2) == 0.0
    x1, x2, y = list(range(d1)), list(range(d1, d1 + d2)), list(range(d1 + d2, d1 + d2 + dy))
    assert r.mi_1 == pytest.approx(gaussian_mutual_information(cov, x1, y), abs=TOL)
    assert r.mi_2 == pytest.approx(gaussian_mutual_information(cov, x2, y), abs=TOL)
    # Independent route: I(X;Y) = 1/2 log2(det S_Y / det S_{Y|X}) with the Schur complement.
    xs = x1 + x2
    gain = np.linalg.solve(cov[np.ix_(xs, xs)], cov[np.ix_(xs, y)])
    s_y_given_x = cov[np.ix_(y, y)] - cov[np.ix_(y, xs)] @ gain
    schur = 0.5 * np.log2(np.linalg.det(cov[np.ix_(y, y)]) / np.linalg.det(s_y_given_x))
    assert r.mi_joint == pytest.approx(schur, abs=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_invariances(seed):
    rng = np.random.default_rng(100 + seed)
    dims = (2, 3, 2)
    cov = random_cov(rng, 7)
    base = atoms(decompose_gaussian(cov, dims))
    # Information is unchanged by an invertible linear map inside each block, and by a global scale.
    blocks = [np.eye(d) + 0.3 * rng.standard_normal((d, d)) for d in dims]
    t = np.zeros((7, 7))
    t[:2, :2], t[2:5, 2:5], t[5:, 5:] = blocks
    transformed = t @ cov @ t.T
    np.testing.assert_allclose(atoms(decompose_gaussian(transformed, dims)), base, atol=1e-8)
    np.testing.assert_allclose(atoms(decompose_gaussian(1e8 * cov, dims)), base, atol=TOL)
    np.testing.assert_allclose(atoms(decompose_gaussian(1e-8 * cov, dims)), base, atol=TOL)
    # Swapping the sources swaps the unique atoms.
    order = [2, 3, 4, 0, 1, 5, 6]
    swapped = decompose_gaussian(cov[np.ix_(order, order)], (3, 2, 2))
    np.testing.assert_allclose(atoms(swapped), base[[0, 2, 1, 3]], atol=TOL)


def test_mutual_information_two_variables_and_index_forms():
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, 0.0], [0.0, 0.0, 2.0]])
    expected = -half_log2(1 - 0.36)
    assert gaussian_mutual_information(cov, 0, 1) == pytest.approx(expected, abs=TOL)
    assert gaussian_mutual_information(cov, [1], np.array([0])) == pytest.approx(expected, abs=TOL)
    assert gaussian_mutual_information(cov, slice(0, 1), slice(1, 2)) == pytest.approx(expected, abs=TOL)
    assert gaussian_mutual_information(cov, [0, 1], 2) == 0.0


def test_mutual_information_rejects_bad_indices():
    cov = np.eye(3)
    with pytest.raises(ValueError, match="disjoint"):
        gaussian_mutual_information(cov, [0, 1], [1, 2])
    with pytest.raises(ValueError, match="outside"):
        gaussian_mutual_information(cov, 0, 3)
    with pytest.raises(ValueError, match="no variables"):
        gaussian_mutual_information(cov, [], 1)
    with pytest.raises(ValueError, match="repeats"):
        gaussian_mutual_information(cov, [0, 0], 1)
    with pytest.raises(ValueError, match="int"):
        gaussian_mutual_information(cov, [0.5], 1)


# ---------------------------------------------------------------- validation


GOOD = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 3]], dtype=float)
# Asymmetric in the two small variables; only 5e-13 of the largest entry, which hid it from a check relative
# to max |cov|.
ASYM = np.diag([1e12, 1.0, 1.0])
ASYM[1, 2] = 0.5


@pytest.mark.parametrize(
    ("cov", "dims", "message"),
    [
        (GOOD + np.triu(np.full((3, 3), 1e-6), 1), (1, 1, 1), "not symmetric"),
        (ASYM, (1, 1, 1), r"not symmetric: \|cov\[1, 2\] - cov\[2, 1\]\| / sqrt"),
        (np.diag([1.0, 0.0, 1.0]), (1, 1, 1), r"variance cov\[1, 1\] = 0 is not positive"),
        (np.diag([1.0, 1.0, -2.0]), (1, 1, 1), "not positive definite"),
        ([[1, 2, 0], [2, 1, 0], [0, 0, 1]], (1, 1, 1), "not positive definite"),
        ([[1, 1, 1], [1, 1, 1], [1, 1, 1]], (1, 1, 1), "not positive definite"),
        (np.eye(4), (1, 1, 1), "size 4"),
        (np.eye(3), (1, 1, 2), "size 3"),
        (np.where(np.eye(3) > 0, np.nan, 0.0), (1, 1, 1), "non-finite"),
        (np.where(np.eye(3) > 0, np.inf, 0.0), (1, 1, 1), "non-finite"),
        (np.ones((3, 2)), (1, 1, 1), "square"),
        (np.ones((2, 2, 2)), (1, 1, 1), "square"),
        ([["a", "b"], ["c", "d"]], (1, 1, 1), "numeric"),
        (GOOD, (1, 1), "three positive ints"),
        (GOOD, (1, 1, 0), "dy"),
        (GOOD, (-1, 3, 1), "d1"),
        (GOOD, (1.5, 0.5, 1), "d1"),
        (GOOD, (True, 1, 1), "d1"),
        (GOOD, 3, "three positive ints"),
    ],
)
@pytest.mark.parametrize("measure", ["mmi", "broja"])
def test_validation_errors(cov, dims, message, measure):
    with pytest.raises(ValueError, match=message):
        decompose_gaussian(cov, dims, measure=measure)


def test_symmetry_tolerance_accepts_round_off():
    nearly = GOOD + np.triu(np.full((3, 3), 1e-13), 1)
    np.testing.assert_allclose(atoms(decompose_gaussian(nearly, (1, 1, 1))),
                               atoms(decompose_gaussian(GOOD, (1, 1, 1))), atol=1e-9)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_validation_is_scale_free(scale):
    """Valid covariances in any units pass; an asymmetry at 1e-11 of each entry's own scale is round-off."""
    units = np.sqrt([scale, 1.0, 1.0 / scale])  # variances of order 1e-300 and 1e300
    cov = GOOD * units[:, None] * units[None, :]
    cov[0, 2] *= 1 + 1e-11
    expected = atoms(decompose_gaussian(GOOD, (1, 1, 1)))
    np.testing.assert_allclose(atoms(decompose_gaussian(cov, (1, 1, 1))), expected, atol=1e-9)
    cov[1, 2] *= 1 + 1e-9  # 1e-9 of sqrt(cov_11 cov_22): not round-off
    with pytest.raises(ValueError, match="not symmetric"):
        decompose_gaussian(cov, (1, 1, 1))


def test_unknown_measure_lists_valid_ones():
    with pytest.raises(ValueError, match=r"valid measures are \['mmi', 'broja'\]"):
        decompose_gaussian(GOOD, (1, 1, 1), measure="imin")
    assert GAUSSIAN_MEASURES == ("mmi", "broja")
    assert decompose_gaussian(GOOD, (1, 1, 1), measure="MMI").measure == "mmi"
