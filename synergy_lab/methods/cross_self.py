"""Cross+Self: CLIP-style cross-modal NT-Xent plus unimodal SimCLR terms on two augmentations of each
modality (:class:`~synergy_lab.losses.CrossSelfLoss`). Probe features: the concatenated encoder outputs."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import check_float
from ..losses import CrossSelfLoss
from ._blocks import PerModalitySystem
from .base import ContrastiveOptions, StepOutput


@dataclass(frozen=True)
class CrossSelfOptions(ContrastiveOptions):
    """``[method]`` of ``cross_self``: ``temperature``, and ``ssl_scale`` (>= 0), the weight of the unimodal
    SimCLR terms."""

    ssl_scale: float = 1.0
    n_modalities = 2

    def __post_init__(self):
        super().__post_init__()
        check_float("method.ssl_scale", self.ssl_scale, 0.0)


class CrossSelf(PerModalitySystem):
    name = "cross_self"
    Options = CrossSelfOptions

    def __init__(self, options, model, spec, *, max_epochs: int = 1):
        super().__init__(options, model, spec, max_epochs=max_epochs)
        self.loss = CrossSelfLoss(options.temperature, options.ssl_scale)

    def forward(self, batch, ctx):
        xs = batch["xs"]
        ha, hb = self.encode(ctx.views(xs)), self.encode(ctx.views(xs))
        # Each head sees its two views stacked: BatchNorm statistics per view.
        z = [head(torch.stack([a, c])) for head, a, c in zip(self.model["heads"], ha, hb, strict=True)]
        (z1a, z1b), (z2a, z2b) = z
        return StepOutput(self.loss(z1a, z2a, z1a, z1b, z2a, z2b))
