"""Training and probe data as tensors on the training device.

Every source comes from the :mod:`synergy_lab.data` registry (``make(name, ...)``); how its pairs are drawn
depends on the source:

* Vector generators: the training pairs are ``make(name, n_samples=n_train,
  pairing=data.pairing, random_state=seed)``; the probe pairs are one unbiased draw of ``n_probe + n_val``
  pairs from the *same* seed (hence the same embeddings and the same permutation pi), split into the
  probe-fit and held-out parts.
* ``trifeature``: the images of ``make("trifeature", ...)`` go to the
  device once as uint8; every pair set (biased or unbiased training pairs, unbiased probe pairs of the
  train, validation and test splits) is a pair of index vectors into them, so a batch is one gather on the
  device and 10,000 pairs of 224-px images never exist as 3 GB of copies. The probes are fitted on train
  pairs and scored on validation pairs (for model selection) and test pairs (reported); the public code
  selects its checkpoint on test (docs/trifeature.md).
* ``synthetic_images``: Trifeature-shaped random uint8 images (two modalities of 3 x R x R, default
  R = 224) with random labels, generated on the device from the seed, for throughput checks. Probes on it
  are meaningless (random labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.registry import check_parameters, has_biased_pairing, make
from ..methods import DataSpec
from .config import TrainConfig
from .distributed import STREAM_DATA, derive_seed


@dataclass
class PairData:
    """Row-aligned modalities and integer ``targets`` (name -> (n,)), all on one device.

    ``sources[m]`` holds the rows of modality ``m``; ``rows[m][i]`` is the source row of pair ``i``
    (``rows=None``: pair ``i`` is row ``i`` of every source). Index-based pairs share one image tensor.
    ``factors`` (numpy, CPU): per target, the codes ``(f1, f2)`` of the latent factors of each modality that
    the target depends on, one per pair (for :func:`synergy_lab.evaluate.readout_pid`); empty if unknown.
    """

    sources: list[torch.Tensor]
    targets: dict
    rows: list[torch.Tensor] | None = None
    factors: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int((self.rows or self.sources)[0].shape[0])

    def gather(self, index: torch.Tensor) -> list[torch.Tensor]:
        """The modalities of the pairs ``index``."""
        if self.rows is None:
            return [x[index] for x in self.sources]
        return [x[r[index]] for x, r in zip(self.sources, self.rows, strict=True)]

    def batch(self, index: torch.Tensor, target: str | None = None) -> dict:
        """``{"xs": [...], "y": targets[target] or None}`` for the pairs ``index``."""
        y = self.targets[target][index] if target is not None else None
        return {"xs": self.gather(index), "y": y}

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(x.shape[1:]) for x in self.sources)

    def split(self, n_first: int) -> tuple[PairData, PairData]:
        """The first ``n_first`` pairs and the rest."""
        halves = []
        for part in (slice(None, n_first), slice(n_first, None)):
            targets = {k: v[part] for k, v in self.targets.items()}
            factors = {k: (f1[part], f2[part]) for k, (f1, f2) in self.factors.items()}
            if self.rows is None:
                halves.append(PairData([x[part] for x in self.sources], targets, factors=factors))
            else:
                halves.append(PairData(self.sources, targets, [r[part] for r in self.rows], factors))
        return halves[0], halves[1]


@dataclass
class RunData:
    """Training pairs, probe-fit pairs and the held-out pair sets (``test`` only for Trifeature).

    ``ground_truth``: the exact PID of each target on the probe distribution (a DataFrame with the columns of
    ``synergy_lab.data.GROUND_TRUTH_COLUMNS``), or None where the data has none (``synthetic_images``).
    """

    train: PairData
    probe: PairData
    val: PairData | None
    spec: DataSpec
    test: PairData | None = None
    ground_truth: object = None

    def held_out(self) -> dict:
        """``{split: PairData}`` of the non-empty held-out sets, the reported split last."""
        return {k: v for k, v in (("val", self.val), ("test", self.test)) if v is not None}


def _vector_pairs(ds, device) -> PairData:
    xs = [torch.as_tensor(np.asarray(x, dtype=np.float32)).to(device) for x in (ds.x1, ds.x2)]
    for i, x in enumerate(xs, start=1):
        if x.ndim != 2:
            raise ValueError(f"data.name: modality {i} of {ds.name!r} has shape {tuple(x.shape)}; the "
                             f"trainer needs (n, dim) vectors")
    targets = {k: torch.as_tensor(np.asarray(v)).long().to(device) for k, v in ds.targets.items()
               if np.asarray(v).ndim == 1 and np.issubdtype(np.asarray(v).dtype, np.integer)}
    factors = {k: v for k, v in ds.target_factors.items() if k in targets}
    return PairData(xs, targets, factors=factors)


def _synthetic_images(params: dict, n: int, seed: int, device) -> PairData:
    images = make("synthetic_images", n_samples=n, random_state=seed, device=device, **params)
    return PairData([images.x1, images.x2], {"label": images.labels})


def _check_cache_dir(cache_dir) -> None:
    """``ValueError`` naming ``data.params.cache_dir`` unless it is (or can become) a folder."""
    path = Path(cache_dir)
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                where = "" if parent == path else f" (its parent {str(parent)!r} is a file)"
                raise ValueError(f"data.params.cache_dir: {str(path)!r} is not a folder{where}")
            return


def _trifeature(config: TrainConfig, seed: int, device) -> RunData:
    from ..data.trifeature import PROBE_TASKS, make_bimodal_pairs, trifeature_ground_truth

    d = config.data
    if d.params.get("cache_dir") is not None:
        _check_cache_dir(d.params["cache_dir"])
    data = make("trifeature", seed=seed, device=device, **d.params)
    images = torch.from_numpy(data.images).to(device)

    def pairs(split, biased, max_pairs, stream):
        rng = np.random.default_rng(derive_seed(seed, STREAM_DATA, stream))
        made = make_bimodal_pairs(data, split, biased=biased, max_pairs=max_pairs, random_state=rng)
        targets = {k: torch.from_numpy(v).to(device) for k, v in made.labels.items()}
        rows = [torch.from_numpy(r).to(device) for r in (made.idx1, made.idx2)]
        return PairData([images, images], targets, rows, made.factors), made

    train, made = pairs("train", d.pairing == "biased", d.n_train, 0)
    if len(train) < d.n_train:
        raise ValueError(f"data.n_train: the {d.pairing} training split of this Trifeature layout allows "
                         f"only {made.n_allowed} pairs, fewer than data.n_train = {d.n_train}")
    probe = pairs("train", False, d.n_probe, 1)[0]
    val = pairs("val", False, d.n_val, 2)[0] if data.indices("val").size else None
    test, made_test = pairs("test", False, d.n_val, 3)
    spec = DataSpec(shapes=train.shapes, is_image=True, n_classes=dict(PROBE_TASKS))
    # The truth of the reported pairs themselves (their labels are functions of the factors).
    return RunData(train, probe, val, spec, test, trifeature_ground_truth(made_test))


def build_run_data(config: TrainConfig, device: torch.device) -> RunData:
    """Training pairs and the unbiased probe pairs of a config, on ``device``."""
    d = config.data
    seed = config.seed if d.seed is None else d.seed
    if d.name == "trifeature":
        return _trifeature(config, seed, device)
    if d.name == "synthetic_images":
        train, probe, val = (_synthetic_images(d.params, n, derive_seed(seed, STREAM_DATA, i), device)
                             for i, n in enumerate((d.n_train, d.n_probe, d.n_val)))
        classes = {"label": check_parameters(d.name, d.params)["n_classes"]}
    else:
        extra = {"pairing": d.pairing} if has_biased_pairing(d.name) else {}
        train = _vector_pairs(make(d.name, n_samples=d.n_train, random_state=seed, **extra, **d.params),
                              device)
        extra = {"pairing": "unbiased"} if extra else {}
        n_both = d.n_probe + d.n_val
        both_ds = make(d.name, n_samples=n_both, random_state=seed, **extra, **d.params)
        both = _vector_pairs(both_ds, device)
        probe, val = both.split(d.n_probe)
        classes = {k: int(max(int(v.max()) for v in (train.targets[k], both.targets[k]) if v.numel())) + 1
                   for k in train.targets}
    spec = DataSpec(shapes=train.shapes, is_image=d.is_image, n_classes=classes)
    truth = None if d.name == "synthetic_images" else both_ds.ground_truth
    return RunData(train, probe, val, spec, ground_truth=truth)
