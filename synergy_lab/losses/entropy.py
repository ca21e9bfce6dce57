"""Entropy surrogate from a Stein score estimator (Li & Turner, ICLR 2018; docs/methods.md).

For L2-normalised samples k_1..k_B of a distribution q on the sphere, the kernel K_ij = exp(k_i.k_j / h) with
bandwidth h = max(h_min, median_ij(1 - k_i.k_j)) (the median over all B^2 pairs, diagonal included, taken as
the floor(B^2/2)-th largest value), the kernel gradients
G_i = sum_j grad_{k_j} K(k_i, k_j) = (sum_j K_ij) k_i/h,
and the ridge-regularised estimator S = -(K + eta I)^{-1} G ~ grad log q(k_i) give the surrogate

    H~ = (1/B) sum_i -sg(S_i) . k_i,

whose gradient with respect to the samples, -S_i / B ~ -grad log q(k_i) / B, is the reparametrised gradient of
the entropy H(q) = -E log q. Its value is not the entropy; only its gradient is meaningful. Subtracting
beta * H~ from a loss therefore maximises the entropy of the embeddings (anti-collapse). Cost O(B^2 d + B^3);
the linear system is solved with ``torch.linalg.solve`` (never an explicit inverse), on the input's device, in
float64 (float32 on MPS), since K + eta I is badly conditioned for tight clusters.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_nonnegative, check_normalised, check_tensor, full_precision, to_float32
from ._distributed import gather_with_grad


@torch.no_grad()
def stein_score(keys: Tensor, eta: float = 0.01, min_bandwidth: float = 0.1) -> Tensor:
    """Stein estimate S (B, d) of grad log q at each of the (B, d) unit-norm ``keys``; no gradient."""
    b, dtype = keys.shape[0], keys.dtype
    # K has entries up to e^{1/h_min} = e^10 against a ridge of 0.01: solve in float64 if the device has it.
    keys = keys.to(torch.float32 if keys.device.type == "mps" else torch.float64)
    dots = keys @ keys.T
    kth = max(1, (b * b) // 2)
    median = torch.topk((1.0 - dots).flatten(), kth).values[-1]
    h = torch.clamp(median, min=min_bandwidth)
    kernel = torch.exp(dots / h)
    grads = kernel.sum(dim=1, keepdim=True) * keys / h
    eye = torch.eye(b, dtype=keys.dtype, device=keys.device)
    return -torch.linalg.solve(kernel + eta * eye, grads).to(dtype)


def _entropy_surrogate(keys: Tensor, eta: float, min_bandwidth: float) -> Tensor:
    """H~ for one set of (B, d) prepared keys."""
    score = stein_score(keys, eta, min_bandwidth)
    return -(score * keys).sum() / keys.shape[0]


def entropy_penalty(
    keys: Tensor, eta: float = 0.01, min_bandwidth: float = 0.1, *, gather: bool = True
) -> Tensor:
    """Entropy surrogate H~ (module docs), averaged over sets of samples; subtract ``beta * H~`` from a loss.

    Parameters
    ----------
    keys : Tensor
        (B, d) L2-normalised samples, or (m, B, d): m sets, each handled separately and the m values averaged
        (e.g. the T masked views, or a stack of all z^a_S).
    eta : float
        Ridge added to the kernel matrix (0.01 in the public code).
    min_bandwidth : float
        Lower bound h_min on the kernel bandwidth (0.1 in the public code).
    gather : bool
        All-gather the batch dimension over the process group first (with gradient).

    Returns
    -------
    Tensor
        0-d surrogate whose gradient is the entropy gradient (its value is not an entropy).
    """
    if not isinstance(keys, Tensor) or keys.ndim not in (2, 3):
        shape = tuple(keys.shape) if isinstance(keys, Tensor) else type(keys).__name__
        raise ValueError(f"keys must be a (B, d) or (m, B, d) tensor, got {shape}")
    check_normalised("keys", check_tensor("keys", keys, keys.ndim))
    eta = check_nonnegative("eta", eta)
    min_bandwidth = check_nonnegative("min_bandwidth", min_bandwidth)
    if min_bandwidth == 0:
        raise ValueError("min_bandwidth must be > 0")
    sets = keys if keys.ndim == 3 else keys.unsqueeze(0)
    if gather:
        sets = gather_with_grad(sets, dim=1)
    sets = to_float32(sets)
    with full_precision(sets):
        return torch.stack([_entropy_surrogate(s, eta, min_bandwidth) for s in sets]).mean()
