"""Verified checkpoints: every way the latest checkpoint can be damaged is reported in one line and the run
resumes from the newest valid one, bit for bit; with none valid, the error suggests starting over."""

import shutil
import warnings

import pytest
import torch
from _train_helpers import tiny_config

from synergy_lab.train import train
from synergy_lab.train.checkpoint import (
    CheckpointError,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)

STEPS, EVERY = 24, 8
COMMON = dict(steps=STEPS, checkpoint_every=EVERY, eval={"enabled": False})


def _flip_bytes(path):
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):  # 64 bytes inside the tensor payload
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path):
    path.write_bytes(b"")


def _text(path):
    path.write_text("not a checkpoint\n")


def _directory(path):
    path.unlink()
    path.mkdir()
    (path / "data.pkl").write_text("x")


def _missing_keys(path):
    state = load_checkpoint(path)
    del state["optimizer"]
    save_checkpoint(path, state)  # a valid checksum over an incomplete state


DAMAGE = {"flipped_bytes": _flip_bytes, "truncated": _truncate, "empty": _empty, "text": _text,
          "directory": _directory, "missing_keys": _missing_keys}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted run, and the same run stopped after 16 steps (checkpoints at 8 and 16)."""
    root = tmp_path_factory.mktemp("ckpt")
    full = train(tiny_config("cmc", out_dir=str(root / "full"), **COMMON))
    train(tiny_config("cmc", out_dir=str(root / "stopped"), **COMMON), stop_after=2 * EVERY)
    assert [s for s, _ in list_checkpoints(root / "stopped")] == [EVERY, 2 * EVERY]
    return full, root / "stopped"


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_latest_checkpoint_falls_back_to_the_newest_valid_one_bit_exactly(damage, runs, tmp_path):
    full, stopped = runs
    out = tmp_path / "run"
    shutil.copytree(stopped, out)
    latest = checkpoint_path(out, 2 * EVERY)
    DAMAGE[damage](latest)
    with pytest.warns(UserWarning) as record:
        resumed = train(tiny_config("cmc", out_dir=str(out), **COMMON))
    messages = [str(w.message) for w in record if "damaged" in str(w.message)]
    assert len(messages) == 1 and "\n" not in messages[0]
    assert latest.name in messages[0] and f"resuming from {checkpoint_path(out, EVERY).name}" in messages[0]
    assert resumed.resumed_from == EVERY and resumed.steps == STEPS
    assert resumed.losses == full.losses  # exact float equality of every step's loss
    a, b = resumed.system.state_dict(), full.system.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (out / "checkpoints" / (latest.name + ".damaged")).exists()  # set aside, not resumed again
    assert [s for s, _ in list_checkpoints(out)] == [2 * EVERY, STEPS]


def test_checksum_catches_a_single_flipped_bit(runs, tmp_path):
    path = tmp_path / "c.pt"
    shutil.copy(checkpoint_path(runs[1], EVERY), path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(path)


def test_no_valid_checkpoint_suggests_starting_over(runs, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(runs[1], out)
    for _, path in list_checkpoints(out):
        _text(path)
    cfg = tiny_config("cmc", out_dir=str(out), **COMMON)
    with pytest.raises(ValueError, match=r"holds no valid checkpoint .*resume=False \(CLI: --no-resume\)"):
        train(cfg)
    assert len(list_checkpoints(out)) == 2  # nothing renamed: the user decides
    fresh = train(cfg, resume=False)
    assert fresh.resumed_from == 0 and fresh.losses == runs[0].losses


def test_leftover_temporaries_are_removed(runs, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(runs[1], out)
    folder = out / "checkpoints"
    stale = [folder / ".checkpoint-000000024.pt.4242.0.tmp", folder / ".checkpoint-000000024.pt.k3j_x9.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    keep = folder / "notes.tmp"  # not a temporary of ours
    keep.write_text("mine")
    train(tiny_config("cmc", out_dir=str(out), **COMMON))
    assert not any(p.exists() for p in stale) and keep.exists()


def test_checkpoint_written_before_checksums_loads_with_a_warning(runs, tmp_path):
    state = load_checkpoint(checkpoint_path(runs[1], EVERY))
    legacy = tmp_path / "checkpoint-000000008.pt"
    torch.save(state, legacy)  # the earlier format: a bare torch.save zip
    with pytest.warns(UserWarning, match="no checksum"):
        again = load_checkpoint(legacy)
    assert again["step"] == EVERY
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_checkpoint(checkpoint_path(runs[1], EVERY))  # a verified file loads silently
