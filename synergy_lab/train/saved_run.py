"""Re-scoring a saved training run: the trained checkpoint, the untrained floor, or the raw inputs.

:func:`score_saved_run` rebuilds a run from its ``config.toml`` and scores, through
:func:`synergy_lab.evaluate.run_scores.score_run_data` (the same call the trainer makes at the end of a
run), the latest valid checkpoint, the same architecture at initialisation (``"untrained"``, the floor every
figure should be read against) or the raw inputs (``"raw"``). It lives in :mod:`synergy_lab.train` because
it rebuilds runs; :mod:`synergy_lab.evaluate` never imports training code. ``synergy-lab evaluate RUN_DIR``
calls it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..evaluate.features import extract_features
from ..evaluate.run_scores import raw_features, score_run_data
from ..methods import build_method
from .checkpoint import load_latest_valid
from .config import load_config
from .data import build_run_data
from .distributed import STREAM_INIT, derive_seed

MODES = ("trained", "untrained", "raw")


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
        Tidy rows of :func:`synergy_lab.evaluate.score_representation`.
    """
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
