"""Checkpoints: atomic save, latest-first discovery, pruning, and a config check on resume.

A checkpoint is one ``torch.save`` file ``<out_dir>/checkpoints/checkpoint-<step>.pt`` holding::

    format, step, config (TrainConfig.fingerprint()), system (model + loss state_dict), optimizer,
    critic_optimizer (FactorCL, else None), scheduler, history (list of per-step dicts), rng, world_size,
    wall_s

It is written to a temporary file in the same folder, fsynced and renamed over the target
(:func:`synergy_lab.io.atomic_write_bytes`), so a crash leaves either no file or a complete one, and the
highest step present is always loadable. ``rng`` records the seeding scheme: every random generator of
step t is re-seeded from ``(seed, stream, t)`` (:mod:`.distributed`), so the data order, the augmentation
and masking streams need no saved state beyond ``step``. Only plain containers and tensors are stored, so
:func:`load_checkpoint` uses ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import torch

from ..io import atomic_write_bytes

FORMAT = 1
_NAME = re.compile(r"^checkpoint-(\d+)\.pt$")


def checkpoint_dir(out_dir) -> Path:
    return Path(out_dir) / "checkpoints"


def checkpoint_path(out_dir, step: int) -> Path:
    """``<out_dir>/checkpoints/checkpoint-<step, 9 digits>.pt``."""
    return checkpoint_dir(out_dir) / f"checkpoint-{int(step):09d}.pt"


def list_checkpoints(out_dir) -> list[tuple[int, Path]]:
    """``(step, path)`` of every complete checkpoint in ``out_dir``, by increasing step."""
    folder = checkpoint_dir(out_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(out_dir) -> Path | None:
    """Path of the checkpoint with the highest step, or None."""
    found = list_checkpoints(out_dir)
    return found[-1][1] if found else None


def save_checkpoint(path, state: dict) -> Path:
    """Atomically write ``state`` (tensors and plain containers) to ``path``."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors mapped to ``map_location``)."""
    state = torch.load(Path(path), map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a synergy_lab checkpoint of format {FORMAT}")
    return state


def prune_checkpoints(out_dir, keep: int) -> None:
    """Delete all but the ``keep`` most recent checkpoints (``keep=0``: all of them)."""
    found = list_checkpoints(out_dir)
    for _, path in found[:len(found) - keep] if keep > 0 else found:
        path.unlink(missing_ok=True)


def config_differences(saved: dict, current: dict, prefix: str = "",
                       defaults: dict | None = None) -> list[str]:
    """Dotted names of the fields that differ between two nested config dicts.

    A field missing from ``saved`` (added to the config after the checkpoint was written) counts as equal when
    ``current`` holds its value in ``defaults`` (the fingerprint of a default config).
    """
    out = []
    defaults = defaults or {}
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key, "<missing>"), current.get(key, "<missing>")
        if key not in saved and key in defaults and defaults[key] == b:
            continue
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            sub = defaults.get(key) if isinstance(defaults.get(key), dict) else None
            out += config_differences(a, b, name + ".", sub)
        elif a != b:
            out.append(name)
    return out
