"""Methods: the one registry of method name -> :class:`MethodSystem` subclass, and :func:`build_method`.

A method is one file here: an ``Options`` dataclass (its ``[method]`` table, validated field by field) and
a :class:`~.base.MethodSystem` subclass that owns every trainable part -- ``system.model`` (encoders,
tokenizers, fusion, heads) and ``system.loss`` (a :mod:`synergy_lab.losses` module, which may own
parameters: the CLIP logit scale, the FactorCL critics) -- so that one ``state_dict``, one optimiser and one
DDP wrapper cover it.
Adding a method is that file plus one line in :data:`_BUILTIN` (or :func:`register_method` at run time).

========================  ======================================================================
``infmasking``, ``comm``  masked fusion transformer; features: the fused CLS vector (:mod:`._fusion`)
``cross``                 CLIP; features: both projected embeddings
``cross_self``, ``cmc``   encoder + head per modality; features: the encoder outputs
``simclr``                one encoder on the concatenation (or one modality); features: its output
``factorcl``              10 heads + CLUB critics with their own optimiser; features: the 10 heads
``supervised``            cross-entropy on ``method.target``; features: the penultimate layer
========================  ======================================================================
"""

from __future__ import annotations

from dataclasses import MISSING, fields

from .augment import Identity, ImageAugment, NoiseDropAugment, eval_transform, make_augment
from .base import (
    ContrastiveOptions,
    CriticStep,
    DataSpec,
    MethodOptions,
    MethodParts,
    MethodSystem,
    StepContext,
    StepOutput,
)
from .cmc import CMC
from .comm import CoMM
from .cross import Cross
from .cross_self import CrossSelf
from .factorcl import FactorCL
from .infmasking import InfMasking
from .simclr import SimCLR
from .supervised import Supervised

__all__ = [
    "ContrastiveOptions",
    "CriticStep",
    "DataSpec",
    "DEFAULT_METHOD",
    "Identity",
    "ImageAugment",
    "MethodOptions",
    "MethodParts",
    "MethodSystem",
    "NoiseDropAugment",
    "StepContext",
    "StepOutput",
    "available_methods",
    "build_method",
    "eval_transform",
    "make_augment",
    "method_class",
    "method_options",
    "register_method",
    "unregister_method",
]

_BUILTIN = (InfMasking, CoMM, Cross, CrossSelf, SimCLR, CMC, FactorCL, Supervised)
_REGISTRY: dict[str, type[MethodSystem]] = {cls.name: cls for cls in _BUILTIN}
#: The method of a ``[method]`` table without a name.
DEFAULT_METHOD = InfMasking.name


def available_methods() -> list[str]:
    """Registered method names, in registration order."""
    return list(_REGISTRY)


def register_method(cls: type[MethodSystem]) -> type[MethodSystem]:
    """Register a :class:`MethodSystem` subclass under ``cls.name`` (usable as a class decorator).

    Raises
    ------
    TypeError
        If ``cls`` is not a MethodSystem subclass with a MethodOptions ``Options``.
    ValueError
        If ``cls.name`` is empty or already registered to another class.
    """
    if not (isinstance(cls, type) and issubclass(cls, MethodSystem)):
        raise TypeError(f"cls must be a MethodSystem subclass, got {cls!r}")
    if not (isinstance(cls.Options, type) and issubclass(cls.Options, MethodOptions)):
        raise TypeError(f"cls.Options must be a MethodOptions subclass, got {cls.Options!r}")
    if not isinstance(cls.name, str) or not cls.name:
        raise ValueError(f"cls.name must be a non-empty string, got {cls.name!r}")
    if _REGISTRY.get(cls.name, cls) is not cls:
        raise ValueError(f"cls.name: method {cls.name!r} is already registered to {_REGISTRY[cls.name]!r}")
    _REGISTRY[cls.name] = cls
    return cls


def unregister_method(name: str) -> None:
    """Remove a method added by :func:`register_method` (the built-in methods stay)."""
    if name in {cls.name for cls in _BUILTIN}:
        raise ValueError(f"name: {name!r} is a built-in method")
    if name not in _REGISTRY:
        raise ValueError(f"name: unknown method {name!r}; valid: {available_methods()}")
    del _REGISTRY[name]


def method_class(name: str) -> type[MethodSystem]:
    """The class registered as ``name``; ``ValueError`` naming ``method.name`` and the valid names."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"method.name: unknown method {name!r}; valid: {available_methods()}")
    return _REGISTRY[name]


def method_options(table, *, drop_foreign_defaults: bool = False) -> MethodOptions:
    """The validated options of the method that a ``[method]`` table names (default :data:`DEFAULT_METHOD`).

    Parameters
    ----------
    table : Mapping or MethodOptions
        A ``[method]`` table, or options already built (returned as they are if their method is registered).
    drop_foreign_defaults : bool, default False
        Drop keys that are not options of this method but of another registered one, *at that method's
        default value* (config files written when every method's knobs were written into each file).
        Any other unknown key still raises ``ValueError`` naming it.
    """
    if isinstance(table, MethodOptions):
        expected = method_class(table.name).Options
        if type(table) is not expected:
            raise TypeError(f"method: options of {table.name!r} must be {expected.__name__}, got "
                            f"{type(table).__name__}")
        return table
    values = {"name": DEFAULT_METHOD, **table}
    options = method_class(values["name"]).Options
    if drop_foreign_defaults:
        own = set(options.field_names())
        defaults = {}
        for cls in _REGISTRY.values():
            for f in fields(cls.Options):
                defaults.setdefault(f.name, []).append(f.default)
        for key in [k for k in values if k not in own and k in defaults]:
            if any(values[key] == d for d in defaults[key] if d is not MISSING):
                del values[key]
    return options.from_table(values)


def build_method(config, spec: DataSpec) -> MethodSystem:
    """The :class:`MethodSystem` of ``config.method`` for data described by ``spec``.

    Parameters
    ----------
    config
        A training config: ``method`` (options), ``model`` (the ``[model]`` section), ``max_epochs``.
    spec : DataSpec

    Parameters are initialised from torch's global generator: call under ``torch.random.fork_rng()`` with a
    seed for a reproducible model (the trainer does).
    """
    if len(spec.shapes) != config.model.n_modalities:
        raise ValueError(f"model.n_modalities = {config.model.n_modalities} does not match the "
                         f"{len(spec.shapes)} modalities of the data")
    options = method_options(config.method)
    return method_class(options.name)(options, config.model, spec, max_epochs=config.max_epochs)
