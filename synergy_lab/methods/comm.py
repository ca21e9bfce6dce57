"""CoMM: NT-Xent between the fused full view and each unimodal view (and the full views of both
augmentations), on the masked-fusion architecture without masked views
(:class:`~synergy_lab.losses.CoMMLoss`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..losses import CoMMLoss
from ._fusion import FusionOptions, FusionSystem


@dataclass(frozen=True)
class CoMMOptions(FusionOptions):
    """``[method]`` of ``comm``: ``temperature``; ``weights``: n + 1 weights [L_1..L_n, L_[n]] (None: ones).
    """


class CoMM(FusionSystem):
    """Fusion of the full input and of each modality alone, with the CoMM loss."""

    name = "comm"
    Options = CoMMOptions

    def __init__(self, options, model, spec, *, max_epochs: int = 1):
        super().__init__(options, model, spec, max_epochs=max_epochs)
        self.loss = CoMMLoss(options.temperature, options.weights)

    def compute_loss(self, za, zb, ctx):
        n = self.n_modalities
        return self.loss(za[0], zb[0], list(za[1:1 + n]), list(zb[1:1 + n]))
