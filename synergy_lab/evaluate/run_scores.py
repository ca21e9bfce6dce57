"""Scoring a training run's pair sets: which split fits the probes, which one chooses C, which one reports.

:func:`score_run_data` is what the trainer calls on its :class:`~synergy_lab.train.data.RunData` at the end
of a run, and what :func:`synergy_lab.train.score_saved_run` calls on a rebuilt one (duck-typed here: pair
sets with ``targets``, ``factors`` and ``gather``). The splits:

* the probes are fitted on the probe pairs (``train``);
* with a test split (Trifeature), costs are chosen on the validation pairs and test is reported;
* without one (vector data: probe pairs plus one held-out draw), the held-out draw is the reported test split
  and costs are chosen on a seeded stratified quarter carved out of the probe pairs.

Evaluation sits below training: this module never imports :mod:`synergy_lab.train` (the trainer imports it),
and imports torch only inside :func:`raw_features`.
"""

from __future__ import annotations

import numpy as np

from .score import score_representation


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
