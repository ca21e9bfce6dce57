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
