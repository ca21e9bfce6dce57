"""Gaussian BROJA-type PID (~G-PID): closed form vs brute force, MMI, the doubling check case, invariances.

The reference for the optimisation itself is definition-level: the X1-X2 cross-covariance of the joint
covariance is replaced by a free feasible block and ``I_q(X1,X2;Y)`` is minimised with a generic scipy
optimiser (or sampled at random), independently of the closed form in ``synergy_lab.pid.solvers.gaussian``.
"""

import time

import numpy as np
import pytest
from _gaussian_helpers import atoms, half_log2
from scipy.optimize import minimize

from synergy_lab.pid import decompose_gaussian, gaussian_mutual_information
from synergy_lab.pid.gaussian import GAUSSIAN_MEASURES
from synergy_lab.pid.solvers.gaussian import solve_gaussian_broja, union_information, whitened_channels

TOL = 1e-9


def random_cov(rng, size, ridge=0.05):
    g = rng.standard_normal((size, size + 2)) * rng.uniform(0.3, 3.0, size)[:, None]
    return g @ g.T / (size + 2) + ridge * np.eye(size)


def doubling_cov(gain=2.0):
    """Y ~ N(0, I_2), X1 = diag(gain, 1) Y + N(0, I), X2 = diag(1, sqrt 2) Y + N(0, I), as [X1, X2, Y]."""
    loads = np.vstack([np.diag([gain, 1.0]), np.diag([1.0, np.sqrt(2.0)]), np.eye(2)])
    return loads @ loads.T + np.diag([1.0, 1.0, 1.0, 1.0, 0.0, 0.0])


def stack(cov_a, dims_a, cov_b, dims_b):
    """Joint covariance of two independent systems, ordered [X1a, X1b, X2a, X2b, Ya, Yb]."""
    na = sum(dims_a)
    big = np.zeros((na + sum(dims_b),) * 2)
    big[:na, :na], big[na:, na:] = cov_a, cov_b
    order = []
    for k in range(3):
        order += list(range(sum(dims_a[:k]), sum(dims_a[:k + 1])))
        order += list(na + np.arange(sum(dims_b[:k]), sum(dims_b[:k + 1])))
    dims = tuple(a + b for a, b in zip(dims_a, dims_b, strict=True))
    return big[np.ix_(order, order)], dims


def rotate_blocks(cov, dims, rng, orthogonal=True):
    """``T cov T'`` with an invertible (or orthogonal) map inside each of the blocks X1, X2, Y."""
    t = np.zeros_like(cov)
    start = 0
    for d in dims:
        m = rng.standard_normal((d, d))
        t[start:start + d, start:start + d] = np.linalg.qr(m)[0] if orthogonal else np.eye(d) + 0.4 * m
        start += d
    return t @ cov @ t.T


def coupling_family(cov, dims):
    """``sigma -> I_q(X1,X2;Y)`` (bits) where ``q`` is ``cov`` with its X1-X2 block set by the whitened
    noise cross-covariance ``sigma``, built with plain Schur complements and ``slogdet``."""
    cov = np.asarray(cov, dtype=float)
    d1, d2, _ = dims
    x1, x2, y = np.arange(d1), np.arange(d1, d1 + d2), np.arange(d1 + d2, sum(dims))
    syy_inv = np.linalg.inv(cov[np.ix_(y, y)])
    k1, k2 = (np.linalg.cholesky(cov[np.ix_(x, x)] - cov[np.ix_(x, y)] @ syy_inv @ cov[np.ix_(y, x)])
              for x in (x1, x2))
    mean_part = cov[np.ix_(x1, y)] @ syy_inv @ cov[np.ix_(y, x2)]
    n12 = d1 + d2

    def union(sigma):
        q = cov.copy()
        q[np.ix_(x1, x2)] = mean_part + k1 @ sigma @ k2.T
        q[np.ix_(x2, x1)] = q[np.ix_(x1, x2)].T
        logdets = [np.linalg.slogdet(m)[1] for m in (q[:n12, :n12], q[n12:, n12:], q)]
        return 0.5 * (logdets[0] + logdets[1] - logdets[2]) / np.log(2)

    return union


def to_ball(z):
    """``Z (I + Z'Z)^-1/2``: a diffeomorphism onto the open unit spectral-norm ball."""
    w, v = np.linalg.eigh(np.eye(z.shape[1]) + z.T @ z)
    return z @ (v / np.sqrt(w)) @ v.T


# ---------------------------------------------------------------- the optimisation itself


@pytest.mark.parametrize(("dims", "seed"), [((1, 1, 2), 0), ((2, 2, 2), 1), ((2, 3, 2), 2), ((3, 2, 3), 3),
                                            ((1, 3, 3), 4), ((3, 3, 2), 5)])
def test_closed_form_is_the_minimum_over_couplings(dims, seed):
    rng = np.random.default_rng(seed)
    cov = random_cov(rng, sum(dims))
    r = decompose_gaussian(cov, dims, measure="broja")
    union = r.mi_1 + r.mi_2 - r.redundancy
    d1, d2, _ = dims
    union_of = coupling_family(cov, dims)
    # Lower bound: no feasible coupling, random or optimised, goes below the closed form.
    sampled = [union_of(to_ball(rng.standard_normal((d1, d2)) * s)) for s in (0.3, 1, 3) * 30]
    assert min(sampled) >= union - 1e-10
    # Attained: a generic optimiser over the cross-covariance reaches it.
    res = minimize(lambda z: union_of(to_ball(z.reshape(d1, d2))), np.zeros(d1 * d2),
                   method="BFGS", options={"gtol": 1e-9})
    assert union - 1e-10 <= res.fun <= union + 1e-7
    # The returned coupling is feasible, keeps both (Xi, Y) marginals and attains the union information.
    q = r.joint
    np.linalg.cholesky(q)
    mask = np.ones(q.shape, bool)
    mask[:d1, d1:d1 + d2] = mask[d1:d1 + d2, :d1] = False
    np.testing.assert_array_equal(q[mask], np.asarray(cov)[mask])
    assert gaussian_mutual_information(q, np.arange(d1 + d2), np.arange(d1 + d2, sum(dims))) == pytest.approx(
        union, abs=r.gap + TOL)


@pytest.mark.parametrize("seed", range(3))
def test_eigenvalue_formula_from_conditional_covariances(seed):
    rng = np.random.default_rng(10 + seed)
    dims = (3, 2, 3)
    cov = random_cov(rng, 8)
    x1, x2, y = np.arange(3), np.arange(3, 5), np.arange(5, 8)

    def cond_y(x):
        return cov[np.ix_(y, y)] - cov[np.ix_(y, x)] @ np.linalg.solve(cov[np.ix_(x, x)], cov[np.ix_(x, y)])

    lam = np.sort(np.linalg.eigvals(np.linalg.solve(cond_y(x2), cond_y(x1))).real)[::-1]
    r = decompose_gaussian(cov, dims, measure="broja")
    np.testing.assert_allclose(r.info["eigenvalues"], lam, rtol=1e-9)
    assert r.unique2 == pytest.approx(np.sum(half_log2(np.maximum(lam, 1))), abs=TOL)
    assert r.unique1 == pytest.approx(np.sum(half_log2(np.maximum(1 / lam, 1))), abs=TOL)


# ---------------------------------------------------------------- MMI: equal for scalar Y, not for vector Y


@pytest.mark.parametrize("dims", [(1, 1, 1), (3, 2, 1), (4, 5, 1)])
@pytest.mark.parametrize("seed", range(3))
def test_equals_mmi_for_scalar_target(dims, seed):
    cov = random_cov(np.random.default_rng(20 + seed), sum(dims))
    broja, mmi = decompose_gaussian(cov, dims, "broja"), decompose_gaussian(cov, dims, "mmi")
    np.testing.assert_allclose(atoms(broja), atoms(mmi), atol=TOL, rtol=0)
    assert broja.measure == "broja" and mmi.measure == "mmi"


def test_hand_derived_scalar_case():
    # X1, X2 iid N(0,1), Y = X1 + X2 + N(0,1): R = 1/2 log2(3/2), S = 0.5 bit (Barrett 2015: equals MMI).
    r = decompose_gaussian([[1, 0, 1], [0, 1, 1], [1, 1, 3]], (1, 1, 1), measure="broja")
    np.testing.assert_allclose(atoms(r), [half_log2(1.5), 0, 0, 0.5], atol=TOL, rtol=0)


@pytest.mark.parametrize("dims", [(2, 2, 2), (3, 2, 3), (2, 4, 3)])
@pytest.mark.parametrize("seed", range(4))
def test_differs_from_mmi_for_vector_target_unless_one_source_dominates(dims, seed):
    cov = random_cov(np.random.default_rng(30 + seed), sum(dims))
    broja, mmi = decompose_gaussian(cov, dims, "broja"), decompose_gaussian(cov, dims, "mmi")
    assert broja.redundancy <= mmi.redundancy + TOL  # union >= max(I1, I2): MMI is the largest redundancy
    lam = broja.info["eigenvalues"]
    if lam.max() > 1 > lam.min():  # each source better in some direction: both have unique information
        assert min(broja.unique1, broja.unique2) > 1e-6
        assert broja.redundancy < mmi.redundancy - 1e-6
    else:  # Cov(Y|X1) and Cov(Y|X2) are Loewner-ordered: the better source knows everything the other does
        np.testing.assert_allclose(atoms(broja), atoms(mmi), atol=TOL)


# ---------------------------------------------------------------- the doubling check case


DOUBLING = np.array([1.0, half_log2(2.5), half_log2(1.5), half_log2(1.6)])  # R 1, U1 .6610, U2 .2925, S .3390


def test_doubling_check_case():
    r = decompose_gaussian(doubling_cov(), (2, 2, 2), measure="broja")
    np.testing.assert_allclose(atoms(r), DOUBLING, atol=TOL, rtol=0)
    np.testing.assert_allclose(atoms(r), [1.0, 0.6610, 0.2925, 0.3390], atol=5e-5)
    assert r.mi_joint == pytest.approx(half_log2(6) + 1, abs=TOL)
    mmi = decompose_gaussian(doubling_cov(), (2, 2, 2), measure="mmi")
    assert mmi.redundancy == pytest.approx(half_log2(6), abs=TOL)  # MMI: 1.2925 bits of redundancy


def test_doubling_every_atom_doubles():
    cov, dims = doubling_cov(), (2, 2, 2)
    for copies in range(1, 4):  # 2, 4 and 8 copies of the system
        cov, dims = stack(cov, dims, cov, dims)
        r = decompose_gaussian(cov, dims, measure="broja")
        np.testing.assert_allclose(atoms(r), 2**copies * DOUBLING, atol=1e-8, rtol=0)
    # Rotating each block of the 16-dimensional system mixes the copies but changes nothing.
    rotated = rotate_blocks(cov, dims, np.random.default_rng(0))
    np.testing.assert_allclose(atoms(decompose_gaussian(rotated, dims, "broja")), 8 * DOUBLING, atol=1e-8)


def test_additive_over_independent_systems_where_mmi_is_not():
    a, dims = doubling_cov(), (2, 2, 2)
    swapped = a[np.ix_([2, 3, 0, 1, 4, 5], [2, 3, 0, 1, 4, 5])]  # X1 and X2 exchanged
    b = random_cov(np.random.default_rng(40), 7)
    for other, other_dims in ((swapped, dims), (b, (3, 2, 2))):
        joint, jd = stack(a, dims, other, other_dims)
        parts = [atoms(decompose_gaussian(c, d, "broja")) for c, d in ((a, dims), (other, other_dims))]
        both = atoms(decompose_gaussian(joint, jd, "broja"))
        np.testing.assert_allclose(both, parts[0] + parts[1], atol=1e-8)
    joint, jd = stack(a, dims, swapped, dims)
    mmi_parts = 2 * atoms(decompose_gaussian(a, dims, "mmi"))  # the swapped copy: same MMI R, U1 and U2 swap
    mmi_joint = decompose_gaussian(joint, jd, "mmi")
    assert mmi_joint.redundancy - mmi_parts[0] > 0.3  # MMI: R = I1 + I2 = 2.95 bits, not 2 x 1.29


# ---------------------------------------------------------------- invariances and identities


@pytest.mark.parametrize("seed", range(3))
def test_invariant_under_invertible_maps_of_each_block(seed):
    rng = np.random.default_rng(50 + seed)
    dims = (2, 3, 2)
    cov = random_cov(rng, 7)
    base = atoms(decompose_gaussian(cov, dims, "broja"))
    for orthogonal in (True, False):
        moved = rotate_blocks(cov, dims, rng, orthogonal=orthogonal)
        np.testing.assert_allclose(atoms(decompose_gaussian(moved, dims, "broja")), base, atol=1e-8)
    for scale in (1e8, 1e-8):
        np.testing.assert_allclose(atoms(decompose_gaussian(scale * cov, dims, "broja")), base, atol=TOL)
    order = [2, 3, 4, 0, 1, 5, 6]  # swap the sources: the unique atoms swap
    swapped = decompose_gaussian(cov[np.ix_(order, order)], (3, 2, 2), "broja")
    np.testing.assert_allclose(atoms(swapped), base[[0, 2, 1, 3]], atol=TOL)


@pytest.mark.parametrize("dims", [(1, 1, 1), (2, 3, 1), (3, 2, 2), (1, 4, 3), (5, 5, 4), (2, 2, 6)])
@pytest.mark.parametrize("seed", range(4))
def test_identities_and_certificate_on_random_covariances(dims, seed):
    cov = random_cov(np.random.default_rng(60 + seed), sum(dims))
    r = decompose_gaussian(cov, dims, measure="broja")
    mmi = decompose_gaussian(cov, dims, measure="mmi")
    assert (r.mi_1, r.mi_2, r.mi_joint) == (mmi.mi_1, mmi.mi_2, mmi.mi_joint)
    assert r.redundancy + r.unique1 == pytest.approx(r.mi_1, abs=TOL)
    assert r.redundancy + r.unique2 == pytest.approx(r.mi_2, abs=TOL)
    assert atoms(r).sum() == pytest.approx(r.mi_joint, abs=TOL)
    assert np.all(atoms(r) >= 0)
    assert 0.0 <= r.gap <= 1e-10 and r.info["roundoff_bits"] <= 1e-10
    assert r.info["iterations"] == 0 and r.info["seconds"] >= 0 and r.info["dims"] == dims


def test_certificate_is_the_objective_at_the_returned_coupling():
    cov, dims = random_cov(np.random.default_rng(70), 7), (3, 2, 2)
    sol = solve_gaussian_broja(cov, dims)
    h1, h2, _, _ = whitened_channels(cov, dims)
    assert np.linalg.norm(sol.sigma, 2) < 1
    assert union_information(sol.sigma, h1, h2) == sol.union_upper
    assert sol.union_upper == pytest.approx(coupling_family(cov, dims)(sol.sigma), abs=TOL)
    r = decompose_gaussian(cov, dims, "broja")
    assert sol.union_upper - r.gap - TOL <= r.mi_1 + r.mi_2 - r.redundancy <= sol.union_upper + TOL
    with pytest.raises(ValueError, match="spectral-norm ball"):
        union_information(np.eye(3, 2), h1, h2)


@pytest.mark.parametrize("d", [1, 3])
def test_identical_channels_tie_on_the_boundary(d):
    # X1 and X2 are equally good copies: every lambda_k = 1 and the optimal noises coincide (||Sigma|| = 1).
    loads = np.vstack([1.5 * np.eye(d), 1.5 * np.eye(d), np.eye(d)])
    cov = loads @ loads.T + np.diag(np.r_[np.ones(2 * d), np.zeros(d)])
    cov = rotate_blocks(cov, (d, d, d), np.random.default_rng(d))
    r = decompose_gaussian(cov, (d, d, d), measure="broja")
    np.testing.assert_allclose(atoms(r), [d * half_log2(3.25), 0, 0, d * half_log2(5.5 / 3.25)], atol=1e-9)
    assert r.gap <= 1e-8 and r.info["shrink"] <= 1e-8
    np.linalg.cholesky(r.joint)


def test_near_deterministic_target():
    cov = np.array([[1, 0.5, 1], [0.5, 1, 0.5], [1, 0.5, 1 + 1e-12]])
    broja, mmi = decompose_gaussian(cov, (1, 1, 1), "broja"), decompose_gaussian(cov, (1, 1, 1), "mmi")
    np.testing.assert_allclose(atoms(broja), atoms(mmi), atol=1e-8)
    assert broja.unique1 > 19


def test_large_dimension_is_fast_and_certified():
    rng = np.random.default_rng(80)
    d = 128
    loads = np.vstack([rng.standard_normal((d, d)) / np.sqrt(d), rng.standard_normal((d, d)) / np.sqrt(d),
                       np.eye(d)])
    cov = loads @ loads.T + np.diag(np.r_[np.ones(2 * d), np.zeros(d)])
    start = time.perf_counter()
    r = decompose_gaussian(cov, (d, d, d), measure="broja")
    assert time.perf_counter() - start < 2.0  # the iterative public solver needs about 8 s here
    assert r.gap <= 1e-9 and np.all(atoms(r) >= 0)


# ---------------------------------------------------------------- validation


GOOD = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 3]], dtype=float)


def test_measure_names():
    assert GAUSSIAN_MEASURES == ("mmi", "broja")
    assert decompose_gaussian(GOOD, (1, 1, 1), measure="BROJA").measure == "broja"
    with pytest.raises(ValueError, match=r"valid measures are \['mmi', 'broja'\]"):
        decompose_gaussian(GOOD, (1, 1, 1), measure="imin")
