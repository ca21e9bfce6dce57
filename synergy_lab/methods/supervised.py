"""Supervised reference: encoders -> concatenation -> Linear-ReLU (penultimate) -> Linear to the classes of
``method.target``; cross-entropy (optionally class-balanced) on one augmented view
(:class:`~synergy_lab.losses.SupervisedLoss`). Probe features: the penultimate (hidden) layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..losses import SupervisedLoss
from ..losses.supervised import CLASS_WEIGHTS
from ._blocks import PerModalitySystem
from .base import MethodOptions, StepOutput


@dataclass(frozen=True)
class SupervisedOptions(MethodOptions):
    """``[method]`` of ``supervised``: ``target``, the training label (a target of the dataset), and
    ``class_weight`` (``"balanced"``: each class weighs the same in the loss, for rare labels; see
    :func:`~synergy_lab.losses.supervised_loss`)."""

    target: str = "redundancy"
    class_weight: str | None = None

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.target, str):
            raise TypeError(f"method.target must be a string, got {self.target!r}")
        if self.class_weight not in CLASS_WEIGHTS:
            raise ValueError(f"method.class_weight must be 'balanced' or absent, got {self.class_weight!r}")


class Supervised(PerModalitySystem):
    name = "supervised"
    Options = SupervisedOptions

    def __init__(self, options, model, spec, *, max_epochs: int = 1):
        super().__init__(options, model, spec, max_epochs=max_epochs, heads=False)
        target = options.target
        if target not in spec.n_classes:
            raise ValueError(f"method.target: {target!r} is not a target of the data; "
                             f"valid: {sorted(spec.n_classes)}")
        hidden = model.head_hidden
        self.model["hidden"] = nn.Sequential(nn.Linear(sum(self.widths), hidden), nn.ReLU())
        self.model["classifier"] = nn.Linear(hidden, spec.n_classes[target])
        self.loss = SupervisedLoss(options.class_weight)

    @property
    def label_target(self) -> str:
        return self.options.target

    def forward(self, batch, ctx):
        if batch.get("y") is None:
            raise ValueError("the supervised method needs labels in the batch")
        h = self.model["hidden"](torch.cat(self.encode(ctx.views(batch["xs"])), dim=1))
        return StepOutput(self.loss(self.model["classifier"](h), batch["y"]))

    def features(self, xs):
        return self.model["hidden"](torch.cat(self.encode(self._inputs(xs)), dim=1))
