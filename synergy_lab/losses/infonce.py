"""The NT-Xent loss shared by every contrastive objective (docs/methods.md).

For U, V in R^{B x d} with unit rows,

    l_tau(U, V) = -(1/2B) sum_i [ log e^{u_i.v_i/tau} / (sum_j e^{u_i.v_j/tau} + sum_{j!=i} e^{u_i.u_j/tau})
                             + log e^{v_i.u_i/tau} / (sum_j e^{v_i.u_j/tau} + sum_{j!=i} e^{v_i.v_j/tau}) ],

i.e. -mean(diag(log_softmax)) of the 2B x 2B logits [[U V^T, U U^T - inf I], [V V^T - inf I, V U^T]] / tau:
each of the 2B anchors sees 1 positive and 2(B-1) negatives. The loss is symmetric in (U, V).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._checks import (
    check_normalised,
    check_same_shape,
    check_temperature,
    check_tensor,
    full_precision,
    to_float32,
)
from ._distributed import gather_with_grad


def _nt_xent(u: Tensor, v: Tensor, temperature: float) -> Tensor:
    """NT-Xent on already validated, gathered, float32 (or float64) inputs; no checks."""
    b = u.shape[0]
    uv = u @ v.T / temperature
    eye = torch.eye(b, dtype=torch.bool, device=u.device)
    uu = (u @ u.T / temperature).masked_fill(eye, float("-inf"))
    vv = (v @ v.T / temperature).masked_fill(eye, float("-inf"))
    lse_u = torch.logsumexp(torch.cat([uv, uu], dim=1), dim=1)  # anchors u_i: rows of [UV^T, UU^T]
    lse_v = torch.logsumexp(torch.cat([uv.T, vv], dim=1), dim=1)  # anchors v_i: rows of [VU^T, VV^T]
    return (lse_u + lse_v - 2.0 * uv.diagonal()).sum() / (2 * b)


def validate_pair(name_u: str, u: Tensor, name_v: str, v: Tensor) -> None:
    """Check two (B, d) L2-normalised embeddings of the same shape."""
    check_normalised(name_u, check_tensor(name_u, u, 2))
    check_normalised(name_v, check_tensor(name_v, v, 2))
    check_same_shape(name_u, u, name_v, v)


def gather_cast(x: Tensor, gather: bool, dim: int = 0) -> Tensor:
    """All-gather ``x`` along ``dim`` (if ``gather``) and upcast it to float32."""
    return to_float32(gather_with_grad(x, dim) if gather else x)


def prepare_pair(name_u: str, u: Tensor, name_v: str, v: Tensor, gather: bool) -> tuple[Tensor, Tensor]:
    """Validate two (B, d) L2-normalised embeddings, gather them over ranks and upcast to float32."""
    validate_pair(name_u, u, name_v, v)
    return gather_cast(u, gather), gather_cast(v, gather)


def nt_xent(u: Tensor, v: Tensor, temperature: float = 0.1, *, gather: bool = True) -> Tensor:
    """NT-Xent loss l_tau(U, V) (module docstring) with within-view negatives.

    Parameters
    ----------
    u, v : Tensor
        (B, d) embeddings of the two views, rows L2-normalised; rows i of ``u`` and ``v`` are a positive pair.
    temperature : float
        tau > 0.
    gather : bool
        All-gather ``u`` and ``v`` over the process group first (with gradient); no-op in a single process.

    Returns
    -------
    Tensor
        0-d float32 (float64 for float64 inputs) loss; computed with autocast disabled.
    """
    tau = check_temperature(temperature)
    u, v = prepare_pair("u", u, "v", v, gather)
    with full_precision(u):
        return _nt_xent(u, v, tau)


class NTXent(nn.Module):
    """Module form of :func:`nt_xent`; ``forward(u, v)`` with u, v of shape (B, d)."""

    def __init__(self, temperature: float = 0.1, gather: bool = True):
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.gather = bool(gather)

    def forward(self, u: Tensor, v: Tensor) -> Tensor:
        return nt_xent(u, v, self.temperature, gather=self.gather)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
