"""The image data sources of the registry: early checks of their parameters, and random images.

Rendering Trifeature takes seconds to minutes, so :func:`check_trifeature_params` validates a parameter set
up front (a training config fails before anything is drawn). :func:`make_random_images` builds
Trifeature-shaped uint8 images with random labels on a device, for throughput checks. Nothing here imports
torch at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._validate import check_choice, check_float, check_int

#: Largest image side the CNN encoders take (the paper's 224 px).
MAX_TRAIN_RESOLUTION = 224


def _check_resolution(prefix: str, value) -> int:
    res = check_int(f"{prefix}resolution", value, 32)
    if res > MAX_TRAIN_RESOLUTION:
        raise ValueError(f"{prefix}resolution must be <= {MAX_TRAIN_RESOLUTION}, got {res}")
    return res


def check_trifeature_params(params: dict, prefix: str = "") -> None:
    """Validate a complete Trifeature parameter set; messages start with ``prefix`` + the parameter name."""
    from .trifeature import DESIGNS

    _check_resolution(prefix, params["resolution"])
    for key in ("renders_per_train", "renders_per_val", "renders_per_test"):
        check_int(f"{prefix}{key}", params[key], 1, optional=True)
    check_float(f"{prefix}test_fraction", params["test_fraction"], 0.0, 1.0, lo_open=True, hi_open=True)
    check_float(f"{prefix}validation_fraction", params["validation_fraction"], 0.0, 1.0, hi_open=True)
    check_choice(f"{prefix}design", params["design"], DESIGNS)
    tenths = params["test_fraction"] * 10
    if params["design"] == "balanced" and abs(tenths - round(tenths)) > 1e-9:
        raise ValueError(f"{prefix}test_fraction: the balanced design splits whole tenths (multiples of "
                         f"0.1), got {params['test_fraction']!r}")
    if params["cache_dir"] is not None and not isinstance(params["cache_dir"], str):
        raise TypeError(f"{prefix}cache_dir must be a folder path string, got {params['cache_dir']!r}")


def check_random_image_params(params: dict, prefix: str = "") -> None:
    """Validate the parameters of :func:`make_random_images` (as :func:`check_trifeature_params`)."""
    _check_resolution(prefix, params["resolution"])
    check_int(f"{prefix}n_classes", params["n_classes"], 2)


@dataclass
class RandomImages:
    """Two modalities of random uint8 images ``(n, 3, R, R)`` and random ``labels`` (torch tensors)."""

    x1: object
    x2: object
    labels: object


def make_random_images(n_samples: int = 1000, resolution: int = 224, n_classes: int = 10,
                       random_state: int = 0, device="cpu") -> RandomImages:
    """Trifeature-shaped random images with random labels, drawn on ``device`` from ``random_state``.

    Probes on them are meaningless (the labels are independent of the images); they measure throughput.
    """
    import torch

    check_int("n_samples", n_samples, 1)
    check_random_image_params({"resolution": resolution, "n_classes": n_classes})
    check_int("random_state", random_state, 0)
    gen = torch.Generator(device=device).manual_seed(random_state)
    xs = [torch.randint(0, 256, (n_samples, 3, resolution, resolution), generator=gen, device=device,
                        dtype=torch.uint8) for _ in range(2)]
    labels = torch.randint(0, n_classes, (n_samples,), generator=gen, device=device)
    return RandomImages(xs[0], xs[1], labels)
