"""Checkpoints: atomic, checksummed save; verified load; latest-valid discovery; pruning; config check.

A checkpoint is a file ``<out_dir>/checkpoints/checkpoint-<step>.pt``: one header line
``synergy_lab checkpoint sha256=<hex>`` followed by a ``torch.save`` payload holding::

    format, step, config (TrainConfig.fingerprint()), system (model + loss state_dict), optimizer,
    critic_optimizer (None without an extra optimiser), scheduler, history (list of per-step dicts), rng,
    world_size, wall_s

The header's SHA-256 covers the payload, so flipped bits, truncation or a foreign file are caught on load
(:class:`CheckpointError`) and the trainer falls back to the newest checkpoint that verifies. The file is
written to a temporary file in the same folder, fsynced and renamed over the target
(:func:`synergy_lab.io.atomic_write_bytes`), so a crash leaves either no file or a complete one (and at most
a temporary, which :func:`remove_stale_temporaries` clears). ``rng`` records the seeding scheme: every
random generator of step t is re-seeded from ``(seed, stream, t)`` (:mod:`.distributed`), so the data order,
the augmentation and masking streams need no saved state beyond ``step``. Only plain containers and tensors
are stored, so :func:`load_checkpoint` uses ``torch.load(weights_only=True)``. Files written before the
header existed (a bare ``torch.save`` zip) still load, with a warning that they cannot be verified.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from pathlib import Path

import torch

from .. import io as _io

FORMAT = 1
_NAME = re.compile(r"^checkpoint-(\d+)\.pt$")
_MAGIC = b"synergy_lab checkpoint sha256="
_HEADER_LEN = len(_MAGIC) + 64 + 1  # magic, hex digest, newline
_ZIP = b"PK\x03\x04"  # torch.save's container: a checkpoint written before checksums existed
#: Entries every checkpoint holds (the trainer reads them all).
REQUIRED_KEYS = ("format", "step", "config", "system", "optimizer", "critic_optimizer", "scheduler",
                 "history")
#: Suffix given to a damaged checkpoint so that it is neither resumed nor counted by pruning again.
DAMAGED_SUFFIX = ".damaged"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, damaged, foreign or incomplete."""


def checkpoint_dir(out_dir) -> Path:
    """``<out_dir>/checkpoints``."""
    return Path(out_dir) / "checkpoints"


def checkpoint_path(out_dir, step: int) -> Path:
    """``<out_dir>/checkpoints/checkpoint-<step, 9 digits>.pt``."""
    return checkpoint_dir(out_dir) / f"checkpoint-{int(step):09d}.pt"


def list_checkpoints(out_dir) -> list[tuple[int, Path]]:
    """``(step, path)`` of every entry named like a checkpoint in ``out_dir``, by increasing step.

    The names are not verified: :func:`load_checkpoint` says whether a file is usable.
    """
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
    """Path of the entry named like a checkpoint with the highest step, or None."""
    found = list_checkpoints(out_dir)
    return found[-1][1] if found else None


def save_checkpoint(path, state: dict) -> Path:
    """Atomically write ``state`` (tensors and plain containers) to ``path`` behind a SHA-256 header."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    payload = buffer.getvalue()
    header = _MAGIC + hashlib.sha256(payload).hexdigest().encode("ascii") + b"\n"
    return _io.atomic_write_bytes(path, header + payload)


def _payload(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise CheckpointError("a folder, not a file") from None
    except OSError as exc:
        raise CheckpointError(f"unreadable ({exc.strerror or exc})") from None
    if not data:
        raise CheckpointError("empty file")
    if data.startswith(_MAGIC):
        if len(data) < _HEADER_LEN or data[_HEADER_LEN - 1:_HEADER_LEN] != b"\n":
            raise CheckpointError("truncated header")
        expected = data[len(_MAGIC):_HEADER_LEN - 1].decode("ascii", errors="replace")
        payload = data[_HEADER_LEN:]
        if hashlib.sha256(payload).hexdigest() != expected:
            raise CheckpointError("checksum mismatch (damaged or truncated)")
        return payload
    if data.startswith(_ZIP):
        warnings.warn(f"checkpoint {path} has no checksum (written by an earlier version): loaded unverified",
                      stacklevel=3)
        return data
    raise CheckpointError("not a synergy_lab checkpoint")


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read and verify a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or Path
    map_location : str or torch.device, default "cpu"
        Where the tensors go.

    Returns
    -------
    dict
        The saved state (every key of :data:`REQUIRED_KEYS` present).

    Raises
    ------
    CheckpointError
        (a ``ValueError``) with a short reason, if the file cannot be read, fails its checksum, does not
        unpickle under ``weights_only=True``, or lacks a required entry.
    """
    payload = _payload(Path(path))
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a bad payload; all mean "unusable"
        raise CheckpointError(f"unreadable payload ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"not a synergy_lab checkpoint of format {FORMAT}")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"missing entries {missing}")
    return state


def load_latest_valid(out_dir, map_location="cpu", *, report: bool = True) -> tuple[Path, dict] | None:
    """The newest checkpoint of ``out_dir`` that verifies, as ``(path, state)``; None if there is none at all.

    With ``report`` (one process of a run: rank 0), every newer entry that fails is reported in one warning
    line and renamed to ``<name>.damaged`` (kept for inspection; no longer resumed, counted by pruning, or
    overwritten unseen).

    Raises
    ------
    ValueError
        If entries named like checkpoints exist but none verifies (nothing is renamed then); the message
        suggests starting over.
    """
    damaged = []
    for _, path in reversed(list_checkpoints(out_dir)):
        try:
            state = load_checkpoint(path, map_location)
        except CheckpointError as exc:
            damaged.append((path, exc))
            continue
        if damaged and report:
            for bad, _ in damaged:
                _set_aside(bad)
            reasons = "; ".join(f"{bad.name}: {exc}" for bad, exc in damaged)
            warnings.warn(f"skipped damaged checkpoint(s) ({reasons}; renamed *{DAMAGED_SUFFIX}), resuming "
                          f"from {path.name}", stacklevel=2)
        return path, state
    if damaged:
        reasons = "; ".join(f"{bad.name}: {exc}" for bad, exc in damaged)
        raise ValueError(f"out_dir {str(out_dir)!r} holds no valid checkpoint ({reasons}): start over with "
                         f"resume=False (CLI: --no-resume)")
    return None


def _set_aside(path: Path) -> None:
    target, n = path.with_name(path.name + DAMAGED_SUFFIX), 1
    while target.exists() or target.is_symlink():
        target, n = path.with_name(f"{path.name}{DAMAGED_SUFFIX}.{n}"), n + 1
    path.rename(target)


def remove_stale_temporaries(out_dir) -> list[Path]:
    """Delete the temporary files of checkpoint saves that were killed mid-write."""
    return _io.remove_stale_temporaries(checkpoint_dir(out_dir), stem="checkpoint-")


def prune_checkpoints(out_dir, keep: int) -> None:
    """Delete all but the ``keep`` most recent checkpoints (``keep=0``: all of them)."""
    found = list_checkpoints(out_dir)
    for _, path in found[:len(found) - keep] if keep > 0 else found:
        if path.is_dir() and not path.is_symlink():
            _set_aside(path)  # not ours to delete recursively
        else:
            path.unlink(missing_ok=True)


def config_differences(saved: dict, current: dict, prefix: str = "",
                       defaults: dict | None = None) -> list[str]:
    """Dotted names of the fields that differ between two nested config dicts.

    A field missing from ``saved`` (added to the config after the checkpoint was written) counts as equal when
    ``current`` holds its value in ``defaults`` (the fingerprint of a default config). A field missing from
    ``current`` is one the current code no longer has (e.g. another method's option, written by versions
    whose ``[method]`` held every method's knobs): it cannot change what this code computes, so it is skipped.
    """
    out = []
    defaults = defaults or {}
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key, "<missing>"), current.get(key, "<missing>")
        if key not in saved and key in defaults and defaults[key] == b:
            continue
        if key not in current:
            continue
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            sub = defaults.get(key) if isinstance(defaults.get(key), dict) else None
            out += config_differences(a, b, name + ".", sub)
        elif a != b:
            out.append(name)
    return out
