"""DDP over 2 gloo processes on CPU (torchrun's environment variables, set by hand) against one process on
the whole global batch.

With LayerNorm heads (no cross-sample statistics) the two runs compute the same global-batch loss and the
same averaged gradients, up to float rounding: the loss histories agree to 1e-5 and the parameters to 1e-4.
The exception is the attention key bias, whose gradient is exactly zero in exact arithmetic (softmax is
invariant to it): Adam normalises its rounding noise into +-lr steps, so it is not compared. With BatchNorm
heads each rank normalises its own half-batch, so DDP is not identical to single-process training; that
run is only checked to train with identical parameters on both ranks.
"""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _train_helpers import tiny_config

from synergy_lab.train import train

STEPS = 12


def _config(out_dir, norm):
    return tiny_config("infmasking", steps=STEPS, out_dir=out_dir, model={"head_norm": norm},
                       eval={"enabled": False}, data={"n_train": 256})


def _worker(rank, port, out_dir, norm):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    result = train(_config(out_dir, norm))
    assert result.world_size == 2 and not dist.is_initialized()  # the trainer cleans its group up
    torch.save({"losses": result.losses, "state": result.system.state_dict()}, f"{out_dir}/rank{rank}.pt")


def _run_ddp(out_dir, norm):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # fork avoids re-importing torch in the children; build an optimiser first so that its lazy
    # torch._dynamo import happens once here rather than in each child.
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(_worker, args=(port, out_dir, norm), nprocs=2, join=True, start_method=method)
    return [torch.load(f"{out_dir}/rank{r}.pt") for r in (0, 1)]


@pytest.fixture(autouse=True)
def _needs_gloo():
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is unavailable")


def test_ddp_two_gloo_ranks_match_one_process_on_the_global_batch(tmp_path):
    ranks = _run_ddp(str(tmp_path / "ddp"), "layer")
    single = train(_config(str(tmp_path / "single"), "layer"))
    for key, value in ranks[0]["state"].items():  # DDP keeps the ranks in lockstep
        assert torch.equal(value, ranks[1]["state"][key]), key
    assert len(ranks[0]["losses"]) == STEPS
    torch.testing.assert_close(torch.tensor(ranks[0]["losses"]), torch.tensor(single.losses), rtol=1e-5,
                               atol=1e-5)
    e = single.config.model.fusion_dim
    for key, value in single.system.state_dict().items():
        got = ranks[0]["state"][key]
        if key.endswith("in_proj.bias"):  # drop the key-bias slice (zero true gradient, see module doc)
            value, got = torch.cat([value[:e], value[2 * e:]]), torch.cat([got[:e], got[2 * e:]])
        torch.testing.assert_close(got, value, rtol=1e-4, atol=1e-4, msg=key)
    assert (tmp_path / "ddp" / "checkpoints").is_dir()  # rank 0 writes the checkpoints


def test_ddp_with_batchnorm_heads_trains_in_lockstep(tmp_path):
    ranks = _run_ddp(str(tmp_path / "ddp"), "batch")
    losses = ranks[0]["losses"]
    assert losses[-1] < losses[0]
    for key, value in ranks[0]["state"].items():
        if "running" in key or "num_batches" in key:
            continue  # BatchNorm running statistics are per rank
        assert torch.equal(value, ranks[1]["state"][key]), key
