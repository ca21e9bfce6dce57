"""Checkpoints and resume: an interrupted run resumed by a new trainer reproduces the uninterrupted run
bit for bit on CPU (parameters, optimiser state and loss history), for every kind of state a method has."""

import json

import pytest
import torch
from _train_helpers import tiny_config

import synergy_lab
from synergy_lab.train import train
from synergy_lab.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint

STEPS = 24


class Interrupt(Exception):
    pass


def _assert_same_run(a, b):
    assert a.losses == b.losses  # exact float equality of every step's loss
    assert [h["lr"] for h in a.history] == [h["lr"] for h in b.history]
    sa, sb = a.system.state_dict(), b.system.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


# infmasking: masks + lambda ramp over epochs; factorcl: critic optimiser; cross: learnable loss parameter.
@pytest.mark.parametrize("method", ["infmasking", "factorcl", "cross"])
def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(method, tmp_path):
    # 1024 pairs / 64 = 16 steps per epoch: the run crosses an epoch (new data order, lambda ramp step).
    common = dict(steps=STEPS, optim={"cosine": True, "warmup_steps": 4}, eval={"enabled": False})
    full = train(tiny_config(method, out_dir=str(tmp_path / "full"), **common))

    cfg = tiny_config(method, out_dir=str(tmp_path / "split"), checkpoint_every=STEPS // 2, **common)

    def crash(step, record):
        if step == STEPS // 2 + 3:  # a few steps past the checkpoint, as a real crash would be
            raise Interrupt

    with pytest.raises(Interrupt):
        train(cfg, on_step=crash)
    assert [s for s, _ in list_checkpoints(cfg.out_dir)] == [STEPS // 2]
    resumed = train(cfg)  # a new trainer: rebuilds data and model, loads the latest checkpoint
    assert resumed.resumed_from == STEPS // 2 and resumed.steps == STEPS
    _assert_same_run(full, resumed)
    state = load_checkpoint(latest_checkpoint(cfg.out_dir))
    assert state["step"] == STEPS and len(state["history"]) == STEPS
    assert not list((tmp_path / "split" / "checkpoints").glob(".*.tmp"))  # atomic writes leave no temporaries


def test_stop_after_then_resume_and_outputs(tmp_path):
    cfg = tiny_config("comm", steps=20, out_dir=str(tmp_path / "run"), keep_checkpoints=1)
    first = synergy_lab.train(cfg, stop_after=8)  # the package is callable
    assert first.steps == 8 and first.metrics == {}
    assert [s for s, _ in list_checkpoints(cfg.out_dir)] == [8]
    done = train(cfg)
    assert done.resumed_from == 8 and done.steps == 20 and len(done.history) == 20
    assert [s for s, _ in list_checkpoints(cfg.out_dir)] == [20]  # keep_checkpoints = 1
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 20 and "redundancy" in metrics["probes"]
    assert (tmp_path / "run" / "history.csv").read_text().count("\n") == 21
    again = train(cfg)  # a finished run resumes at its end: nothing to do, probes again
    assert again.resumed_from == 20 and again.losses == done.losses


def test_resume_refuses_a_different_config(tmp_path):
    out = str(tmp_path / "run")
    train(tiny_config("cmc", steps=4, out_dir=out, eval={"enabled": False}))
    with pytest.raises(ValueError, match="optim.lr"):
        train(tiny_config("cmc", steps=4, out_dir=out, optim={"lr": 1e-2}))
    fresh = train(tiny_config("cmc", steps=4, out_dir=out, optim={"lr": 1e-2}, eval={"enabled": False}),
                  resume=False)
    assert fresh.resumed_from == 0


def test_checkpoints_from_before_a_new_config_field_still_resume(tmp_path):
    """A field added after the checkpoint was written matches when the run keeps its default only."""
    from synergy_lab.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

    out = str(tmp_path / "run")
    train(tiny_config("cmc", steps=4, out_dir=out, eval={"enabled": False}))
    path = latest_checkpoint(out)
    state = load_checkpoint(path)
    del state["config"]["data"]["crop_scale"]  # as written by a version without this field
    save_checkpoint(path, state)
    resumed = train(tiny_config("cmc", steps=4, out_dir=out, eval={"enabled": False}))
    assert resumed.resumed_from == 4 and resumed.steps == 4
    with pytest.raises(ValueError, match=r"fields data.crop_scale differ"):
        train(tiny_config("cmc", steps=4, out_dir=out, data={"crop_scale": [0.5, 1.0]}))
