"""Process group from torchrun's environment, device choice, and seeded data sharding.

Data-parallel convention: ``optim.batch_size`` is the *global* batch. For every step all ranks compute the
same global batch indices (a permutation of the training pairs seeded by ``(seed, epoch)``, drop-last), and
rank r takes the contiguous slice ``[r * B / W, (r + 1) * B / W)`` of it: a DistributedSampler with explicit
seeds, except that the global batch (not each rank's stream) is what the seed fixes. Since the losses gather
the embeddings of all ranks in rank order (:func:`synergy_lab.losses.gather_with_grad`), a contrastive loss
under DDP sees exactly the global batch of a single-process run.

Random numbers are never drawn from an evolving global state: the generator of stream ``s`` at step ``t`` is
seeded by :func:`derive_seed` ``(seed, s, t)``. Draws that must agree across ranks (vector augmentations,
token masks) use a shared stream and are drawn for the whole global batch, then sliced; per-image
augmentations use a per-rank stream ``(seed, s, t, rank)``. So the random state after any step is a function
of ``(seed, step)``, and resuming from a checkpoint replays an uninterrupted run exactly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

#: Random streams (the second key of :func:`derive_seed`).
STREAM_INIT, STREAM_ORDER, STREAM_SHARED, STREAM_LOCAL, STREAM_DATA = 1, 2, 3, 4, 5


def derive_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed for ``(seed, *keys)`` from numpy's SeedSequence (independent streams per key tuple)."""
    state = np.random.SeedSequence([int(seed), *(int(k) for k in keys)]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """Order of the ``n`` training pairs in ``epoch`` (CPU int64), the same on every rank and device."""
    gen = torch.Generator().manual_seed(derive_seed(seed, STREAM_ORDER, epoch))
    return torch.randperm(n, generator=gen)


def rank_slice(global_batch: int, rank: int, world_size: int) -> slice:
    """Rank ``rank``'s contiguous share of a global batch (``global_batch`` must divide by ``world_size``)."""
    if global_batch % world_size:
        raise ValueError(f"optim.batch_size ({global_batch}) must be divisible by the world size "
                         f"({world_size})")
    local = global_batch // world_size
    return slice(rank * local, (rank + 1) * local)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank, world size, local rank, and whether :func:`init_distributed` made
    the process group (then :func:`cleanup_distributed` destroys it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    created_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_*``).

    An existing process group is used as it is. Otherwise, with ``WORLD_SIZE > 1`` in the environment, a
    group is created with backend ``nccl`` on CUDA and ``gloo`` on CPU (``init_method="env://"``); with no
    or a unit ``WORLD_SIZE`` the run is single-process.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        return DistInfo(rank, world, _env_int("LOCAL_RANK", rank), False)
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but torch.distributed is not available in this torch build")
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world)
    return DistInfo(rank, world, local_rank, True)


def cleanup_distributed(info: DistInfo, synchronise: bool = True) -> None:
    """Destroy the process group if :func:`init_distributed` created it (after a barrier if
    ``synchronise``; skip it when leaving on an error, since the other ranks may never reach it)."""
    if info.created_group and dist.is_initialized():
        if synchronise:
            dist.barrier()
        dist.destroy_process_group()


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; under several CUDA ranks, rank-local ``cuda:LOCAL_RANK``."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {spec!r} requested but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def device_type(spec: str) -> str:
    """``"cuda"`` or ``"cpu"`` for a device spec (``"auto"`` resolved)."""
    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(spec).type


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()
