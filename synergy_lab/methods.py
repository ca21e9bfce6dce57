"""Method name -> model, loss, training step and probe features (spec §1-§3).

:func:`build_method` returns a :class:`MethodSystem`: one ``nn.Module`` that owns every trainable part of a
method -- ``system.model`` (encoders, tokenizers, fusion, heads) and ``system.loss`` (the loss module of
:mod:`synergy_lab.losses`, which may own parameters: the CLIP logit scale, the FactorCL critics) -- so that
one ``state_dict``, one optimiser and one DDP wrapper cover it. The four parts of a method are

* ``system.model`` and ``system.loss``;
* the training step ``system(batch, ctx) -> StepOutput`` (augment, encode, loss);
* the probe features ``system.features(xs)`` (deterministic, no augmentation, no masked passes):

  - ``infmasking``, ``comm``: the pre-head fused CLS vector of the unmasked full input (E-dim);
  - ``cross``: the concatenation of both projected (L2-normalised) embeddings;
  - ``cross_self``, ``cmc``: the concatenation of the per-modality encoder outputs;
  - ``factorcl``: the concatenation of the 10 head outputs;
  - ``simclr``: the encoder output of its input;
  - ``supervised``: the penultimate (hidden) layer.

Views. Every contrastive method draws two independent stochastic augmentations X', X'' of every modality
(``ctx.views``; Cross and CMC use one, as their positives are cross-modal). Vectors: Gaussian noise then
random feature dropout (:class:`NoiseDropAugment`); images: SimCLR augmentation
(:class:`synergy_lab.data.augment.SimCLRAugment`).

Architecture per method (vectors; images swap the MLP for a CNN, ``pool="none"`` + a feature-map
tokenizer for the fusion methods, ``pool="avg"`` for the others):

* ``infmasking`` / ``comm``: MLP encoder per modality -> :class:`~synergy_lab.models.FeatureGroupTokenizer`
  (``n_tokens`` tokens) -> :class:`~synergy_lab.models.MaskedFusion` (full + unimodal [+ T masked] views of
  both augmentations in one call) -> :class:`~synergy_lab.models.ProjectionHead` (per-view BatchNorm).
* ``cross`` (CLIP), ``cmc``, ``cross_self``: MLP encoder + projection head per modality.
* ``simclr``: one MLP encoder + head on the concatenation of the modalities (``method.simclr_input =
  "concat"``, the default: SimCLR of the joint vector) or on one modality (``"x1"`` / ``"x2"``: the
  unimodal baseline of the spec). Images are concatenated along channels.
* ``factorcl``: MLP encoder per modality + 10 MLP heads (no norm, not L2-normalised) + the six critics
  of :class:`~synergy_lab.losses.FactorCLLoss`; X = e(x'), X' = e(x'') (two augmentations); the CLUB
  critics are trained by :meth:`MethodSystem.critic_loss` with their own optimiser.
* ``supervised``: MLP encoders -> concatenation -> Linear-ReLU (penultimate) -> Linear to the classes of
  ``method.target``; cross-entropy on one augmented view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .losses import (
    CLIPLoss,
    CMCLoss,
    CoMMLoss,
    CrossSelfLoss,
    FactorCLLoss,
    InfMaskingLoss,
    SimCLRLoss,
    SupervisedLoss,
)
from .models import (
    AlexNetFeatures,
    FeatureGroupTokenizer,
    FeatureMapTokenizer,
    MaskedFusion,
    MLPEncoder,
    ProjectionHead,
    SmallCNN,
    random_token_masks,
)
from .train.config import FUSION_METHODS, METHODS, TrainConfig

__all__ = [
    "METHODS",
    "DataSpec",
    "MethodParts",
    "MethodSystem",
    "NoiseDropAugment",
    "StepContext",
    "StepOutput",
    "build_method",
]


# --------------------------------------------------------------------------------------- batch plumbing
@dataclass(frozen=True)
class DataSpec:
    """What a method needs to know about the data: per-modality input shapes and label alphabets.

    ``shapes[i]`` is ``(d,)`` for a vector modality or ``(C, H, W)`` for an image modality;
    ``n_classes`` maps every target to its number of classes.
    """

    shapes: tuple[tuple[int, ...], ...]
    is_image: bool = False
    n_classes: dict = field(default_factory=dict)


class NoiseDropAugment:
    """Vector augmentation: ``x' = (x + noise_std * N(0, 1)) * (U(0, 1) >= drop_prob)``, per entry.

    The draws are made for the *global* batch on the generator's device and sliced to the local shard, so a
    data-parallel run augments every sample exactly as a single-process run (and both draws happen whatever
    the parameters, so changing one does not shift the other's stream).
    """

    def __init__(self, noise_std: float = 0.1, drop_prob: float = 0.1):
        self.noise_std, self.drop_prob = float(noise_std), float(drop_prob)

    def __call__(self, x: Tensor, ctx: StepContext) -> Tensor:
        g = ctx.generator
        shape = (ctx.global_batch, *x.shape[1:])
        noise = torch.randn(shape, generator=g, device=g.device)[ctx.shard].to(x.device, x.dtype)
        keep = torch.rand(shape, generator=g, device=g.device)[ctx.shard].to(x.device) >= self.drop_prob
        return (x + self.noise_std * noise) * keep.to(x.dtype)

    def __repr__(self) -> str:
        return f"NoiseDropAugment(noise_std={self.noise_std}, drop_prob={self.drop_prob})"


class ImageAugment:
    """SimCLR augmentation of uint8 images from the per-rank stream (see :mod:`.train.distributed`)."""

    def __init__(self, size: int, colour_jitter: bool = True, crop_scale=(0.08, 1.0)):
        from .data.augment import SimCLRAugment

        self.augment = SimCLRAugment(size, scale=crop_scale, colour_jitter=colour_jitter)

    def __call__(self, x: Tensor, ctx: StepContext) -> Tensor:
        return self.augment(x, ctx.local_generator)


class Identity:
    """No augmentation (vectors as float, images normalised)."""

    def __init__(self, is_image: bool = False):
        self.is_image = is_image

    def __call__(self, x: Tensor, ctx: StepContext) -> Tensor:
        return eval_transform(x, self.is_image)


def eval_transform(x: Tensor, is_image: bool) -> Tensor:
    """Deterministic model input: float vectors; uint8 images -> normalised float."""
    if is_image:
        from .data.augment import normalize_images

        return normalize_images(x)
    return x.float()


@dataclass
class StepContext:
    """Everything random or schedule-dependent about one training step.

    Attributes
    ----------
    step, epoch, max_epochs : int
        0-based step and epoch, and the run's epoch count (InfMasking's lambda ramp).
    generator : torch.Generator
        Shared stream (the same on every rank): vector augmentations and token masks, drawn for the whole
        global batch and sliced with ``shard``.
    local_generator : torch.Generator
        Per-rank stream (image augmentations of the local shard).
    global_batch : int
    shard : slice
        This rank's rows of the global batch.
    augment : callable
        ``augment(x, ctx)`` -> one augmented view of a modality's local batch.
    """

    step: int
    epoch: int
    max_epochs: int
    generator: torch.Generator
    local_generator: torch.Generator
    global_batch: int
    shard: slice
    augment: Callable

    def views(self, xs: Sequence[Tensor]) -> list[Tensor]:
        """One augmentation of every modality (independent draws per modality, in order)."""
        return [self.augment(x, self) for x in xs]

    def token_masks(self, lengths: Sequence[int], T: int, mask_ratio: float) -> Tensor:
        """(T, B_local, sum(lengths)) keep-masks, drawn for the global batch from the shared stream."""
        masks = random_token_masks(self.global_batch, list(lengths), mask_ratio, T, self.generator)
        return masks[:, self.shard]


@dataclass
class StepOutput:
    """``loss`` (0-d, with gradient), ``logs`` (name -> 0-d tensor, detached) and ``aux`` (method-specific
    inputs of :meth:`MethodSystem.critic_loss`)."""

    loss: Tensor
    logs: dict = field(default_factory=dict)
    aux: tuple | None = None


class MethodParts(NamedTuple):
    """:attr:`MethodSystem.parts`: ``model`` (nn.Module), ``loss`` (nn.Module), ``step(batch, ctx) ->
    StepOutput`` and ``features(xs) -> (B, d) tensor``."""

    model: nn.Module
    loss: nn.Module
    step: Callable
    features: Callable


# ------------------------------------------------------------------------------------------ building blocks
def _encoder(config: TrainConfig, shape: tuple[int, ...], pool: str) -> tuple[nn.Module, int]:
    """Encoder of one modality and the width (vectors) or channel count (maps) of its output."""
    m = config.model
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


def _head(config: TrainConfig, in_dim: int) -> ProjectionHead:
    m = config.model
    return ProjectionHead(in_dim, m.head_hidden, m.head_out, m.head_layers, m.head_norm)


class MethodSystem(nn.Module):
    """Model + loss of one method; ``forward(batch, ctx)`` is the training step, ``features(xs)`` the probe
    representation.

    ``batch`` is ``{"xs": [x_1, ..., x_n], "y": labels or None}`` with the local rows of every modality
    (vectors float, images uint8).
    """

    name = ""

    def __init__(self, config: TrainConfig, spec: DataSpec):
        super().__init__()
        self.config, self.spec = config, spec
        self.n_modalities = len(spec.shapes)
        self.is_image = spec.is_image
        self.model = nn.ModuleDict()

    def forward(self, batch: dict, ctx: StepContext) -> StepOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def features(self, xs: Sequence[Tensor]) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def parts(self) -> MethodParts:
        """``(model, loss, step, features)``: the four parts of the method as one tuple."""
        return MethodParts(self.model, self.loss, self.__call__, self.features)

    def _inputs(self, xs: Sequence[Tensor]) -> list[Tensor]:
        return [eval_transform(x, self.is_image) for x in xs]

    def critic_parameters(self) -> list[nn.Parameter]:
        """Parameters trained by :meth:`critic_loss` with their own optimiser (FactorCL's CLUB critics)."""
        return []

    def critic_loss(self, aux) -> Tensor | None:
        """Loss of the separate critic step (None for methods without one)."""
        return None

    def compile_parts(self) -> None:
        """``torch.compile`` the networks in place (``nn.Module.compile``: state-dict keys unchanged); the
        losses, augmentations and mask draws stay eager."""
        for module in self.model.values():
            if isinstance(module, nn.ModuleList):
                for m in module:
                    m.compile()
            else:
                module.compile()


class FusionSystem(MethodSystem):
    """InfMasking and CoMM: encoders -> tokens -> masked fusion transformer -> projection head."""

    def __init__(self, config: TrainConfig, spec: DataSpec, masked: bool):
        super().__init__(config, spec)
        m, meth = config.model, config.method
        self.name, self.masked = ("infmasking" if masked else "comm"), masked
        encoders, tokenizers = [], []
        for i, shape in enumerate(spec.shapes):
            enc, width = _encoder(config, shape, pool="none")
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
        self.model["head"] = _head(config, m.fusion_dim)
        if masked:
            self.loss = InfMaskingLoss(meth.temperature, meth.lam, config.max_epochs, meth.weights, meth.beta)
        else:
            self.loss = CoMMLoss(meth.temperature, meth.weights)

    def tokens(self, xs: Sequence[Tensor]) -> list[Tensor]:
        return [tok(enc(x)) for enc, tok, x in
                zip(self.model["encoders"], self.model["tokenizers"], xs, strict=True)]

    def forward(self, batch, ctx):
        xs, n, m = batch["xs"], self.n_modalities, self.config.model
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
        za, zb = z[0], z[1]
        uni_a, uni_b = list(za[1:1 + n]), list(zb[1:1 + n])
        if self.masked:
            loss = self.loss(za[0], zb[0], uni_a, uni_b, za[1 + n:], zb[1 + n:], ctx.epoch)
        else:
            loss = self.loss(za[0], zb[0], uni_a, uni_b)
        return StepOutput(loss)

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


class _PerModality(MethodSystem):
    """Encoder (global-pooled for images) + projection head per modality."""

    def __init__(self, config: TrainConfig, spec: DataSpec, heads: bool = True):
        super().__init__(config, spec)
        encoders, widths = zip(*(_encoder(config, s, pool="avg") for s in spec.shapes), strict=True)
        self.widths = list(widths)
        self.model["encoders"] = nn.ModuleList(encoders)
        if heads:
            self.model["heads"] = nn.ModuleList(_head(config, w) for w in self.widths)

    def encode(self, xs):
        return [enc(x) for enc, x in zip(self.model["encoders"], xs, strict=True)]

    def project(self, hs):
        return [head(h) for head, h in zip(self.model["heads"], hs, strict=True)]

    def features(self, xs):
        return torch.cat(self.encode(self._inputs(xs)), dim=1)


class CrossSystem(_PerModality):
    name = "cross"

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.loss = CLIPLoss(init_temperature=config.method.clip_temperature)

    def forward(self, batch, ctx):
        z1, z2 = self.project(self.encode(ctx.views(batch["xs"])))
        return StepOutput(self.loss(z1, z2), {"logit_scale": self.loss.logit_scale.detach()})

    def features(self, xs):
        return torch.cat(self.project(self.encode(self._inputs(xs))), dim=1)


class CMCSystem(_PerModality):
    name = "cmc"

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.loss = CMCLoss(config.method.temperature)

    def forward(self, batch, ctx):
        return StepOutput(self.loss(self.project(self.encode(ctx.views(batch["xs"])))))


class CrossSelfSystem(_PerModality):
    name = "cross_self"

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.loss = CrossSelfLoss(config.method.temperature, config.method.ssl_scale)

    def forward(self, batch, ctx):
        xs = batch["xs"]
        ha, hb = self.encode(ctx.views(xs)), self.encode(ctx.views(xs))
        # Each head sees its two views stacked: BatchNorm statistics per view.
        z = [head(torch.stack([a, c])) for head, a, c in zip(self.model["heads"], ha, hb, strict=True)]
        (z1a, z1b), (z2a, z2b) = z
        return StepOutput(self.loss(z1a, z2a, z1a, z1b, z2a, z2b))


class SimCLRSystem(MethodSystem):
    name = "simclr"

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.which = config.method.simclr_input
        shapes = spec.shapes if self.which == "concat" else [spec.shapes[int(self.which[1]) - 1]]
        shape = (sum(s[0] for s in shapes), *shapes[0][1:])
        if len({s[1:] for s in shapes}) != 1:
            raise ValueError(f"method.simclr_input: 'concat' needs modalities of one shape but the first "
                             f"axis, "
                             f"got {list(spec.shapes)}")
        encoder, width = _encoder(config, shape, pool="avg")
        self.model["encoder"], self.model["head"] = encoder, _head(config, width)
        self.loss = SimCLRLoss(config.method.temperature)

    def _select(self, xs):
        return list(xs) if self.which == "concat" else [xs[int(self.which[1]) - 1]]

    def forward(self, batch, ctx):
        xs = self._select(batch["xs"])
        a, c = torch.cat(ctx.views(xs), dim=1), torch.cat(ctx.views(xs), dim=1)
        z = self.model["head"](torch.stack([self.model["encoder"](a), self.model["encoder"](c)]))
        return StepOutput(self.loss(z[0], z[1]))

    def features(self, xs):
        return self.model["encoder"](torch.cat(self._inputs(self._select(xs)), dim=1))


class FactorCLSystem(_PerModality):
    """FactorCL-SSL; head k of the 10 follows :class:`~synergy_lab.losses.FactorCLLoss` (h1..h10)."""

    name = "factorcl"

    def __init__(self, config, spec):
        super().__init__(config, spec, heads=False)
        m = config.model
        w1, w2 = self.widths
        self.model["heads"] = nn.ModuleList(
            ProjectionHead(w1 if k % 2 == 0 else w2, m.head_hidden, m.head_out, m.head_layers, norm="none",
                           normalize=False)
            for k in range(10)
        )
        self.loss = FactorCLLoss(m.head_out, hidden=config.method.critic_hidden)

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

    def critic_parameters(self):
        return list(self.loss.club_parameters())

    def critic_loss(self, aux):
        return self.loss.critic_loss(*aux)

    def features(self, xs):
        x1, x2 = self.encode(self._inputs(xs))
        heads = self.model["heads"]
        return torch.cat([head(x1 if k % 2 == 0 else x2) for k, head in enumerate(heads)], dim=1)


class SupervisedSystem(_PerModality):
    name = "supervised"

    def __init__(self, config, spec):
        super().__init__(config, spec, heads=False)
        target = config.method.target
        if target not in spec.n_classes:
            raise ValueError(f"method.target: {target!r} is not a target of data {config.data.name!r}; "
                             f"valid: {sorted(spec.n_classes)}")
        hidden = config.model.head_hidden
        self.model["hidden"] = nn.Sequential(nn.Linear(sum(self.widths), hidden), nn.ReLU())
        self.model["classifier"] = nn.Linear(hidden, spec.n_classes[target])
        self.loss = SupervisedLoss()

    def forward(self, batch, ctx):
        if batch.get("y") is None:
            raise ValueError("the supervised method needs labels in the batch")
        h = self.model["hidden"](torch.cat(self.encode(ctx.views(batch["xs"])), dim=1))
        return StepOutput(self.loss(self.model["classifier"](h), batch["y"]))

    def features(self, xs):
        return self.model["hidden"](torch.cat(self.encode(self._inputs(xs)), dim=1))


_SYSTEMS = {
    "infmasking": lambda c, s: FusionSystem(c, s, masked=True),
    "comm": lambda c, s: FusionSystem(c, s, masked=False),
    "cross": CrossSystem,
    "cross_self": CrossSelfSystem,
    "simclr": SimCLRSystem,
    "cmc": CMCSystem,
    "factorcl": FactorCLSystem,
    "supervised": SupervisedSystem,
}
assert set(_SYSTEMS) == set(METHODS) and set(FUSION_METHODS) <= set(_SYSTEMS)


def build_method(config: TrainConfig, spec: DataSpec) -> MethodSystem:
    """The :class:`MethodSystem` of ``config.method.name`` for data described by ``spec``.

    Parameters are initialised from torch's global generator: call under ``torch.random.fork_rng()`` with a
    seed for a reproducible model (the trainer does).
    """
    if len(spec.shapes) != config.model.n_modalities:
        raise ValueError(f"model.n_modalities = {config.model.n_modalities} does not match the "
                         f"{len(spec.shapes)} modalities of the data")
    return _SYSTEMS[config.method.name](config, spec)


def make_augment(config: TrainConfig, spec: DataSpec) -> Callable:
    """The training augmentation ``augment(x, ctx)`` that ``config.data.augment`` names."""
    kind = config.data.augment_kind
    if kind == "noise_drop":
        return NoiseDropAugment(config.data.noise_std, config.data.drop_prob)
    if kind == "simclr":
        return ImageAugment(spec.shapes[0][-1], config.data.colour_jitter, config.data.crop_scale)
    return Identity(spec.is_image)
