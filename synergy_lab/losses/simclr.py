"""SimCLR loss (Chen et al. 2020): NT-Xent (:mod:`.infonce`) between two augmentations of one input."""

from __future__ import annotations

from torch import Tensor, nn

from ._checks import check_temperature
from .infonce import nt_xent


def simclr_loss(z_a: Tensor, z_b: Tensor, temperature: float = 0.1, *, gather: bool = True) -> Tensor:
    """l_tau(g(e(x')), g(e(x''))).

    Parameters
    ----------
    z_a, z_b : Tensor
        (B, d) L2-normalised projections of the two augmentations.
    temperature : float
        tau > 0.
    gather : bool
        All-gather over the process group first (with gradient).

    Returns
    -------
    Tensor
        0-d float32 loss.
    """
    return nt_xent(z_a, z_b, temperature, gather=gather)


class SimCLRLoss(nn.Module):
    """Module form of :func:`simclr_loss`; ``forward(z_a, z_b)``."""

    def __init__(self, temperature: float = 0.1, gather: bool = True):
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.gather = bool(gather)

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        return simclr_loss(z_a, z_b, self.temperature, gather=self.gather)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
