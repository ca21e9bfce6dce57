"""gather_with_grad: identity in one process; over 2 gloo processes the losses and DDP-averaged gradients
equal single-process training on the global batch."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from synergy_lab.losses import CLIPLoss, gather_with_grad, masked_view_loss, nt_xent, world_size

B, D, T = 4, 5, 3  # per-rank batch


def test_single_process_is_identity():
    assert not dist.is_initialized() and world_size() == 1
    x = torch.randn(3, 4, requires_grad=True)
    assert gather_with_grad(x) is x
    assert gather_with_grad(x, dim=1) is x


def problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    data = torch.randn(4, 2 * B, D, generator=gen)  # x, y and two more views for the masked keys
    keys = torch.randn(T, 2 * B, D, generator=gen)
    weight = torch.randn(D, D, generator=gen)
    return data, keys, weight


def losses(weight, x, y, keys, clip):
    u, v = F.normalize(x @ weight, dim=-1), F.normalize(y @ weight, dim=-1)
    k = F.normalize(keys @ weight, dim=-1)
    return torch.stack([nt_xent(u, v, 0.1), masked_view_loss(u, k, 0.1, 1.0), clip(u, v)])


def worker(rank, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        data, keys, weight = problem()
        weight.requires_grad_()
        clip = CLIPLoss()
        shard = slice(rank * B, (rank + 1) * B)
        values = losses(weight, data[0, shard], data[1, shard], keys[:, shard], clip)
        values.sum().backward()
        for p in (weight, clip.logit_scale):  # what DDP does: average the gradients over ranks
            dist.all_reduce(p.grad)
            p.grad /= 2
        torch.save(
            {"values": values.detach(), "grad": weight.grad, "scale_grad": clip.logit_scale.grad},
            f"{out_dir}/rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_matches_single_process(tmp_path):
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is unavailable")
    # fork (as DataLoader workers do on Linux) avoids re-importing torch in each child: ~1 s instead of ~15 s.
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(
        worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True, start_method=method
    )
    data, keys, weight = problem()
    weight.requires_grad_()
    clip = CLIPLoss()
    values = losses(weight, data[0], data[1], keys, clip)
    values.sum().backward()
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        torch.testing.assert_close(got["values"], values.detach())
        torch.testing.assert_close(got["grad"], weight.grad)
        torch.testing.assert_close(got["scale_grad"], clip.logit_scale.grad)
