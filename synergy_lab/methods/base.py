"""The method protocol: options, batch plumbing and the :class:`MethodSystem` base class.

A method is one ``nn.Module`` subclass of :class:`MethodSystem` (registered by name in
:mod:`synergy_lab.methods`) that declares

* ``name`` -- its registry name, the ``name`` of the ``[method]`` table;
* ``Options`` -- a frozen dataclass (subclass of :class:`MethodOptions`) of its own knobs, validated from the
  ``[method]`` table (an unknown key or a bad value names the field, e.g. ``method.temperature``);
* ``__init__(options, model, spec, *, max_epochs)`` -- builds ``self.model`` (``nn.ModuleDict``) and
  ``self.loss`` from its options, the ``[model]`` section and the :class:`DataSpec`;
* ``forward(batch, ctx) -> StepOutput`` -- the training step, and ``features(xs)`` -- the probe features;
* what the trainer must do for it beyond one AdamW step: :meth:`MethodSystem.critic_step` (an extra optimiser
  and its loss) and :attr:`MethodSystem.label_target` (the label the batches must carry).

The trainer asks these of the method object and never branches on a method's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from .._validate import check_float
from ..models import random_token_masks
from .augment import eval_transform


# ------------------------------------------------------------------------------------------- options
@dataclass(frozen=True)
class MethodOptions:
    """Base of every method's options (the ``[method]`` table); subclasses add fields and validate them in
    ``__post_init__`` (calling ``super().__post_init__()``).

    Attributes
    ----------
    name : str
        The method's registry name.
    n_modalities : ClassVar[int or None]
        Modalities the method's loss is defined for (None: any number).
    """

    name: str = ""
    n_modalities: ClassVar[int | None] = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"method.name must be a method name, got {self.name!r}")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_table(cls, table: Mapping) -> MethodOptions:
        """Options from a ``[method]`` table (with its ``name``); an unknown key raises naming it."""
        names = cls.field_names()
        unknown = [k for k in table if k not in names]
        if unknown:
            raise ValueError(f"method.{unknown[0]}: unknown key in [method] for method "
                             f"{table.get('name')!r}; valid keys: {names}")
        return cls(**dict(table))

    def check_compatible(self, model, n_modalities: int, is_image: bool) -> None:
        """Checks against the other sections (``model``: the ``[model]`` section); ``ValueError`` naming
        the field. Subclasses extend it."""
        if self.n_modalities is not None and n_modalities != self.n_modalities:
            raise ValueError(f"method.name: {self.name!r} needs exactly {self.n_modalities} modalities, the "
                             f"data has {n_modalities}")


@dataclass(frozen=True)
class ContrastiveOptions(MethodOptions):
    """Options of the NT-Xent methods: ``temperature`` tau (> 0)."""

    temperature: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        check_float("method.temperature", self.temperature, 0.0, lo_open=True)


# ------------------------------------------------------------------------------------- batch plumbing
@dataclass(frozen=True)
class DataSpec:
    """What a method needs to know about the data: per-modality input shapes and label alphabets.

    ``shapes[i]`` is ``(d,)`` for a vector modality or ``(C, H, W)`` for an image modality;
    ``n_classes`` maps every target to its number of classes.
    """

    shapes: tuple[tuple[int, ...], ...]
    is_image: bool = False
    n_classes: dict = field(default_factory=dict)


@dataclass
class StepContext:
    """Everything random or schedule-dependent about one training step.

    Attributes
    ----------
    step, epoch, max_epochs : int
        0-based step and epoch, and the run's epoch count (schedules such as InfMasking's lambda ramp).
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
    inputs of the critic step's loss)."""

    loss: Tensor
    logs: dict = field(default_factory=dict)
    aux: tuple | None = None


@dataclass
class CriticStep:
    """A second optimiser step a method needs after each main step (e.g. FactorCL's CLUB critics).

    Attributes
    ----------
    parameters : list of nn.Parameter
        Trained only by this step (left out of the main optimiser and of DDP's gradient sync).
    loss : callable
        ``loss(aux) -> 0-d tensor`` from the main step's :attr:`StepOutput.aux`.
    lr : float, optional
        Its AdamW learning rate (None: ``optim.lr``).
    """

    parameters: list
    loss: Callable
    lr: float | None = None


class MethodParts(NamedTuple):
    """:attr:`MethodSystem.parts`: ``model`` (nn.Module), ``loss`` (nn.Module), ``step(batch, ctx) ->
    StepOutput`` and ``features(xs) -> (B, d) tensor``."""

    model: nn.Module
    loss: nn.Module
    step: Callable
    features: Callable


# ------------------------------------------------------------------------------------------ the base
class MethodSystem(nn.Module):
    """Model + loss of one method; ``forward(batch, ctx)`` is the training step, ``features(xs)`` the probe
    representation.

    ``batch`` is ``{"xs": [x_1, ..., x_n], "y": labels or None}`` with the local rows of every modality
    (vectors float, images uint8). Subclasses set ``name`` and ``Options`` and build ``self.model`` and
    ``self.loss`` in ``__init__``.

    Parameters
    ----------
    options : MethodOptions
        The method's validated ``[method]`` table.
    model : ModelConfig
        The ``[model]`` section (encoder, head and fusion sizes).
    spec : DataSpec
    max_epochs : int
        Epochs the run spans (for schedules over epochs).
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type[MethodOptions]] = MethodOptions

    def __init__(self, options: MethodOptions, model, spec: DataSpec, *, max_epochs: int = 1):
        super().__init__()
        self.options, self.model_config, self.spec = options, model, spec
        self.max_epochs = max_epochs
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

    @property
    def label_target(self) -> str | None:
        """The target whose labels every training batch must carry as ``batch["y"]`` (None: unsupervised)."""
        return None

    def critic_step(self) -> CriticStep | None:
        """The extra optimiser step of this method, or None (the default)."""
        return None

    def _inputs(self, xs: Sequence[Tensor]) -> list[Tensor]:
        return [eval_transform(x, self.is_image) for x in xs]

    def compile_parts(self) -> None:
        """``torch.compile`` the networks in place (``nn.Module.compile``: state-dict keys unchanged); the
        losses, augmentations and mask draws stay eager."""
        for module in self.model.values():
            if isinstance(module, nn.ModuleList):
                for m in module:
                    m.compile()
            else:
                module.compile()
