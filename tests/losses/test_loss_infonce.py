import math

import pytest
import torch
from _loss_helpers import descend, leaf, norm, unit

from synergy_lab.losses import NTXent, nt_xent, simclr_loss

E = math.e
I2 = torch.eye(2, dtype=torch.float64)
SWAP = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)


def reference_nt_xent(u, v, tau):
    """The public code's form: 2B x 2B logits, -1e8 on the within-view diagonals, -mean(diag(log_softmax))."""
    b = u.shape[0]
    big = 1e8 * torch.eye(b, dtype=u.dtype)
    logits = (
        torch.cat([torch.cat([u @ v.T, u @ u.T - big], 1), torch.cat([v @ v.T - big, v @ u.T], 1)], 0) / tau
    )
    return -torch.log_softmax(logits, dim=1).diagonal().mean()


def test_hand_values():
    # Identical views: each anchor sees its positive (dot 1) and two orthogonal negatives (dot 0).
    assert float(nt_xent(I2, I2, 1.0)) == pytest.approx(math.log(E + 2) - 1, abs=1e-12)
    assert float(nt_xent(I2, I2, 0.5)) == pytest.approx(math.log(E**2 + 2) - 2, abs=1e-12)
    # Swapped views: the positive is orthogonal, one negative is aligned.
    assert float(nt_xent(SWAP, I2, 1.0)) == pytest.approx(math.log(E + 2), abs=1e-12)
    assert float(simclr_loss(I2, I2, 1.0)) == pytest.approx(math.log(E + 2) - 1, abs=1e-12)


def test_matches_code_form_and_is_symmetric():
    u, v = unit(7, 5, seed=1), unit(7, 5, seed=2)
    ref = reference_nt_xent(u, v, 0.1)
    assert float(nt_xent(u, v, 0.1)) == pytest.approx(float(ref), abs=1e-10)
    assert float(nt_xent(v, u, 0.1)) == pytest.approx(float(ref), abs=1e-10)
    assert float(NTXent(0.1)(u, v)) == pytest.approx(float(ref), abs=1e-10)


def test_single_sample_is_zero():
    assert float(nt_xent(unit(1, 3), unit(1, 3, seed=1), 0.1)) == 0.0


def test_bf16_autocast_runs_in_float32():
    u, v = unit(8, 16, seed=3, dtype=torch.float32), unit(8, 16, seed=4, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = nt_xent(u.bfloat16(), v.bfloat16(), 0.1)
    assert low.dtype == torch.float32
    assert float(low) == pytest.approx(float(nt_xent(u, v, 0.1)), rel=2e-2)


def test_falls():
    u, v = leaf(0, 16, 8), leaf(1, 16, 8)
    first, last = descend(lambda: nt_xent(norm(u), norm(v), 0.1), [u, v])
    assert last < 0.5 * first


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(u=2 * I2), "u must be L2-normalised"),
        (dict(v=torch.zeros(2, 2, dtype=torch.float64)), "v must be L2-normalised"),
        (dict(v=torch.eye(3, dtype=torch.float64)), "same shape"),
        (dict(u=torch.ones(2, dtype=torch.float64)), "u must be a non-empty 2-d"),
        (dict(temperature=0.0), "temperature must be > 0"),
        (dict(temperature=-1.0), "temperature must be > 0"),
        (dict(temperature=float("nan")), "temperature must be finite"),
    ],
)
def test_validation(kwargs, match):
    args = dict(u=I2, v=I2, temperature=0.1) | kwargs
    with pytest.raises(ValueError, match=match):
        nt_xent(**args)


def test_integer_input_is_type_error():
    with pytest.raises(TypeError, match="u must be a floating-point tensor"):
        nt_xent(torch.eye(2, dtype=torch.int64), I2)
