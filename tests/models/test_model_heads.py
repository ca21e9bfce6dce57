"""Projection head: shapes, L2 normalisation, per-view BatchNorm statistics (no cross-view leakage)."""

import pytest
import torch
from torch import nn

from synergy_lab.models import ProjectionHead, ViewBatchNorm1d


def test_shapes_normalisation_and_architecture():
    torch.manual_seed(0)
    head = ProjectionHead(16, hidden=32, out_dim=8)
    kinds = [type(m).__name__ for m in head.net]
    assert kinds == ["Linear", "ViewBatchNorm1d", "ReLU", "Linear", "ViewBatchNorm1d", "ReLU", "Linear"]
    z = head(torch.randn(6, 16))
    assert z.shape == (6, 8)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(6))
    assert head(torch.randn(3, 6, 16)).shape == (3, 6, 8)
    views = head([torch.randn(6, 16), torch.randn(6, 16)])
    assert isinstance(views, list) and [v.shape for v in views] == [(6, 8), (6, 8)]
    uneven = head([torch.randn(6, 16), torch.randn(4, 16)])
    assert [v.shape for v in uneven] == [(6, 8), (4, 8)]
    assert ProjectionHead(16, out_dim=8, n_layers=1, normalize=False)(torch.randn(2, 16)).shape == (2, 8)
    layer = ProjectionHead(16, 32, 8, norm="layer")
    assert any(isinstance(m, nn.LayerNorm) for m in layer.net)


def test_view_a_unchanged_when_view_b_changes():
    torch.manual_seed(0)
    head = ProjectionHead(16, 32, 8)
    a, b = torch.randn(10, 16), torch.randn(10, 16)
    out1 = head(torch.stack([a, b]))
    out2 = head(torch.stack([a, 5 * torch.randn(10, 16) + 3]))
    torch.testing.assert_close(out1[0], out2[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(out1[0], head(a), rtol=0, atol=1e-6)  # same as a call on view A alone
    # sanity: a plain BatchNorm over the stacked rows would have leaked
    plain = nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32))
    mix1, mix2 = plain(torch.cat([a, b])), plain(torch.cat([a, 5 * b + 3]))
    assert (mix1[:10] - mix2[:10]).abs().max() > 1e-2


def test_view_batchnorm_equals_successive_batchnorm_calls():
    torch.manual_seed(0)
    vbn, ref = ViewBatchNorm1d(5), nn.BatchNorm1d(5)
    with torch.no_grad():
        vbn.weight.uniform_(0.5, 2.0)
        vbn.bias.normal_()
    ref.load_state_dict(vbn.state_dict())
    x = torch.randn(4, 8, 5) * 3 + 1
    torch.testing.assert_close(vbn(x), torch.stack([ref(v) for v in x]), rtol=0, atol=1e-5)
    torch.testing.assert_close(vbn.running_mean, ref.running_mean)
    torch.testing.assert_close(vbn.running_var, ref.running_var)
    assert vbn.num_batches_tracked.item() == ref.num_batches_tracked.item() == 4
    vbn.eval()
    ref.eval()
    torch.testing.assert_close(vbn(x), torch.stack([ref(v) for v in x]), rtol=0, atol=1e-5)
    assert vbn(x[:, :1]).shape == (4, 1, 5)  # eval works with one row per view


def test_gradients_flow_and_autocast():
    torch.manual_seed(0)
    head = ProjectionHead(16, 32, 8)
    x = torch.randn(3, 6, 16, requires_grad=True)
    (head(x) * torch.randn(3, 6, 8)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = head(x)
    assert torch.isfinite(z).all() and z.shape == (3, 6, 8)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError):
        ProjectionHead(16, norm="group")
    with pytest.raises(ValueError):
        ProjectionHead(16, n_layers=0)
    head = ProjectionHead(16, 32, 8)
    with pytest.raises(ValueError):
        head(torch.randn(4, 15))
    with pytest.raises(ValueError):
        head(torch.randn(2, 1, 16))  # training BatchNorm needs >= 2 rows per view
    with pytest.raises(ValueError):
        ViewBatchNorm1d(4, momentum=None)
