import math

import pytest
import torch
from _loss_helpers import descend, leaf, norm, unit

from synergy_lab.losses import (
    InfMaskingLoss,
    comm_loss,
    entropy_penalty,
    infmasking_loss,
    lambda_ramp,
    masked_view_loss,
    nt_xent,
)

E = math.e
I2 = torch.eye(2, dtype=torch.float64)
KEYS = torch.stack([I2, I2.flip(0)])


def views(b=6, d=5, t=3, n=2, seed=0):
    z_a, z_b = unit(b, d, seed=seed), unit(b, d, seed=seed + 1)
    uni_a = [unit(b, d, seed=seed + 10 + k) for k in range(n)]
    uni_b = [unit(b, d, seed=seed + 20 + k) for k in range(n)]
    return z_a, z_b, uni_a, uni_b, unit(t, b, d, seed=seed + 2), unit(t, b, d, seed=seed + 3)


# ---- lambda ramp ------------------------------------------------------------


def test_lambda_ramp_values():
    assert lambda_ramp(0, 100, 1.0) == pytest.approx(0.01)
    assert lambda_ramp(49, 100, 2.0) == pytest.approx(1.0)
    assert lambda_ramp(99, 100, 0.5) == pytest.approx(0.5)
    assert lambda_ramp(0, 1, 0.25) == pytest.approx(0.25)
    assert [lambda_ramp(e, 4, 1.0) for e in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])


@pytest.mark.parametrize(
    "args, exc, match",
    [
        ((100, 100, 1.0), ValueError, r"= \[0, 99\] \(0-based\), got 100"),
        ((-1, 10, 1.0), ValueError, "epoch must be in"),
        ((0, 0, 1.0), ValueError, "max_epochs must be >= 1"),
        ((0, 10, -1.0), ValueError, "lam must be >= 0"),
        ((1.5, 10, 1.0), TypeError, "epoch must be an integer"),
        ((True, 10, 1.0), TypeError, "epoch must be an integer"),
        ((0, 10.0, 1.0), TypeError, "max_epochs must be an integer"),
    ],
)
def test_lambda_ramp_validation(args, exc, match):
    with pytest.raises(exc, match=match):
        lambda_ramp(*args)


# ---- total loss ------------------------------------------------------------


def test_hand_value():
    # n = 1, tau = 1, lam = 1: both mask terms equal -1/2 + log(e^{5/8} + 2 + e) (see test_loss_masked_view),
    # the unimodal and multimodal terms l_1(I, I) = log(e + 2) - 1.
    mask = -0.5 + math.log(math.exp(0.625) + 2 + E)
    info = math.log(E + 2) - 1
    args = (I2, I2, [I2], [I2], KEYS, KEYS, 1.0, 1.0)
    assert float(infmasking_loss(*args)) == pytest.approx((2 * mask + 2 * info) / 4, abs=1e-12)
    weighted = infmasking_loss(*args, weights=[1, 1, 1, 5])
    assert float(weighted) == pytest.approx((2 * mask + 6 * info) / 4, abs=1e-12)  # mean, not / sum(w)


def test_terms_are_the_documented_list():
    z_a, z_b, uni_a, uni_b, m_a, m_b = views()
    w = [1.0, 2.0, 0.5, 3.0, 5.0]
    loss, terms = infmasking_loss(z_a, z_b, uni_a, uni_b, m_a, m_b, 0.1, 0.4, w, return_terms=True)
    expected = [
        masked_view_loss(z_a, m_a, 0.1, 0.4),
        masked_view_loss(z_b, m_b, 0.1, 0.4),
        *[
            0.5 * (nt_xent(s_a, z_b, 0.1) + nt_xent(s_b, z_a, 0.1))
            for s_a, s_b in zip(uni_a, uni_b, strict=True)
        ],
        nt_xent(z_a, z_b, 0.1),
    ]
    torch.testing.assert_close(terms, torch.stack(expected))
    assert float(loss) == pytest.approx(sum(wk * float(t) for wk, t in zip(w, expected, strict=True)) / 5)
    # The CoMM part is exactly the CoMM loss's terms.
    _, comm_terms = comm_loss(z_a, z_b, uni_a, uni_b, 0.1, return_terms=True)
    torch.testing.assert_close(terms[2:], comm_terms)


def test_module_applies_the_ramp():
    v = views()
    module = InfMaskingLoss(temperature=0.1, lam=2.0, max_epochs=10, weights=[1, 1, 1, 1, 5])
    for epoch in (0, 4, 9):
        expected = infmasking_loss(*v, 0.1, 2.0 * (epoch + 1) / 10, [1, 1, 1, 1, 5])
        assert float(module(*v, epoch=epoch)) == pytest.approx(float(expected))
    with pytest.raises(ValueError, match="epoch must be in"):
        module(*v, epoch=10)


@pytest.mark.parametrize("weights", [[1, 1, 1, 1], [1] * 6, []])
def test_weights_must_have_n_plus_3_entries(weights):
    with pytest.raises(ValueError, match="weights must have length 5"):
        infmasking_loss(*views(n=2), 0.1, 1.0, weights)


def test_weights_must_be_nonnegative_and_finite():
    with pytest.raises(ValueError, match=r"weights\[1\] must be >= 0"):
        infmasking_loss(*views(n=2), 0.1, 1.0, [1, -1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"weights\[0\] must be finite"):
        InfMaskingLoss(weights=[float("inf"), 1, 1, 1, 1])


def test_validation_names_the_argument():
    z_a, z_b, uni_a, uni_b, m_a, m_b = views()
    with pytest.raises(ValueError, match=r"uni_b\[1\] must be L2-normalised"):
        infmasking_loss(z_a, z_b, uni_a, [uni_b[0], 2 * uni_b[1]], m_a, m_b, 0.1, 1.0)
    with pytest.raises(ValueError, match="masked_b must be L2-normalised"):
        infmasking_loss(z_a, z_b, uni_a, uni_b, m_a, 2 * m_b, 0.1, 1.0)
    with pytest.raises(ValueError, match="uni_a and uni_b must have the same length"):
        infmasking_loss(z_a, z_b, uni_a, uni_b[:1], m_a, m_b, 0.1, 1.0)
    with pytest.raises(ValueError, match="masked_a and masked_b must have the same shape"):
        infmasking_loss(z_a, z_b, uni_a, uni_b, m_a, m_b[:2], 0.1, 1.0)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        infmasking_loss(z_a, z_b, uni_a, uni_b, m_a, m_b, 0.1, -1.0)
    with pytest.raises(ValueError, match="entropy_on"):
        infmasking_loss(z_a, z_b, uni_a, uni_b, m_a, m_b, 0.1, 1.0, beta=1.0, entropy_on="all")


def test_entropy_penalty_is_subtracted():
    z_a, z_b, uni_a, uni_b, m_a, m_b = views()
    base = infmasking_loss(z_a, z_b, uni_a, uni_b, m_a, m_b, 0.1, 1.0)
    on_embeddings = infmasking_loss(z_a, z_b, uni_a, uni_b, m_a, m_b, 0.1, 1.0, beta=0.3)
    h = entropy_penalty(torch.stack([z_a, *uni_a, z_b, *uni_b]))
    assert float(on_embeddings) == pytest.approx(float(base - 0.3 * h))
    on_masked = infmasking_loss(z_a, z_b, uni_a, uni_b, m_a, m_b, 0.1, 1.0, beta=0.3, entropy_on="masked")
    assert float(on_masked) == pytest.approx(float(base - 0.3 * entropy_penalty(torch.cat([m_a, m_b]))))


def test_falls():
    b, d, t, n = 16, 8, 4, 2
    z_a, z_b, m_a, m_b = leaf(0, b, d), leaf(1, b, d), leaf(2, t, b, d), leaf(3, t, b, d)
    uni = [leaf(10 + k, b, d) for k in range(2 * n)]
    module = InfMaskingLoss(temperature=0.1, lam=1.0, max_epochs=5, weights=[1, 1, 1, 1, 5])

    def loss():
        return module(
            norm(z_a),
            norm(z_b),
            [norm(u) for u in uni[:n]],
            [norm(u) for u in uni[n:]],
            norm(m_a),
            norm(m_b),
            epoch=2,
        )

    first, last = descend(loss, [z_a, z_b, m_a, m_b, *uni])
    assert last < 0.5 * first
