"""masked_view_loss against explicit references of its closed form (values to 1e-5, gradients vs autograd)."""

import math

import pytest
import torch
from _loss_helpers import descend, leaf, norm, unit

from synergy_lab.losses import masked_view_loss

E = math.e


def reference_code_form(q, keys, tau, lam):
    """The public code's computation, written out: d x d covariance, positive logit
    q.(mu + 1/2 lam Sigma q / tau), negatives with -1e8 on the excluded entries, logits / tau,
    CE with label 0, plus lam q^T Sigma q / (2 tau^2)."""
    t, b, d = keys.shape
    losses = []
    for i in range(b):
        k = keys[:, i, :]  # (T, d)
        mu = k.mean(0)
        centred = k - mu
        sigma = centred.T @ centred / t  # biased covariance, (d, d)
        sigma_tilde = lam * sigma / tau
        positive = q[i] @ (mu + 0.5 * sigma_tilde @ q[i])
        masked = torch.stack(
            [q[i] @ keys[s, j] - (1e8 if j == i else 0.0) for s in range(t) for j in range(b)]
        )
        anchor = torch.stack([q[i] @ q[j] - (1e8 if j == i else 0.0) for j in range(b)])
        logits = torch.cat([positive.reshape(1), masked, anchor]) / tau
        ce = -torch.log_softmax(logits, dim=0)[0]
        losses.append(ce + lam * (q[i] @ sigma @ q[i]) / (2 * tau**2))
    return torch.stack(losses).mean()


def reference_closed_form(q, keys, tau, lam):
    """The closed form of L_mask as a plain double sum."""
    t, b, _ = keys.shape
    total = 0.0
    for i in range(b):
        mu = keys[:, i].mean(0)
        a = q[i] @ mu / tau
        var = sum((q[i] @ (keys[s, i] - mu)) ** 2 for s in range(t)) / t
        n_i = sum(torch.exp(q[i] @ keys[s, j] / tau) for s in range(t) for j in range(b) if j != i)
        n_i = n_i + sum(torch.exp(q[i] @ q[j] / tau) for j in range(b) if j != i)
        total = total - a + torch.log(torch.exp(a + lam * var / (2 * tau**2)) + n_i)
    return total / b


@pytest.mark.parametrize("b, t, d, tau, lam", [(5, 4, 6, 0.1, 1.0), (3, 6, 8, 0.2, 2.0), (4, 1, 3, 0.5, 0.7)])
def test_value_and_gradient_match_references(b, t, d, tau, lam):
    q, keys = unit(b, d, seed=b), unit(t, b, d, seed=10 + t)
    q.requires_grad_(), keys.requires_grad_()
    value = masked_view_loss(q, keys, tau, lam)
    g_q, g_k = torch.autograd.grad(value, (q, keys))
    for reference in (reference_code_form, reference_closed_form):
        ref = reference(q, keys, tau, lam)
        r_q, r_k = torch.autograd.grad(ref, (q, keys))
        assert abs(value.item() - ref.item()) < 1e-5
        torch.testing.assert_close(g_q, r_q, atol=1e-7, rtol=1e-6)
        torch.testing.assert_close(g_k, r_k, atol=1e-7, rtol=1e-6)


def test_float32_matches_float64_reference():
    q, keys = unit(16, 32, seed=1), unit(6, 16, 32, seed=2)
    value = masked_view_loss(q.float(), keys.float(), 0.1, 1.0)
    assert value.dtype == torch.float32
    assert abs(float(value) - float(reference_closed_form(q, keys, 0.1, 1.0))) < 1e-5


def test_hand_value():
    # q = (e1, e2); keys t=1: (e1, e2), t=2: (e2, e1). Each i: q.mu = 1/2, q^T Sigma q = 1/4,
    # positive 1/2 + 1/8, negatives q_i.k_{t,j!=i} = 0, 1 and q_0.q_1 = 0.
    q = torch.eye(2, dtype=torch.float64)
    keys = torch.stack([q, q.flip(0)])
    expected = -0.5 + math.log(math.exp(0.625) + 2 + E)
    assert float(masked_view_loss(q, keys, 1.0, 1.0)) == pytest.approx(expected, abs=1e-12)
    # lam = 0: InfoNCE with the mean masked view as positive.
    assert float(masked_view_loss(q, keys, 1.0, 0.0)) == pytest.approx(-0.5 + math.log(math.exp(0.5) + 2 + E))


def test_single_view_has_no_variance():
    q, keys = unit(4, 3, seed=3), unit(1, 4, 3, seed=4)
    assert float(masked_view_loss(q, keys, 0.1, 5.0)) == pytest.approx(
        float(masked_view_loss(q, keys, 0.1, 0.0))
    )


def test_upper_bounds_monte_carlo_expected_infonce():
    """Gaussian MGF + Jensen: with m ~ N(mu_i, lam Sigma_i), E[e^{q.m/tau}] = exp(q.mu/tau + lam v/(2 tau^2))
    and E[-log(e^{q.m/tau} / (e^{q.m/tau} + N_i))] <= L_mask (per sample, hence for the mean)."""
    b, t, d, tau, lam = 4, 5, 3, 0.7, 2.0
    q, keys = unit(b, d, seed=5), unit(t, b, d, seed=6)
    gen = torch.Generator().manual_seed(7)
    expected_infonce = []
    for i in range(b):
        mu = keys[:, i].mean(0)
        centred = keys[:, i] - mu
        cov = lam * centred.T @ centred / t + 1e-12 * torch.eye(d, dtype=q.dtype)
        m = mu + torch.randn(200_000, d, generator=gen, dtype=q.dtype) @ torch.linalg.cholesky(cov).T
        s = m @ q[i] / tau
        mgf = torch.exp(q[i] @ mu / tau + (q[i] @ cov @ q[i]) / (2 * tau**2))  # cov = lam Sigma
        assert float(torch.exp(s).mean()) == pytest.approx(float(mgf), rel=1e-2)
        n_i = torch.exp(
            torch.cat(
                [
                    keys[:, [j for j in range(b) if j != i]].reshape(-1, d) @ q[i],
                    q[[j for j in range(b) if j != i]] @ q[i],
                ]
            )
            / tau
        ).sum()
        expected_infonce.append((-s + torch.log(torch.exp(s) + n_i)).mean())
    bound = float(masked_view_loss(q, keys, tau, lam))
    mc = float(torch.stack(expected_infonce).mean())
    assert mc <= bound
    assert bound - mc < 0.1  # the Jensen gap is small here


def test_variance_only_enters_the_denominator():
    # Spreading the masked views around a fixed mean raises the loss.
    q = torch.eye(2, dtype=torch.float64)
    tight = torch.stack([q, q])
    spread = torch.stack([q, q.flip(0)])
    assert float(masked_view_loss(q, spread, 0.5, 1.0)) > float(masked_view_loss(q, spread, 0.5, 0.0))
    assert float(masked_view_loss(q, tight, 0.5, 1.0)) == pytest.approx(
        float(masked_view_loss(q, tight, 0.5, 0.0))
    )


def test_bf16_autocast():
    q, keys = unit(8, 16, seed=8, dtype=torch.float32), unit(4, 8, 16, seed=9, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = masked_view_loss(q.bfloat16(), keys.bfloat16(), 0.1, 1.0)
    assert low.dtype == torch.float32
    assert float(low) == pytest.approx(float(masked_view_loss(q, keys, 0.1, 1.0)), rel=2e-2)


def test_falls():
    q, keys = leaf(0, 16, 8), leaf(1, 6, 16, 8)
    first, last = descend(lambda: masked_view_loss(norm(q), norm(keys), 0.1, 1.0), [q, keys])
    assert last < 0.5 * first


Q = torch.eye(2, dtype=torch.float64)
KEYS = torch.stack([Q, Q.flip(0)])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(q=3 * Q), "q must be L2-normalised"),
        (dict(keys=2 * KEYS), "keys must be L2-normalised"),
        (dict(keys=KEYS[:, :1]), r"keys\[t\] and q must have the same shape"),
        (dict(keys=KEYS[0]), "keys must be a non-empty 3-d"),
        (dict(keys=KEYS[:0]), "T >= 1"),
        (dict(temperature=0), "temperature must be > 0"),
        (dict(lam=-0.1), "lam must be >= 0"),
    ],
)
def test_validation(kwargs, match):
    args = dict(q=Q, keys=KEYS, temperature=0.1, lam=1.0) | kwargs
    with pytest.raises(ValueError, match=match):
        masked_view_loss(**args)
