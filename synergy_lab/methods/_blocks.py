"""Building blocks shared by the methods: the per-modality encoder, the projection head, and the
encoder(+head)-per-modality base of the non-fusion methods.

Images swap the MLP for a CNN: ``pool="none"`` keeps the feature map (the fusion methods tokenise it),
``pool="avg"`` pools it to a vector (the other methods).
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import AlexNetFeatures, MLPEncoder, ProjectionHead, SmallCNN
from .base import MethodSystem


def make_encoder(model, shape: tuple[int, ...], pool: str) -> tuple[nn.Module, int]:
    """Encoder of one modality (``model``: the ``[model]`` section) and the width (vectors) or channel
    count (maps) of its output."""
    m = model
    if m.encoder == "mlp":
        return MLPEncoder(shape[0], m.encoder_hidden, m.encoder_out, m.encoder_layers), m.encoder_out
    if m.encoder == "none":
        return nn.Identity(), shape[0]
    channels = shape[0]
    if m.encoder == "alexnet":
        return AlexNetFeatures(channels, grid=m.grid, pool=pool), AlexNetFeatures.out_channels
    cnn = SmallCNN(channels, width=m.encoder_hidden, out_channels=m.encoder_out, pool=pool,
                   downsample=m.cnn_downsample)
    if m.grid is not None and pool == "none":
        return nn.Sequential(cnn, nn.AdaptiveAvgPool2d(m.grid)), m.encoder_out
    return cnn, m.encoder_out


def make_head(model, in_dim: int) -> ProjectionHead:
    """``Linear(in, hidden)-Norm-ReLU-...-Linear(hidden, out)``, L2-normalised (sizes from ``[model]``)."""
    return ProjectionHead(in_dim, model.head_hidden, model.head_out, model.head_layers, model.head_norm)


class PerModalitySystem(MethodSystem):
    """Encoder (global-pooled for images) + optional projection head per modality; probe features are the
    concatenated encoder outputs."""

    def __init__(self, options, model, spec, *, max_epochs: int = 1, heads: bool = True):
        super().__init__(options, model, spec, max_epochs=max_epochs)
        encoders, widths = zip(*(make_encoder(model, s, pool="avg") for s in spec.shapes), strict=True)
        self.widths = list(widths)
        self.model["encoders"] = nn.ModuleList(encoders)
        if heads:
            self.model["heads"] = nn.ModuleList(make_head(model, w) for w in self.widths)

    def encode(self, xs):
        return [enc(x) for enc, x in zip(self.model["encoders"], xs, strict=True)]

    def project(self, hs):
        return [head(h) for head, h in zip(self.model["heads"], hs, strict=True)]

    def features(self, xs):
        return torch.cat(self.encode(self._inputs(xs)), dim=1)
