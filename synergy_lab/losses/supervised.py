"""Supervised cross-entropy reference (the upper bound that no self-supervised method sees labels for)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_tensor, full_precision, to_float32

CLASS_WEIGHTS = (None, "balanced")


def _check_class_weight(class_weight):
    if class_weight not in CLASS_WEIGHTS:
        raise ValueError(f"class_weight must be None or 'balanced', got {class_weight!r}")
    return class_weight


def supervised_loss(logits: Tensor, labels: Tensor, class_weight: str | None = None) -> Tensor:
    """Mean cross-entropy CE(logits, labels), computed in float32.

    Parameters
    ----------
    logits : Tensor
        (B, C) unnormalised class scores.
    labels : Tensor
        (B,) integer class indices in [0, C).
    class_weight : {None, "balanced"}
        None: the mean over samples. ``"balanced"``: the mean over the classes present in the batch of each
        class's mean cross-entropy (scikit-learn's ``class_weight="balanced"`` computed on the batch), so that
        a rare label (e.g. Trifeature's ~10%-positive synergy label) is not learned as its majority class.

    Returns
    -------
    Tensor
        0-d float32 loss. A per-sample (or per-rank, per-class) mean, so no gathering is needed under DDP.
    """
    _check_class_weight(class_weight)
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
    labels = labels.long()
    with full_precision(logits):
        if class_weight is None:
            return F.cross_entropy(logits, labels)
        # Weight 1 / n_c per sample of class c: cross_entropy's weighted mean is then the mean of class means
        # (the weight of a class absent from the batch is never read).
        counts = torch.bincount(labels, minlength=n_classes).to(logits.dtype)
        return F.cross_entropy(logits, labels, weight=1.0 / counts.clamp(min=1))


class SupervisedLoss(nn.Module):
    """Module form of :func:`supervised_loss`; ``forward(logits, labels)``."""

    def __init__(self, class_weight: str | None = None):
        super().__init__()
        self.class_weight = _check_class_weight(class_weight)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        return supervised_loss(logits, labels, self.class_weight)
