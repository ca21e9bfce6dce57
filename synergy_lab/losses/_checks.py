"""Input validation and float32 computation shared by the losses (private).

Every public loss validates its inputs once here, then calls private cores that assume valid, float32 inputs.
Errors are ``ValueError``/``TypeError`` naming the offending argument, never ``assert``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import torch
from torch import Tensor

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def check_temperature(temperature) -> float:
    """Return ``temperature`` as a float after checking that it is finite and > 0."""
    t = _as_float("temperature", temperature)
    if not t > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    return t


def check_nonnegative(name: str, value) -> float:
    """Return ``value`` as a float after checking that it is finite and >= 0."""
    v = _as_float(name, value)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def _as_float(name: str, value) -> float:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def check_tensor(name: str, x, ndim: int) -> Tensor:
    """Check that ``x`` is a floating tensor with ``ndim`` dimensions, none of them empty."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim != ndim or 0 in x.shape:
        raise ValueError(f"{name} must be a non-empty {ndim}-d tensor, got shape {tuple(x.shape)}")
    return x


def check_same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """Raise if two tensors differ in shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_normalised(name: str, x: Tensor) -> Tensor:
    """Check that every row (last dimension) of ``x`` has unit L2 norm, within a dtype-dependent tolerance.

    The tolerance is 1e-3 for float32/float64 and 2e-2 for float16/bfloat16. NaN or inf fails the check.
    """
    tol = 2e-2 if x.dtype in _LOW_PRECISION else 1e-3
    err = (torch.linalg.vector_norm(x.detach().float(), dim=-1) - 1.0).abs().max()
    if not bool(err <= tol):  # also catches NaN
        raise ValueError(
            f"{name} must be L2-normalised along its last dimension "
            f"(max |norm - 1| = {float(err):.3g} > {tol}); "
            "apply torch.nn.functional.normalize first"
        )
    return x


def check_views(name: str, xs, like: Tensor, like_name: str = "z_a") -> list[Tensor]:
    """Check a sequence of L2-normalised tensors, each shaped like ``like``."""
    if isinstance(xs, Tensor) or not isinstance(xs, Sequence):
        raise TypeError(f"{name} must be a list or tuple of tensors, got {type(xs).__name__}")
    for k, x in enumerate(xs):
        check_normalised(f"{name}[{k}]", check_tensor(f"{name}[{k}]", x, like.ndim))
        check_same_shape(f"{name}[{k}]", x, like_name, like)
    return list(xs)


def check_weights(weights, n_terms: int, name: str = "weights") -> list[float] | None:
    """Return ``weights`` as floats (``None`` stays ``None`` = all ones), checking length and values."""
    if weights is None:
        return None
    ws = weights.tolist() if isinstance(weights, Tensor) else list(weights)
    if len(ws) != n_terms:
        raise ValueError(f"{name} must have length {n_terms} (one per loss term), got {len(ws)}: {weights!r}")
    return [check_nonnegative(f"{name}[{k}]", w) for k, w in enumerate(ws)]


def weighted_mean(terms: Tensor, weights: list[float] | None) -> Tensor:
    """``mean_k(w_k * L_k)``: a plain mean over the terms, not normalised by ``sum(w)`` (public code)."""
    if weights is None:
        return terms.mean()
    return (terms * torch.tensor(weights, dtype=terms.dtype, device=terms.device)).mean()


def to_float32(x: Tensor) -> Tensor:
    """Upcast float16/bfloat16 to float32; float32 and float64 are kept."""
    return x.float() if x.dtype in _LOW_PRECISION else x


def full_precision(x: Tensor):
    """Context that disables autocast on ``x``'s device, so the losses run in float32 under bf16 autocast."""
    device_type = x.device.type
    if torch.amp.autocast_mode.is_autocast_available(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()
