"""InfMasking: CoMM's terms plus a closed-form term aligning the full view with T randomly masked views of
the fused tokens (:class:`~synergy_lab.losses.InfMaskingLoss`; docs/methods.md describes the objective)."""

from __future__ import annotations

from dataclasses import dataclass

from .._validate import check_float
from ..losses import InfMaskingLoss
from ._fusion import _VECTOR_ENCODERS, FusionOptions, FusionSystem


@dataclass(frozen=True)
class InfMaskingOptions(FusionOptions):
    """``[method]`` of ``infmasking``.

    Attributes
    ----------
    temperature : float
        tau of the NT-Xent terms.
    lam : float
        Final covariance scale lambda of the masking term (ramped linearly over the epochs).
    weights : tuple of float, optional
        n + 3 weights [mask', mask'', L_1..L_n, L_[n]] (None = all ones).
    beta : float
        Entropy-penalty weight (0 = off).
    """

    lam: float = 1.0
    beta: float = 0.0
    extra_weights = 3
    weight_layout = "[mask', mask'', L_1..L_n, L_[n]]"

    def __post_init__(self):
        super().__post_init__()
        check_float("method.lam", self.lam, 0.0)
        check_float("method.beta", self.beta, 0.0)

    def check_compatible(self, model, n_modalities, is_image):
        super().check_compatible(model, n_modalities, is_image)
        kept = int(model.n_tokens * (1 - model.mask_ratio))
        if model.encoder in _VECTOR_ENCODERS and kept < 1:
            raise ValueError(f"model.mask_ratio {model.mask_ratio} keeps int({model.n_tokens} * (1 - "
                             f"{model.mask_ratio})) = 0 of the model.n_tokens tokens per modality")


class InfMasking(FusionSystem):
    """Masked fusion with the InfMasking loss (``model.T`` masked views, ``model.mask_ratio``)."""

    name = "infmasking"
    Options = InfMaskingOptions
    masked = True

    def __init__(self, options, model, spec, *, max_epochs: int = 1):
        super().__init__(options, model, spec, max_epochs=max_epochs)
        o = options
        self.loss = InfMaskingLoss(o.temperature, o.lam, max_epochs, o.weights, o.beta)

    def compute_loss(self, za, zb, ctx):
        n = self.n_modalities
        uni_a, uni_b = list(za[1:1 + n]), list(zb[1:1 + n])
        return self.loss(za[0], zb[0], uni_a, uni_b, za[1 + n:], zb[1 + n:], ctx.epoch)
