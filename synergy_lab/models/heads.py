"""Projection head ``g``: Linear-Norm-ReLU-...-Linear, L2-normalised output, per-view BatchNorm statistics.

The public code calls its head once per view, so each BatchNorm sees the statistics of one view
(``(B, E)``: one augmentation, one modality subset or one masked copy). When the views are stacked for a
batched call, a plain BatchNorm over ``V * B`` rows would mix them. :class:`ViewBatchNorm1d`
takes ``(V, B, C)`` and normalises every view with its own batch mean and variance, shared affine
parameters, and updates the running statistics exactly as V successive ``nn.BatchNorm1d`` calls would.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

_NORMS = ("batch", "layer", "none")


class ViewBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` with statistics per view.

    Input ``(B, C)`` (one view: exactly ``nn.BatchNorm1d``) or ``(V, B, C)``. In training, view ``v`` is
    normalised with the biased mean and variance of its own ``B`` rows and the shared affine parameters,
    and the running statistics are updated exactly as by ``V`` successive ``nn.BatchNorm1d`` calls in view
    order (momentum ``m``: view ``v`` enters with weight ``m (1 - m)^(V-1-v)``, unbiased variance). In eval
    every view uses the running statistics. It is one fused ``F.batch_norm`` on the ``(B, V * C)`` layout
    (every view-channel pair is its own channel). Same parameters and buffers as ``nn.BatchNorm1d``, so
    state dicts are interchangeable; ``momentum=None`` (cumulative average) is not supported.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True):
        if momentum is None:
            raise ValueError("ViewBatchNorm1d needs a float momentum (cumulative averaging is not supported)")
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.num_features
        if x.ndim not in (2, 3) or x.shape[-1] != c:
            raise ValueError(f"expected (B, {c}) or (V, B, {c}), got {tuple(x.shape)}")
        use_batch = self.training or not self.track_running_stats
        if use_batch and x.shape[-2] < 2:
            raise ValueError(f"batch statistics need at least 2 rows per view, got {x.shape[-2]}")
        if x.ndim == 2:
            return super().forward(x)
        v, b, _ = x.shape
        if not use_batch:  # running statistics: no cross-view interaction
            return super().forward(x.reshape(v * b, c)).view(v, b, c)
        x2 = x.transpose(0, 1).reshape(b, v * c)
        weight = self.weight.repeat(v) if self.affine else None
        bias = self.bias.repeat(v) if self.affine else None
        stats = None
        if self.training and self.track_running_stats:  # momentum 1: the buffers receive this batch's stats
            stats = (self.running_mean.new_zeros(v * c), self.running_var.new_ones(v * c))
        y = F.batch_norm(x2, *(stats or (None, None)), weight, bias, True, 1.0, self.eps)
        if stats is not None:
            with torch.no_grad():
                m = float(self.momentum)
                w = m * (1.0 - m) ** torch.arange(v - 1, -1, -1, dtype=stats[0].dtype, device=x.device)
                for buf, new in zip((self.running_mean, self.running_var), stats, strict=True):
                    buf.mul_((1.0 - m) ** v).add_((w[:, None] * new.view(v, c)).sum(0))
                self.num_batches_tracked.add_(v)
        return y.view(b, v, c).transpose(0, 1)


class ProjectionHead(nn.Module):
    """``g``: ``n_layers`` linear layers with Norm-ReLU between them, then L2 normalisation.

    The default is the public code's head ``Linear(E, 512)-BN-ReLU-Linear(512, 512)-BN-ReLU-Linear(512, 256)``
    (BatchNorm per view, :class:`ViewBatchNorm1d`).

    Parameters
    ----------
    in_dim : int
        Input width ``E``.
    hidden : int, default 512
    out_dim : int, default 256
    n_layers : int, default 3
        Number of linear layers (1: a single linear map, no norm).
    norm : {"batch", "layer", "none"}, default "batch"
        ``"batch"``: per-view BatchNorm; ``"layer"``: LayerNorm (per sample, no cross-sample statistics).
    normalize : bool, default True
        L2-normalise the output.

    Shapes
    ------
    ``(B, E) -> (B, d)``; ``(V, B, E) -> (V, B, d)`` with BatchNorm statistics per view; a list of
    ``(B_v, E)`` views -> a list of ``(B_v, d)`` (stacked into one call when all ``B_v`` are equal).
    """

    def __init__(self, in_dim: int, hidden: int = 512, out_dim: int = 256, n_layers: int = 3,
                 norm: str = "batch", normalize: bool = True):
        super().__init__()
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
        if n_layers < 1 or min(in_dim, hidden, out_dim) < 1:
            raise ValueError(f"need n_layers >= 1 and positive widths, got {n_layers}, "
                             f"{(in_dim, hidden, out_dim)}")
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(n_layers - 1):
            layers.append(nn.Linear(width, hidden))
            if norm == "batch":
                layers.append(ViewBatchNorm1d(hidden))
            elif norm == "layer":
                layers.append(nn.LayerNorm(hidden))
            layers.append(nn.ReLU(inplace=True))
            width = hidden
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim, self.norm, self.normalize = in_dim, out_dim, norm, normalize

    def forward(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        if isinstance(x, (list, tuple)):
            if len({v.shape for v in x}) == 1:
                return list(self.forward(torch.stack(list(x))).unbind(0))
            return [self.forward(v) for v in x]
        if x.ndim not in (2, 3) or x.shape[-1] != self.in_dim:
            raise ValueError(f"expected (B, {self.in_dim}) or (V, B, {self.in_dim}), got {tuple(x.shape)}")
        z = self.net(x)
        return F.normalize(z.float(), dim=-1) if self.normalize else z
