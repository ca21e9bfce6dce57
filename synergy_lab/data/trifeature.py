"""Bimodal Trifeature (Hermann & Lampinen 2020; ``docs/trifeature.md``): images, split, pairs, labels.

Three steps, each with its own random stream derived from one integer ``seed`` (``numpy.random.SeedSequence``
spawns, in this order):

1. **split** -- the 1,000 (shape, texture, colour) combinations are split at random into test (20%) and the
   rest; a validation part is carved out of the non-test combinations for model selection, and the remaining
   combinations are the training split. No combination is in two splits. The default ``"balanced"`` design
   splits whole random Latin-square classes, so that the synergy label is exactly independent of either
   image alone in every split; ``design="random"`` is the public code's plain random split
   (:func:`split_combinations`).
2. **render** -- ``renders_per_train`` images of every training (and, by default, validation) combination and
   ``renders_per_test`` of every test combination, drawn by the vectorised renderer of
   :mod:`synergy_lab.data._trifeature_render`; cached on disk when ``cache_dir`` is given.
3. **mapping** -- the texture -> colour permutation ``pi`` of the synergy label. It has its own stream, so it
   is the same whatever was rendered or cached (the public code draws it from the generator that rendered the
   images, so its first-ever run gets another mapping: ``docs/trifeature.md``).

Pairs (:func:`make_bimodal_pairs`) are ordered pairs ``(i, j)`` of images of one split with the same shape
(``i = j`` allowed): the shape is shared (redundancy), the texture of each image is unique to it (uniqueness),
and ``synergy = 1[colour_j == pi(texture_i)]`` needs both images. The ``biased`` training set keeps only the
pairs with label 1, so during self-supervised training the texture of image 1 determines the colour of
image 2. Probe labels: ``redundancy`` (shape, 10 classes), ``unique1``/``unique2`` (texture of image 1/2, 10
classes), ``synergy`` (2 classes); score them with balanced accuracy on unbiased pairs, select models on the
validation split, never on test.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ._dataset import as_generator
from ._trifeature_cache import TrifeatureCacheWarning, load_cache, save_cache
from ._trifeature_render import (
    COLOUR_NAMES,
    COLOURS,
    MAX_RESOLUTION,
    MIN_RESOLUTION,
    SHAPES,
    TEXTURES,
    draw_render_params,
    render_images,
    texture_period,
)

__all__ = [
    "COLOURS", "COLOUR_NAMES", "DESIGNS", "PROBE_TASKS", "SHAPES", "SPLITS", "TEXTURES",
    "BimodalPairs", "BimodalTrifeature", "TrifeatureCacheWarning", "TrifeatureImages",
    "allowed_pair_count", "balanced_accuracy", "combination_attributes", "make_bimodal_pairs",
    "make_probe_pairs", "make_trifeature_images", "pair_factors", "render_trifeature", "split_combinations",
    "texture_period", "trifeature_ground_truth", "trifeature_mapping",
]

N_VALUES = 10  # shapes, textures and colours each
N_COMBINATIONS = N_VALUES**3
SPLITS = ("train", "val", "test")
#: Probe task -> number of classes (chance balanced accuracy is 1 / classes).
PROBE_TASKS = {"redundancy": 10, "unique1": 10, "unique2": 10, "synergy": 2}
#: Bumped whenever the renderer's output changes; part of the cache key.
RENDERER_VERSION = 1


# ------------------------------------------------------------------------------------------- streams
def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _streams(seed):
    """Independent seed sequences ``(split, render, mapping)`` of ``seed``."""
    split, render, mapping = np.random.SeedSequence(_check_seed(seed)).spawn(3)
    return split, render, mapping


def trifeature_mapping(seed=42) -> np.ndarray:
    """The texture -> colour permutation ``pi`` (``mapping[texture] = colour``) of the synergy label.

    Drawn from its own stream of ``seed``: it depends on nothing else (resolution, renders, cache).
    """
    return np.random.default_rng(_streams(seed)[2]).permutation(N_VALUES).astype(np.int64)


def combination_attributes(combination):
    """``(shape, texture, colour)`` of combination indices ``(shape * 10 + texture) * 10 + colour``."""
    c = np.asarray(combination, dtype=np.int64)
    return c // 100, (c // 10) % 10, c % 10


DESIGNS = ("balanced", "random")


def split_combinations(seed=42, test_fraction=0.2, validation_fraction=0.1, design="balanced") -> dict:
    """Combination indices of each split (sorted): ``{"train": ..., "val": ..., "test": ...}``.

    ``design="random"`` (the public code's): a random permutation of the 1,000 combinations;
    ``round(1000 * test_fraction)`` go to test, ``round(n_rest * validation_fraction)`` of the others to
    validation, the rest to train.

    ``design="balanced"`` (default): random Latin-square classes. With random permutations ``a, b, c`` of
    ``0..9``, combination ``(s, t, k)`` is in class ``(a[s] + b[t] + c[k]) mod 10``; each class holds 100
    combinations and every (shape, texture), (shape, colour) and (texture, colour) pair exactly once. Whole
    classes, in a random order, make the splits: ``10 * test_fraction`` classes for test (must be an
    integer), ``round(n_rest_classes * validation_fraction)`` (at least 1 when the fraction is positive) for
    validation, the rest for train -- 700/100/200 combinations by default. So within every split each shape
    has every texture and every colour equally often, which makes the synergy label *exactly* independent
    of either image alone (``P(synergy = 1 | image) = 1/10`` for every image). With the random design this
    only holds on average: on a 200-combination test split a single image's (shape, colour) predicts the
    label with balanced accuracy ~0.6, and probes trained on the train split transfer below chance
    (the split's counts of a texture in train and test are anti-correlated).
    """
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {list(DESIGNS)}, got {design!r}")
    for name, value in (("test_fraction", test_fraction), ("validation_fraction", validation_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    rng = np.random.default_rng(_streams(seed)[0])
    if design == "random":
        perm = rng.permutation(N_COMBINATIONS)
        n_test = int(round(N_COMBINATIONS * float(test_fraction)))
        n_val = int(round((N_COMBINATIONS - n_test) * float(validation_fraction)))
        parts = {"test": perm[:n_test], "val": perm[n_test:n_test + n_val], "train": perm[n_test + n_val:]}
    else:
        n_test = N_VALUES * float(test_fraction)
        if abs(n_test - round(n_test)) > 1e-9:
            raise ValueError(f"the balanced design needs test_fraction in multiples of 0.1, "
                             f"got {test_fraction!r}")
        n_test = int(round(n_test))
        n_val = int(round((N_VALUES - n_test) * float(validation_fraction)))
        n_val = max(n_val, 1) if validation_fraction > 0 else 0
        if n_test + n_val >= N_VALUES:
            raise ValueError("test_fraction and validation_fraction leave no training combinations")
        a, b, c = (rng.permutation(N_VALUES) for _ in range(3))
        order = rng.permutation(N_VALUES)
        shape, texture, colour = combination_attributes(np.arange(N_COMBINATIONS))
        cls = (a[shape] + b[texture] + c[colour]) % N_VALUES
        combos = np.arange(N_COMBINATIONS)
        parts = {"test": combos[np.isin(cls, order[:n_test])],
                 "val": combos[np.isin(cls, order[n_test:n_test + n_val])],
                 "train": combos[np.isin(cls, order[n_test + n_val:])]}
    return {k: np.sort(parts[k]) for k in SPLITS}


# ------------------------------------------------------------------------------------------ rendering
def _check_resolution(resolution) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) \
            or not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"resolution must be an int in [{MIN_RESOLUTION}, {MAX_RESOLUTION}], "
                         f"got {resolution!r}")
    return int(resolution)


def render_trifeature(shapes, textures, colours, resolution=224, random_state=None, *, device="cpu",
                      num_threads=1, return_params=False):
    """Render Trifeature images of the given attribute indices (each in ``0..9``).

    Parameters
    ----------
    shapes, textures, colours : array_like of int, shape (n,)
        Indices into :data:`SHAPES`, :data:`TEXTURES` and :data:`COLOURS`.
    resolution : int
        Image side in pixels, 32 to 224; shapes and texture periods scale with it
        (texture period ``max(6, 10 * resolution / 224)`` px).
    random_state : int, numpy.random.Generator or None
        Source of the per-image rotations, positions, texture phases and random cells.
    device : str or torch.device
        Where the tensor ops run (the result is always a numpy array).
    num_threads : int or None
        Torch intra-op threads while rendering on the CPU (restored afterwards); ``None`` keeps the global
        setting. 1 is the robust default (:func:`~synergy_lab.data._trifeature_render.render_images`).
    return_params : bool
        Also return the dict of per-image parameters.

    Returns
    -------
    numpy.ndarray, uint8, shape (n, 3, resolution, resolution)
        (and the parameters if ``return_params``).
    """
    res = _check_resolution(resolution)
    attrs = [np.asarray(a) for a in (shapes, textures, colours)]
    if any(a.ndim != 1 for a in attrs) or len({len(a) for a in attrs}) != 1:
        raise ValueError("shapes, textures and colours must be 1-D arrays of the same length")
    for name, a in zip(("shapes", "textures", "colours"), attrs, strict=True):
        if a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= N_VALUES):
            raise ValueError(f"{name} must be integers in [0, {N_VALUES - 1}]")
    rng = as_generator(random_state)
    params = draw_render_params(attrs[0].astype(np.int64), res, rng)
    images = render_images(*attrs, params, res, device=device, num_threads=num_threads)
    return (images, params) if return_params else images


@dataclass
class TrifeatureImages:
    """Rendered Trifeature images with their attributes, split and synergy mapping.

    Attributes
    ----------
    images : numpy.ndarray, uint8, shape (n, 3, H, W)
    shape, texture, colour : numpy.ndarray, int64, shape (n,)
        Attribute indices (into :data:`SHAPES`, :data:`TEXTURES`, :data:`COLOURS`).
    split : numpy.ndarray, int8, shape (n,)
        Index into :data:`SPLITS` (0 train, 1 val, 2 test).
    mapping : numpy.ndarray, int64, shape (10,)
        ``mapping[texture] = colour`` pairs of the synergy label (:func:`trifeature_mapping`).
    params : dict
        The arguments, plus ``cache_path`` (or None) and ``from_cache``.
    """

    images: np.ndarray
    shape: np.ndarray
    texture: np.ndarray
    colour: np.ndarray
    split: np.ndarray
    mapping: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def resolution(self) -> int:
        return int(self.images.shape[-1])

    @property
    def combination(self) -> np.ndarray:
        return (self.shape * N_VALUES + self.texture) * N_VALUES + self.colour

    def indices(self, split: str) -> np.ndarray:
        """Image indices of one split (ascending)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        return np.flatnonzero(self.split == SPLITS.index(split))

    def combinations(self, split: str) -> np.ndarray:
        """The distinct combinations of one split (sorted)."""
        return np.unique(self.combination[self.indices(split)])


def _layout(seed, renders, test_fraction, validation_fraction, design):
    """Attributes of every image, in dataset order: train, then val, then test; each combination's renders
    next to each other."""
    combos = split_combinations(seed, test_fraction, validation_fraction, design)
    combination = np.concatenate([np.repeat(combos[s], renders[s]) for s in SPLITS])
    split = np.concatenate([np.full(len(combos[s]) * renders[s], i, dtype=np.int8)
                            for i, s in enumerate(SPLITS)])
    shape, texture, colour = combination_attributes(combination)
    return {"shape": shape, "texture": texture, "colour": colour, "split": split}


def make_trifeature_images(seed=42, resolution=64, renders_per_train=3, renders_per_test=1,
                           renders_per_val=None, test_fraction=0.2, validation_fraction=0.1,
                           design="balanced", cache_dir=None, device="cpu") -> TrifeatureImages:
    """Split the 1,000 combinations, render the images (or load them from the cache) and draw the mapping.

    Parameters
    ----------
    seed : int
        Root of the three independent streams (split, render, mapping).
    resolution : int
        Image side, 32 to 224 px.
    renders_per_train, renders_per_test : int
        Images per training / test combination (the paper: 3 and 1).
    renders_per_val : int, optional
        Images per validation combination (default ``renders_per_train``).
    test_fraction : float
        Fraction of the 1,000 combinations held out for test (0.2).
    validation_fraction : float
        Fraction of the non-test combinations held out for model selection (0.1; 0 gives the paper's
        800/200 split with no validation split).
    design : {"balanced", "random"}
        How the combinations are split (:func:`split_combinations`): ``"random"`` is the public code's
        protocol (2,400/200 images with ``validation_fraction=0``); ``"balanced"`` (default) splits whole
        Latin-square classes so that the synergy label is exactly independent of each image alone in every
        split (700/100/200 combinations, 2,100/300/200 images by default).
    cache_dir : str or Path, optional
        Folder of the compressed image cache. The file name carries the seed, resolution and image count
        (plus a digest of the layout); the file stores a sha256 of its arrays. A file that is unreadable,
        truncated, altered or of another layout is reported with a :class:`TrifeatureCacheWarning` and
        rebuilt (written atomically), never used.
    device : str or torch.device
        Where the renderer's tensor ops run.
    """
    seed, res = _check_seed(seed), _check_resolution(resolution)
    renders = {"train": renders_per_train, "test": renders_per_test,
               "val": renders_per_train if renders_per_val is None else renders_per_val}
    for name, value in renders.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"renders per {name} combination must be an int >= 1, got {value!r}")
    renders = {k: int(v) for k, v in renders.items()}
    attrs = _layout(seed, renders, test_fraction, validation_fraction, design)
    count = len(attrs["shape"])
    params = {"seed": seed, "resolution": res, "renders_per_train": renders["train"],
              "renders_per_val": renders["val"], "renders_per_test": renders["test"],
              "test_fraction": float(test_fraction), "validation_fraction": float(validation_fraction),
              "design": design}
    meta = json.dumps({**params, "count": count, "renderer_version": RENDERER_VERSION}, sort_keys=True)
    path, images = None, None
    if cache_dir is not None:
        layout = hashlib.sha256(meta.encode()).hexdigest()[:12]
        path = Path(cache_dir) / f"trifeature_seed{seed}_res{res}_n{count}_{layout}.npz"
        images = load_cache(path, meta, attrs, count, res)
    from_cache = images is not None
    if images is None:
        rng = np.random.default_rng(_streams(seed)[1])
        images = render_images(attrs["shape"], attrs["texture"], attrs["colour"],
                               draw_render_params(attrs["shape"], res, rng), res, device=device)
        if path is not None:
            save_cache(path, images, attrs, meta)
    return TrifeatureImages(images=images, shape=attrs["shape"], texture=attrs["texture"],
                            colour=attrs["colour"], split=attrs["split"], mapping=trifeature_mapping(seed),
                            params={**params, "cache_path": None if path is None else str(path),
                                    "from_cache": from_cache})


# ---------------------------------------------------------------------------------------------- pairs
@dataclass
class BimodalPairs:
    """Ordered image pairs of one split and their four probe labels.

    Attributes
    ----------
    idx1, idx2 : numpy.ndarray, int64, shape (n_pairs,)
        Indices into ``TrifeatureImages.images`` of image 1 and image 2.
    labels : dict of str -> numpy.ndarray, int64
        ``redundancy`` (shared shape), ``unique1`` (texture of image 1), ``unique2`` (texture of image 2),
        ``synergy`` (``1[colour_2 == mapping[texture_1]]``).
    split : str
    biased : bool
        Whether only pairs with synergy label 1 were allowed.
    n_allowed : int
        Number of allowed pairs before sub-sampling (:func:`allowed_pair_count`).
    factors : dict of str -> (numpy.ndarray, numpy.ndarray)
        Per probe task, the factor codes of image 1 and image 2 its label depends on (:func:`pair_factors`).
    """

    idx1: np.ndarray
    idx2: np.ndarray
    labels: dict
    split: str
    biased: bool
    n_allowed: int
    factors: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.idx1.size)


def allowed_pair_count(data: TrifeatureImages, split="train", biased=False) -> int:
    """Analytic number of allowed ordered pairs of a split.

    Unbiased: ``sum_s n_s^2`` (``n_s`` images of shape ``s``). Biased: ``sum_s sum_t A[s, t] * B[s, pi(t)]``
    with ``A[s, t]`` the images of shape ``s`` and texture ``t`` and ``B[s, c]`` those of shape ``s`` and
    colour ``c``.
    """
    idx = data.indices(split)
    s, t, c = data.shape[idx], data.texture[idx], data.colour[idx]
    if not biased:
        return int(np.sum(np.bincount(s, minlength=N_VALUES).astype(np.int64) ** 2))
    a = np.zeros((N_VALUES, N_VALUES), dtype=np.int64)
    b = np.zeros((N_VALUES, N_VALUES), dtype=np.int64)
    np.add.at(a, (s, t), 1)
    np.add.at(b, (s, c), 1)
    return int(np.sum(a * b[:, data.mapping]))


def make_bimodal_pairs(data: TrifeatureImages, split="train", biased=False, max_pairs=10_000,
                       random_state=None) -> BimodalPairs:
    """All allowed ordered same-shape pairs of a split (``i = j`` allowed), sub-sampled without replacement.

    Parameters
    ----------
    data : TrifeatureImages
    split : {"train", "val", "test"}
    biased : bool
        Keep only pairs whose synergy label is 1 (the self-supervised training set for synergy).
    max_pairs : int or None
        Draw this many of the allowed pairs without replacement when there are more (the public code: 10,000);
        ``None`` keeps all. The kept pairs are in canonical order (by shape, then image 1, then image 2).
    random_state : int, numpy.random.Generator or None
        Source of the sub-sample.
    """
    if max_pairs is not None and (isinstance(max_pairs, bool) or not isinstance(max_pairs, (int, np.integer))
                                  or max_pairs < 1):
        raise ValueError(f"max_pairs must be a positive int or None, got {max_pairs!r}")
    rng = as_generator(random_state)
    idx = data.indices(split)
    first, second = [], []
    for s in range(N_VALUES):
        members = idx[data.shape[idx] == s]
        first.append(np.repeat(members, members.size))
        second.append(np.tile(members, members.size))
    i, j = np.concatenate(first), np.concatenate(second)
    synergy = data.mapping[data.texture[i]] == data.colour[j]
    if biased:
        i, j, synergy = i[synergy], j[synergy], synergy[synergy]
    n_allowed = int(i.size)
    if max_pairs is not None and n_allowed > max_pairs:
        keep = np.sort(rng.choice(n_allowed, size=int(max_pairs), replace=False))
        i, j, synergy = i[keep], j[keep], synergy[keep]
    labels = {"redundancy": data.shape[i], "unique1": data.texture[i], "unique2": data.texture[j],
              "synergy": synergy.astype(np.int64)}
    return BimodalPairs(idx1=i, idx2=j, labels=labels, split=split, biased=bool(biased), n_allowed=n_allowed,
                        factors=pair_factors(data, i, j))


def make_probe_pairs(data: TrifeatureImages, max_pairs=10_000, random_state=None) -> dict:
    """Unbiased pairs of every non-empty split, for the probes: ``{"train": ..., "val": ..., "test": ...}``.

    Fit the probes on ``train``, select models (epochs, hyper-parameters) on ``val``, report ``test``; the 4
    tasks share the pairs of a split. Each split gets its own child stream of ``random_state``.
    """
    rng = as_generator(random_state)
    children = rng.spawn(len(SPLITS))
    return {s: make_bimodal_pairs(data, s, biased=False, max_pairs=max_pairs, random_state=child)
            for s, child in zip(SPLITS, children, strict=True) if data.indices(s).size}


def balanced_accuracy(y_true, y_pred) -> float:
    """Mean over the classes present in ``y_true`` of the recall (chance: 1 / classes); scikit-learn's
    ``balanced_accuracy_score`` on non-empty, equally long label vectors."""
    from sklearn.metrics import balanced_accuracy_score

    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError("y_true and y_pred must be non-empty and of the same length")
    return float(balanced_accuracy_score(y_true, y_pred))


def pair_factors(data: TrifeatureImages, idx1, idx2) -> dict:
    """Per probe task, the factor codes ``(f1, f2)`` of image 1 and image 2 that its label depends on.

    ``redundancy``: (shape of image 1, shape of image 2) -- equal, the shared factor; ``unique1``:
    (texture of image 1, constant); ``unique2``: (constant, texture of image 2); ``synergy``: (texture of
    image 1, colour of image 2). The exact PID of the pairs' table of ``(f1, f2, label)`` is the truth of
    :func:`trifeature_ground_truth`.
    """
    i, j = np.asarray(idx1), np.asarray(idx2)
    zero = np.zeros(i.size, dtype=np.int64)
    return {"redundancy": (data.shape[i], data.shape[j]), "unique1": (data.texture[i], zero),
            "unique2": (zero, data.texture[j]), "synergy": (data.texture[i], data.colour[j])}


def trifeature_ground_truth(pairs: BimodalPairs, measure: str = "broja"):
    """Exact PID of every probe task on a pair set: ``decompose`` of the table of (f1, f2, label) over the
    pairs (:func:`pair_factors`). The labels are functions of the factors, so this is the PID of the pair
    distribution itself, not an estimate; e.g. unbiased synergy pairs give S = I(F1, F2; Y) = H(Y) and no
    R or U. Returns a DataFrame with the columns of ``synergy_lab.data.GROUND_TRUTH_COLUMNS``."""
    from ..pid import decompose
    from ._dataset import ground_truth_row, ground_truth_table
    from .gates import empirical_table

    rows = []
    for task, (f1, f2) in pairs.factors.items():
        y = pairs.labels[task]
        codes = [np.unique(np.asarray(a), return_inverse=True)[1].reshape(-1) for a in (f1, f2, y)]
        rows.append(ground_truth_row(task, decompose(empirical_table(*codes), measure=measure)))
    return ground_truth_table(rows)


class BimodalTrifeature:
    """Pairs of images as uint8 tensors on one device, served in batches (augment them on that device).

    ``images`` is moved to ``device`` once (2,600 images at 224 px are 390 MB), so a batch is one index
    operation and the data pipeline never waits for a CPU loader.
    """

    def __init__(self, data: TrifeatureImages, pairs: BimodalPairs, device="cpu"):
        self.device = torch.device(device)
        self.images = torch.from_numpy(data.images).to(self.device)
        self.idx1 = torch.from_numpy(pairs.idx1).to(self.device)
        self.idx2 = torch.from_numpy(pairs.idx2).to(self.device)
        self.labels = {k: torch.from_numpy(v).to(self.device) for k, v in pairs.labels.items()}
        self.pairs = pairs

    def __len__(self) -> int:
        return int(self.idx1.numel())

    def __getitem__(self, index):
        """``(x1, x2, labels)`` of pair(s) ``index`` (int, slice or index tensor)."""
        return (self.images[self.idx1[index]], self.images[self.idx2[index]],
                {k: v[index] for k, v in self.labels.items()})

    def batches(self, batch_size=64, shuffle=True, generator=None, drop_last=False):
        """Iterate over ``(x1, x2, labels)`` batches, in an order drawn from ``generator``."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        n = len(self)
        gen_device = generator.device if generator is not None else torch.device("cpu")
        order = torch.randperm(n, generator=generator, device=gen_device) if shuffle else torch.arange(n)
        order = order.to(self.device)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            yield self[order[start:start + batch_size]]
