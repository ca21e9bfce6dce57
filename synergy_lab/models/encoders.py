"""Modality encoders in plain torch: an MLP for vectors and two CNNs that return feature maps.

The AlexNet ``features`` stack (Krizhevsky et al. 2012) is the encoder that the public Trifeature runs
train from scratch (docs/methods.md, "Architectures"). Every CNN takes ``pool="none"`` (return the feature
map, for the token route of the fusion models) or ``pool="avg"`` (global average pool to a vector, for the
baselines that need one embedding per modality: Cross, Cross+Self, CMC, FactorCL).
"""

from __future__ import annotations

import torch
from torch import nn

_POOLS = ("none", "avg")


def _check_pool(pool: str) -> str:
    if pool not in _POOLS:
        raise ValueError(f"pool must be one of {_POOLS}, got {pool!r}")
    return pool


def _positive(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class MLPEncoder(nn.Module):
    """ReLU MLP ``in_dim -> hidden -> ... -> out_dim`` with ``n_layers`` linear layers.

    Parameters
    ----------
    in_dim, hidden, out_dim : int
        Input, hidden and output widths.
    n_layers : int, default 2
        Number of ``nn.Linear`` layers (ReLU between them, none after the last); 1 gives a linear map.

    Shapes
    ------
    ``(B, in_dim) -> (B, out_dim)``; extra leading axes are allowed.
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, n_layers: int = 2):
        super().__init__()
        in_dim, hidden, out_dim = (_positive(k, v) for k, v in
                                   (("in_dim", in_dim), ("hidden", hidden), ("out_dim", out_dim)))
        n_layers = _positive("n_layers", n_layers)
        sizes = [in_dim] + [hidden] * (n_layers - 1) + [out_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < n_layers - 1:
                layers.append(nn.ReLU(inplace=True))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _SafeMaxPool(nn.Module):
    """``MaxPool2d(3, 2)`` that passes maps smaller than the window through unchanged.

    On maps of at least 3x3 it is exactly ``nn.MaxPool2d(3, 2)``; it only makes the AlexNet stack usable
    down to 32 px inputs, where the last pool would otherwise see a 1x1 map and raise.
    """

    def __init__(self, kernel: int = 3, stride: int = 2):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < self.kernel or x.shape[-2] < self.kernel:
            return x
        return nn.functional.max_pool2d(x, self.kernel, self.stride)


class AlexNetFeatures(nn.Module):
    """AlexNet ``features`` stack (no classifier), trained from scratch: the Trifeature encoder.

    Layers: Conv11/4 p2 (64)-ReLU-MaxPool3/2-Conv5 p2 (192)-ReLU-MaxPool3/2-Conv3 p1 (384)-ReLU-
    Conv3 p1 (256)-ReLU-Conv3 p1 (256)-ReLU-MaxPool3/2. A 224 px input gives a 256x6x6 map (36 tokens).

    Small inputs: a max pool whose input map is smaller than its 3x3 window is skipped (identity) instead of
    raising, so every input of at least 32 px gives a map of at least 1x1 (32 px: 1x1, 48 px: 2x2, 64 px:
    1x1, 96 px: 2x2, 128 px: 3x3, 224 px: 6x6; not monotone below 64 px, where pools get skipped). From
    64 px on no pool is skipped and the network is exactly the AlexNet stack. ``grid=g`` adds an adaptive
    average pool to ``g x g`` (identity at 224 px with ``g = 6``; it replicates cells when the map is smaller)
    to fix the number of tokens across input sizes. For low-resolution CPU runs :class:`SmallCNN` is the
    better choice (32 px -> 4x4 map).

    Parameters
    ----------
    in_channels : int, default 3
    grid : int or None, default None
        Output grid of an optional final ``AdaptiveAvgPool2d``; None keeps the natural size.
    pool : {"none", "avg"}, default "none"
        ``"avg"`` returns the global average of the map, a ``(B, 256)`` vector.

    Shapes
    ------
    ``(B, C, H, W) -> (B, 256, h, w)`` (``pool="none"``) or ``(B, 256)`` (``pool="avg"``).
    """

    out_channels = 256

    def __init__(self, in_channels: int = 3, grid: int | None = None, pool: str = "none"):
        super().__init__()
        in_channels = _positive("in_channels", in_channels)
        self.pool = _check_pool(pool)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            _SafeMaxPool(),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            _SafeMaxPool(),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            _SafeMaxPool(),
        )
        self.resize = nn.AdaptiveAvgPool2d(_positive("grid", grid)) if grid is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or min(x.shape[-2:]) < 32:
            raise ValueError(f"expected (B, C, H, W) images of at least 32 px, got {tuple(x.shape)}")
        h = self.resize(self.features(x))
        return h.mean(dim=(-2, -1)) if self.pool == "avg" else h


#: How :class:`SmallCNN` halves the resolution per stage.
DOWNSAMPLES = ("pool", "stride")


class SmallCNN(nn.Module):
    """Small CNN for low-resolution CPU runs (32-64 px): ``n_stages`` x [Conv3 p1-BN-ReLU-MaxPool2].

    Stage ``k`` (0-based) has ``width * 2**k`` channels, the last one ``out_channels``; each halves the
    resolution, so with the default 3 stages 32 px gives a 4x4 map (16 tokens) and 64 px an 8x8 map.
    ``downsample="stride"`` halves with the convolution itself (Conv3 s2 p1-BN-ReLU): the same output shape
    for about a fifth of the CPU time (every convolution runs at the lower resolution, and CPU max-pooling
    is slow), at the price of a coarser first layer.

    Parameters
    ----------
    in_channels : int, default 3
    width : int, default 32
        Channels of the first stage.
    out_channels : int, default 128
    n_stages : int, default 3
        Number of conv stages; the input must be at least ``2**n_stages`` px.
    pool : {"none", "avg"}, default "none"
    downsample : {"pool", "stride"}, default "pool"

    Shapes
    ------
    ``(B, C, H, W) -> (B, out_channels, H // 2**n_stages, W // 2**n_stages)`` or ``(B, out_channels)``
    (strided stages round odd sizes up).
    """

    def __init__(self, in_channels: int = 3, width: int = 32, out_channels: int = 128, n_stages: int = 3,
                 pool: str = "none", downsample: str = "pool"):
        super().__init__()
        in_channels, width = _positive("in_channels", in_channels), _positive("width", width)
        out_channels, n_stages = _positive("out_channels", out_channels), _positive("n_stages", n_stages)
        self.pool, self.out_channels, self.n_stages = _check_pool(pool), out_channels, n_stages
        if downsample not in DOWNSAMPLES:
            raise ValueError(f"downsample must be one of {list(DOWNSAMPLES)}, got {downsample!r}")
        chans = [in_channels] + [width * 2**k for k in range(n_stages - 1)] + [out_channels]
        stride = 2 if downsample == "stride" else 1
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(a, b, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(b),
                       nn.ReLU(inplace=True)]
            if stride == 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or min(x.shape[-2:]) < 2**self.n_stages:
            raise ValueError(f"expected (B, C, H, W) images of at least {2 ** self.n_stages} px, "
                             f"got {tuple(x.shape)}")
        h = self.features(x)
        return h.mean(dim=(-2, -1)) if self.pool == "avg" else h


_ENCODERS = {"mlp": MLPEncoder, "alexnet": AlexNetFeatures, "small_cnn": SmallCNN}


def build_encoder(kind: str, **kwargs) -> nn.Module:
    """Encoder by name: ``"mlp"`` (:class:`MLPEncoder`), ``"alexnet"``, ``"small_cnn"``.

    Keyword arguments go to the class; an unknown ``kind`` raises ValueError listing the valid ones.
    """
    if kind not in _ENCODERS:
        raise ValueError(f"unknown encoder kind {kind!r}; valid kinds: {sorted(_ENCODERS)}")
    return _ENCODERS[kind](**kwargs)
