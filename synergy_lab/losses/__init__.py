"""Losses of InfMasking and its baselines (docs/methods.md): an ``nn.Module`` and a functional twin each.

All contrastive losses take L2-normalised (B, d) projections (checked; ``ValueError`` naming the argument
otherwise), run in float32 with autocast disabled, follow their inputs' device, and all-gather the batch with
gradient when a process group with world size > 1 exists (single-process otherwise; see :mod:`._distributed`).
"""

from ._distributed import gather_with_grad, world_size
from .cmc import CMCLoss, cmc_loss
from .comm import CoMMLoss, comm_loss
from .cross import CLIPLoss, clip_loss
from .cross_self import CrossSelfLoss, cross_self_loss
from .entropy import entropy_penalty, stein_score
from .factorcl import TERMS as FACTORCL_TERMS
from .factorcl import ConcatCritic, FactorCLLoss, club_bound, factorcl_objective, nce_bound
from .infmasking import InfMaskingLoss, infmasking_loss, lambda_ramp, masked_view_loss
from .infonce import NTXent, nt_xent
from .simclr import SimCLRLoss, simclr_loss
from .supervised import SupervisedLoss, supervised_loss

__all__ = [
    "gather_with_grad",
    "world_size",
    "nt_xent",
    "NTXent",
    "masked_view_loss",
    "lambda_ramp",
    "infmasking_loss",
    "InfMaskingLoss",
    "entropy_penalty",
    "stein_score",
    "comm_loss",
    "CoMMLoss",
    "clip_loss",
    "CLIPLoss",
    "cross_self_loss",
    "CrossSelfLoss",
    "simclr_loss",
    "SimCLRLoss",
    "cmc_loss",
    "CMCLoss",
    "FactorCLLoss",
    "ConcatCritic",
    "FACTORCL_TERMS",
    "nce_bound",
    "club_bound",
    "factorcl_objective",
    "supervised_loss",
    "SupervisedLoss",
]
