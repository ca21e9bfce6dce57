"""CMC loss (Tian et al. 2020; docs/methods.md): NT-Xent averaged over all pairs of modalities.

L = C(n, 2)^{-1} sum_{i<j} l_tau(h_i(e_i(x_i)), h_j(e_j(x_j))).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import torch
from torch import Tensor, nn

from ._checks import check_temperature, check_tensor, check_views, full_precision
from .infonce import _nt_xent, gather_cast


def cmc_loss(zs: Sequence[Tensor], temperature: float = 0.1, *, gather: bool = True) -> Tensor:
    """Mean over pairs i < j of l_tau(z_i, z_j).

    Parameters
    ----------
    zs : sequence of Tensor
        n >= 2 tensors (B, d), L2-normalised: the projection of each modality.
    temperature : float
        tau > 0.
    gather : bool
        All-gather over the process group first (with gradient).

    Returns
    -------
    Tensor
        0-d float32 loss.
    """
    tau = check_temperature(temperature)
    if isinstance(zs, Tensor) or not isinstance(zs, Sequence) or len(zs) < 2:
        raise ValueError(
            f"zs must be a list of n >= 2 (B, d) tensors, got {type(zs).__name__} "
            f"of length {len(zs) if hasattr(zs, '__len__') else '?'}"
        )
    check_tensor("zs[0]", zs[0], 2)
    zs = [gather_cast(z, gather) for z in check_views("zs", zs, like=zs[0], like_name="zs[0]")]
    with full_precision(zs[0]):
        return torch.stack([_nt_xent(zs[i], zs[j], tau) for i, j in combinations(range(len(zs)), 2)]).mean()


class CMCLoss(nn.Module):
    """Module form of :func:`cmc_loss`; ``forward(zs)`` with zs a list of n >= 2 (B, d) tensors."""

    def __init__(self, temperature: float = 0.1, gather: bool = True):
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.gather = bool(gather)

    def forward(self, zs: Sequence[Tensor]) -> Tensor:
        return cmc_loss(zs, self.temperature, gather=self.gather)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
