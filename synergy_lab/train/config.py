"""Typed, validated training configuration: frozen dataclasses and their TOML files.

A :class:`TrainConfig` holds five sections -- :class:`MethodConfig`, :class:`DataConfig`,
:class:`ModelConfig`, :class:`OptimConfig`, :class:`EvalConfig` -- and the run-level fields (seed, device,
output folder, checkpoints, precision). Every field is checked in ``__post_init__``; a bad value raises
``ValueError`` (``TypeError`` for a wrong type) whose message starts with the dotted field name, e.g.
``"method.name: unknown method 'infmask'; valid: [...]"`` or
``"model.mask_ratio must be in [0.0, 1.0), got 1.2"``, so a bad config fails before any data is built or
any step is taken.

TOML files (:func:`load_config`) mirror the dataclasses: top-level run fields, then one table per section;
an unknown key anywhere is an error that names it. This module imports no torch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: no stdlib TOML reader
    tomllib = None

#: Method names (spec §1-§3).
METHODS = ("infmasking", "comm", "cross", "cross_self", "simclr", "cmc", "factorcl", "supervised")
#: Methods built on the masked fusion transformer (encoders -> tokens -> fusion -> head).
FUSION_METHODS = ("infmasking", "comm")
#: Methods whose loss is defined for exactly two modalities.
TWO_MODALITY_METHODS = ("cross", "cross_self", "factorcl")
#: Encoders for vector data ("none": the tokenizer / head sees the raw vector) and for images.
VECTOR_ENCODERS = ("mlp", "none")
IMAGE_ENCODERS = ("alexnet", "small_cnn")
#: ``synergy_lab.models.encoders.DOWNSAMPLES`` (that module imports torch).
CNN_DOWNSAMPLES = ("pool", "stride")
#: Image data sources; every other name is a :mod:`synergy_lab.data` generator (vectors).
IMAGE_DATASETS = ("synthetic_images", "trifeature")
#: Parameters of the image sources and their defaults: ``synthetic_images`` (Trifeature-shaped random uint8
#: images) and ``trifeature`` (:func:`synergy_lab.data.trifeature.make_trifeature_images`; ``cache_dir``
#: None renders in memory every run).
IMAGE_DATA_PARAMS = {
    "synthetic_images": {"resolution": 224, "n_classes": 10},
    "trifeature": {"resolution": 224, "renders_per_train": 3, "renders_per_val": None, "renders_per_test": 1,
                   "test_fraction": 0.2, "validation_fraction": 0.1, "design": "balanced", "cache_dir": None},
}
#: ``synergy_lab.data.trifeature.DESIGNS``, repeated here because that module imports torch.
TRIFEATURE_DESIGNS = ("balanced", "random")
#: Generator parameters that DataConfig sets itself.
RESERVED_DATA_PARAMS = {"n_samples": "data.n_train", "random_state": "data.seed", "pairing": "data.pairing"}
AUGMENTS = ("auto", "noise_drop", "simclr", "none")
HEAD_NORMS = ("batch", "layer", "none")
PRECISIONS = ("auto", "bf16", "fp32")
SIMCLR_INPUTS = ("concat", "x1", "x2")
PAIRINGS = ("biased", "unbiased")


# ----------------------------------------------------------------------------------------- validators
def _fail(name: str, message: str) -> ValueError:
    return ValueError(f"{name} {message}")


def _int(name: str, value, minimum: int | None = None, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise _fail(name, f"must be >= {minimum}, got {value}")
    return int(value)


def _float(name: str, value, lo: float | None = None, hi: float | None = None, *, lo_open=False,
           hi_open=False, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    bad = not math.isfinite(v)
    if lo is not None:
        bad |= v <= lo if lo_open else v < lo
    if hi is not None:
        bad |= v >= hi if hi_open else v > hi
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        rng = f"{left}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}{right}"
        raise _fail(name, f"must be in {rng}, got {value!r}")
    return v


def _choice(name: str, value, options) -> str:
    if value not in options:
        raise ValueError(f"{name}: unknown value {value!r}; valid: {list(options)}")
    return value


def _bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, got {value!r}")
    return value


def _set(obj, name, value):
    object.__setattr__(obj, name, value)


# ------------------------------------------------------------------------------------------ sections
@dataclass(frozen=True)
class MethodConfig:
    """Which objective to train, and its hyper-parameters.

    Attributes
    ----------
    name : str
        One of :data:`METHODS`.
    temperature : float
        tau of the NT-Xent terms (all contrastive methods except Cross, whose scale is learned).
    lam : float
        Final covariance scale lambda of the InfMasking term (ramped linearly over epochs).
    weights : tuple of float, optional
        InfMasking: n+3 weights [mask', mask'', L_{1}..L_{n}, L_[n]]; CoMM: n+1 weights. None = all ones.
    beta : float
        InfMasking entropy-penalty weight (0 = off).
    ssl_scale : float
        Cross+Self weight of the unimodal SimCLR terms.
    clip_temperature : float
        Cross (CLIP): initial temperature of the learnable logit scale.
    critic_hidden : int
        FactorCL critic hidden width.
    critic_lr : float, optional
        FactorCL CLUB-critic learning rate (default: ``optim.lr``).
    target : str
        Supervised: the training label (a target of the dataset).
    simclr_input : {"concat", "x1", "x2"}
        SimCLR on two modalities: encode their concatenation, or one modality only.
    """

    name: str = "infmasking"
    temperature: float = 0.1
    lam: float = 1.0
    weights: tuple[float, ...] | None = None
    beta: float = 0.0
    ssl_scale: float = 1.0
    clip_temperature: float = 0.07
    critic_hidden: int = 512
    critic_lr: float | None = None
    target: str = "redundancy"
    simclr_input: str = "concat"

    def __post_init__(self):
        if not isinstance(self.name, str) or self.name not in METHODS:
            raise ValueError(f"method.name: unknown method {self.name!r}; valid: {list(METHODS)}")
        _float("method.temperature", self.temperature, 0.0, lo_open=True)
        _float("method.lam", self.lam, 0.0)
        _float("method.beta", self.beta, 0.0)
        _float("method.ssl_scale", self.ssl_scale, 0.0)
        _float("method.clip_temperature", self.clip_temperature, 0.01, 1.0)
        _int("method.critic_hidden", self.critic_hidden, 1)
        _float("method.critic_lr", self.critic_lr, 0.0, lo_open=True, optional=True)
        if not isinstance(self.target, str):
            raise TypeError(f"method.target must be a string, got {self.target!r}")
        _choice("method.simclr_input", self.simclr_input, SIMCLR_INPUTS)
        if self.weights is not None:
            if isinstance(self.weights, (str, bytes)) or not hasattr(self.weights, "__iter__"):
                raise TypeError(f"method.weights must be a list of numbers, got {self.weights!r}")
            w = tuple(_float(f"method.weights[{i}]", v, 0.0) for i, v in enumerate(self.weights))
            _set(self, "weights", w)


@dataclass(frozen=True)
class DataConfig:
    """Training data, probe data and the training augmentation.

    Attributes
    ----------
    name : str
        A :mod:`synergy_lab.data` generator (``"compositional"``, ...; vectors), ``"trifeature"`` (bimodal
        Trifeature image pairs, spec §4; ``params`` as :data:`IMAGE_DATA_PARAMS`) or ``"synthetic_images"``
        (Trifeature-shaped random uint8 images with random labels, for throughput checks; ``params``:
        ``resolution``, ``n_classes``).
    params : dict
        Generator parameters (not ``n_samples``, ``random_state`` or ``pairing``: see the fields below).
    n_train : int
        Training pairs. Trifeature: drawn without replacement from the allowed pairs of the training split
        (the paper: 10,000); more than are allowed is an error.
    pairing : {"biased", "unbiased"}
        Pairing of the *training* pairs (``"biased"`` ties s2 = pi(s1), spec §10, or keeps only Trifeature
        pairs whose texture 1 maps to colour 2, spec §4); probe pairs are always unbiased. Ignored by
        generators without a pairing parameter only when ``"unbiased"``.
    n_probe, n_val : int
        Unbiased pairs to fit the linear probes on, and held-out unbiased pairs to score them on.
        Trifeature: the probes are fitted on ``n_probe`` pairs of the training split and scored on at most
        ``n_val`` pairs of each of the validation split (model selection) and the test split (report).
    seed : int, optional
        Seed of the data generator (default: the run's ``seed``; the Trifeature paper protocol uses 42).
    augment : {"auto", "noise_drop", "simclr", "none"}
        ``"auto"``: ``"noise_drop"`` for vectors (Gaussian noise, then random feature dropout, each view and
        modality independently), ``"simclr"`` for images.
    noise_std, drop_prob : float
        Parameters of ``"noise_drop"``: x' = (x + noise_std * N(0, 1)) * (U > drop_prob).
    colour_jitter : bool
        ``"simclr"`` only: apply the colour jitter (it perturbs Trifeature's synergy attribute, the colour;
        off for the ablation). Grayscale (p = 0.2) still applies either way, as in the public code.
    crop_scale : (float, float)
        ``"simclr"`` only: area range of the random resized crop (the paper's (0.08, 1); small images need
        larger crops to keep the shape visible).
    """

    name: str = "compositional"
    params: dict = field(default_factory=dict)
    n_train: int = 10_000
    pairing: str = "biased"
    n_probe: int = 2_000
    n_val: int = 2_000
    seed: int | None = None
    augment: str = "auto"
    noise_std: float = 0.1
    drop_prob: float = 0.1
    colour_jitter: bool = True
    crop_scale: tuple[float, float] = (0.08, 1.0)

    def __post_init__(self):
        from ..data.registry import available_generators, generator_parameters

        valid = [*available_generators(), *IMAGE_DATASETS]
        if not isinstance(self.name, str) or self.name not in valid:
            raise ValueError(f"data.name: unknown data source {self.name!r}; valid: {valid}")
        if not isinstance(self.params, Mapping):
            raise TypeError(f"data.params must be a table of generator parameters, got {self.params!r}")
        _set(self, "params", dict(self.params))
        allowed = IMAGE_DATA_PARAMS[self.name] if self.is_image else generator_parameters(self.name)
        for key in self.params:
            if key in RESERVED_DATA_PARAMS and not self.is_image:
                raise ValueError(f"data.params.{key}: set {RESERVED_DATA_PARAMS[key]} instead")
            if key not in allowed:
                raise ValueError(f"data.params.{key}: unknown parameter of {self.name!r}; "
                                 f"valid: {sorted(set(allowed) - set(RESERVED_DATA_PARAMS))}")
        if self.is_image:
            self._check_image_params()
        _int("data.n_train", self.n_train, 2)
        _choice("data.pairing", self.pairing, PAIRINGS)
        has_pairing = self.is_image or "pairing" in generator_parameters(self.name)
        if self.pairing == "biased" and not has_pairing:
            raise ValueError(f"data.pairing: generator {self.name!r} has no biased pairing; use 'unbiased'")
        _int("data.n_probe", self.n_probe, 2)
        _int("data.n_val", self.n_val, 2)
        _int("data.seed", self.seed, 0, optional=True)
        _choice("data.augment", self.augment, AUGMENTS)
        _float("data.noise_std", self.noise_std, 0.0)
        _float("data.drop_prob", self.drop_prob, 0.0, 1.0, hi_open=True)
        _bool("data.colour_jitter", self.colour_jitter)
        crop = tuple(self.crop_scale) if isinstance(self.crop_scale, (list, tuple)) else None
        if crop is None or len(crop) != 2:
            raise ValueError(f"data.crop_scale must be a pair of area fractions, got {self.crop_scale!r}")
        lo, hi = (_float(f"data.crop_scale[{i}]", v, 0.0, 1.0, lo_open=True) for i, v in enumerate(crop))
        if lo > hi:
            raise ValueError(f"data.crop_scale must be increasing, got {self.crop_scale!r}")
        _set(self, "crop_scale", (lo, hi))
        kind = self.augment
        if kind == "simclr" and not self.is_image:
            raise ValueError("data.augment: 'simclr' needs image data; use 'noise_drop' for vectors")
        if kind == "noise_drop" and self.is_image:
            raise ValueError("data.augment: 'noise_drop' is for vectors; use 'simclr' for images")

    def _check_image_params(self):
        p = {**IMAGE_DATA_PARAMS[self.name], **self.params}
        res = _int("data.params.resolution", p["resolution"], 32)
        if res > 224:
            raise ValueError(f"data.params.resolution must be <= 224, got {res}")
        if self.name == "synthetic_images":
            _int("data.params.n_classes", p["n_classes"], 2)
            return
        for key in ("renders_per_train", "renders_per_val", "renders_per_test"):
            _int(f"data.params.{key}", p[key], 1, optional=True)
        _float("data.params.test_fraction", p["test_fraction"], 0.0, 1.0, lo_open=True, hi_open=True)
        _float("data.params.validation_fraction", p["validation_fraction"], 0.0, 1.0, hi_open=True)
        _choice("data.params.design", p["design"], TRIFEATURE_DESIGNS)
        tenths = p["test_fraction"] * 10
        if p["design"] == "balanced" and abs(tenths - round(tenths)) > 1e-9:
            raise ValueError(f"data.params.test_fraction: the balanced design splits whole tenths (multiples "
                             f"of 0.1), got {p['test_fraction']!r}")
        if p["cache_dir"] is not None and not isinstance(p["cache_dir"], str):
            raise TypeError(f"data.params.cache_dir must be a folder path string, got {p['cache_dir']!r}")

    @property
    def is_image(self) -> bool:
        return self.name in IMAGE_DATASETS

    @property
    def n_modalities(self) -> int:
        """Modalities of every current data source (two)."""
        return 2

    @property
    def augment_kind(self) -> str:
        """The resolved augmentation: ``"noise_drop"``, ``"simclr"`` or ``"none"``."""
        if self.augment == "auto":
            return "simclr" if self.is_image else "noise_drop"
        return self.augment


@dataclass(frozen=True)
class ModelConfig:
    """Architecture: encoders, tokens, fusion transformer, projection heads, masking.

    Attributes
    ----------
    encoder : {"mlp", "none", "alexnet", "small_cnn"}
        Per-modality encoder: an MLP (or nothing) for vectors, a CNN for images.
    encoder_hidden, encoder_layers, encoder_out : int
        MLP widths and number of linear layers; ``encoder_out`` is the embedding width of the baselines
        and the vector the fusion methods cut into ``n_tokens`` tokens. ``small_cnn`` uses
        ``encoder_hidden`` as its first-stage width and ``encoder_out`` as its output channels.
    cnn_downsample : {"pool", "stride"}
        How ``small_cnn`` halves the resolution per stage: max-pooling, or stride-2 convolutions (about 5x
        cheaper on CPU; the CPU-scale Trifeature configs use it).
    n_tokens : int
        Tokens per vector modality (:class:`~synergy_lab.models.FeatureGroupTokenizer` groups); must divide
        the tokenized width. Image modalities get one token per feature-map cell.
    grid : int, optional
        CNN feature maps are average-pooled to ``grid x grid`` (tokens per image modality ``grid**2``).
    fusion_dim, fusion_depth, fusion_heads : int
        Fusion transformer width E, blocks and heads (``fusion_heads`` divides ``fusion_dim``).
    mlp_ratio : float
        Transformer MLP width / E.
    head_hidden, head_out, head_layers : int
        Projection head ``Linear(in, hidden)-Norm-ReLU-...-Linear(hidden, out)`` with ``head_layers`` linear
        layers; its output is L2-normalised.
    head_norm : {"batch", "layer", "none"}
        Norm between head layers (BatchNorm statistics are per view and per rank).
    mask_ratio : float in [0, 1)
        InfMasking: fraction of each modality's tokens dropped in a masked view.
    T : int >= 1
        InfMasking: number of masked views.
    n_modalities : int
        Number of modalities the model expects; must match the data.
    """

    encoder: str = "mlp"
    encoder_hidden: int = 128
    encoder_layers: int = 2
    encoder_out: int = 64
    cnn_downsample: str = "pool"
    n_tokens: int = 8
    grid: int | None = None
    fusion_dim: int = 64
    fusion_depth: int = 1
    fusion_heads: int = 4
    mlp_ratio: float = 4.0
    head_hidden: int = 128
    head_out: int = 64
    head_layers: int = 3
    head_norm: str = "batch"
    mask_ratio: float = 0.7
    T: int = 6
    n_modalities: int = 2

    def __post_init__(self):
        _choice("model.encoder", self.encoder, VECTOR_ENCODERS + IMAGE_ENCODERS)
        _int("model.encoder_hidden", self.encoder_hidden, 1)
        _int("model.encoder_layers", self.encoder_layers, 1)
        _int("model.encoder_out", self.encoder_out, 1)
        _choice("model.cnn_downsample", self.cnn_downsample, CNN_DOWNSAMPLES)
        _int("model.n_tokens", self.n_tokens, 1)
        _int("model.grid", self.grid, 1, optional=True)
        _int("model.fusion_dim", self.fusion_dim, 1)
        _int("model.fusion_depth", self.fusion_depth, 1)
        _int("model.fusion_heads", self.fusion_heads, 1)
        if self.fusion_dim % self.fusion_heads:
            raise ValueError(f"model.fusion_heads ({self.fusion_heads}) must divide model.fusion_dim "
                             f"({self.fusion_dim})")
        if self.encoder in IMAGE_ENCODERS and self.fusion_dim % 4:
            raise ValueError(f"model.fusion_dim must be a multiple of 4 for image tokens (2-D sin-cos "
                             f"codes), "
                             f"got {self.fusion_dim}")
        _float("model.mlp_ratio", self.mlp_ratio, 0.0, lo_open=True)
        _int("model.head_hidden", self.head_hidden, 1)
        _int("model.head_out", self.head_out, 1)
        _int("model.head_layers", self.head_layers, 1)
        _choice("model.head_norm", self.head_norm, HEAD_NORMS)
        _float("model.mask_ratio", self.mask_ratio, 0.0, 1.0, hi_open=True)
        if isinstance(self.T, bool) or not isinstance(self.T, int) or self.T < 1:
            raise ValueError(f"model.T (number of masked views) must be an integer >= 1, got {self.T!r}")
        _int("model.n_modalities", self.n_modalities, 1)


@dataclass(frozen=True)
class OptimConfig:
    """AdamW (weight decay on weight matrices only), optional warmup + cosine schedule.

    Attributes
    ----------
    lr, weight_decay : float
        AdamW learning rate, and the decay applied to parameters with >= 2 dimensions (linear / conv /
        tokenizer weights); biases, norms, CLS and mask tokens and scalars are not decayed.
    betas : (float, float)
    batch_size : int
        *Global* batch size: split evenly over the ranks under DDP (must divide by the world size).
    epochs, steps : int, optional
        Training length: ``steps`` optimiser steps, or ``epochs`` passes over ``data.n_train`` (the last
        incomplete batch of an epoch is dropped). Give one; neither means 10 epochs.
    cosine : bool
        Cosine decay from ``lr`` to ``min_lr_ratio * lr`` after the warmup.
    warmup_steps : int
        Linear warmup from ``lr / warmup_steps``.
    min_lr_ratio : float
    grad_clip : float, optional
        Clip the global gradient norm.
    """

    lr: float = 1e-3
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int = 256
    epochs: int | None = None
    steps: int | None = None
    cosine: bool = False
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: float | None = None

    def __post_init__(self):
        _float("optim.lr", self.lr, 0.0, lo_open=True)
        _float("optim.weight_decay", self.weight_decay, 0.0)
        betas = tuple(self.betas) if isinstance(self.betas, (list, tuple)) else self.betas
        if not isinstance(betas, tuple) or len(betas) != 2:
            raise ValueError(f"optim.betas must be a pair of numbers, got {self.betas!r}")
        for i, b in enumerate(betas):
            _float(f"optim.betas[{i}]", b, 0.0, 1.0, hi_open=True)
        _set(self, "betas", tuple(float(b) for b in betas))
        _int("optim.batch_size", self.batch_size, 2)
        _int("optim.epochs", self.epochs, 1, optional=True)
        _int("optim.steps", self.steps, 1, optional=True)
        if self.epochs is not None and self.steps is not None:
            raise ValueError("optim.steps: give optim.epochs or optim.steps, not both")
        if self.epochs is None and self.steps is None:
            _set(self, "epochs", 10)
        _bool("optim.cosine", self.cosine)
        _int("optim.warmup_steps", self.warmup_steps, 0)
        _float("optim.min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        _float("optim.grad_clip", self.grad_clip, 0.0, lo_open=True, optional=True)


@dataclass(frozen=True)
class EvalConfig:
    """Linear probes run after training (balanced accuracy on the held-out unbiased pairs).

    Attributes
    ----------
    enabled : bool
    targets : tuple of str, optional
        Dataset targets to probe (default: all of them).
    C : float
        Inverse L2 strength of the logistic regression (on standardised features).
    max_iter : int
    batch_size : int
        Feature-extraction batch size.
    """

    enabled: bool = True
    targets: tuple[str, ...] | None = None
    C: float = 1.0
    max_iter: int = 1000
    batch_size: int = 1024

    def __post_init__(self):
        _bool("eval.enabled", self.enabled)
        if self.targets is not None:
            if isinstance(self.targets, str) or not all(isinstance(t, str) for t in self.targets):
                raise TypeError(f"eval.targets must be a list of target names, got {self.targets!r}")
            _set(self, "targets", tuple(self.targets))
        _float("eval.C", self.C, 0.0, lo_open=True)
        _int("eval.max_iter", self.max_iter, 1)
        _int("eval.batch_size", self.batch_size, 1)


_SECTIONS = {"method": MethodConfig, "data": DataConfig, "model": ModelConfig, "optim": OptimConfig,
             "eval": EvalConfig}
#: Run-level fields that do not change the trained result (free to differ when resuming).
_RUN_ONLY = ("out_dir", "checkpoint_every", "keep_checkpoints", "log_every", "progress", "eval", "device")


@dataclass(frozen=True)
class TrainConfig:
    """A complete training run.

    Sections may be given as dataclasses or as dicts of their fields
    (``TrainConfig(method={"name": "comm"})``).

    Attributes
    ----------
    method, data, model, optim, eval
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

    method: MethodConfig = field(default_factory=MethodConfig)
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
        if m.name in TWO_MODALITY_METHODS and n != 2:
            raise ValueError(f"method.name: {m.name!r} needs exactly 2 modalities, the data has {n}")
        if m.weights is not None:
            need = {"infmasking": n + 3, "comm": n + 1}.get(m.name)
            if need is None:
                raise ValueError(f"method.weights: {m.name!r} takes no term weights (infmasking, comm do)")
            if len(m.weights) != need:
                what = "[mask', mask'', L_1..L_n, L_[n]]" if m.name == "infmasking" else "[L_1..L_n, L_[n]]"
                raise ValueError(f"method.weights: {m.name} with {n} modalities needs {need} weights {what}, "
                                 f"got {len(m.weights)}")
        if m.name in FUSION_METHODS and mo.encoder == "mlp" and mo.encoder_out % mo.n_tokens:
            raise ValueError(f"model.n_tokens ({mo.n_tokens}) must divide model.encoder_out "
                             f"({mo.encoder_out}): the encoder output is cut into n_tokens equal tokens")
        kept = int(mo.n_tokens * (1 - mo.mask_ratio))
        if m.name == "infmasking" and mo.encoder in VECTOR_ENCODERS and kept < 1:
            raise ValueError(f"model.mask_ratio {mo.mask_ratio} keeps int({mo.n_tokens} * (1 - "
                             f"{mo.mask_ratio})) = 0 of the model.n_tokens tokens per modality")
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
        for key, value in updates.items():
            parts = key.split(".")
            if parts[0] in _SECTIONS:
                if len(parts) < 2:
                    raise ValueError(f"{key}: give a field, e.g. {key}.name")
                target = d[parts[0]]
                if parts[1] == "params" and len(parts) == 3:
                    target = target["params"]
                    parts = parts[1:]
                elif len(parts) != 2:
                    raise ValueError(f"{key}: unknown key")
                elif parts[1] not in {f.name for f in fields(_SECTIONS[parts[0]])}:
                    raise ValueError(f"{key}: unknown key; valid: {_field_names(_SECTIONS[parts[0]])}")
                target[parts[-1]] = value
            elif len(parts) == 1 and parts[0] in {f.name for f in fields(TrainConfig)}:
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
    names = _field_names(cls)
    unknown = [k for k in values if k not in names]
    if unknown:
        raise ValueError(f"{section}.{unknown[0]}: unknown key in [{section}]; valid keys: {names}")
    return cls(**dict(values))


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
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise TypeError(f"{key} must be a table ([{key}]), got {value!r}")
            kwargs[key] = _section_from_dict(_SECTIONS[key], value, key)
        elif value is not None:
            kwargs[key] = value
    return TrainConfig(**kwargs)


def load_config(path) -> TrainConfig:
    """Read a TOML experiment file into a validated :class:`TrainConfig`.

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
    path = Path(path)
    if tomllib is None:
        raise RuntimeError("reading TOML configs needs Python >= 3.11 (stdlib tomllib)")
    with path.open("rb") as fh:
        try:
            values = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: invalid TOML: {exc}") from None
    return config_from_dict(values)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} to TOML")


def dump_config(config: TrainConfig) -> str:
    """TOML text that :func:`load_config` reads back into an equal config (None fields are omitted)."""
    d = config.to_dict()
    lines = [f"{k} = {_toml_value(v)}" for k, v in d.items() if k not in _SECTIONS and v is not None]
    for section in _SECTIONS:
        lines += ["", f"[{section}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in d[section].items() if v is not None]
    return "\n".join(lines) + "\n"
