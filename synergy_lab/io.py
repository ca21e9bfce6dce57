"""Atomic writes: a result file is either the old one or the complete new one, never half written.

The data goes to a temporary file ``.<name>.<pid>.<n>.tmp`` in the target folder, is fsynced and renamed over
the target. The temporary file is created with ``os.open(..., 0o666)``, so the result gets the permissions any
file the user writes gets under their umask (``tempfile.mkstemp`` would force 0600). A process killed between
the two steps leaves its temporary behind; :func:`remove_stale_temporaries` clears those.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pandas as pd

_COUNTER = itertools.count()


def _create_temporary(folder: Path, name: str) -> tuple[int, Path]:
    # O_EXCL makes the name ours alone; the pid and a per-process counter make collisions rare (retried).
    while True:
        tmp = folder / f".{name}.{os.getpid()}.{next(_COUNTER)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename).

    Parameters
    ----------
    path : str or Path
        Target file; missing parent folders are created.
    data : bytes

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_csv(df: pd.DataFrame, path, **to_csv_kwargs) -> Path:
    """Write a DataFrame as CSV atomically (``index=False`` unless given)."""
    to_csv_kwargs.setdefault("index", False)
    return atomic_write_text(path, df.to_csv(**to_csv_kwargs))


def atomic_write_json(obj, path) -> Path:
    """Write ``obj`` as indented, key-sorted JSON atomically (unknown types via ``str``)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def remove_stale_temporaries(folder, stem: str = "") -> list[Path]:
    """Delete the temporary files that interrupted atomic writes left in ``folder``.

    Only call this when no other process is writing into ``folder`` (their temporaries look the same).

    Parameters
    ----------
    folder : str or Path
    stem : str, optional
        Only temporaries of targets whose name starts with ``stem`` (e.g. ``"checkpoint-"``).

    Returns
    -------
    list of Path
        The files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        name = entry.name
        # Also matches the random-named temporaries of earlier versions (tempfile.mkstemp).
        if name.startswith("." + stem) and name.endswith(".tmp") and entry.is_file():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
