"""Training: typed configs (:mod:`.config`), one loop for every method (:mod:`.trainer`), atomic
checkpoints and exact resume (:mod:`.checkpoint`), DDP under torchrun (:mod:`.distributed`), and
re-scoring a saved run (:mod:`.saved_run`, ``synergy-lab evaluate RUN_DIR``).

The package itself is callable: ``synergy_lab.train(config)`` is :func:`synergy_lab.train.trainer.train`
(``synergy_lab.train`` names both this package and the function the architecture promises, so the module
object forwards calls to the function). Only :mod:`.config` is imported eagerly; torch is imported on the
first call, the first access to a torch-backed name, or when a config is built (the ``[method]`` table is
validated by the method's own options, which live beside its torch modules in :mod:`synergy_lab.methods`).
"""

from __future__ import annotations

import sys
import types

from .config import (
    DataConfig,
    EvalConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    config_from_dict,
    dump_config,
    load_config,
)

__all__ = [
    "DataConfig",
    "EvalConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "config_from_dict",
    "dump_config",
    "load_config",
    "score_saved_run",
    "train",
]

_LAZY = {"train": "trainer", "Trainer": "trainer", "TrainResult": "trainer", "score_saved_run": "saved_run"}


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallablePackage(types.ModuleType):
    """Module type of this package: calling it calls :func:`.trainer.train`."""

    def __call__(self, config, **kwargs):
        from .trainer import train

        return train(config, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
