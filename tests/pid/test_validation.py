"""Bad tables and unknown measure names raise ValueError naming the problem."""

import numpy as np
import pytest

from synergy_lab.data import gate
from synergy_lab.pid import available_measures, decompose


@pytest.mark.parametrize("measure", ["broja", "imin", "mmi", "ccs"])
@pytest.mark.parametrize(
    "table, message",
    [
        (np.full((2, 2), 0.25), "3-D"),
        (np.full((2, 2, 2, 1), 0.125), "3-D"),
        (np.zeros((0, 2, 2)), "empty"),
        (np.where(np.arange(8).reshape(2, 2, 2) == 0, np.nan, 1 / 7), "non-finite"),
        (np.where(np.arange(8).reshape(2, 2, 2) == 0, np.inf, 1 / 7), "non-finite"),
        (np.array([[[0.5, -0.25], [0.25, 0.25]], [[0.25, 0.0], [0.0, 0.0]]]), "negative"),
        (np.full((2, 2, 2), 0.2), "sum to 1"),
        ("not a table", "numeric"),
    ],
)
def test_bad_tables_raise(measure, table, message):
    with pytest.raises(ValueError, match=message):
        decompose(table, measure=measure)


def test_sum_tolerance_is_1e_9():
    p = gate("xor")
    p_off = p * (1 + 5e-10)
    decompose(p_off)  # within tolerance
    with pytest.raises(ValueError, match="sum to 1"):
        decompose(p * (1 + 1e-8))


def test_unknown_measure_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        decompose(gate("xor"), measure="williams")
    for name in available_measures():
        assert name in str(err.value)
    assert set(available_measures()) >= {"broja", "imin", "mmi", "ccs"}


@pytest.mark.parametrize("measure", ["broja", "imin", "mmi", "ccs"])
def test_identities_hold_for_every_measure(measure):
    rng = np.random.default_rng(11)
    for shape in [(2, 3, 4), (4, 4, 3), (3, 2, 5)]:
        p = rng.dirichlet(np.full(int(np.prod(shape)), 0.5)).reshape(shape)
        r = decompose(p, measure=measure)
        assert r.redundancy + r.unique1 == pytest.approx(r.mi_1, abs=1e-9)
        assert r.redundancy + r.unique2 == pytest.approx(r.mi_2, abs=1e-9)
        assert r.redundancy + r.unique1 + r.unique2 + r.synergy == pytest.approx(r.mi_joint, abs=1e-9)


@pytest.mark.parametrize(
    "measure, options, error, message",
    [
        ("broja", {"max_iter": 0}, ValueError, "max_iter"),
        ("broja", {"max_iter": -3}, ValueError, "max_iter"),
        ("broja", {"max_iter": "10"}, TypeError, "max_iter"),
        ("broja", {"max_iter": 10.0}, TypeError, "max_iter"),
        ("broja", {"max_iter": True}, TypeError, "max_iter"),
        ("broja", {"tol": -1}, ValueError, "tol"),
        ("broja", {"tol": 0.0}, ValueError, "tol"),
        ("broja", {"tol": float("nan")}, ValueError, "tol"),
        ("broja", {"tol": "1e-9"}, TypeError, "tol"),
        ("ccs", {"tol": -1}, ValueError, "tol"),
        ("ccs", {"tol": float("inf")}, ValueError, "tol"),
        ("ccs", {"tol": "small"}, TypeError, "tol"),
        ("ccs", {"max_iter": -1}, ValueError, "max_iter"),
        ("ccs", {"max_iter": "10"}, TypeError, "max_iter"),
        ("imin", {"tol": 1e-9}, TypeError, "tol"),
        ("mmi", {"max_iter": 5}, TypeError, "max_iter"),
        ("broja", {"maxiter": 5}, TypeError, "maxiter"),
        ("broja", {"path": "fast"}, ValueError, "path"),
        ("broja", {"options": {"tiny_mass": 0}}, TypeError, "options"),
    ],
)
def test_bad_options_raise_naming_the_parameter(measure, options, error, message):
    with pytest.raises(error, match=message):
        decompose(gate("and"), measure=measure, **options)


def test_valid_options_still_work():
    assert decompose(gate("and"), max_iter=50, tol=1e-8).gap <= 1e-8
    r = decompose(gate("and"), measure="ccs", tol=1e-12, max_iter=0)
    assert r.redundancy == pytest.approx(0.1038, abs=1e-4)


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("normal", "sparse", ValueError),
        ("system", None, ValueError),
        ("newton_phase", 1, TypeError),
        ("tiny_mass", -1.0, ValueError),
        ("max_steps_typo", 3, TypeError),
    ],
)
def test_bad_solver_options_raise_naming_the_field(field, value, error):
    from synergy_lab.pid.solvers.broja import BrojaOptions

    with pytest.raises(error, match=field):
        BrojaOptions(**{field: value})
