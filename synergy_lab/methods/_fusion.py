"""The masked-fusion architecture shared by InfMasking and CoMM.

MLP (or CNN) encoder per modality -> :class:`~synergy_lab.models.FeatureGroupTokenizer` (``n_tokens`` tokens;
images: one token per feature-map cell; or, with ``model.tokenizer = "input_blocks"``, no shared encoder and
one :class:`~synergy_lab.models.InputBlockTokenizer` MLP per input block)
-> :class:`~synergy_lab.models.MaskedFusion` (full + unimodal [+ T masked] views of both augmentations in one
call) -> :class:`~synergy_lab.models.ProjectionHead` (per-view BatchNorm).
Probe features: the pre-head fused CLS vector of the unmasked full input (E-dim).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from .._validate import check_weights, set_field
from ..models import FeatureGroupTokenizer, FeatureMapTokenizer, InputBlockTokenizer, MaskedFusion
from ._blocks import make_encoder, make_head
from .base import ContrastiveOptions, MethodSystem, StepOutput

#: Encoders whose output the fusion methods cut into ``model.n_tokens`` groups.
_VECTOR_ENCODERS = ("mlp", "none")


@dataclass(frozen=True)
class FusionOptions(ContrastiveOptions):
    """``temperature`` and optional term ``weights`` (None = all ones; their count depends on the method
    and the number of modalities n: :attr:`extra_weights` + n)."""

    weights: tuple[float, ...] | None = None
    #: Weights beyond the n unimodal ones; what they weight (for the error message).
    extra_weights: ClassVar[int] = 1
    weight_layout: ClassVar[str] = "[L_1..L_n, L_[n]]"

    def __post_init__(self):
        super().__post_init__()
        set_field(self, "weights", check_weights("method.weights", self.weights))

    def check_compatible(self, model, n_modalities, is_image):
        super().check_compatible(model, n_modalities, is_image)
        need = n_modalities + self.extra_weights
        if self.weights is not None and len(self.weights) != need:
            raise ValueError(f"method.weights: {self.name} with {n_modalities} modalities needs {need} "
                             f"weights {self.weight_layout}, got {len(self.weights)}")
        cuts_encoding = model.encoder == "mlp" and model.tokenizer == "feature_groups"
        if cuts_encoding and model.encoder_out % model.n_tokens:
            raise ValueError(f"model.n_tokens ({model.n_tokens}) must divide model.encoder_out "
                             f"({model.encoder_out}): the encoder output is cut into n_tokens equal tokens")


class FusionSystem(MethodSystem):
    """Encoders -> tokens -> masked fusion transformer -> projection head; ``masked`` adds the T masked
    views of the full input (InfMasking). Subclasses set ``masked`` and build ``self.loss``."""

    masked: ClassVar[bool] = False

    def __init__(self, options, model, spec, *, max_epochs: int = 1):
        super().__init__(options, model, spec, max_epochs=max_epochs)
        m = model
        encoders, tokenizers = [], []
        for i, shape in enumerate(spec.shapes):
            if m.tokenizer == "input_blocks" and not spec.is_image:
                if shape[0] % m.n_tokens:
                    raise ValueError(f"model.n_tokens ({m.n_tokens}) must divide the input width {shape[0]} "
                                     f"of modality {i + 1} (model.tokenizer = 'input_blocks')")
                encoders.append(nn.Identity())
                tokenizers.append(InputBlockTokenizer(shape[0], m.n_tokens, m.fusion_dim, m.encoder_hidden,
                                                      m.encoder_layers))
                continue
            enc, width = make_encoder(m, shape, pool="none")
            encoders.append(enc)
            if spec.is_image:
                tokenizers.append(FeatureMapTokenizer(width, m.fusion_dim, m.grid))
            else:
                if width % m.n_tokens:
                    what = ("model.encoder_out" if m.encoder == "mlp"
                            else f"the input width of modality {i + 1}")
                    raise ValueError(f"model.n_tokens ({m.n_tokens}) must divide the tokenized width {width} "
                                     f"({what})")
                tokenizers.append(FeatureGroupTokenizer(m.fusion_dim, in_dim=width, n_groups=m.n_tokens))
        self.model["encoders"] = nn.ModuleList(encoders)
        self.model["tokenizers"] = nn.ModuleList(tokenizers)
        self.model["fusion"] = MaskedFusion(m.fusion_dim, self.n_modalities, m.fusion_depth, m.fusion_heads,
                                            m.mlp_ratio)
        self.model["head"] = make_head(m, m.fusion_dim)

    def tokens(self, xs: Sequence[Tensor]) -> list[Tensor]:
        return [tok(enc(x)) for enc, tok, x in
                zip(self.model["encoders"], self.model["tokenizers"], xs, strict=True)]

    def compute_loss(self, za: Tensor, zb: Tensor, ctx) -> Tensor:  # pragma: no cover - abstract
        """The loss from the projected views ``(V, B, d)`` of both augmentations (V = 1 + n [+ T])."""
        raise NotImplementedError

    def forward(self, batch, ctx):
        xs, m = batch["xs"], self.model_config
        b = xs[0].shape[0]
        tok_a, tok_b = self.tokens(ctx.views(xs)), self.tokens(ctx.views(xs))
        # Both augmentations in one fusion call on a 2B batch (the transformer is per-sample).
        tokens = [torch.cat([a, c]) for a, c in zip(tok_a, tok_b, strict=True)]
        fusion = self.model["fusion"]
        if self.masked:
            lengths = [t.shape[1] for t in tok_a]
            masks = torch.cat([ctx.token_masks(lengths, m.T, m.mask_ratio),
                               ctx.token_masks(lengths, m.T, m.mask_ratio)], dim=1)
            views = fusion(tokens, m.T, m.mask_ratio, masks=masks).views  # (1 + n + T, 2B, E)
        else:
            views = fusion.fuse_subsets(tokens).views  # (1 + n, 2B, E)
        v = views.shape[0]
        # Head with BatchNorm statistics per (augmentation, view), as per-call heads would have.
        z = self.model["head"](views.unflatten(1, (2, b)).transpose(0, 1).flatten(0, 1)).unflatten(0, (2, v))
        return StepOutput(self.compute_loss(z[0], z[1], ctx))

    def features(self, xs):
        tokens = self.tokens(self._inputs(xs))
        return self.model["fusion"].transformer(torch.cat(tokens, dim=1))

    def compile_parts(self):
        for module in (*self.model["encoders"], *self.model["tokenizers"], self.model["head"]):
            module.compile()
        # MaskedFusion calls the transformer through forward_views (batched views) and __call__ (features).
        transformer = self.model["fusion"].transformer
        transformer.forward_views = torch.compile(transformer.forward_views)
        transformer.compile()
