"""The quickstart: the method comparison in miniature, run end to end in a few minutes on two cores.

Cross, CoMM and InfMasking are trained on compositional vectors with the repository's method-comparison
configs (``experiments/configs/compositional_<method>.toml``), shortened to ``steps``, in parallel through the
shared sweep runner (:func:`synergy_lab.experiments.run_tasks`, one torch thread per worker); each is scored
beside its untrained floor (bits captured, fair probe, read-out PID, exact ground truth). Results go into a
results store, so a rerun with the same settings prints the table again without training.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where used: the CLI imports this module for its defaults
    import pandas as pd

#: Methods of the quickstart, in display order: a fusion-free baseline and the two fusion methods.
QUICKSTART_METHODS = ("cross", "comm", "infmasking")
#: Training steps of ``make quickstart``: the whole run takes under 5 minutes on two cores
#: (docs/figures.md).
QUICKSTART_STEPS = 1000
#: The repository's method-comparison configs (a source checkout; ``--configs`` points elsewhere).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "experiments" / "configs"
EXPERIMENT = "quickstart"


def quickstart_tasks(steps: int = QUICKSTART_STEPS, seeds=(0,), methods=QUICKSTART_METHODS,
                     overrides=None) -> list[dict]:
    """The sweep tasks: every method trained for ``steps`` and at initialisation, per seed, with the
    config ``overrides`` (dotted keys) applied to every run.

    Ordered longest first (InfMasking, CoMM, then Cross, then the cheap floors), so that two workers finish
    together rather than one waiting on a long run started last.
    """
    from .experiments.sweep import sweep_task

    cost = {"infmasking": 0, "comm": 1}
    order = sorted(methods, key=lambda m: cost.get(m, 2))
    return [sweep_task(EXPERIMENT, m, s, steps, state=state, overrides=overrides)
            for state in ("trained", "untrained") for s in seeds for m in order]


def base_configs(config_dir=None, methods=QUICKSTART_METHODS) -> dict[str, str]:
    """Method -> ``compositional_<method>.toml`` in ``config_dir``; ValueError naming a missing file."""
    folder = Path(CONFIG_DIR if config_dir is None else config_dir)
    paths = {m: folder / f"compositional_{m}.toml" for m in methods}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ValueError(f"configs {missing} not found: give the folder of the compositional_<method>.toml "
                         "configs (experiments/configs in a source checkout) as config_dir / --configs")
    return {m: str(p) for m, p in paths.items()}


class _Announce:
    """The sweep function, printing one line per finished task (from the worker: progress while it runs)."""

    def __init__(self, runner):
        self.runner = runner

    def __call__(self, task):
        t0 = time.perf_counter()
        rows = self.runner(task)
        # One write per line: two workers share the terminal.
        sys.stdout.write(f"  finished {task['method']:<10s} {task['state']:<9s} seed {task['seed']} "
                         f"({time.perf_counter() - t0:.0f} s)\n")
        sys.stdout.flush()
        return rows


def run_quickstart(out_dir, steps: int = QUICKSTART_STEPS, seeds=(0,), n_jobs: int = 2, config_dir=None,
                   methods=QUICKSTART_METHODS, overrides=None) -> pd.DataFrame:
    """Train and score the quickstart's tasks into ``out_dir/results.sqlite``; return their rows.

    Parameters
    ----------
    out_dir : path-like
        Folder of the results store ``results.sqlite`` and the run folders ``runs/`` (checkpoints,
        metrics). Tasks already finished there are not rerun.
    steps : int
        Training steps of every method.
    seeds : sequence of int
        Seeds (data, initialisation, batches), each a paired comparison.
    n_jobs : int
        Parallel workers, one torch thread each.
    config_dir : path-like, optional
        Folder of ``compositional_<method>.toml`` (default: the checkout's ``experiments/configs``).
    methods : sequence of str
        Methods to train.
    overrides : dict, optional
        Dotted config keys set in every run, e.g. ``{"data.n_train": 5000}``.
    """
    from .experiments import run_tasks, task_id
    from .experiments.sweep import SweepRunner

    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    out_dir = Path(out_dir)
    tasks = quickstart_tasks(steps, seeds, methods, overrides)
    fn = _Announce(SweepRunner(base_configs(config_dir, methods), out_dir / "runs", torch_threads=1))
    table = run_tasks(tasks, fn, out_dir / "results.sqlite", n_jobs=n_jobs, batch_size=len(tasks))
    return table[table["task_id"].isin({task_id(t) for t in tasks})].reset_index(drop=True)


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per method and target: fair-probe balanced accuracy trained and untrained, bits captured trained and
    untrained, and the truth I(X1, X2; Y) (means over seeds)."""
    import pandas as pd

    from .plots._common import method_order, target_order

    wanted = table[table["metric"].isin(["balanced_accuracy", "bits"]) & (table["cell"] == "base")]
    wide = wanted.pivot_table(index=["method", "target"], columns=["metric", "state"], values="value",
                              aggfunc="mean")
    out = pd.DataFrame({
        "bal.acc": wide[("balanced_accuracy", "trained")],
        "floor": wide[("balanced_accuracy", "untrained")],
        "bits": wide[("bits", "trained")],
        "floor bits": wide[("bits", "untrained")],
    })
    truth = wanted[wanted["metric"] == "bits"].groupby(["method", "target"])["ground_truth"].mean()
    out["I(X1,X2;Y)"] = truth
    index = [(m, t) for m in method_order(out.index.get_level_values(0))
             for t in target_order(out.index.get_level_values(1)) if (m, t) in out.index]
    return out.reindex(index)
