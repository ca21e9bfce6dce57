"""Encoders: output shapes at 32, 64 and 224 px, exactness of the AlexNet stack, the factory."""

import pytest
import torch
from torch import nn

from synergy_lab.models import AlexNetFeatures, MLPEncoder, SmallCNN, build_encoder


def test_mlp_shapes_and_layers():
    torch.manual_seed(0)
    enc = MLPEncoder(10, 32, 8, n_layers=3)
    assert enc(torch.randn(5, 10)).shape == (5, 8)
    assert sum(isinstance(m, nn.Linear) for m in enc.modules()) == 3
    lin = MLPEncoder(10, 32, 8, n_layers=1)
    assert [type(m) for m in lin.net] == [nn.Linear]
    with pytest.raises(ValueError):
        MLPEncoder(10, 32, 8, n_layers=0)


def test_alexnet_224_gives_256x6x6():
    torch.manual_seed(0)
    with torch.no_grad():
        out = AlexNetFeatures()(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 256, 6, 6)


@pytest.mark.parametrize("size, side", [(32, 1), (48, 2), (64, 1), (96, 2)])
def test_alexnet_small_inputs(size, side):
    torch.manual_seed(0)
    net = AlexNetFeatures()
    with torch.no_grad():
        assert net(torch.randn(2, 3, size, size)).shape == (2, 256, side, side)
        assert AlexNetFeatures(pool="avg")(torch.randn(2, 3, size, size)).shape == (2, 256)
        assert AlexNetFeatures(grid=3)(torch.randn(2, 3, size, size)).shape == (2, 256, 3, 3)
    with pytest.raises(ValueError):
        net(torch.randn(1, 3, 31, 31))


def test_alexnet_is_the_plain_stack_when_no_pool_is_skipped():
    """At >= 64 px the safe pools are plain MaxPool2d(3, 2): same output as the textbook layer list."""
    torch.manual_seed(0)
    net = AlexNetFeatures()
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    ref = nn.Sequential(convs[0], nn.ReLU(), nn.MaxPool2d(3, 2), convs[1], nn.ReLU(), nn.MaxPool2d(3, 2),
                        convs[2], nn.ReLU(), convs[3], nn.ReLU(), convs[4], nn.ReLU(), nn.MaxPool2d(3, 2))
    x = torch.randn(2, 3, 72, 80)
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref(x), rtol=0, atol=0)
    assert [m.kernel_size for m in convs] == [(11, 11), (5, 5), (3, 3), (3, 3), (3, 3)]
    assert [m.out_channels for m in convs] == [64, 192, 384, 256, 256]


@pytest.mark.parametrize("size", [32, 64])
def test_small_cnn_shapes(size):
    torch.manual_seed(0)
    net = SmallCNN(width=8, out_channels=16)
    assert net(torch.randn(2, 3, size, size)).shape == (2, 16, size // 8, size // 8)
    assert SmallCNN(width=8, out_channels=16, pool="avg")(torch.randn(2, 3, size, size)).shape == (2, 16)
    two_stages = SmallCNN(width=8, out_channels=16, n_stages=2)
    assert two_stages(torch.randn(2, 3, size, size)).shape[-1] == size // 4
    with pytest.raises(ValueError):
        net(torch.randn(2, 3, 4, 4))


def test_small_cnn_under_bf16_autocast_and_gradients():
    torch.manual_seed(0)
    net = SmallCNN(width=8, out_channels=16)
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    out.float().sum().backward()
    assert torch.isfinite(out.float()).all() and x.grad is not None
    assert all(p.grad is not None for p in net.parameters())


def test_build_encoder_and_invalid_args():
    assert isinstance(build_encoder("mlp", in_dim=4, hidden=8, out_dim=2), MLPEncoder)
    assert isinstance(build_encoder("alexnet", pool="avg"), AlexNetFeatures)
    assert isinstance(build_encoder("small_cnn", width=4), SmallCNN)
    with pytest.raises(ValueError, match="alexnet.*mlp.*small_cnn"):
        build_encoder("resnet")
    with pytest.raises(ValueError):
        SmallCNN(pool="max")
    with pytest.raises(ValueError):
        AlexNetFeatures(grid=0)


@pytest.mark.parametrize("size", [32, 48, 64])
def test_small_cnn_strided_matches_pooled_shapes(size):
    torch.manual_seed(0)
    x = torch.randn(2, 3, size, size)
    pooled = SmallCNN(width=8, out_channels=16)
    strided = SmallCNN(width=8, out_channels=16, downsample="stride")
    assert strided(x).shape == pooled(x).shape == (2, 16, size // 8, size // 8)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in strided.modules())
    assert sum(p.numel() for p in strided.parameters()) == sum(p.numel() for p in pooled.parameters())
    with pytest.raises(ValueError, match="downsample must be one of"):
        SmallCNN(downsample="avg")
