"""FactorCL-SSL: encoder per modality + 10 MLP heads (no norm, not L2-normalised) + the six critics of
:class:`~synergy_lab.losses.FactorCLLoss`; X = e(x'), X' = e(x'') (two augmentations). Head k of the 10
follows the loss's h1..h10. The CLUB critics are trained by a second optimiser (:meth:`FactorCL.critic_step`)
on detached embeddings. Probe features: the concatenated 10 head outputs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .._validate import check_float, check_int
from ..losses import FactorCLLoss
from ..models import ProjectionHead
from ._blocks import PerModalitySystem
from .base import CriticStep, MethodOptions, StepOutput


@dataclass(frozen=True)
class FactorCLOptions(MethodOptions):
    """``[method]`` of ``factorcl``.

    Attributes
    ----------
    critic_hidden : int
        Hidden width of the critics.
    critic_lr : float, optional
        Learning rate of the CLUB critics' optimiser (default: ``optim.lr``).
    """

    critic_hidden: int = 512
    critic_lr: float | None = None
    n_modalities = 2

    def __post_init__(self):
        super().__post_init__()
        check_int("method.critic_hidden", self.critic_hidden, 1)
        check_float("method.critic_lr", self.critic_lr, 0.0, lo_open=True, optional=True)


class FactorCL(PerModalitySystem):
    name = "factorcl"
    Options = FactorCLOptions

    def __init__(self, options, model, spec, *, max_epochs: int = 1):
        super().__init__(options, model, spec, max_epochs=max_epochs, heads=False)
        m = model
        w1, w2 = self.widths
        self.model["heads"] = nn.ModuleList(
            ProjectionHead(w1 if k % 2 == 0 else w2, m.head_hidden, m.head_out, m.head_layers, norm="none",
                           normalize=False)
            for k in range(10)
        )
        self.loss = FactorCLLoss(m.head_out, hidden=options.critic_hidden)

    def _terms(self, x1, x2, x1p, x2p):
        h = self.model["heads"]
        s1, s2 = torch.stack([x1, x1p]), torch.stack([x2, x2p])
        c3, c4, c5, c6, c9, c10 = h[2](s1), h[3](s2), h[4](s1), h[5](s2), h[8](s1), h[9](s2)
        return dict(
            nce_x1x2=(h[0](x1), h[1](x2)),
            club_x1x2_cond=(c3[0], c3[1], c4[0], c4[1]),
            nce_x1_aug=(c5[0], c5[1]),
            nce_x2_aug=(c6[0], c6[1]),
            club_x1x2=(h[6](x1), h[7](x2)),
            nce_x1x2_cond=(c9[0], c9[1], c10[0], c10[1]),
        )

    def forward(self, batch, ctx):
        xs = batch["xs"]
        (x1, x2), (x1p, x2p) = self.encode(ctx.views(xs)), self.encode(ctx.views(xs))
        terms = self._terms(x1, x2, x1p, x2p)
        aux = (tuple(t.detach() for t in terms["club_x1x2"]),
               tuple(t.detach() for t in terms["club_x1x2_cond"]))
        return StepOutput(self.loss(**terms), aux=aux)

    def critic_step(self) -> CriticStep:
        return CriticStep(list(self.loss.club_parameters()), lambda aux: self.loss.critic_loss(*aux),
                          self.options.critic_lr)

    def features(self, xs):
        x1, x2 = self.encode(self._inputs(xs))
        heads = self.model["heads"]
        return torch.cat([head(x1 if k % 2 == 0 else x2) for k, head in enumerate(heads)], dim=1)
