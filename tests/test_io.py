"""Atomic writes: files get the permissions the user's umask gives any file, temporaries are cleaned up, and
config.toml round-trips whatever characters its strings hold."""

import os
import stat

import pandas as pd
import pytest

from synergy_lab.io import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    remove_stale_temporaries,
)


@pytest.fixture
def umask():
    """Set a umask for the test and restore the previous one after."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


WRITERS = {
    "bytes": lambda p: atomic_write_bytes(p, b"x"),
    "text": lambda p: atomic_write_text(p, "x"),
    "csv": lambda p: atomic_write_csv(pd.DataFrame({"a": [1]}), p),
    "json": lambda p: atomic_write_json({"a": 1}, p),
}


def _checkpoint(path):
    from synergy_lab.train.checkpoint import save_checkpoint

    save_checkpoint(path, {"step": 1})


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
@pytest.mark.parametrize("writer", [*WRITERS, "checkpoint"])
def test_written_files_get_the_umask_permissions(writer, mask, umask, tmp_path):
    umask(mask)
    reference = tmp_path / "plain"
    reference.write_text("x")  # what open() gives under this umask
    target = tmp_path / f"out.{writer}"
    (_checkpoint if writer == "checkpoint" else WRITERS[writer])(target)
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode == stat.S_IMODE(reference.stat().st_mode) == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["plain", target.name])


def test_trifeature_cache_files_get_the_umask_permissions(umask, tmp_path):
    import numpy as np

    from synergy_lab.data._trifeature_cache import ATTRIBUTE_KEYS, save_cache

    umask(0o027)
    path = tmp_path / "cache.npz"
    attrs = {key: np.zeros(2, dtype=np.int64) for key in ATTRIBUTE_KEYS}
    save_cache(path, np.zeros((2, 3, 4, 4), dtype=np.uint8), attrs, "m")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "x.json"
    atomic_write_text(path, "old")

    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write_json(Boom(), path)  # fails while serialising, before any byte is written
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # fails while writing the temporary
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_remove_stale_temporaries_only_removes_ours(tmp_path):
    ours = [tmp_path / ".checkpoint-000000008.pt.123.4.tmp", tmp_path / ".checkpoint-000000008.pt.ab_x1.tmp"]
    others = [tmp_path / ".history.csv.1.2.tmp", tmp_path / "checkpoint.tmp", tmp_path / "keep.pt"]
    for path in ours + others:
        path.write_text("x")
    (tmp_path / ".checkpoint-dir.tmp").mkdir()  # not a file: left alone
    assert sorted(remove_stale_temporaries(tmp_path, stem="checkpoint-")) == sorted(ours)
    assert all(p.exists() for p in others) and (tmp_path / ".checkpoint-dir.tmp").is_dir()
    assert remove_stale_temporaries(tmp_path / "missing") == []


@pytest.mark.parametrize("out_dir", ["runs/a\nb", 'q"uote\\back', "tab\there", "bell\x07\x7f", "é ü ✓",
                                     "cr\rlf\n"])
def test_config_toml_round_trips_any_string(out_dir, tmp_path):
    from synergy_lab.train import TrainConfig, dump_config, load_config

    config = TrainConfig(out_dir=out_dir, data={"params": {"k": 4}})
    path = tmp_path / "config.toml"
    atomic_write_text(path, dump_config(config))
    assert load_config(path) == config
