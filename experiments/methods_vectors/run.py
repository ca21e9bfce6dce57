"""The method comparison on compositional vectors: every method x seed, trained and untrained, into a store.

    python experiments/methods_vectors/run.py --dry-run                 # task list + estimated CPU time
    python experiments/methods_vectors/run.py                           # run, or resume where it stopped
    python experiments/methods_vectors/run.py --max-tasks 20            # a time-boxed slice (in task order)
    python experiments/methods_vectors/run.py --only-steps 3000 --methods comm infmasking --seeds 0 1

The tasks come from ``experiment.toml`` beside this file (methods and their base configs, seeds, lengths,
the untrained floor) and run through :func:`synergy_lab.experiments.plan.run_sweep`: rows in
``results.sqlite`` beside this file, run folders (the latest checkpoint of each run, so a killed run
resumes) under ``results/methods_vectors/``. The order is seed-major and cheap first: every untrained floor,
then the base-length runs seed by seed over all methods, then the longer runs seed by seed, so whatever has
finished is a set of complete paired seeds. Finished tasks are skipped on a rerun; ``synergy-lab report
experiments/methods_vectors/results.sqlite --reference comm`` compares the methods.
"""

from __future__ import annotations

from pathlib import Path

from synergy_lab.experiments import plan
from synergy_lab.experiments.plan import build_tasks, estimate_s, train_cost  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parent
EXPERIMENT = ROOT / "experiment.toml"


def load_experiment(path=EXPERIMENT) -> dict:
    """The declarative experiment file, checked (:func:`synergy_lab.experiments.plan.load_experiment`)."""
    return plan.load_experiment(path)


def main(argv=None) -> int:
    return plan.main(argv, experiment=EXPERIMENT, description=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
