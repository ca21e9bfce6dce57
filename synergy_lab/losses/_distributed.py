"""All-gather that keeps gradients, so the contrastive losses see the global batch under DDP.

Convention: every rank gathers all embeddings and computes the *same* global-batch loss. The backward of
:func:`gather_with_grad` all-reduces (sums) the incoming gradient and returns this rank's slice, so rank r
receives ``sum_r' dL_r'/dx_r = W * dL/dx_r``; DDP's gradient averaging over the W ranks then yields exactly
the gradient of single-process training on the global batch (for encoder parameters, and for parameters of
the loss itself, such as the CLIP scale or the FactorCL critics, whose gradients are identical on all ranks).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    """World size of the default process group; 1 when torch.distributed is absent or uninitialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class _AllGather(torch.autograd.Function):
    """Concatenate the shards of all ranks along dim 0; backward: all-reduce (sum), take the local slice."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        x = x.contiguous()
        shards = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(shards, x)
        return torch.cat(shards, dim=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def gather_with_grad(x: Tensor, dim: int = 0) -> Tensor:
    """All-gather ``x`` along ``dim`` from every rank, differentiably; identity in a single process.

    Parameters
    ----------
    x : Tensor
        The local shard, e.g. (B, d) embeddings or (T, B, d) masked views (then ``dim=1``). Every rank must
        pass the same shape (use ``drop_last=True`` in the data loader); this is not checked, to avoid an
        extra collective.
    dim : int
        The batch dimension to concatenate along.

    Returns
    -------
    Tensor
        Shape of ``x`` with ``dim`` multiplied by the world size, ordered by rank. Gradients flow back to the
        local shard (see the module docstring for the scaling convention). When
        ``torch.distributed`` is unavailable, not initialised, or has world size 1, ``x`` itself is returned.
    """
    if world_size() == 1:
        return x
    if dim == 0:
        return _AllGather.apply(x)
    return _AllGather.apply(x.movedim(dim, 0)).movedim(0, dim)
