"""Training and probe data as tensors on the training device.

* Vector generators of :mod:`synergy_lab.data`: the training pairs are ``make(name, n_samples=n_train,
  pairing=data.pairing, random_state=seed)``; the probe pairs are one unbiased draw of ``n_probe + n_val``
  pairs from the *same* seed (hence the same embeddings and the same permutation pi), split into the
  probe-fit and held-out parts.
* ``synthetic_images``: Trifeature-shaped random uint8 images (two modalities of 3 x R x R, default
  R = 224) with random labels, generated on the device from the seed: a stand-in for throughput checks
  until real Trifeature pairs are wired in. Probes on it are meaningless (random labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..methods import DataSpec
from .config import SYNTHETIC_IMAGE_PARAMS, TrainConfig
from .distributed import STREAM_DATA, derive_seed


@dataclass
class PairData:
    """Modalities ``xs`` (n, ...) and integer ``targets`` (name -> (n,)), all on one device."""

    xs: list[torch.Tensor]
    targets: dict

    def __len__(self) -> int:
        return int(self.xs[0].shape[0])

    def batch(self, index: torch.Tensor, target: str | None = None) -> dict:
        """``{"xs": [...], "y": targets[target] or None}`` for the rows ``index``."""
        y = self.targets[target][index] if target is not None else None
        return {"xs": [x[index] for x in self.xs], "y": y}


@dataclass
class RunData:
    train: PairData
    probe: PairData
    val: PairData
    spec: DataSpec


def _vector_pairs(ds, device) -> PairData:
    xs = [torch.as_tensor(np.asarray(x, dtype=np.float32)).to(device) for x in (ds.x1, ds.x2)]
    for i, x in enumerate(xs, start=1):
        if x.ndim != 2:
            raise ValueError(f"data.name: modality {i} of {ds.name!r} has shape {tuple(x.shape)}; "
                             f"the trainer "
                             f"needs (n, dim) vectors")
    targets = {k: torch.as_tensor(np.asarray(v)).long().to(device) for k, v in ds.targets.items()
               if np.asarray(v).ndim == 1 and np.issubdtype(np.asarray(v).dtype, np.integer)}
    return PairData(xs, targets)


def _split(data: PairData, n_first: int) -> tuple[PairData, PairData]:
    first = PairData([x[:n_first] for x in data.xs], {k: v[:n_first] for k, v in data.targets.items()})
    rest = PairData([x[n_first:] for x in data.xs], {k: v[n_first:] for k, v in data.targets.items()})
    return first, rest


def _synthetic_images(n: int, resolution: int, n_classes: int, seed: int, device) -> PairData:
    gen = torch.Generator(device=device).manual_seed(seed)
    xs = [torch.randint(0, 256, (n, 3, resolution, resolution), generator=gen, device=device,
                        dtype=torch.uint8) for _ in range(2)]
    targets = {"label": torch.randint(0, n_classes, (n,), generator=gen, device=device)}
    return PairData(xs, targets)


def build_run_data(config: TrainConfig, device: torch.device) -> RunData:
    """Training pairs and the unbiased probe pairs of a config, on ``device``."""
    d = config.data
    seed = config.seed if d.seed is None else d.seed
    if d.is_image:
        params = {**SYNTHETIC_IMAGE_PARAMS, **d.params}
        res, n_classes = params["resolution"], params["n_classes"]
        train = _synthetic_images(d.n_train, res, n_classes, derive_seed(seed, STREAM_DATA, 0), device)
        probe = _synthetic_images(d.n_probe, res, n_classes, derive_seed(seed, STREAM_DATA, 1), device)
        val = _synthetic_images(d.n_val, res, n_classes, derive_seed(seed, STREAM_DATA, 2), device)
        classes = {"label": n_classes}
    else:
        from ..data import make
        from ..data.registry import generator_parameters

        extra = {"pairing": d.pairing} if "pairing" in generator_parameters(d.name) else {}
        train = _vector_pairs(make(d.name, n_samples=d.n_train, random_state=seed, **extra, **d.params),
                              device)
        extra = {"pairing": "unbiased"} if extra else {}
        n_both = d.n_probe + d.n_val
        both = _vector_pairs(make(d.name, n_samples=n_both, random_state=seed, **extra, **d.params), device)
        probe, val = _split(both, d.n_probe)
        classes = {k: int(max(int(v.max()) for v in (train.targets[k], both.targets[k]) if v.numel())) + 1
                   for k in train.targets}
    shapes = tuple(tuple(x.shape[1:]) for x in train.xs)
    spec = DataSpec(shapes=shapes, is_image=d.is_image, n_classes=classes)
    return RunData(train, probe, val, spec)
