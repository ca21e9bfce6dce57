"""Typed, validated training configuration: frozen dataclasses and their TOML files.

A :class:`TrainConfig` holds the run-level fields (seed, device, output folder, checkpoints, precision) and
four sections -- :class:`DataConfig`, :class:`ModelConfig`, :class:`OptimConfig`, :class:`EvalConfig` --
plus ``method``, the options of the method the ``[method]`` table names: each method declares and validates
its own (:mod:`synergy_lab.methods`). Every field is checked in ``__post_init__``; a bad value raises
``ValueError`` (``TypeError`` for a wrong type) whose message starts with the dotted field name, e.g.
``"method.name: unknown method 'infmask'; valid: [...]"`` or
``"model.mask_ratio must be in [0.0, 1.0), got 1.2"``, so a bad config fails before any data is built or
any step is taken.

The sections live in :mod:`.sections`. TOML files (:func:`load_config`, :mod:`._toml`) mirror the
dataclasses: top-level run fields, then one table per section; an unknown key anywhere is an error that
names it. This module imports no torch itself; building a config imports the methods (torch) to validate
``[method]``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .._validate import check_bool as _bool
from .._validate import check_choice as _choice
from .._validate import check_int as _int
from .._validate import set_field as _set
from ._toml import read_toml, to_toml
from .sections import (  # noqa: F401 - the constants are re-exported for older imports
    AUGMENTS,
    CNN_DOWNSAMPLES,
    DEFAULT_EPOCHS,
    HEAD_NORMS,
    IMAGE_ENCODERS,
    PAIRINGS,
    PRECISIONS,
    REMOVED_EVAL_KEYS,
    RESERVED_DATA_PARAMS,
    VECTOR_ENCODERS,
    DataConfig,
    EvalConfig,
    ModelConfig,
    OptimConfig,
)

_SECTIONS = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig, "eval": EvalConfig}
#: Every table of a config file, in the order dump_config writes them.
_TABLES = ("method", *_SECTIONS)
#: Run-level fields that do not change the trained result (free to differ when resuming).
_RUN_ONLY = ("out_dir", "checkpoint_every", "keep_checkpoints", "log_every", "progress", "eval", "device")


@dataclass(frozen=True)
class TrainConfig:
    """A complete training run.

    Sections may be given as dataclasses or as dicts of their fields
    (``TrainConfig(method={"name": "comm"})``).

    Attributes
    ----------
    method : MethodOptions
        The method's validated options, built from a ``[method]`` dict
        (:func:`synergy_lab.methods.method_options`; no ``name``: the default method).
    data, model, optim, eval
        The sections.
    seed : int
        Root of every random choice: model initialisation, data order, augmentations, masks (and the data,
        unless ``data.seed`` is set). Random numbers of step s are drawn from generators seeded by
        (seed, stream, s), so a run resumed from a checkpoint replays the uninterrupted run exactly (CPU).
    device : str
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. Under torchrun
        every rank uses ``cuda:LOCAL_RANK``.
    out_dir : str, optional
        Folder for checkpoints, ``config.toml``, ``history.csv`` and ``metrics.json``; None = keep nothing.
    checkpoint_every : int
        Save a checkpoint every N optimiser steps (0: only at the end); needs ``out_dir``.
    keep_checkpoints : int
        Most recent checkpoints kept on disk.
    compile : bool
        ``torch.compile`` the encoders, fusion transformer and heads.
    precision : {"auto", "bf16", "fp32"}
        ``"auto"``: bfloat16 autocast on CUDA, float32 on CPU. Losses always run in float32.
    log_every : int
        Progress-bar update period (steps); losses are read back from the device this often.
    progress : bool
        Show a tqdm progress bar (rank 0).
    """

    method: Any = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    device: str = "auto"
    out_dir: str | None = None
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    compile: bool = False
    precision: str = "auto"
    log_every: int = 10
    progress: bool = True

    def __post_init__(self):
        _set(self, "method", _method_options({} if self.method is None else self.method))
        for name, cls in _SECTIONS.items():
            value = getattr(self, name)
            if isinstance(value, Mapping):
                _set(self, name, _section_from_dict(cls, value, name))
            elif not isinstance(value, cls):
                raise TypeError(f"{name} must be a {cls.__name__} or a dict, got {type(value).__name__}")
        _int("seed", self.seed, 0)
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")
        ):
            raise ValueError(f"device: unknown device {self.device!r}; "
                             "valid: 'auto', 'cpu', 'cuda', 'cuda:N'")
        if self.out_dir is not None:
            if not isinstance(self.out_dir, (str, Path)):
                raise TypeError(f"out_dir must be a path string, got {self.out_dir!r}")
            _set(self, "out_dir", str(self.out_dir))
        _int("checkpoint_every", self.checkpoint_every, 0)
        if self.checkpoint_every and self.out_dir is None:
            raise ValueError("checkpoint_every: checkpoints need out_dir")
        _int("keep_checkpoints", self.keep_checkpoints, 1)
        _bool("compile", self.compile)
        _choice("precision", self.precision, PRECISIONS)
        _int("log_every", self.log_every, 1)
        _bool("progress", self.progress)
        self._check_consistency()

    def _check_consistency(self):
        m, d, mo, o = self.method, self.data, self.model, self.optim
        n = d.n_modalities
        if mo.n_modalities != n:
            raise ValueError(f"model.n_modalities = {mo.n_modalities} does not match the {n} modalities of "
                             f"data {d.name!r}")
        m.check_compatible(mo, n, d.is_image)  # the method's own cross-section checks
        if d.is_image != (mo.encoder in IMAGE_ENCODERS):
            valid = IMAGE_ENCODERS if d.is_image else VECTOR_ENCODERS
            kind = "image" if d.is_image else "vector"
            raise ValueError(f"model.encoder: {mo.encoder!r} does not fit {kind} "
                             f"data {d.name!r}; valid: {list(valid)}")
        if o.batch_size > d.n_train:
            raise ValueError(f"optim.batch_size ({o.batch_size}) must be <= data.n_train ({d.n_train})")
        if o.warmup_steps >= self.total_steps:
            raise ValueError(f"optim.warmup_steps ({o.warmup_steps}) must be < the {self.total_steps} "
                             f"training steps")

    # -------------------------------------------------------------------------------- derived values
    @property
    def steps_per_epoch(self) -> int:
        """Full global batches per pass over the training pairs."""
        return self.data.n_train // self.optim.batch_size

    @property
    def total_steps(self) -> int:
        o = self.optim
        return o.steps if o.steps is not None else o.epochs * self.steps_per_epoch

    @property
    def max_epochs(self) -> int:
        """Epochs the run spans (the lambda ramp's E_max); a partial last epoch counts."""
        return -(-self.total_steps // self.steps_per_epoch)

    def to_dict(self) -> dict:
        """Plain nested dict of every field (tuples as lists; None values kept)."""
        return _plain(dataclasses.asdict(self))

    def fingerprint(self) -> dict:
        """The fields that determine the trained result (everything but output, logging and eval)."""
        d = self.to_dict()
        d["data"]["params"].pop("cache_dir", None)  # where rendered images are cached, not what they are
        return {k: v for k, v in d.items() if k not in _RUN_ONLY}

    def override(self, updates: Mapping[str, Any]) -> TrainConfig:
        """A copy with dotted-key updates, e.g. ``{"optim.lr": 1e-3, "seed": 1}`` (validated again)."""
        d = self.to_dict()
        if self.optim._default_length and "optim.epochs" not in updates and \
                updates.get("optim.steps") is not None:
            d["optim"]["epochs"] = None  # the epochs were never chosen: steps replace the default length
        for key, value in updates.items():
            if not isinstance(key, str):
                raise TypeError(f"override keys must be dotted strings, got {key!r}")
            parts = key.split(".")
            if parts[0] in _TABLES:
                if len(parts) < 2:
                    raise ValueError(f"{key}: give a field, e.g. {key}.name")
                target = d[parts[0]]
                if parts[0] == "data" and parts[1] == "params" and len(parts) == 3:
                    target = target["params"]
                    parts = parts[1:]
                elif len(parts) != 2:
                    raise ValueError(f"{key}: unknown key")
                elif parts[0] in _SECTIONS and parts[1] not in _field_names(_SECTIONS[parts[0]]):
                    raise ValueError(f"{key}: unknown key; valid: {_field_names(_SECTIONS[parts[0]])}")
                # method keys are checked by the method's options, which know its fields
                target[parts[-1]] = value
            elif len(parts) == 1 and parts[0] in _field_names(TrainConfig):
                d[parts[0]] = value
            else:
                raise ValueError(f"{key}: unknown key; valid top-level keys: {_field_names(TrainConfig)}")
        return config_from_dict(d)


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _field_names(cls) -> list[str]:
    return [f.name for f in fields(cls)]


def _section_from_dict(cls, values: Mapping, section: str):
    if section == "eval" and any(k in values for k in REMOVED_EVAL_KEYS):
        for key in [k for k in REMOVED_EVAL_KEYS if k in values]:
            warnings.warn(f"eval.{key} is no longer used and was dropped: {REMOVED_EVAL_KEYS[key]}",
                          FutureWarning, stacklevel=2)
        values = {k: v for k, v in values.items() if k not in REMOVED_EVAL_KEYS}
    names = _field_names(cls)
    unknown = [k for k in values if k not in names]
    if unknown:
        raise ValueError(f"{section}.{unknown[0]}: unknown key in [{section}]; valid keys: {names}")
    return cls(**dict(values))


def _method_options(table):
    """The ``[method]`` table as its method's validated options (imports the methods, hence torch)."""
    from ..methods import MethodOptions, method_options

    if not isinstance(table, (Mapping, MethodOptions)):
        raise TypeError(f"method must be a table ([method]) or a method's options, got {table!r}")
    # Earlier versions wrote every method's knobs into each config.toml: tolerate those at their defaults.
    return method_options(table, drop_foreign_defaults=True)


def config_from_dict(values: Mapping) -> TrainConfig:
    """Build a :class:`TrainConfig` from a nested dict (as read from TOML); unknown keys raise naming them."""
    if not isinstance(values, Mapping):
        raise TypeError(f"a config must be a table, got {type(values).__name__}")
    names = _field_names(TrainConfig)
    unknown = [k for k in values if k not in names]
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown top-level key; valid keys: {names}")
    kwargs = {}
    for key, value in values.items():
        if key in _TABLES:
            if not isinstance(value, Mapping):
                raise TypeError(f"{key} must be a table ([{key}]), got {value!r}")
            kwargs[key] = value if key == "method" else _section_from_dict(_SECTIONS[key], value, key)
        elif value is not None:
            kwargs[key] = value
    return TrainConfig(**kwargs)


def load_config(path) -> TrainConfig:
    """Read a TOML experiment file into a validated :class:`TrainConfig`.

    A missing file, a folder, unreadable or non-UTF-8 bytes and invalid TOML raise ``ValueError`` naming
    the file.

    Example
    -------
    ::

        seed = 0
        out_dir = "runs/tiny"
        [method]
        name = "infmasking"
        [data]
        name = "compositional"
        params = { k = 4, dim = 16 }
        n_train = 2000
        [optim]
        steps = 300
    """
    return config_from_dict(read_toml(path))


def dump_config(config: TrainConfig) -> str:
    """TOML text that :func:`load_config` reads back into an equal config (None fields are omitted)."""
    return to_toml(config.to_dict(), _TABLES)
