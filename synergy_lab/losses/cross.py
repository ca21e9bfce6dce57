"""Cross (CLIP, Radford et al. 2021) loss: only cross-modal negatives, learnable logit scale.

L = 1/2 [ CE(s Z1 Z2^T, I) + CE(s Z2 Z1^T, I) ] with s = exp(t), t_0 = log(1/0.07), t <= log(100) (s <= 100).
The public code gathers without gradient; here the gather keeps it (see :mod:`._distributed`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import full_precision
from .infonce import prepare_pair


def _check_scale(scale) -> Tensor | float:
    if isinstance(scale, Tensor):
        if scale.numel() != 1:
            raise ValueError(f"scale must be a scalar, got a tensor of shape {tuple(scale.shape)}")
        if not bool(torch.isfinite(scale).all() & (scale > 0).all()):
            raise ValueError(f"scale must be finite and > 0, got {scale.item()}")
        return scale.reshape(())
    if (
        isinstance(scale, bool)
        or not isinstance(scale, (int, float))
        or not math.isfinite(scale)
        or scale <= 0
    ):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    return float(scale)


def _clip_loss(z1: Tensor, z2: Tensor, scale: Tensor | float) -> Tensor:
    logits = scale * (z1 @ z2.T)  # (B, B); row i: z1_i against every z2_j
    labels = torch.arange(z1.shape[0], device=z1.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def clip_loss(z1: Tensor, z2: Tensor, scale, *, gather: bool = True) -> Tensor:
    """Symmetric CLIP loss with logit scale ``scale``.

    Parameters
    ----------
    z1, z2 : Tensor
        (B, d) L2-normalised projections of modality 1 and 2; row i of each form a positive pair.
    scale : float or Tensor
        Logit scale s > 0 (= 1 / temperature); a 0-d tensor keeps its gradient.
    gather : bool
        All-gather z1 and z2 over the process group first (with gradient).

    Returns
    -------
    Tensor
        0-d float32 loss (autocast disabled).
    """
    scale = _check_scale(scale)
    z1, z2 = prepare_pair("z1", z1, "z2", z2, gather)
    with full_precision(z1):
        if isinstance(scale, Tensor):
            scale = scale.to(z1.dtype)
        return _clip_loss(z1, z2, scale)


class CLIPLoss(nn.Module):
    """CLIP loss with a learnable log-scale ``logit_scale`` = t (an ``nn.Parameter``), s = exp(t).

    Parameters
    ----------
    init_temperature : float
        Initial temperature; t_0 = log(1 / init_temperature) (CLIP: 0.07).
    max_scale : float
        Upper bound on s. Before every forward, t is clamped in place to <= log(max_scale) (as CLIP does after
        each optimiser step), so the gradient of t stays alive at the bound (an out-of-place clamp would
        zero it for good).
    learnable : bool
        If False, t is a buffer and s stays 1 / init_temperature.
    gather : bool
        All-gather the embeddings over the process group first (with gradient).
    """

    def __init__(
        self,
        init_temperature: float = 0.07,
        max_scale: float = 100.0,
        learnable: bool = True,
        gather: bool = True,
    ):
        super().__init__()
        if not (init_temperature > 0 and max_scale > 0 and 1.0 / init_temperature <= max_scale):
            raise ValueError(
                "need init_temperature > 0 and 0 < 1/init_temperature <= max_scale, "
                f"got {init_temperature}, {max_scale}"
            )
        t0 = torch.tensor(math.log(1.0 / init_temperature))
        if learnable:
            self.logit_scale = nn.Parameter(t0)
        else:
            self.register_buffer("logit_scale", t0)
        self.max_log_scale = math.log(max_scale)
        self.gather = bool(gather)

    @property
    def scale(self) -> Tensor:
        """Current s = exp(min(t, log max_scale))."""
        return self.logit_scale.clamp(max=self.max_log_scale).exp()

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        with torch.no_grad():
            self.logit_scale.clamp_(max=self.max_log_scale)
        return clip_loss(z1, z2, self.logit_scale.exp(), gather=self.gather)

    def extra_repr(self) -> str:
        return f"max_log_scale={self.max_log_scale:.4f}"
