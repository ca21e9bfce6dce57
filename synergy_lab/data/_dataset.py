"""The container every generator returns: samples of both modalities, targets, and exact ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._random import as_generator  # noqa: F401  (re-exported for the generators)

#: Columns of every ground-truth table (one row per target).
GROUND_TRUTH_COLUMNS = (
    "target", "measure", "redundancy", "unique1", "unique2", "synergy", "mi_1", "mi_2", "mi_joint",
)


@dataclass
class SyntheticDataset:
    """Samples of two modalities with targets whose PID is known exactly.

    Attributes
    ----------
    name : str
        Registry name of the generator.
    x1, x2 : numpy.ndarray, shape (n_samples, dim_i)
        The two modalities.
    targets : dict of str -> numpy.ndarray, shape (n_samples,) or (n_samples, dim_y)
        Prediction targets (class labels for discrete generators).
    ground_truth : pandas.DataFrame
        One row per target with columns ``GROUND_TRUTH_COLUMNS`` (bits).
    factors : dict of str -> numpy.ndarray
        The latent factors the modalities were built from (empty when there are none).
    params : dict
        The generator's parameters, for provenance.
    target_factors : dict of str -> (numpy.ndarray, numpy.ndarray)
        Per target, integer codes ``(f1, f2)`` (shape (n_samples,) each) of the latent factors of modality 1
        and 2 that the target depends on, coded so that the exact PID of the population table of
        ``(f1, f2, target)`` is the target's ``ground_truth`` row (a modality with no relevant factor gets a
        constant code). Used by :func:`synergy_lab.evaluate.readout_pid`; empty when there are none.
    """

    name: str
    x1: np.ndarray
    x2: np.ndarray
    targets: dict
    ground_truth: pd.DataFrame
    factors: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    target_factors: dict = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.x1.shape[0])

    def truth(self, target: str) -> dict:
        """Ground-truth atoms of one target as a dict."""
        rows = self.ground_truth[self.ground_truth["target"] == target]
        if rows.empty:
            raise KeyError(f"no ground truth for target {target!r}; targets are {list(self.targets)}")
        return rows.iloc[0].to_dict()


def ground_truth_row(target: str, result) -> dict:
    """One row of a ground-truth table from a :class:`synergy_lab.pid.PIDResult`."""
    row = {"target": target, "measure": result.measure}
    row.update({k: float(getattr(result, k)) for k in GROUND_TRUTH_COLUMNS[2:]})
    return row


def ground_truth_table(rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(GROUND_TRUTH_COLUMNS))
