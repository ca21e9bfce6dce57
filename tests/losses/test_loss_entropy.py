import math

import pytest
import torch
from _loss_helpers import descend, norm, unit

from synergy_lab.losses import entropy_penalty, stein_score


def test_hand_value_and_gradient():
    # keys = (e1, e2): 1 - k.k = [[0, 1], [1, 0]], the 2nd largest of its 4 entries is 1, so h = 1;
    # K = [[e, 1], [1, e]], G_i = (e + 1) k_i, S = -(e + 1) (K + 0.01 I)^{-1},
    # H~ = (e + 1) tr((K + .01 I)^{-1}) / 2.
    e = math.e
    a = e + 0.01
    inverse = torch.tensor([[a, -1.0], [-1.0, a]], dtype=torch.float64) / (a * a - 1)
    keys = torch.eye(2, dtype=torch.float64, requires_grad=True)
    h = entropy_penalty(keys)
    assert h.item() == pytest.approx((e + 1) * a / (a * a - 1), abs=1e-12)
    torch.testing.assert_close(stein_score(keys.detach()), -(e + 1) * inverse)
    (grad,) = torch.autograd.grad(h, keys)
    torch.testing.assert_close(grad, (e + 1) / 2 * inverse)  # d H~ / d k_i = -S_i / B


def test_sets_are_averaged():
    keys = unit(3, 8, 4, seed=1)
    expected = sum(float(entropy_penalty(k)) for k in keys) / 3
    assert float(entropy_penalty(keys)) == pytest.approx(expected)


def test_bandwidth_floor():
    # Identical samples: median distance 0, so h = min_bandwidth; the estimate stays finite.
    keys = torch.tensor([[1.0, 0.0]] * 4, dtype=torch.float64)
    assert math.isfinite(float(entropy_penalty(keys)))


@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_maximising_spreads_and_minimising_contracts(sign):
    gen = torch.Generator().manual_seed(0)
    x = (0.3 * torch.randn(32, 3, generator=gen) + torch.tensor([1.0, 0.0, 0.0])).requires_grad_()

    def mean_cosine():
        z = norm(x.detach())
        return float((z @ z.T).mean())

    before = mean_cosine()
    descend(lambda: sign * entropy_penalty(norm(x)), [x], lr=0.02)
    if sign < 0:  # loss = -H~: entropy ascent spreads the cluster
        assert mean_cosine() < before - 0.1
    else:
        assert mean_cosine() > before + 0.01


@pytest.mark.parametrize(
    "keys, kwargs, match",
    [
        (2 * torch.eye(2), {}, "keys must be L2-normalised"),
        (torch.ones(2), {}, r"keys must be a \(B, d\)"),
        (torch.eye(2), {"eta": -1.0}, "eta must be >= 0"),
        (torch.eye(2), {"min_bandwidth": 0.0}, "min_bandwidth must be > 0"),
    ],
)
def test_validation(keys, kwargs, match):
    with pytest.raises(ValueError, match=match):
        entropy_penalty(keys, **kwargs)
