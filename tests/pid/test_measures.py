"""Textbook values, PID identities and error handling of the closed-form measures imin, mmi and ccs."""

from __future__ import annotations

import numpy as np
import pytest

from synergy_lab.data import gate, random_table
from synergy_lab.pid import decompose

MEASURES = ("imin", "mmi", "ccs")


def and_with_copied_input() -> np.ndarray:
    """X1 = (a, b) encoded 2a + b, X2 = b, Y = a AND b, with a, b independent uniform bits."""
    p = np.zeros((4, 2, 2))
    for a in (0, 1):
        for b in (0, 1):
            p[2 * a + b, b, a & b] += 0.25
    return p


def table(name: str) -> np.ndarray:
    return and_with_copied_input() if name == "and_ab" else gate(name)


# (table, measure) -> (R, U1, U2, S), absolute tolerance (the values of docs/pid.md's reference table).
TEXTBOOK = {}
for _m in MEASURES:
    TEXTBOOK[("xor", _m)] = ((0, 0, 0, 1), 1e-6)
    TEXTBOOK[("rdn", _m)] = ((1, 0, 0, 0), 1e-6)
    TEXTBOOK[("unq", _m)] = ((0, 1, 0, 0), 1e-6)
    TEXTBOOK[("rdnxor", _m)] = ((1, 0, 0, 1), 1e-6)
for _m in ("imin", "mmi"):
    TEXTBOOK[("and", _m)] = ((0.311278, 0, 0, 0.5), 1e-6)
    TEXTBOOK[("or", _m)] = ((0.311278, 0, 0, 0.5), 1e-6)
    TEXTBOOK[("copy", _m)] = ((1, 0, 0, 1), 1e-6)
    TEXTBOOK[("sum", _m)] = ((0.5, 0, 0, 1), 1e-6)
    TEXTBOOK[("rdnunqxor", _m)] = ((2, 0, 0, 2), 1e-6)
    TEXTBOOK[("and_ab", _m)] = ((0.3113, 0.5, 0, 0), 1e-4)
TEXTBOOK[("and", "ccs")] = ((0.1038, 0.2075, 0.2075, 0.2925), 1e-4)
TEXTBOOK[("or", "ccs")] = ((0.1038, 0.2075, 0.2075, 0.2925), 1e-4)
TEXTBOOK[("copy", "ccs")] = ((0, 1, 1, 0), 1e-6)
TEXTBOOK[("sum", "ccs")] = ((0, 0.5, 0.5, 0.5), 1e-6)
TEXTBOOK[("rdnunqxor", "ccs")] = ((1, 1, 1, 1), 1e-6)
TEXTBOOK[("and_ab", "ccs")] = ((0.4575, 0.3538, -0.1462, 0.1462), 1e-4)


@pytest.mark.parametrize(("name", "measure"), sorted(TEXTBOOK))
def test_textbook_values(name, measure):
    expected, tol = TEXTBOOK[(name, measure)]
    r = decompose(table(name), measure=measure)
    got = (r.redundancy, r.unique1, r.unique2, r.synergy)
    assert got == pytest.approx(expected, abs=tol)


def test_and_mutual_information_is_exact():
    r = decompose(gate("and"), measure="mmi")
    assert r.mi_1 == pytest.approx(1.5 - 0.75 * np.log2(3), abs=1e-12)
    assert r.mi_1 == pytest.approx(0.311278, abs=1e-6)
    assert r.mi_joint == pytest.approx(0.811278, abs=1e-6)


def _random_tables():
    """20 Dirichlet tables of assorted shapes, dense and sparse, some with an all-zero row or slice."""
    shapes = [(2, 2, 2), (3, 2, 4), (4, 4, 4), (2, 5, 3), (5, 3, 2), (6, 6, 3), (3, 3, 8), (8, 2, 2)]
    tables = []
    for seed in range(20):
        shape = shapes[seed % len(shapes)]
        p = random_table(shape, alpha=0.1 if seed % 2 else 1.0, random_state=seed)
        if seed % 5 == 3:
            p[0] = 0.0  # X1 never takes its first value
        elif seed % 5 == 4:
            p[:, :, -1] = 0.0  # Y never takes its last value
        tables.append(p / p.sum())
    return tables


RANDOM_TABLES = _random_tables()


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("index", range(len(RANDOM_TABLES)))
def test_identities_on_random_tables(measure, index):
    r = decompose(RANDOM_TABLES[index], measure=measure)
    assert r.redundancy + r.unique1 == pytest.approx(r.mi_1, abs=1e-9)
    assert r.redundancy + r.unique2 == pytest.approx(r.mi_2, abs=1e-9)
    assert r.redundancy + r.unique1 + r.unique2 + r.synergy == pytest.approx(r.mi_joint, abs=1e-9)
    if measure in ("imin", "mmi"):
        assert min(r.atoms().values()) >= 0.0


@pytest.mark.parametrize("index", range(len(RANDOM_TABLES)))
def test_ccs_maxent_keeps_pairwise_marginals(index):
    p = RANDOM_TABLES[index]
    q = decompose(p, measure="ccs").joint
    for axis in range(3):
        np.testing.assert_allclose(q.sum(axis=axis), p.sum(axis=axis), rtol=0, atol=1e-12)


def test_ccs_maxent_spreads_over_cells_outside_the_support():
    # XOR's pairwise marginals are all uniform, so the maximum-entropy table is uniform on all 8 cells.
    q = decompose(gate("xor"), measure="ccs").joint
    np.testing.assert_allclose(q, np.full((2, 2, 2), 1 / 8), atol=1e-15)
    # AND's marginals force q(1, 1, 0) = 0 although each of its pairwise marginals is positive.
    np.testing.assert_allclose(decompose(gate("and"), measure="ccs").joint, gate("and"), atol=1e-15)


def test_ccs_sparse_table_needs_newton_and_reports_non_convergence():
    p = random_table((3, 3, 3), alpha=0.05, random_state=0)
    r = decompose(p, measure="ccs")
    assert r.info["newton_iterations"] > 0
    np.testing.assert_allclose(r.joint.sum(axis=2), p.sum(axis=2), rtol=0, atol=1e-13)
    with pytest.raises(RuntimeError, match="did not converge"):
        decompose(p, measure="ccs", max_iter=0)


def test_imin_specific_information_is_recorded():
    spec = decompose(gate("sum"), measure="imin").info["specific_information"]
    np.testing.assert_allclose(spec, [[1, 0, 1], [1, 0, 1]], atol=1e-12)


def test_unknown_measure_lists_valid_ones():
    with pytest.raises(ValueError, match="valid measures") as excinfo:
        decompose(gate("xor"), measure="nope")
    for name in MEASURES:
        assert name in str(excinfo.value)
