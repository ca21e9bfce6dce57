"""Tables that once stopped the BROJA solver short of its certificate."""

import numpy as np
import pytest

from synergy_lab.pid import decompose


@pytest.mark.parametrize(
    "counts",
    [
        # Near-independent 2x2x2 plug-in table from a shuffle surrogate (stalled at a 4.7e-5 bit gap once).
        [78, 99, 629, 762, 91, 127, 95, 119],
    ],
)
def test_near_independent_binary_tables_certify(counts):
    p = np.asarray(counts, float).reshape(2, 2, 2)
    r = decompose(p / p.sum())
    assert r.gap <= 1e-9
    assert min(r.redundancy, r.unique1, r.unique2, r.synergy) >= 0


def test_many_shuffled_binary_tables_certify():
    rng = np.random.default_rng(0)
    for _ in range(200):
        x1, x2 = rng.integers(0, 2, 400), rng.integers(0, 2, 400)
        y = rng.permutation((x1 ^ x2) | (rng.random(400) < 0.5))
        p = np.zeros((2, 2, 2))
        np.add.at(p, (x1, x2, y), 1.0)
        r = decompose(p / p.sum())
        assert r.gap <= 1e-9
