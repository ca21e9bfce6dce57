"""The ``layout`` option of the compositional generator: ``"mixed"`` (default) and ``"factor_blocks"``."""

from __future__ import annotations

import numpy as np
import pytest

from synergy_lab.data import make
from synergy_lab.data.compositional import factor_block_slices, make_compositional
from synergy_lab.data.registry import generator_parameters

KW = {"n_samples": 300, "k": 4, "dim": 32, "pairing": "biased", "random_state": 0}


def test_default_layout_is_the_mixed_embedding_of_before():
    ds = make_compositional(**KW)
    assert ds.params["layout"] == "mixed"
    np.testing.assert_array_equal(ds.x1, make_compositional(**KW, layout="mixed").x1)
    # Values the generator produced before the layout option existed (same seed): the default output and
    # the streams it draws from are unchanged.
    np.testing.assert_allclose(ds.x1[0, :4], [-0.7241812015231421, -0.464544425914733, -0.5234115279574482,
                                              -0.872752848419439], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.x2[7, -3:], [-0.6713379304477111, 0.2755241403691752, 0.9386405784325297],
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose([ds.x1.sum(), ds.x2.sum()], [223.28338597674662, -77.41725253037522],
                               rtol=0, atol=1e-9)


def test_factor_block_slices_are_contiguous_and_balanced():
    blocks = factor_block_slices(10, 4)
    assert [b.stop - b.start for b in blocks] == [3, 3, 2, 2]
    assert blocks[0].start == 0 and blocks[-1].stop == 10
    assert all(a.stop == b.start for a, b in zip(blocks[:-1], blocks[1:], strict=True))
    assert [b.stop - b.start for b in factor_block_slices(32, 4)] == [8] * 4


@pytest.mark.parametrize("n_nuisance", [1, 2])
def test_each_factor_block_is_a_function_of_its_factor_only(n_nuisance):
    ds = make_compositional(**{**KW, "dim": 30}, n_nuisance=n_nuisance, layout="factor_blocks")
    f = ds.factors
    blocks = factor_block_slices(30, 3 + n_nuisance)
    for x, own in ((ds.x1, ("u1", "s1")), (ds.x2, ("u2", "s2"))):
        columns = [f["r"], f[own[0]], f[own[1]]]
        columns += [f[f"nuisance{1 if own[0] == 'u1' else 2}"][:, j] for j in range(n_nuisance)]
        for block, factor in zip(blocks, columns, strict=True):
            part = x[:, block]
            means = []
            for v in range(4):
                rows = part[factor == v]
                assert len(rows) > 0
                # constant given its own factor: no other factor moves the block
                np.testing.assert_array_equal(rows, np.broadcast_to(rows[0], rows.shape))
                means.append(rows[0])
            # and injective in it: the k values give k distinct points
            assert min(np.linalg.norm(means[a] - means[b]) for a in range(4) for b in range(a)) > 0.05


def test_mixed_layout_blocks_depend_on_every_factor():
    # The contrast that makes the option meaningful: under "mixed", one 8-dim slice varies with r
    # even at fixed u1 and s1 (each dimension depends on all factors).
    ds = make_compositional(**KW)
    f = ds.factors
    sel = (f["u1"] == 0) & (f["s1"] == 0) & (f["nuisance1"][:, 0] == 0)
    part = ds.x1[sel][:, factor_block_slices(32, 4)[1]]
    assert len(np.unique(f["r"][sel])) > 1 and np.ptp(part, axis=0).max() > 0.05


def test_factor_blocks_keep_factors_labels_and_truth():
    mixed, blocks = make_compositional(**KW), make_compositional(**KW, layout="factor_blocks")
    assert blocks.params["layout"] == "factor_blocks"
    assert blocks.params["permutation"] == mixed.params["permutation"]
    for name in mixed.factors:
        np.testing.assert_array_equal(blocks.factors[name], mixed.factors[name])
    for t in mixed.targets:
        np.testing.assert_array_equal(blocks.targets[t], mixed.targets[t])
    assert blocks.ground_truth.equals(mixed.ground_truth)
    assert not np.allclose(blocks.x1, mixed.x1)
    noisy = make_compositional(**KW, layout="factor_blocks", noise=0.2)
    assert 0.1 < np.std(noisy.x1 - blocks.x1) < 0.3


def test_layout_through_the_registry_and_bad_values():
    assert generator_parameters("compositional")["layout"] == "mixed"
    ds = make("compositional", n_samples=50, k=2, dim=8, layout="factor_blocks", random_state=1)
    assert ds.x1.shape == (50, 8)
    for bad in ("blocks", None, 3):
        with pytest.raises(ValueError, match="layout"):
            make_compositional(n_samples=10, layout=bad)
