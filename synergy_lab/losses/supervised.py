"""Supervised cross-entropy reference (the upper bound that no self-supervised method sees labels for)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_tensor, full_precision, to_float32


def supervised_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy CE(logits, labels), computed in float32.

    Parameters
    ----------
    logits : Tensor
        (B, C) unnormalised class scores.
    labels : Tensor
        (B,) integer class indices in [0, C).

    Returns
    -------
    Tensor
        0-d float32 loss. Per-sample mean, so no gathering is needed under DDP.
    """
    check_tensor("logits", logits, 2)
    if (
        not isinstance(labels, Tensor)
        or labels.dtype.is_floating_point
        or labels.dtype.is_complex
        or labels.dtype == torch.bool
    ):
        raise TypeError(
            f"labels must be an integer tensor, got {getattr(labels, 'dtype', type(labels).__name__)}"
        )
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
    n_classes = logits.shape[1]
    if bool(((labels < 0) | (labels >= n_classes)).any()):
        raise ValueError(
            f"labels must lie in [0, {n_classes - 1}], got min {int(labels.min())}, max {int(labels.max())}"
        )
    logits = to_float32(logits)
    with full_precision(logits):
        return F.cross_entropy(logits, labels.long())


class SupervisedLoss(nn.Module):
    """Module form of :func:`supervised_loss`; ``forward(logits, labels)``."""

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        return supervised_loss(logits, labels)
