import math

import pytest
import torch
from _loss_helpers import leaf

from synergy_lab.losses import (
    FACTORCL_TERMS,
    ConcatCritic,
    FactorCLLoss,
    club_bound,
    factorcl_objective,
    nce_bound,
)

E = math.e


def set_threshold_critic(critic: ConcatCritic, dim_a: int):
    """f(a, b) = relu(a[0] + b[0] - 1) with hidden width 1."""
    with torch.no_grad():
        critic.first.weight.zero_()
        critic.first.weight[0, 0] = 1.0
        critic.first.weight[0, dim_a] = 1.0
        critic.first.bias.fill_(-1.0)
        critic.out.weight.fill_(1.0)
        critic.out.bias.zero_()


def hand_inputs():
    # first coordinates a = b = (0, 1): F = relu(a_i + b_j - 1) = [[0, 0], [0, 1]]
    a = torch.tensor([[0.0, 0.3], [1.0, -0.2]])
    b = torch.tensor([[0.0, 0.5], [1.0, 0.7]])
    aug = torch.tensor([[0.4, 0.1], [-0.6, 0.9]])  # conditioning views (ignored by these critics)
    pair, cond = (a, b), (a, aug, b, aug)
    return dict(
        nce_x1x2=pair,
        club_x1x2_cond=cond,
        nce_x1_aug=pair,
        nce_x2_aug=pair,
        club_x1x2=pair,
        nce_x1x2_cond=cond,
    )


NCE = 0.5 - 0.5 * math.log((1 + E) / 2)  # mean diag 1/2; rows: log mean (1, 1) = 0, log mean (1, e)
CLUB = 0.5 - 0.25  # mean diag 1/2, mean of all four entries 1/4


def test_bounds_hand_values():
    scores = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    assert float(nce_bound(scores)) == pytest.approx(NCE)
    assert float(club_bound(scores)) == pytest.approx(CLUB)
    assert float(factorcl_objective(*[scores] * 6)) == pytest.approx(-4 * NCE + 2 * CLUB)
    with pytest.raises(ValueError, match="needs 6 score matrices"):
        factorcl_objective(scores)


def test_loss_hand_value():
    loss = FactorCLLoss(dim=2, hidden=1)
    for t in FACTORCL_TERMS:
        set_threshold_critic(loss.critics[t], 4 if t.endswith("cond") else 2)
    inputs = hand_inputs()
    value, bounds = loss(**inputs, return_terms=True)
    assert value.item() == pytest.approx(-4 * NCE + 2 * CLUB, abs=1e-6)
    torch.testing.assert_close(bounds.detach(), torch.tensor([NCE, CLUB, NCE, NCE, CLUB, NCE]))
    critic = loss.critic_loss(inputs["club_x1x2"], inputs["club_x1x2_cond"])
    assert critic.item() == pytest.approx(-2 * NCE, abs=1e-6)


def test_critic_scores_equal_the_concat_mlp():
    critic = ConcatCritic(3, 5, hidden=7, layers=2)
    a, b = torch.randn(4, 3), torch.randn(4, 5)
    scores = critic.scores(a, b)
    explicit = torch.stack(
        [torch.stack([critic(a[i : i + 1], b[j : j + 1])[0] for j in range(4)]) for i in range(4)]
    )
    torch.testing.assert_close(scores, explicit)
    torch.testing.assert_close(critic(a, b), scores.diagonal())


def test_gradients_reach_the_right_parameters():
    loss = FactorCLLoss(dim=3, hidden=8)
    views = {
        t: tuple(leaf(k + 10 * i, 5, 3) for k in range(4 if t.endswith("cond") else 2))
        for i, t in enumerate(FACTORCL_TERMS)
    }
    loss(**views).backward()
    assert all(p.grad is None for p in loss.club_parameters())  # CLUB critics are not trained by L
    assert all(p.grad is not None for p in loss.nce_parameters())
    assert all(x.grad is not None for v in views.values() for x in v)
    for x in (x for v in views.values() for x in v):
        x.grad = None
    loss.critic_loss(views["club_x1x2"], views["club_x1x2_cond"]).backward()
    assert all(p.grad is not None for p in loss.club_parameters())
    # the critic step never reaches the encoders
    assert all(x.grad is None for v in views.values() for x in v)
    n_params = sum(p.numel() for p in loss.parameters())
    assert n_params == sum(p.numel() for p in [*loss.nce_parameters(), *loss.club_parameters()])


def test_validation():
    loss = FactorCLLoss(dim=2, hidden=4)
    inputs = hand_inputs()
    with pytest.raises(ValueError, match="club_x1x2_cond must be a tuple of 4"):
        loss(**(inputs | {"club_x1x2_cond": inputs["nce_x1x2"]}))
    with pytest.raises(ValueError, match=r"nce_x1_aug\[1\] must have shape \(2, 2\)"):
        loss(**(inputs | {"nce_x1_aug": (torch.zeros(2, 2), torch.zeros(2, 3))}))
    with pytest.raises(ValueError, match="share the batch size"):
        loss(**(inputs | {"club_x1x2": (torch.zeros(3, 2), torch.zeros(3, 2))}))


def test_falls_with_alternating_critic_steps():
    gen = torch.Generator().manual_seed(0)
    loss = FactorCLLoss(dim=4, hidden=32)
    # A tiny "model": shared latent plus noise gives paired views; the heads are linear maps (the parameters).
    x1, x2 = torch.randn(32, 6, generator=gen), torch.randn(32, 6, generator=gen)
    x1_aug, x2_aug = (
        x1 + 0.1 * torch.randn(32, 6, generator=gen),
        x2 + 0.1 * torch.randn(32, 6, generator=gen),
    )
    heads = torch.nn.ModuleList(torch.nn.Linear(6, 4) for _ in range(10))

    def views():
        h = heads
        return dict(
            nce_x1x2=(h[0](x1), h[1](x2)),
            club_x1x2_cond=(h[2](x1), h[2](x1_aug), h[3](x2), h[3](x2_aug)),
            nce_x1_aug=(h[4](x1), h[4](x1_aug)),
            nce_x2_aug=(h[5](x2), h[5](x2_aug)),
            club_x1x2=(h[6](x1), h[7](x2)),
            nce_x1x2_cond=(h[8](x1), h[8](x1_aug), h[9](x2), h[9](x2_aug)),
        )

    main = torch.optim.Adam([*heads.parameters(), *loss.nce_parameters()], lr=0.01)
    club = torch.optim.Adam(loss.club_parameters(), lr=0.01)
    with torch.no_grad():
        first = float(loss(**views()))
    for _ in range(20):
        main.zero_grad()
        v = views()
        loss(**v).backward()
        main.step()
        club.zero_grad()
        loss.critic_loss(v["club_x1x2"], v["club_x1x2_cond"]).backward()
        club.step()
    with torch.no_grad():
        last = float(loss(**views()))
    assert last < first - 0.1
