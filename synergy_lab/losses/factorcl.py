"""FactorCL-SSL objective (Liang et al., NeurIPS 2023): shared and unique information by NCE/CLUB.

With a concat critic f(a, b) = MLP([a; b]) and the score matrix F_ij = f(a_i, b_j) over a batch,

    I_NCE  = mean_i F_ii - mean_i log mean_j exp(F_ij)     (InfoNCE lower bound, :func:`nce_bound`)
    I_CLUB = mean_i F_ii - mean_ij F_ij                     (NCE-CLUB upper bound, :func:`club_bound`)

and the loss, conditioning on the augmentations by concatenating [h(x); h(x')],

    L = -I_NCE(X1; X2) + I_CLUB(X1; X2 | X1', X2')                                   (shared)
        - I_NCE(X1; X1') - I_NCE(X2; X2') + I_CLUB(X1; X2) - I_NCE(X1; X2 | X1', X2')  (unique).

Each term has its own projection heads (10 heads, owned by the model) and its own critic (owned by
:class:`FactorCLLoss`). The two CLUB critics are not trained by L: in a separate step they maximise I_NCE of
their own scores on detached embeddings (:meth:`FactorCLLoss.critic_loss`, ``num_club_iter = 1``).

Optimisers: the main one owns the backbones, all heads and ``loss.nce_parameters()``; the critic one owns
``loss.club_parameters()`` only. :meth:`FactorCLLoss.forward` uses detached CLUB-critic weights, so the main
backward never writes gradients into the CLUB critics. The conditional CLUB term uses [h(x); h(x')] as the
Duplums fork does (the original SSL code used [h(x); h(x)]).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_tensor, to_float32
from ._distributed import gather_with_grad

#: Term order of :meth:`FactorCLLoss.forward` and :func:`factorcl_objective`, with the sign of each in L.
TERMS = ("nce_x1x2", "club_x1x2_cond", "nce_x1_aug", "nce_x2_aug", "club_x1x2", "nce_x1x2_cond")
_SIGNS = (-1.0, 1.0, -1.0, -1.0, 1.0, -1.0)
_CONDITIONAL = ("club_x1x2_cond", "nce_x1x2_cond")


def nce_bound(scores: Tensor) -> Tensor:
    """InfoNCE estimate mean_i F_ii - mean_i log mean_j exp(F_ij) from a (B, B) score matrix (float32)."""
    scores = scores.float() if scores.dtype != torch.float64 else scores
    lse = torch.logsumexp(scores, dim=1) - math.log(scores.shape[1])
    return scores.diagonal().mean() - lse.mean()


def club_bound(scores: Tensor) -> Tensor:
    """NCE-CLUB estimate mean_i F_ii - mean_ij F_ij from a (B, B) score matrix (float32)."""
    scores = scores.float() if scores.dtype != torch.float64 else scores
    return scores.diagonal().mean() - scores.mean()


def factorcl_objective(*scores: Tensor) -> Tensor:
    """Functional twin: L from the six (B, B) score matrices, in the order of :data:`TERMS`."""
    if len(scores) != len(TERMS):
        raise ValueError(
            f"factorcl_objective needs {len(TERMS)} score matrices in the order {TERMS}, got {len(scores)}"
        )
    bounds = [
        (club_bound if name.startswith("club") else nce_bound)(s)
        for name, s in zip(TERMS, scores, strict=True)
    ]
    return sum(sign * b for sign, b in zip(_SIGNS, bounds, strict=True))


class ConcatCritic(nn.Module):
    """Critic f(a, b) = MLP([a; b]).

    Layers: Linear(d_a + d_b, hidden), ReLU, (layers - 1) x [Linear(hidden, hidden), ReLU], Linear(hidden, 1).
    The all-pairs scores split the first layer, W [a; b] = W_a a + W_b b, so the (B, B) matrix costs
    O(B (d_a + d_b) hidden + B^2 hidden) without materialising the B^2 concatenations.
    """

    def __init__(self, dim_a: int, dim_b: int, hidden: int = 512, layers: int = 1):
        super().__init__()
        if min(dim_a, dim_b, hidden, layers) < 1:
            raise ValueError(
                f"dims, hidden and layers must be >= 1, got {dim_a}, {dim_b}, {hidden}, {layers}"
            )
        self.dim_a = dim_a
        self.first = nn.Linear(dim_a + dim_b, hidden)
        self.mid = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))
        self.out = nn.Linear(hidden, 1)

    def scores(self, a: Tensor, b: Tensor, detach_params: bool = False) -> Tensor:
        """(B, B) scores F_ij = f(a_i, b_j) for a (B, d_a), b (B, d_b); ``detach_params``: no weight grads."""
        p = (lambda w: w.detach()) if detach_params else (lambda w: w)
        w = p(self.first.weight)
        h = F.linear(a, w[:, : self.dim_a]).unsqueeze(1) + F.linear(b, w[:, self.dim_a :], p(self.first.bias))
        h = torch.relu(h)
        for layer in self.mid:
            h = torch.relu(F.linear(h, p(layer.weight), p(layer.bias)))
        return F.linear(h, p(self.out.weight), p(self.out.bias)).squeeze(-1)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Paired scores f(a_i, b_i), shape (B,)."""
        return self.out(self._stack(torch.relu(self.first(torch.cat([a, b], dim=-1))))).squeeze(-1)

    def _stack(self, h: Tensor) -> Tensor:
        for layer in self.mid:
            h = torch.relu(layer(h))
        return h


class FactorCLLoss(nn.Module):
    """FactorCL-SSL loss owning the six critics; see the module docstring for the formula and the optimisers.

    Parameters
    ----------
    dim : int
        Output dimension of every projection head (conditional critics take 2 * dim per side).
    hidden : int
        Critic hidden width (512 in FactorCL).
    layers : int
        Number of hidden layers of each critic (1 in FactorCL).
    gather : bool
        All-gather the embeddings over the process group first (with gradient).

    Notes
    -----
    Arguments of :meth:`forward`, one per term: unconditional terms take a pair ``(a, b)`` of (B, dim) head
    outputs; conditional terms take ``(a, a_aug, b, b_aug)`` and condition by concatenation:
    [a; a_aug] against [b; b_aug].
    ``nce_x1x2 = (h1(x1), h2(x2))``, ``club_x1x2_cond = (h3(x1), h3(x1'), h4(x2), h4(x2'))``,
    ``nce_x1_aug = (h5(x1), h5(x1'))``, ``nce_x2_aug = (h6(x2), h6(x2'))``, ``club_x1x2 = (h7(x1), h8(x2))``,
    ``nce_x1x2_cond = (h9(x1), h9(x1'), h10(x2), h10(x2'))``.
    """

    def __init__(self, dim: int, hidden: int = 512, layers: int = 1, gather: bool = True):
        super().__init__()
        self.dim, self.gather = int(dim), bool(gather)
        self.critics = nn.ModuleDict(
            {
                t: ConcatCritic(*((2 * dim, 2 * dim) if t in _CONDITIONAL else (dim, dim)), hidden, layers)
                for t in TERMS
            }
        )

    def nce_parameters(self):
        """Parameters of the four InfoNCE critics: give them to the main optimiser."""
        return [p for t in TERMS if t.startswith("nce") for p in self.critics[t].parameters()]

    def club_parameters(self):
        """Parameters of the two CLUB critics: give them to the critic optimiser only."""
        return [p for t in TERMS if t.startswith("club") for p in self.critics[t].parameters()]

    def _pair(self, term: str, views, detach: bool = False) -> tuple[Tensor, Tensor]:
        n = 4 if term in _CONDITIONAL else 2
        if isinstance(views, Tensor) or not isinstance(views, (tuple, list)) or len(views) != n:
            raise ValueError(f"{term} must be a tuple of {n} (B, {self.dim}) tensors")
        for k, x in enumerate(views):
            check_tensor(f"{term}[{k}]", x, 2)
            if x.shape != (views[0].shape[0], self.dim):
                raise ValueError(
                    f"{term}[{k}] must have shape ({views[0].shape[0]}, {self.dim}), got {tuple(x.shape)}"
                )
        views = [v.detach() if detach else v for v in views]
        if self.gather:
            views = [gather_with_grad(v) for v in views]
        if n == 4:
            return torch.cat(views[:2], dim=1), torch.cat(views[2:], dim=1)
        return views[0], views[1]

    def forward(
        self,
        nce_x1x2,
        club_x1x2_cond,
        nce_x1_aug,
        nce_x2_aug,
        club_x1x2,
        nce_x1x2_cond,
        return_terms: bool = False,
    ):
        """Main loss L (0-d float32); with ``return_terms`` also the (6,) bounds in :data:`TERMS` order."""
        args = dict(
            zip(
                TERMS,
                (nce_x1x2, club_x1x2_cond, nce_x1_aug, nce_x2_aug, club_x1x2, nce_x1x2_cond),
                strict=True,
            )
        )
        pairs = {t: self._pair(t, v) for t, v in args.items()}
        batch = {t: a.shape[0] for t, (a, _) in pairs.items()}
        if len(set(batch.values())) != 1:
            raise ValueError(f"all terms must share the batch size, got {batch}")
        bounds = []
        for t in TERMS:
            scores = self.critics[t].scores(*pairs[t], detach_params=t.startswith("club"))
            bounds.append((club_bound if t.startswith("club") else nce_bound)(scores))
        bounds = torch.stack([to_float32(b) for b in bounds])
        loss = (bounds * torch.tensor(_SIGNS, dtype=bounds.dtype, device=bounds.device)).sum()
        return (loss, bounds) if return_terms else loss

    def critic_loss(self, club_x1x2, club_x1x2_cond) -> Tensor:
        """Critic step loss -[I_NCE(club critic) + I_NCE(conditional club critic)] on detached inputs.

        Backward only reaches :meth:`club_parameters`; step the critic optimiser on it after the main step.
        The public code recomputes the embeddings after the main step; reusing them (detached) is cheaper.
        """
        total = 0.0
        for t, views in (("club_x1x2", club_x1x2), ("club_x1x2_cond", club_x1x2_cond)):
            total = total - nce_bound(self.critics[t].scores(*self._pair(t, views, detach=True)))
        return total

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
