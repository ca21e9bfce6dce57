"""On-disk cache of rendered Trifeature images: one compressed ``.npz`` per layout, with a sha256 check.

A file is written atomically (:func:`synergy_lab.io.atomic_write_bytes`) and holds the images, their
attributes, the key it was made for (as JSON) and the sha256 of all of them. :func:`load_cache` returns the
images only when the file parses, has the expected key, arrays, dtypes and shapes, attributes equal to the
expected layout and a matching hash; otherwise it warns (:class:`TrifeatureCacheWarning`) and returns None,
so the caller re-renders. A missing file returns None silently.
"""

from __future__ import annotations

import hashlib
import io
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ..io import atomic_write_bytes

ATTRIBUTE_KEYS = ("shape", "texture", "colour", "split")


class TrifeatureCacheWarning(UserWarning):
    """A cached image file was unreadable or failed its integrity check and is being rebuilt."""


def _digest(arrays: dict, meta: str) -> str:
    h = hashlib.sha256(meta.encode())
    for key in ("images", *ATTRIBUTE_KEYS):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def load_cache(path: Path, meta: str, expected: dict, count: int, resolution: int):
    """The cached images, or None (with a warning) when the file is unusable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"images", "meta", "sha256", *ATTRIBUTE_KEYS} - set(z.files)
            if missing:
                raise ValueError(f"missing arrays {sorted(missing)}")
            if str(z["meta"]) != meta:
                raise ValueError("its key (seed, resolution, count, layout, renderer version) does not match")
            arrays = {key: z[key] for key in ("images", *ATTRIBUTE_KEYS)}
            stored_hash = str(z["sha256"])
        images = arrays["images"]
        if images.dtype != np.uint8 or images.shape != (count, 3, resolution, resolution):
            raise ValueError(f"images are {images.dtype} {images.shape}, expected uint8 "
                             f"{(count, 3, resolution, resolution)}")
        for key in ATTRIBUTE_KEYS:
            if not np.array_equal(arrays[key], expected[key]):
                raise ValueError(f"attribute {key!r} differs from the expected layout")
        if _digest(arrays, meta) != stored_hash:
            raise ValueError("sha256 mismatch")
        return images
    except FileNotFoundError:
        return None
    except Exception as exc:  # unreadable, truncated, flipped bytes, wrong content: rebuild
        warnings.warn(f"Trifeature cache {path} is unusable ({type(exc).__name__}: {exc}); re-rendering it",
                      TrifeatureCacheWarning, stacklevel=3)
        return None


def save_cache(path: Path, images: np.ndarray, attrs: dict, meta: str) -> None:
    """A ``.npz`` (what ``numpy.savez_compressed`` writes, at zlib level 1: ~4x faster than its default, and
    these images compress ~25x anyway), written atomically."""
    arrays = {"images": images, **attrs}
    arrays.update(meta=np.array(meta), sha256=np.array(_digest(arrays, meta)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, array in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
