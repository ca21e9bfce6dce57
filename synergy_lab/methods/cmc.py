"""CMC: encoder + projection head per modality, NT-Xent between every pair of modalities on one augmented
view each (:class:`~synergy_lab.losses.CMCLoss`). Probe features: the concatenated encoder outputs."""

from __future__ import annotations

from dataclasses import dataclass

from ..losses import CMCLoss
from ._blocks import PerModalitySystem
from .base import ContrastiveOptions, StepOutput


@dataclass(frozen=True)
class CMCOptions(ContrastiveOptions):
    """``[method]`` of ``cmc``: ``temperature``."""


class CMC(PerModalitySystem):
    name = "cmc"
    Options = CMCOptions

    def __init__(self, options, model, spec, *, max_epochs: int = 1):
        super().__init__(options, model, spec, max_epochs=max_epochs)
        self.loss = CMCLoss(options.temperature)

    def forward(self, batch, ctx):
        return StepOutput(self.loss(self.project(self.encode(ctx.views(batch["xs"])))))
