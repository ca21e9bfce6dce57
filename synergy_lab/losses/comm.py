"""CoMM loss (Dufumier et al. 2025; docs/methods.md): InfoNCE between each modality subset and the fusion.

For each S in {{1}, ..., {n}, [n]},  L_S = 1/2 [ l_tau(z'_S, z'') + l_tau(z''_S, z') ],
and L_[n] = l_tau(z', z'') (l_tau is symmetric, so the general formula reduces to it). z'_S, z''_S are the
projections of the two augmentations with only the modalities in S fed to the fusion.

The CoMM paper writes L = -I(Z'; Z'') - sum_i 1/2 (I(Z_i; Z') + I(Z_i; Z'')), a *sum* over the n+1 terms;
the public code (and this module) takes the (optionally weighted) *mean* mean_k(w_k L_k) over the n+1 terms,
i.e. the sum divided by n+1: the same relative weights and optimum, a uniform rescaling of the gradient.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._checks import (
    check_temperature,
    check_views,
    check_weights,
    full_precision,
    weighted_mean,
)
from .infonce import _nt_xent, gather_cast, validate_pair


def prepare_subsets(z_a, z_b, uni_a, uni_b, gather: bool):
    """Validate z_a, z_b (B, d) and the two lists of subset projections; gather and upcast all of them."""
    validate_pair("z_a", z_a, "z_b", z_b)
    uni_a, uni_b = check_views("uni_a", uni_a, like=z_a), check_views("uni_b", uni_b, like=z_a)
    if len(uni_a) != len(uni_b):
        raise ValueError(f"uni_a and uni_b must have the same length n, got {len(uni_a)} and {len(uni_b)}")
    z_a, z_b = gather_cast(z_a, gather), gather_cast(z_b, gather)
    return z_a, z_b, [gather_cast(x, gather) for x in uni_a], [gather_cast(x, gather) for x in uni_b]


def _comm_terms(z_a: Tensor, z_b: Tensor, uni_a: list[Tensor], uni_b: list[Tensor], tau: float) -> Tensor:
    """[L_{1}, ..., L_{n}, L_[n]] as a (n+1,) tensor, on prepared inputs."""
    terms = [
        0.5 * (_nt_xent(s_a, z_b, tau) + _nt_xent(s_b, z_a, tau))
        for s_a, s_b in zip(uni_a, uni_b, strict=True)
    ]
    terms.append(_nt_xent(z_a, z_b, tau))
    return torch.stack(terms)


def comm_loss(
    z_a: Tensor,
    z_b: Tensor,
    uni_a: Sequence[Tensor],
    uni_b: Sequence[Tensor],
    temperature: float = 0.1,
    weights: Sequence[float] | None = None,
    *,
    gather: bool = True,
    return_terms: bool = False,
):
    """CoMM loss mean_k(w_k L_k) over S in {{1}, ..., {n}, [n]}.

    Parameters
    ----------
    z_a, z_b : Tensor
        (B, d) L2-normalised projections of the full input under augmentations ' and ''.
    uni_a, uni_b : sequence of Tensor
        n tensors (B, d) each: z'_S and z''_S for S = {1}, ..., {n} (any proper subsets work the same way).
    temperature : float
        tau > 0 (0.1 in all CoMM runs).
    weights : sequence of float, optional
        n+1 non-negative weights in the order [L_{1}, ..., L_{n}, L_[n]]; default all ones (a plain mean).
    gather : bool
        All-gather every embedding over the process group first (with gradient).
    return_terms : bool
        Also return the (n+1,) tensor of unweighted terms (with gradient), e.g. for logging.

    Returns
    -------
    Tensor or (Tensor, Tensor)
        The 0-d loss (float32), and the (n+1,) terms if ``return_terms``.
    """
    tau = check_temperature(temperature)
    z_a, z_b, uni_a, uni_b = prepare_subsets(z_a, z_b, uni_a, uni_b, gather)
    w = check_weights(weights, len(uni_a) + 1)
    with full_precision(z_a):
        terms = _comm_terms(z_a, z_b, uni_a, uni_b, tau)
        loss = weighted_mean(terms, w)
    return (loss, terms) if return_terms else loss


class CoMMLoss(nn.Module):
    """Module form of :func:`comm_loss`; ``forward(z_a, z_b, uni_a, uni_b, return_terms=False)``."""

    def __init__(self, temperature: float = 0.1, weights: Sequence[float] | None = None, gather: bool = True):
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.weights = None if weights is None else tuple(check_weights(weights, len(weights)))
        self.gather = bool(gather)

    def forward(self, z_a, z_b, uni_a, uni_b, return_terms: bool = False):
        return comm_loss(
            z_a,
            z_b,
            uni_a,
            uni_b,
            self.temperature,
            self.weights,
            gather=self.gather,
            return_terms=return_terms,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, weights={self.weights}"
