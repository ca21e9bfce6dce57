"""Datasets written as ``.npz`` splits for models trained outside synergy_lab, and read back.

Layout of an export folder (``synergy-lab data NAME --export DIR``, :func:`export_dataset`)::

    DIR/meta.json          {"format": "synergy_lab-export", "version": 1, "generator", "params",
                            "targets", "splits": {split: rows}, "fractions", "pretrain": rows or null}
    DIR/ground_truth.csv   exact PID of every target (columns of synergy_lab.data.GROUND_TRUTH_COLUMNS)
    DIR/train.npz          x1 (n, d1), x2 (n, d2), and per target T: y__T (n,), f1__T (n,), f2__T (n,)
    DIR/val.npz            the same (selection of probe costs)
    DIR/test.npz           the same (reported)
    DIR/pretrain.npz       x1, x2 only: training pairs for a self-supervised model (generators with
                           a ``pairing`` parameter: the biased pairing s2 = pi(s1) that makes synergy
                           learnable)

``train``/``val``/``test`` are consecutive parts (default 60/20/20%) of one i.i.d. draw of the generator
(unbiased pairing where the generator has one), so rows are in draw order; ``f1__T``, ``f2__T`` are the
codes of the latent factors of modality 1 and 2 that target T depends on (see
:func:`~synergy_lab.evaluate.readout_pid`).

A features file for ``synergy-lab evaluate --features FEATS.npz --data DIR`` holds one float array per split,
``train`` (n_train, d), ``test`` (n_test, d) and optionally ``val`` (n_val, d), row i computed from row i of
that split's ``x1``, ``x2``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT, VERSION = "synergy_lab-export", 1
SPLITS = ("train", "val", "test")
FRACTIONS = (0.6, 0.2, 0.2)


def _write_npz(path: Path, arrays: dict) -> None:
    from ..io import atomic_write_bytes

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def export_dataset(name: str, out_dir, *, fractions=FRACTIONS, **params) -> Path:
    """Write a generator's dataset as train/val/test ``.npz`` splits (layout in the module docstring).

    Parameters
    ----------
    name : str
        Generator name of :func:`synergy_lab.data.make` (``gate``, ``compositional``, ...): one with discrete
        targets and ``target_factors``.
    out_dir : str or Path
    fractions : (float, float, float)
        Train, val and test fractions of the draw (positive, summing to 1).
    **params
        Generator parameters (e.g. ``n_samples``, ``k``, ``random_state``). A ``pairing`` parameter is
        overridden: the splits are unbiased, ``pretrain.npz`` biased.

    Returns
    -------
    Path
        The folder.
    """
    from ..data import make
    from ..data.registry import generator_parameters, require_vectors
    from ..io import atomic_write_csv, atomic_write_json

    require_vectors(name, "export_dataset")

    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions}")
    pairing = "pairing" in generator_parameters(name)
    ds = make(name, **{**params, **({"pairing": "unbiased"} if pairing else {})})
    if not ds.target_factors:
        raise ValueError(f"generator {name!r} exposes no discrete target factors; it cannot be exported")
    n = ds.n_samples
    ends = np.round(np.cumsum(fractions) * n).astype(int)
    bounds = dict(zip(SPLITS, zip((0, *ends[:2].tolist()), ends.tolist(), strict=True), strict=True))
    if any(hi - lo < 2 for lo, hi in bounds.values()):
        raise ValueError(f"n_samples = {n} leaves a split with fewer than 2 rows; raise n_samples")
    out = Path(out_dir)
    for split, (lo, hi) in bounds.items():
        arrays = {"x1": ds.x1[lo:hi], "x2": ds.x2[lo:hi]}
        for t, y in ds.targets.items():
            arrays[f"y__{t}"] = np.asarray(y)[lo:hi]
            f1, f2 = ds.target_factors[t]
            arrays[f"f1__{t}"], arrays[f"f2__{t}"] = np.asarray(f1)[lo:hi], np.asarray(f2)[lo:hi]
        _write_npz(out / f"{split}.npz", arrays)
    n_pretrain = None
    if pairing:
        pre = make(name, **{**params, "pairing": "biased"})
        _write_npz(out / "pretrain.npz", {"x1": pre.x1, "x2": pre.x2})
        n_pretrain = pre.n_samples
    atomic_write_csv(ds.ground_truth, out / "ground_truth.csv", index=False)
    atomic_write_json({"format": FORMAT, "version": VERSION, "generator": name,
                       "params": {k: v for k, v in ds.params.items() if k != "seed_entropy"},
                       "targets": list(ds.targets),
                       "splits": {s: int(hi - lo) for s, (lo, hi) in bounds.items()},
                       "fractions": list(fractions), "pretrain": n_pretrain}, out / "meta.json")
    return out


@dataclass
class ExportedData:
    """An export folder in memory (see :func:`load_export`).

    Attributes
    ----------
    x1, x2 : dict split -> numpy.ndarray
    labels : dict split -> {target: numpy.ndarray}
    factors : dict target -> (f1, f2)
        Factor codes of the *test* rows (what :func:`score_representation` takes).
    ground_truth : pandas.DataFrame
    meta : dict
    pretrain : (x1, x2) or None
    """

    x1: dict
    x2: dict
    labels: dict
    factors: dict
    ground_truth: object
    meta: dict
    pretrain: tuple | None = None

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.x1)


def load_export(path) -> ExportedData:
    """Read an export folder written by :func:`export_dataset` (ValueError if it is not one)."""
    import pandas as pd

    folder = Path(path)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise ValueError(f"data folder {str(folder)!r} has no meta.json: not a synergy-lab export "
                         f"(write one with `synergy-lab data NAME --export DIR`)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"{meta_path} is not a version-{VERSION} {FORMAT} file")
    x1, x2, labels, test_factors = {}, {}, {}, {}
    for split in [s for s in SPLITS if s in meta["splits"]]:
        with np.load(folder / f"{split}.npz") as z:
            x1[split], x2[split] = z["x1"], z["x2"]
            labels[split] = {t: z[f"y__{t}"] for t in meta["targets"]}
            if split == "test":
                test_factors = {t: (z[f"f1__{t}"], z[f"f2__{t}"]) for t in meta["targets"]}
    pretrain = None
    if meta.get("pretrain"):
        with np.load(folder / "pretrain.npz") as z:
            pretrain = (z["x1"], z["x2"])
    truth = pd.read_csv(folder / "ground_truth.csv")
    return ExportedData(x1, x2, labels, test_factors, truth, meta, pretrain)


def load_features(path, data: ExportedData) -> dict:
    """Features ``{split: (n_split, d)}`` from an ``.npz`` file, checked against an export.

    Raises
    ------
    ValueError
        If the file is missing or unreadable, lacks ``train`` or ``test``, holds an unknown split, or a
        split's array is not 2-D, not finite, of another width, or not row-aligned with the export's split.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"features file {str(file)!r} not found")
    try:
        with np.load(file) as z:
            feats = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"features file {str(file)!r} is not a readable .npz archive ({exc})") from None
    unknown = sorted(set(feats) - set(data.splits))
    if unknown:
        raise ValueError(f"features file holds unknown split(s) {unknown}; the export's splits are "
                         f"{list(data.splits)}")
    missing = [s for s in ("train", "test") if s not in feats]
    if missing:
        raise ValueError(f"features file lacks split(s) {missing}: it needs 'train' and 'test' (and may hold "
                         f"'val'), one (n_split, d) array each")
    widths = set()
    for split, f in feats.items():
        rows = data.x1[split].shape[0]
        if f.ndim != 2 or f.shape[0] != rows:
            raise ValueError(f"features[{split!r}] has shape {f.shape}, but the export's {split} split has "
                             f"{rows} rows: features must be (n_rows, d), row i computed from row i")
        if not np.issubdtype(f.dtype, np.number) or not np.isfinite(f).all():
            raise ValueError(f"features[{split!r}] must hold finite numbers")
        widths.add(f.shape[1])
    if len(widths) != 1:
        raise ValueError(f"features of the splits differ in width: {sorted(widths)}")
    return feats
