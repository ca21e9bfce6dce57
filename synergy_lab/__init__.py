"""synergy_lab: controlled experiments on synergy in multimodal representation learning.

Subpackages: :mod:`synergy_lab.pid` (partial information decomposition, numpy/scipy only),
:mod:`synergy_lab.data` (generators with exact ground truth) and :mod:`synergy_lab.train`
(``synergy_lab.train(config)``; loaded lazily, so ``import synergy_lab`` does not import torch).
"""

__version__ = "0.1.0"

from . import data, pid  # noqa: E402,F401

__all__ = ["__version__", "data", "pid", "train"]


def __getattr__(name):
    if name == "train":  # the callable training package; imported on first use (it pulls in torch)
        from importlib import import_module

        return import_module(f"{__name__}.train")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
