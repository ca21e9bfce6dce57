"""Random token masking and the batched evaluation of all InfMasking views (docs/methods.md, "Architectures").

:class:`MaskedFusion` = :class:`~synergy_lab.models.transformer.FusionTransformer` + a learnable mask token.
For one augmentation it evaluates the unmasked full-modality input, every unimodal subset and T randomly
masked copies of the full input in ONE call of the transformer on a ``(1 + n + T) * B`` batch
(:meth:`FusionTransformer.forward_views`):

* unimodal subset ``{i}``: the full sequence with a key-padding mask over the other modalities' tokens
  (exact for a pre-LN transformer with CLS pooling, see :mod:`synergy_lab.models.transformer`), as in the
  public code, where the other modalities are dropped from the sequence (not replaced by mask tokens);
* masked view ``t``: dropped tokens replaced by the mask token (so they also lose their position code),
  sequence length unchanged, CLS never masked. Only the full-modality input is masked: the public code also
  masks the unimodal subsets and never uses them (docs/methods.md, "Defects of the public code").

``batched=False`` computes the same views one transformer call at a time (the reference and the benchmark
baseline); given the same masks both agree to float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from .transformer import FusionTransformer, quick_gelu

__all__ = ["FusionTransformer", "MaskedFusion", "MaskedFusionOutput", "quick_gelu", "random_token_masks"]


def _check_ratio_and_views(mask_ratio: float, T: int) -> int:
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    if isinstance(T, bool) or int(T) != T or T < 1:
        raise ValueError(f"T (number of masked views) must be an integer >= 1, got {T!r}")
    return int(T)


def random_token_masks(batch: int, lengths: Sequence[int], mask_ratio: float, T: int,
                       generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Random keep-masks over the concatenated modality tokens, independent per view, sample and modality.

    For each of the ``T`` views, each sample and each modality ``m`` with ``L_m`` tokens, exactly
    ``int(L_m * (1 - mask_ratio))`` tokens are kept: those with the smallest of ``L_m`` U(0, 1) draws
    (argsort of the noise). The CLS token is not part of the mask and is never masked.

    Parameters
    ----------
    batch : int
    lengths : sequence of int
        Token count ``L_m`` of each modality, in sequence order.
    mask_ratio : float in [0, 1)
    T : int >= 1
    generator : torch.Generator, optional
        Source of the noise (one ``torch.rand`` of shape ``(T, batch, L_m)`` per modality, in order);
        drawn on the generator's device.
    device : torch.device, optional
        Device of the result (default: the generator's device, else CPU).

    Returns
    -------
    (T, batch, sum(lengths)) bool tensor, True = token kept.
    """
    T = _check_ratio_and_views(mask_ratio, T)
    if batch < 1 or not lengths or min(lengths) < 1:
        raise ValueError(f"need batch >= 1 and positive token counts, got {batch}, {list(lengths)}")
    gdev = generator.device if generator is not None else torch.device("cpu")
    parts = []
    for lm in lengths:
        noise = torch.rand(T, batch, lm, generator=generator, device=gdev)
        n_keep = int(lm * (1.0 - mask_ratio))
        keep = torch.zeros(T, batch, lm, dtype=torch.bool, device=gdev)
        keep.scatter_(2, noise.argsort(dim=2)[..., :n_keep], True)
        parts.append(keep)
    return torch.cat(parts, dim=2).to(device if device is not None else gdev)


class MaskedFusionOutput(NamedTuple):
    """Outputs of :meth:`MaskedFusion.forward` (all CLS vectors, before any head).

    ``views`` is ``(1 + n + T, B, E)`` in the order [full, unimodal 1..n, masked 1..T]; ``full`` (B, E),
    ``unimodal`` (list of n (B, E)) and ``masked`` (T, B, E) are slices of it. ``masks`` (T, B, L) bool
    are the keep-masks used (True = kept), or None when no masked view was asked for.
    """

    full: torch.Tensor
    unimodal: list[torch.Tensor]
    masked: torch.Tensor
    views: torch.Tensor
    masks: torch.Tensor | None


class MaskedFusion(nn.Module):
    """Fusion transformer + learnable mask token: full, unimodal and T masked views of one augmentation.

    Parameters
    ----------
    dim, depth, heads, mlp_ratio
        As :class:`FusionTransformer`.
    n_modalities : int
        Number of token sequences every call must receive.

    Attributes
    ----------
    transformer : FusionTransformer
    mask_token : (E,) parameter, trunc-normal(std .02, truncated at +-.02) as in the public code.
    """

    def __init__(self, dim: int, n_modalities: int, depth: int = 1, heads: int = 8, mlp_ratio: float = 4.0):
        super().__init__()
        if n_modalities < 1:
            raise ValueError(f"n_modalities must be >= 1, got {n_modalities}")
        self.n_modalities = n_modalities
        self.transformer = FusionTransformer(dim, depth, heads, mlp_ratio)
        self.mask_token = nn.Parameter(nn.init.trunc_normal_(torch.empty(dim), std=0.02, a=-0.02, b=0.02))

    def _concat(self, tokens: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
        if len(tokens) != self.n_modalities:
            raise ValueError(f"expected {self.n_modalities} token sequences, got {len(tokens)}")
        shapes = {(t.ndim, t.shape[0], t.shape[-1]) for t in tokens}
        if len(shapes) != 1 or tokens[0].ndim != 3:
            raise ValueError(f"token sequences must be (B, L_m, E) with equal B and E, got "
                             f"{[tuple(t.shape) for t in tokens]}")
        return torch.cat(list(tokens), dim=1), [t.shape[1] for t in tokens]

    def forward(self, tokens: Sequence[torch.Tensor], T: int, mask_ratio: float,
                generator: torch.Generator | None = None, *, batched: bool = True,
                masks: torch.Tensor | None = None) -> MaskedFusionOutput:
        """Fuse the full input, each unimodal subset and ``T`` masked copies of the full input.

        Parameters
        ----------
        tokens : sequence of n (B, L_m, E) tensors
            Tokens of each modality (position codes included).
        T : int >= 1
            Number of masked views.
        mask_ratio : float in [0, 1)
        generator : torch.Generator, optional
            Noise source of :func:`random_token_masks` (ignored when ``masks`` is given).
        batched : bool, default True
            One transformer call on a ``(1 + n + T) B`` batch; False runs the same ``1 + n + T`` views one
            call at a time (unimodal subsets on their own tokens), the reference and benchmark baseline.
        masks : (T, B, L) bool tensor, optional
            Keep-masks to use instead of drawing new ones.
        """
        T = _check_ratio_and_views(mask_ratio, T)
        x, lengths = self._concat(tokens)
        b, length, _ = x.shape
        if masks is None:
            masks = random_token_masks(b, lengths, mask_ratio, T, generator, device=x.device)
        elif masks.shape != (T, b, length) or masks.dtype != torch.bool:
            raise ValueError(f"masks must be a ({T}, {b}, {length}) bool tensor, got "
                             f"{tuple(masks.shape)} {masks.dtype}")
        return self._run(x, lengths, masks.to(x.device), batched)

    def fuse(self, tokens: Sequence[torch.Tensor]) -> torch.Tensor:
        """CLS ``(B, E)`` of the unmasked full-modality input only: the probing features, without
        the T masked passes the public feature extraction computes and discards."""
        return self.transformer(self._concat(tokens)[0])

    def fuse_subsets(self, tokens: Sequence[torch.Tensor], *, batched: bool = True) -> MaskedFusionOutput:
        """Full input and unimodal subsets only (no masking, CoMM): ``views`` is ``(1 + n, B, E)``."""
        x, lengths = self._concat(tokens)
        return self._run(x, lengths, None, batched)

    def _run(self, x: torch.Tensor, lengths: list[int], masks: torch.Tensor | None,
             batched: bool) -> MaskedFusionOutput:
        n, (b, length, _) = len(lengths), x.shape
        if batched:
            seg = torch.repeat_interleave(torch.arange(n, device=x.device),
                                          torch.tensor(lengths, device=x.device))
            pad = torch.cat([torch.zeros(1, length, dtype=torch.bool, device=x.device),
                             seg[None, :] != torch.arange(n, device=x.device)[:, None]])  # (1 + n, L)
            pad = pad[:, None, :].expand(1 + n, b, length)
            keep = None
            if masks is not None:
                keep = torch.cat([masks.new_ones(1 + n, b, length), masks])
                pad = torch.cat([pad, pad.new_zeros(masks.shape)])
            views = self.transformer.forward_views(x, keep, self.mask_token, pad)
        else:
            outs = [self.transformer(x)]
            start = 0
            for lm in lengths:
                outs.append(self.transformer(x[:, start:start + lm]))
                start += lm
            if masks is not None:  # dropped tokens -> the mask token (which has no position code)
                mask_token = self.mask_token.to(x.dtype)
                outs += [self.transformer(torch.where(keep[..., None], x, mask_token)) for keep in masks]
            views = torch.stack(outs)
        return MaskedFusionOutput(full=views[0], unimodal=list(views[1:1 + n]), masked=views[1 + n:],
                                  views=views, masks=masks)
