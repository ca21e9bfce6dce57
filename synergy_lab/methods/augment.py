"""Training augmentations of one modality's batch, ``augment(x, ctx)``, and the deterministic model input.

Every contrastive method draws two independent stochastic augmentations X', X'' of every modality
(``ctx.views``). Vectors: Gaussian noise then random feature dropout (:class:`NoiseDropAugment`); images:
SimCLR augmentation (:class:`synergy_lab.data.augment.SimCLRAugment`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:  # annotations only: base imports this module
    from .base import DataSpec, StepContext


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
    """SimCLR augmentation of uint8 images from the per-rank stream (``ctx.local_generator``)."""

    def __init__(self, size: int, colour_jitter: bool = True, crop_scale=(0.08, 1.0)):
        from ..data.augment import SimCLRAugment

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
        from ..data.augment import normalize_images

        return normalize_images(x)
    return x.float()


def make_augment(config, spec: DataSpec) -> Callable:
    """The training augmentation ``augment(x, ctx)`` that ``config.data`` names.

    Parameters
    ----------
    config
        A training config (only its ``data`` section is read: ``augment_kind``, ``noise_std``,
        ``drop_prob``, ``colour_jitter``, ``crop_scale``).
    spec : DataSpec
    """
    data = config.data
    kind = data.augment_kind
    if kind == "noise_drop":
        return NoiseDropAugment(data.noise_std, data.drop_prob)
    if kind == "simclr":
        return ImageAugment(spec.shapes[0][-1], data.colour_jitter, data.crop_scale)
    return Identity(spec.is_image)
