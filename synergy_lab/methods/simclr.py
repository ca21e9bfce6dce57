"""SimCLR: one encoder + head on the concatenation of the modalities (``simclr_input = "concat"``: SimCLR of
the joint vector; images are concatenated along channels) or on one modality (``"x1"`` / ``"x2"``: the
unimodal baseline), NT-Xent between two augmentations (:class:`~synergy_lab.losses.SimCLRLoss`). Probe
features: the encoder output of its input."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import check_choice
from ..losses import SimCLRLoss
from ._blocks import make_encoder, make_head
from .base import ContrastiveOptions, MethodSystem, StepOutput

SIMCLR_INPUTS = ("concat", "x1", "x2")


@dataclass(frozen=True)
class SimCLROptions(ContrastiveOptions):
    """``[method]`` of ``simclr``: ``temperature`` and ``simclr_input`` in ``{"concat", "x1", "x2"}``."""

    simclr_input: str = "concat"

    def __post_init__(self):
        super().__post_init__()
        check_choice("method.simclr_input", self.simclr_input, SIMCLR_INPUTS)


class SimCLR(MethodSystem):
    name = "simclr"
    Options = SimCLROptions

    def __init__(self, options, model, spec, *, max_epochs: int = 1):
        super().__init__(options, model, spec, max_epochs=max_epochs)
        self.which = options.simclr_input
        shapes = spec.shapes if self.which == "concat" else [spec.shapes[int(self.which[1]) - 1]]
        shape = (sum(s[0] for s in shapes), *shapes[0][1:])
        if len({s[1:] for s in shapes}) != 1:
            raise ValueError(f"method.simclr_input: 'concat' needs modalities of one shape but the first "
                             f"axis, got {list(spec.shapes)}")
        encoder, width = make_encoder(model, shape, pool="avg")
        self.model["encoder"], self.model["head"] = encoder, make_head(model, width)
        self.loss = SimCLRLoss(options.temperature)

    def _select(self, xs):
        return list(xs) if self.which == "concat" else [xs[int(self.which[1]) - 1]]

    def forward(self, batch, ctx):
        xs = self._select(batch["xs"])
        a, c = torch.cat(ctx.views(xs), dim=1), torch.cat(ctx.views(xs), dim=1)
        z = self.model["head"](torch.stack([self.model["encoder"](a), self.model["encoder"](c)]))
        return StepOutput(self.loss(z[0], z[1]))

    def features(self, xs):
        return self.model["encoder"](torch.cat(self._inputs(self._select(xs)), dim=1))
