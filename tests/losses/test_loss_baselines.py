"""CoMM, CLIP, Cross+Self, SimCLR, CMC and supervised losses: hand values, descent, validation."""

import math

import pytest
import torch
from _loss_helpers import descend, leaf, norm, unit

from synergy_lab.losses import (
    CLIPLoss,
    CMCLoss,
    CoMMLoss,
    CrossSelfLoss,
    SimCLRLoss,
    SupervisedLoss,
    clip_loss,
    cmc_loss,
    comm_loss,
    cross_self_loss,
    simclr_loss,
    supervised_loss,
)

E = math.e
I2 = torch.eye(2, dtype=torch.float64)
SWAP = I2.flip(0)
SAME = math.log(E + 2) - 1  # l_1(I, I): positive dot 1, two negatives with dot 0
CROSSED = math.log(E + 2)  # l_1(SWAP, I): positive dot 0, one negative with dot 1


# ---- CoMM ------------------------------------------------------------


def test_comm_hand_value():
    # L_1 = 1/2 [l(SWAP, z'') + l(I, z')] ; L_[n] = l(z', z'') ; plain mean of the two.
    expected = (0.5 * (CROSSED + SAME) + SAME) / 2
    assert float(comm_loss(I2, I2, [SWAP], [I2], 1.0)) == pytest.approx(expected, abs=1e-12)
    weighted = comm_loss(I2, I2, [SWAP], [I2], 1.0, weights=[2.0, 4.0])
    assert float(weighted) == pytest.approx((2 * 0.5 * (CROSSED + SAME) + 4 * SAME) / 2, abs=1e-12)
    assert float(CoMMLoss(1.0)(I2, I2, [SWAP], [I2])) == pytest.approx(expected, abs=1e-12)


def test_comm_weights_and_inputs_validated():
    with pytest.raises(ValueError, match="weights must have length 3"):
        comm_loss(I2, I2, [I2, I2], [I2, I2], 0.1, weights=[1, 1])
    with pytest.raises(TypeError, match="uni_a must be a list or tuple"):
        comm_loss(I2, I2, I2, [I2], 0.1)
    with pytest.raises(ValueError, match=r"uni_a\[0\] and z_a must have the same shape"):
        comm_loss(I2, I2, [torch.eye(3, dtype=torch.float64)], [I2], 0.1)


def test_comm_falls():
    z = [leaf(k, 16, 8) for k in range(6)]
    module = CoMMLoss(0.1)
    first, last = descend(
        lambda: module(norm(z[0]), norm(z[1]), [norm(z[2]), norm(z[3])], [norm(z[4]), norm(z[5])]), z
    )
    assert last < 0.5 * first


# ---- CLIP ------------------------------------------------------------


def test_clip_hand_values():
    assert float(clip_loss(I2, I2, 1.0)) == pytest.approx(math.log(1 + E) - 1, abs=1e-12)
    assert float(clip_loss(I2, I2, 2.0)) == pytest.approx(math.log(1 + E**2) - 2, abs=1e-12)
    assert float(clip_loss(SWAP, I2, 1.0)) == pytest.approx(math.log(1 + E), abs=1e-12)


def test_clip_module_scale():
    module = CLIPLoss()
    assert module.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    u, v = unit(5, 4, seed=1), unit(5, 4, seed=2)
    assert module(u, v).item() == pytest.approx(float(clip_loss(u, v, 1 / 0.07)), rel=1e-6)
    with torch.no_grad():
        module.logit_scale.fill_(10.0)
    loss = module(u, v)
    assert module.logit_scale.item() == pytest.approx(math.log(100.0))  # clamped in place to s <= 100
    loss.backward()
    # the gradient stays alive at the bound
    assert module.logit_scale.grad is not None and float(module.logit_scale.grad) != 0.0
    fixed = CLIPLoss(learnable=False)
    assert not list(fixed.parameters())


def test_clip_validation():
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        clip_loss(I2, I2, 0.0)
    with pytest.raises(ValueError, match="z2 must be L2-normalised"):
        clip_loss(I2, 2 * I2, 1.0)
    with pytest.raises(ValueError, match="init_temperature"):
        CLIPLoss(init_temperature=0.001)


def test_clip_falls():
    z1, z2 = leaf(0, 16, 8), leaf(1, 16, 8)
    module = CLIPLoss()
    first, last = descend(lambda: module(norm(z1), norm(z2)), [z1, z2, *module.parameters()])
    assert last < 0.5 * first


# ---- Cross+Self, SimCLR, CMC ------------------------------------------------------------


def test_cross_self_hand_value():
    loss = cross_self_loss(I2, I2, SWAP, I2, I2, I2, temperature=1.0, ssl_scale=0.5)
    assert float(loss) == pytest.approx(SAME + 0.5 * 0.5 * (CROSSED + SAME), abs=1e-12)
    assert float(CrossSelfLoss(1.0, 0.0)(I2, SWAP, I2, I2, I2, I2)) == pytest.approx(CROSSED, abs=1e-12)


def test_cross_self_falls():
    z = [leaf(k, 16, 8) for k in range(6)]
    module = CrossSelfLoss(0.1)
    first, last = descend(lambda: module(*[norm(x) for x in z]), z)
    assert last < 0.5 * first


def test_simclr():
    assert float(simclr_loss(I2, I2, 1.0)) == pytest.approx(SAME, abs=1e-12)
    assert float(SimCLRLoss(1.0)(SWAP, I2)) == pytest.approx(CROSSED, abs=1e-12)
    z_a, z_b = leaf(0, 16, 8), leaf(1, 16, 8)
    first, last = descend(lambda: SimCLRLoss(0.1)(norm(z_a), norm(z_b)), [z_a, z_b])
    assert last < 0.5 * first


def test_cmc_hand_value_and_validation():
    # pairs (I, I), (I, SWAP), (I, SWAP)
    assert float(cmc_loss([I2, I2, SWAP], 1.0)) == pytest.approx((SAME + 2 * CROSSED) / 3, abs=1e-12)
    assert float(CMCLoss(1.0)([I2, I2])) == pytest.approx(SAME, abs=1e-12)
    with pytest.raises(ValueError, match="n >= 2"):
        cmc_loss([I2], 0.1)
    with pytest.raises(ValueError, match=r"zs\[1\] must be L2-normalised"):
        cmc_loss([I2, 2 * I2], 0.1)


def test_cmc_falls():
    z = [leaf(k, 16, 8) for k in range(3)]
    first, last = descend(lambda: CMCLoss(0.1)([norm(x) for x in z]), z)
    assert last < 0.5 * first


# ---- supervised ------------------------------------------------------------


def test_supervised_hand_value():
    logits = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    expected = (math.log(1 + E) - 1 + math.log(2)) / 2
    assert float(supervised_loss(logits, torch.tensor([0, 1]))) == pytest.approx(expected, abs=1e-12)
    assert float(SupervisedLoss()(logits, torch.tensor([0, 1]))) == pytest.approx(expected, abs=1e-12)


def test_supervised_balanced_is_the_mean_of_class_means():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(20, 4, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0] * 14 + [1] * 4 + [3] * 2)  # class 2 absent from the batch
    per_sample = -torch.log_softmax(logits, dim=1)[torch.arange(20), labels]
    class_means = [float(per_sample[labels == c].mean()) for c in (0, 1, 3)]
    expected = sum(class_means) / 3
    assert float(supervised_loss(logits, labels, "balanced")) == pytest.approx(expected, abs=1e-12)
    assert float(SupervisedLoss("balanced")(logits, labels)) == pytest.approx(expected, abs=1e-12)
    assert float(supervised_loss(logits, labels)) == pytest.approx(float(per_sample.mean()), abs=1e-12)
    assert float(supervised_loss(logits, labels)) != pytest.approx(expected, abs=1e-3)
    with pytest.raises(ValueError, match="class_weight must be None or 'balanced'"):
        supervised_loss(logits, labels, "inverse")


def test_supervised_validation():
    logits = torch.zeros(3, 4)
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        supervised_loss(logits, torch.zeros(3))
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        supervised_loss(logits, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\]"):
        supervised_loss(logits, torch.tensor([0, 4, 1]))


def test_supervised_falls():
    gen = torch.Generator().manual_seed(0)
    x, labels = torch.randn(32, 8, generator=gen), torch.randint(0, 4, (32,), generator=gen)
    linear = torch.nn.Linear(8, 4)
    first, last = descend(lambda: supervised_loss(linear(x), labels), list(linear.parameters()))
    assert last < 0.7 * first


def test_losses_run_under_bf16_autocast():
    u, v = unit(8, 16, seed=1, dtype=torch.float32), unit(8, 16, seed=2, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        values = [
            clip_loss(u.bfloat16(), v.bfloat16(), 10.0),
            comm_loss(u.bfloat16(), v.bfloat16(), [v.bfloat16()], [u.bfloat16()]),
            supervised_loss(torch.nn.Linear(16, 3)(u), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])),
        ]
    assert all(x.dtype == torch.float32 and torch.isfinite(x) for x in values)
