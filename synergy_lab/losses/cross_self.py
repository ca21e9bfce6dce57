"""Cross+Self loss (docs/methods.md): a cross-modal NT-Xent plus the two unimodal SimCLR losses.

L = l_tau(h1(e1(x1)), h2(e2(x2)))
    + s * 1/2 [ l_tau(h1(e1(x1')), h1(e1(x1''))) + l_tau(h2(e2(x2')), h2(e2(x2''))) ],
with s = ``ssl_scale`` (1 in the public configs). Cross pairs use the cross-modal transform, self pairs the
SimCLR augmentations; this module only sees the resulting projections.
"""

from __future__ import annotations

from torch import Tensor, nn

from ._checks import check_nonnegative, check_temperature, full_precision
from .infonce import _nt_xent, prepare_pair


def cross_self_loss(
    z1: Tensor,
    z2: Tensor,
    z1_a: Tensor,
    z1_b: Tensor,
    z2_a: Tensor,
    z2_b: Tensor,
    temperature: float = 0.1,
    ssl_scale: float = 1.0,
    *,
    gather: bool = True,
) -> Tensor:
    """Cross+Self loss over given projections.

    Parameters
    ----------
    z1, z2 : Tensor
        (B, d) L2-normalised projections h1(e1(x1)), h2(e2(x2)) of the cross-modal pair.
    z1_a, z1_b : Tensor
        (B1, d) L2-normalised projections of two SimCLR augmentations of modality 1.
    z2_a, z2_b : Tensor
        (B2, d) the same for modality 2.
    temperature : float
        tau > 0.
    ssl_scale : float
        s >= 0, the weight of the self (unimodal) terms.
    gather : bool
        All-gather over the process group first (with gradient).

    Returns
    -------
    Tensor
        0-d float32 loss.
    """
    tau, scale = check_temperature(temperature), check_nonnegative("ssl_scale", ssl_scale)
    z1, z2 = prepare_pair("z1", z1, "z2", z2, gather)
    z1_a, z1_b = prepare_pair("z1_a", z1_a, "z1_b", z1_b, gather)
    z2_a, z2_b = prepare_pair("z2_a", z2_a, "z2_b", z2_b, gather)
    with full_precision(z1):
        self_terms = 0.5 * (_nt_xent(z1_a, z1_b, tau) + _nt_xent(z2_a, z2_b, tau))
        return _nt_xent(z1, z2, tau) + scale * self_terms


class CrossSelfLoss(nn.Module):
    """Module form of :func:`cross_self_loss`; ``forward(z1, z2, z1_a, z1_b, z2_a, z2_b)``."""

    def __init__(self, temperature: float = 0.1, ssl_scale: float = 1.0, gather: bool = True):
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.ssl_scale = check_nonnegative("ssl_scale", ssl_scale)
        self.gather = bool(gather)

    def forward(
        self, z1: Tensor, z2: Tensor, z1_a: Tensor, z1_b: Tensor, z2_a: Tensor, z2_b: Tensor
    ) -> Tensor:
        return cross_self_loss(
            z1, z2, z1_a, z1_b, z2_a, z2_b, self.temperature, self.ssl_scale, gather=self.gather
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, ssl_scale={self.ssl_scale}"
