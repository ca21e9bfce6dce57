"""InfMasking loss (docs/methods.md): CoMM terms plus a closed-form term over infinitely many masked views.

**Masked-view term.** Anchor q_i (the full fused projection of one augmentation), keys k_{t,i}, t = 1..T
(the T masked views of the *same* augmentation), mu_i = (1/T) sum_t k_{t,i} (not renormalised), Sigma_i the
biased covariance of the k_{t,i}. Then

    L_mask = (1/B) sum_i [ -q_i.mu_i/tau + log(exp(q_i.mu_i/tau + lam q_i^T Sigma_i q_i / (2 tau^2)) + N_i) ],
    N_i = sum_t sum_{j!=i} exp(q_i.k_{t,j}/tau) + sum_{j!=i} exp(q_i.q_j/tau)

(T(B-1) masked negatives and B-1 anchor-anchor negatives). q^T Sigma q = (1/T) sum_t ((k_t - mu).q)^2 is the
variance over t of the projections q.k_t, so the term costs O(BTd) (the negatives O(TB^2 d)); no d x d matrix
is ever formed.

**Interpretation (upper bound).** Model the masked embedding over the infinite family of random masks as
m ~ N(mu_i, lam Sigma_i). The Gaussian moment generating function gives E[e^{q.m/tau}] =
exp(q.mu/tau + lam q^T Sigma q / (2 tau^2)), and Jensen's inequality (log is concave) gives
E_m[-log(e^{q.m/tau} / (e^{q.m/tau} + N))] = E_m[-q.m/tau + log(e^{q.m/tau} + N)]
<= -q.mu/tau + log(E_m[e^{q.m/tau}] + N), which is L_mask. So L_mask upper-bounds the expected InfoNCE loss
with infinitely many masked positives (equivalently, its negative is a Gaussian-based lower bound on the MI).
tau enters twice (logit scale and tau^-2 on the variance); lam scales the assumed covariance, and a larger
masked-view spread increases the loss only through the denominator.

**Total.** [L_mask(z', {m'_t}), L_mask(z'', {m''_t}), L_{1}, ..., L_{n}, L_[n]] (n+3 terms, CoMM terms
as in :mod:`.comm`), loss = mean_k(w_k L_k) (a plain mean, not divided by sum(w)), optionally minus beta * H~
(:mod:`.entropy`). lam is ramped linearly over epochs by :func:`lambda_ramp`.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._checks import (
    check_nonnegative,
    check_normalised,
    check_same_shape,
    check_temperature,
    check_tensor,
    check_weights,
    full_precision,
    weighted_mean,
)
from .comm import _comm_terms, prepare_subsets
from .entropy import _entropy_surrogate
from .infonce import gather_cast

_ENTROPY_ON = ("embeddings", "masked")


def _validate_masked(name_q: str, q: Tensor, name_k: str, keys: Tensor) -> None:
    check_normalised(name_q, check_tensor(name_q, q, 2))
    if isinstance(keys, Tensor) and keys.ndim == 3 and keys.shape[0] < 1:
        raise ValueError(f"{name_k} must hold T >= 1 masked views, got shape {tuple(keys.shape)}")
    check_normalised(name_k, check_tensor(name_k, keys, 3))
    check_same_shape(f"{name_k}[t]", keys[0], name_q, q)


def _masked_view_loss(q: Tensor, keys: Tensor, tau: float, lam: float) -> Tensor:
    """Closed-form L_mask on prepared (float32, gathered) q (B, d) and keys (T, B, d)."""
    t, b, _ = keys.shape
    qk = torch.einsum("id,tjd->itj", q, keys)  # q_i . k_{t,j}, (B, T, B)
    proj = qk.diagonal(dim1=0, dim2=2)  # q_i . k_{t,i}, (T, B)
    q_mu = proj.mean(dim=0)  # q_i . mu_i
    q_sigma_q = proj.var(dim=0, unbiased=False)  # (1/T) sum_t ((k_{t,i} - mu_i) . q_i)^2
    positive = q_mu / tau + lam * q_sigma_q / (2.0 * tau * tau)
    eye = torch.eye(b, dtype=torch.bool, device=q.device)
    masked_neg = qk.masked_fill(eye.unsqueeze(1), float("-inf")).reshape(b, t * b) / tau
    anchor_neg = (q @ q.T).masked_fill(eye, float("-inf")) / tau
    logits = torch.cat([positive.unsqueeze(1), masked_neg, anchor_neg], dim=1)
    return (torch.logsumexp(logits, dim=1) - q_mu / tau).mean()


def masked_view_loss(
    q: Tensor, keys: Tensor, temperature: float, lam: float, *, gather: bool = True
) -> Tensor:
    """Closed-form masked-view loss L_mask (see the module docstring).

    Parameters
    ----------
    q : Tensor
        (B, d) anchors, rows L2-normalised (the full fused projection of one augmentation).
    keys : Tensor
        (T, B, d) masked views of the same samples, rows L2-normalised, T >= 1.
    temperature : float
        tau > 0.
    lam : float
        lam >= 0, the (already epoch-ramped, see :func:`lambda_ramp`) covariance scale; 0 gives InfoNCE with
        the mean masked view as positive.
    gather : bool
        All-gather q and keys along the batch dimension first (with gradient).

    Returns
    -------
    Tensor
        0-d float32 (float64 for float64 inputs) loss; computed with autocast disabled.
    """
    tau, lam = check_temperature(temperature), check_nonnegative("lam", lam)
    _validate_masked("q", q, "keys", keys)
    q, keys = gather_cast(q, gather), gather_cast(keys, gather, dim=1)
    with full_precision(q):
        return _masked_view_loss(q, keys, tau, lam)


def lambda_ramp(epoch: int, max_epochs: int, lam: float) -> float:
    """Linear ramp lam_e = lam (epoch + 1) / max_epochs: lam / max_epochs at epoch 0, lam at the last epoch.

    ``epoch`` is 0-based, 0 <= epoch < max_epochs. With early stopping the ramp never reaches lam.
    """
    for name, value in (("epoch", epoch), ("max_epochs", max_epochs)):
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"{name} must be an integer, got {value!r}")
    epoch, max_epochs = operator.index(epoch), operator.index(max_epochs)
    if max_epochs < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs}")
    if not 0 <= epoch < max_epochs:
        raise ValueError(
            f"epoch must be in [0, max_epochs - 1] = [0, {max_epochs - 1}] (0-based), got {epoch}"
        )
    return check_nonnegative("lam", lam) * (epoch + 1) / max_epochs


def infmasking_loss(
    z_a: Tensor,
    z_b: Tensor,
    uni_a: Sequence[Tensor],
    uni_b: Sequence[Tensor],
    masked_a: Tensor,
    masked_b: Tensor,
    temperature: float,
    lam: float,
    weights: Sequence[float] | None = None,
    *,
    beta: float = 0.0,
    entropy_on: str = "embeddings",
    gather: bool = True,
    return_terms: bool = False,
):
    """Total InfMasking loss: mean_k(w_k L_k) over n+3 terms, minus beta * H~.

    Parameters
    ----------
    z_a, z_b : Tensor
        (B, d) L2-normalised full fused projections z', z'' of the two augmentations.
    uni_a, uni_b : sequence of Tensor
        n tensors (B, d) each: unimodal-subset projections z'_{i}, z''_{i}.
    masked_a, masked_b : Tensor
        (T, B, d) L2-normalised masked views m'_t (keys of anchor z') and m''_t (keys of anchor z'').
    temperature : float
        tau > 0.
    lam : float
        Epoch-ramped covariance scale lam_e >= 0 (:func:`lambda_ramp`).
    weights : sequence of float, optional
        n+3 non-negative weights in the order [L_mask', L_mask'', L_{1}, ..., L_{n}, L_[n]]; default ones.
        The public runs use [1, 1, 1, 1, 5] for n = 2.
    beta : float
        Weight of the entropy surrogate (default 0: off).
    entropy_on : {"embeddings", "masked"}
        Sets the surrogate averages over: every z^a_S of both augmentations, or the 2T masked views.
    gather : bool
        All-gather every embedding along its batch dimension first (with gradient).
    return_terms : bool
        Also return the (n+3,) unweighted terms (with gradient), e.g. for logging.

    Returns
    -------
    Tensor or (Tensor, Tensor)
        The 0-d float32 loss, and the terms if ``return_terms``.
    """
    tau, lam = check_temperature(temperature), check_nonnegative("lam", lam)
    beta = check_nonnegative("beta", beta)
    if entropy_on not in _ENTROPY_ON:
        raise ValueError(f"entropy_on must be one of {_ENTROPY_ON}, got {entropy_on!r}")
    _validate_masked("z_a", z_a, "masked_a", masked_a)
    _validate_masked("z_b", z_b, "masked_b", masked_b)
    check_same_shape("masked_a", masked_a, "masked_b", masked_b)
    z_a, z_b, uni_a, uni_b = prepare_subsets(z_a, z_b, uni_a, uni_b, gather)
    w = check_weights(weights, len(uni_a) + 3)
    masked_a, masked_b = gather_cast(masked_a, gather, dim=1), gather_cast(masked_b, gather, dim=1)
    with full_precision(z_a):
        mask_terms = torch.stack(
            [_masked_view_loss(z_a, masked_a, tau, lam), _masked_view_loss(z_b, masked_b, tau, lam)]
        )
        terms = torch.cat([mask_terms, _comm_terms(z_a, z_b, uni_a, uni_b, tau)])
        loss = weighted_mean(terms, w)
        if beta > 0:
            sets = [z_a, *uni_a, z_b, *uni_b] if entropy_on == "embeddings" else [*masked_a, *masked_b]
            loss = loss - beta * torch.stack([_entropy_surrogate(s, 0.01, 0.1) for s in sets]).mean()
    return (loss, terms) if return_terms else loss


class InfMaskingLoss(nn.Module):
    """Module form of :func:`infmasking_loss` that applies the lam ramp: ``forward(..., epoch)``.

    Parameters
    ----------
    temperature, lam : float
        tau > 0 and the final covariance scale lam >= 0 (Trifeatures: 0.1 and 1).
    max_epochs : int
        E_max of the ramp lam_e = lam (e + 1) / E_max.
    weights, beta, entropy_on, gather
        As in :func:`infmasking_loss`.
    """

    def __init__(
        self,
        temperature: float = 0.1,
        lam: float = 1.0,
        max_epochs: int = 100,
        weights: Sequence[float] | None = None,
        beta: float = 0.0,
        entropy_on: str = "embeddings",
        gather: bool = True,
    ):
        super().__init__()
        self.temperature, self.lam = check_temperature(temperature), check_nonnegative("lam", lam)
        lambda_ramp(0, max_epochs, self.lam)  # validates max_epochs
        self.max_epochs = int(max_epochs)
        self.weights = None if weights is None else tuple(check_weights(weights, len(weights)))
        self.beta = check_nonnegative("beta", beta)
        if entropy_on not in _ENTROPY_ON:
            raise ValueError(f"entropy_on must be one of {_ENTROPY_ON}, got {entropy_on!r}")
        self.entropy_on, self.gather = entropy_on, bool(gather)

    def forward(self, z_a, z_b, uni_a, uni_b, masked_a, masked_b, epoch: int, return_terms: bool = False):
        views = (z_a, z_b, uni_a, uni_b, masked_a, masked_b)
        lam_e = lambda_ramp(epoch, self.max_epochs, self.lam)
        options = dict(
            beta=self.beta, entropy_on=self.entropy_on, gather=self.gather, return_terms=return_terms
        )
        return infmasking_loss(*views, self.temperature, lam_e, self.weights, **options)

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, lam={self.lam}, max_epochs={self.max_epochs}, "
            f"weights={self.weights}, beta={self.beta}"
        )
