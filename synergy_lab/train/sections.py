"""The data, model, optim and eval sections of a training config: frozen dataclasses validated field by field.

Every field is checked in ``__post_init__``; a bad value raises ``ValueError`` (``TypeError`` for a wrong
type) whose message starts with the dotted field name. :mod:`.config` assembles them (with the method's own
options) into a :class:`~.config.TrainConfig`. This module imports no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .._validate import check_bool as _bool
from .._validate import check_choice as _choice
from .._validate import check_float as _float
from .._validate import check_int as _int
from .._validate import set_field as _set

#: Encoders for vector data ("none": the tokenizer / head sees the raw vector) and for images.
VECTOR_ENCODERS = ("mlp", "none")
IMAGE_ENCODERS = ("alexnet", "small_cnn")
#: ``synergy_lab.models.encoders.DOWNSAMPLES`` (that module imports torch).
CNN_DOWNSAMPLES = ("pool", "stride")
#: The config field that sets each reserved parameter of a data source
#: (:attr:`synergy_lab.data.DataSource.reserved`).
RESERVED_DATA_PARAMS = {"n_samples": "data.n_train", "random_state": "data.seed", "seed": "data.seed",
                        "pairing": "data.pairing", "device": "device"}
AUGMENTS = ("auto", "noise_drop", "simclr", "none")
HEAD_NORMS = ("batch", "layer", "none")
PRECISIONS = ("auto", "bf16", "fp32")
#: How the fusion methods turn a vector modality into tokens (``synergy_lab.methods._fusion``).
TOKENIZERS = ("feature_groups", "input_blocks")
PAIRINGS = ("biased", "unbiased")
#: Keys of the eval section that older configs carry and that are dropped (with a warning) when read:
#: key -> why.
REMOVED_EVAL_KEYS = {"C": "every probe now chooses its own C on held-out pairs"}
#: Training length when a config gives neither optim.epochs nor optim.steps.
DEFAULT_EPOCHS = 10


# ------------------------------------------------------------------------------------------ sections
@dataclass(frozen=True)
class DataConfig:
    """Training data, probe data and the training augmentation.

    Attributes
    ----------
    name : str
        A source of the :mod:`synergy_lab.data` registry (``synergy-lab data --list``): a vector generator
        (``"compositional"``, ...), ``"trifeature"`` (bimodal Trifeature image pairs, docs/trifeature.md) or
        ``"synthetic_images"`` (Trifeature-shaped random uint8 images with random labels, for throughput
        checks).
    params : dict
        The source's parameters (:func:`synergy_lab.data.generator_parameters`), except those the fields
        below set (size, seed, pairing; :data:`RESERVED_DATA_PARAMS`).
    n_train : int
        Training pairs. Trifeature: drawn without replacement from the allowed pairs of the training split
        (the paper: 10,000); more than are allowed is an error.
    pairing : {"biased", "unbiased"}
        Pairing of the *training* pairs (``"biased"`` ties s2 = pi(s1), or keeps only Trifeature
        pairs whose texture 1 maps to colour 2: docs/trifeature.md); probe pairs are always unbiased.
        Ignored by generators without a pairing parameter only when ``"unbiased"``.
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
        from ..data.registry import (
            available_generators,
            check_parameters,
            data_source,
            generator_parameters,
            has_biased_pairing,
        )

        valid = available_generators()
        if not isinstance(self.name, str) or self.name not in valid:
            raise ValueError(f"data.name: unknown data source {self.name!r}; valid: {valid}")
        if not isinstance(self.params, Mapping):
            raise TypeError(f"data.params must be a table of generator parameters, got {self.params!r}")
        _set(self, "params", dict(self.params))
        reserved = data_source(self.name).reserved
        allowed = sorted(set(generator_parameters(self.name)) - set(reserved))
        for key in self.params:
            if key in reserved:
                raise ValueError(f"data.params.{key}: set {RESERVED_DATA_PARAMS[key]} instead")
            if key not in allowed:
                raise ValueError(f"data.params.{key}: unknown parameter of {self.name!r}; valid: {allowed}")
        check_parameters(self.name, self.params, prefix="data.params.")
        _int("data.n_train", self.n_train, 2)
        _choice("data.pairing", self.pairing, PAIRINGS)
        if self.pairing == "biased" and not has_biased_pairing(self.name):
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

    @property
    def is_image(self) -> bool:
        """Whether the source yields images (its registry kind)."""
        from ..data.registry import data_source

        return data_source(self.name).kind == "images"

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
        Tokens per vector modality; must divide the tokenized width (the encoder output for
        ``"feature_groups"``, the input width for ``"input_blocks"``). Image modalities get one token per
        feature-map cell.
    tokenizer : {"feature_groups", "input_blocks"}
        Fusion methods (InfMasking, CoMM) on vectors; the other methods and images ignore it.
        ``"feature_groups"``: the encoder's output cut into ``n_tokens`` groups, each linearly mapped to one
        token (:class:`~synergy_lab.models.FeatureGroupTokenizer`); every token may carry the whole input.
        ``"input_blocks"``: no shared encoder; the raw input is cut into ``n_tokens`` contiguous blocks and
        block j is encoded by its own MLP (``encoder_layers`` linear layers of width ``encoder_hidden``,
        output ``fusion_dim``) into token j (:class:`~synergy_lab.models.InputBlockTokenizer`), so a masked
        token removes its block from the view, as a masked patch does for images. Needs ``encoder = "mlp"``.
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
    tokenizer: str = "feature_groups"
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
        _choice("model.tokenizer", self.tokenizer, TOKENIZERS)
        if self.tokenizer == "input_blocks" and self.encoder != "mlp":
            raise ValueError(f"model.tokenizer: 'input_blocks' replaces the MLP encoder of vector modalities "
                             f"by per-block MLPs; it needs model.encoder = 'mlp', got {self.encoder!r}")
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
            raise ValueError("optim.steps: give optim.epochs or optim.steps, not both (set one to None)")
        # Remembered so that overriding optim.steps replaces the default length instead of clashing with it.
        _set(self, "_default_length", self.epochs is None and self.steps is None)
        if self._default_length:
            _set(self, "epochs", DEFAULT_EPOCHS)
        _bool("optim.cosine", self.cosine)
        _int("optim.warmup_steps", self.warmup_steps, 0)
        _float("optim.min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        _float("optim.grad_clip", self.grad_clip, 0.0, lo_open=True, optional=True)


@dataclass(frozen=True)
class EvalConfig:
    """Scoring after training (:func:`synergy_lab.evaluate.score_representation`): fair and paper linear
    probes, each choosing its regularisation C on held-out pairs, bits captured and read-out PID, beside the
    data's exact ground truth. An ``eval.C`` of older configs is dropped with a warning when the config is
    read (:data:`REMOVED_EVAL_KEYS`).

    Attributes
    ----------
    enabled : bool
    targets : tuple of str, optional
        Dataset targets to score (default: all of them).
    max_iter : int
        Iteration cap of each logistic-regression fit.
    batch_size : int
        Feature-extraction batch size.
    """

    enabled: bool = True
    targets: tuple[str, ...] | None = None
    max_iter: int = 1000
    batch_size: int = 1024

    def __post_init__(self):
        _bool("eval.enabled", self.enabled)
        if self.targets is not None:
            if isinstance(self.targets, str) or not all(isinstance(t, str) for t in self.targets):
                raise TypeError(f"eval.targets must be a list of target names, got {self.targets!r}")
            _set(self, "targets", tuple(self.targets))
        _int("eval.max_iter", self.max_iter, 1)
        _int("eval.batch_size", self.batch_size, 1)
