"""Scoring a training run's representation: at the end of training and, later, from its saved folder.

:func:`score_run_data` is what the trainer calls on its :class:`~synergy_lab.train.data.RunData` (duck-typed
here: pair sets with ``targets`` and ``factors``); :func:`score_saved_run` rebuilds a run from its
``config.toml`` and scores the latest checkpoint, the same architecture at initialisation (``"untrained"``,
the floor every figure should be read against) or the raw inputs (``"raw"``). The splits:

* the probes are fitted on the probe pairs (``train``);
* with a test split (Trifeature), costs are chosen on the validation pairs and test is reported;
* without one (vector data: probe pairs plus one held-out draw), the held-out draw is the reported test split
  and costs are chosen on a seeded stratified quarter carved out of the probe pairs.

This module sits beside the trainer (it imports :mod:`synergy_lab.train` lazily, inside
:func:`score_saved_run`), so :mod:`synergy_lab.evaluate` itself never imports torch at import time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .score import score_representation

MODES = ("trained", "untrained", "raw")


def run_splits(data) -> dict:
    """``{"train": pairs, "val": pairs or None, "test": pairs}`` of a RunData (see the module docstring)."""
    if data.test is not None:
        return {"train": data.probe, "val": data.val, "test": data.test}
    return {"train": data.probe, "val": None, "test": data.val}


def score_run_data(featurise, data, *, targets=None, random_state=0, max_iter: int = 1000,
                   target_option: str = "eval.targets") -> list[dict]:
    """:func:`score_representation` of ``featurise(pairs) -> (n, d) array`` on a run's probe splits.

    Parameters
    ----------
    featurise : callable
        Features of a pair set (e.g. :func:`extract_features` of the trained system).
    data : synergy_lab.train.data.RunData
    targets : sequence of str, optional
        Default: every target of the probe pairs; an unknown one raises ValueError naming ``target_option``.
    random_state, max_iter
        As in :func:`score_representation`.
    """
    splits = {k: v for k, v in run_splits(data).items() if v is not None}
    available = list(splits["train"].targets)
    targets = available if targets is None else list(targets)
    unknown = [t for t in targets if t not in available]
    if unknown:
        raise ValueError(f"{target_option}: unknown target {unknown[0]!r}; valid: {available}")
    features = {s: featurise(pairs) for s, pairs in splits.items()}
    labels = {s: {t: np.asarray(pairs.targets[t].cpu()) for t in targets} for s, pairs in splits.items()}
    factors = {t: f for t, f in splits["test"].factors.items() if t in targets}
    return score_representation(features, labels, factors=factors, ground_truth=data.ground_truth,
                                targets=targets, random_state=random_state, max_iter=max_iter)


def raw_features(pairs, batch_size: int = 1024) -> np.ndarray:
    """The inputs themselves as features: both modalities flattened and concatenated, batch by batch."""
    import torch

    out = []
    for start in range(0, len(pairs), batch_size):
        xs = pairs.gather(torch.arange(start, min(start + batch_size, len(pairs))))
        out.append(torch.cat([x.reshape(x.shape[0], -1).float() for x in xs], dim=1).cpu().numpy())
    return np.concatenate(out)


def score_saved_run(run_dir, mode: str = "trained", *, targets=None, device="cpu") -> list[dict]:
    """Re-score a saved run (its ``config.toml`` and latest valid checkpoint).

    Parameters
    ----------
    run_dir : str or Path
        A training run's ``out_dir``.
    mode : {"trained", "untrained", "raw"}
        The latest checkpoint; the same architecture at initialisation (same seed, so the same initial
        weights the run started from); or the raw inputs.
    targets : sequence of str, optional
        Default: the run's ``eval.targets`` (all targets if unset).
    device : str or torch.device

    Returns
    -------
    list of dict
        Tidy rows of :func:`score_representation`.
    """
    import torch

    from ..methods import build_method
    from ..train.checkpoint import load_latest_valid
    from ..train.config import load_config
    from ..train.data import build_run_data
    from ..train.distributed import STREAM_INIT, derive_seed
    from .features import extract_features

    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    folder = Path(run_dir)
    if not (folder / "config.toml").is_file():
        raise ValueError(f"run_dir {str(folder)!r} has no config.toml: not a training run's out_dir")
    cfg = load_config(folder / "config.toml")
    device = torch.device(device)
    data = build_run_data(cfg, device)
    targets = cfg.eval.targets if targets is None else targets
    if mode == "raw":
        featurise = raw_features
    else:
        # The trainer's initialisation stream: "untrained" is exactly the network the run started from.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(cfg.seed, STREAM_INIT))
            system = build_method(cfg, data.spec)
        if mode == "trained":
            found = load_latest_valid(folder, device, report=False)
            if found is None:
                raise ValueError(f"run_dir {str(folder)!r} holds no checkpoint to score (use --untrained for "
                                 f"the architecture at initialisation)")
            system.load_state_dict(found[1]["system"])
        system = system.to(device).eval()

        def featurise(pairs):
            return extract_features(system, pairs, cfg.eval.batch_size, device)

    return score_run_data(featurise, data, targets=targets, random_state=cfg.seed, max_iter=cfg.eval.max_iter,
                          target_option="targets")
