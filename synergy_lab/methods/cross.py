"""Cross (CLIP): encoder + projection head per modality, symmetric InfoNCE between the two modalities with
a learnable logit scale (:class:`~synergy_lab.losses.CLIPLoss`). Probe features: both projected
(L2-normalised) embeddings, concatenated."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import check_float
from ..losses import CLIPLoss
from ._blocks import PerModalitySystem
from .base import MethodOptions, StepOutput


@dataclass(frozen=True)
class CrossOptions(MethodOptions):
    """``[method]`` of ``cross``: ``clip_temperature``, the initial temperature of the learnable logit scale,
    in [0.01, 1]."""

    clip_temperature: float = 0.07
    n_modalities = 2

    def __post_init__(self):
        super().__post_init__()
        check_float("method.clip_temperature", self.clip_temperature, 0.01, 1.0)


class Cross(PerModalitySystem):
    """One augmented view per modality: the positives are cross-modal."""

    name = "cross"
    Options = CrossOptions

    def __init__(self, options, model, spec, *, max_epochs: int = 1):
        super().__init__(options, model, spec, max_epochs=max_epochs)
        self.loss = CLIPLoss(init_temperature=options.clip_temperature)

    def forward(self, batch, ctx):
        z1, z2 = self.project(self.encode(ctx.views(batch["xs"])))
        return StepOutput(self.loss(z1, z2), {"logit_scale": self.loss.logit_scale.detach()})

    def features(self, xs):
        return torch.cat(self.project(self.encode(self._inputs(xs))), dim=1)
