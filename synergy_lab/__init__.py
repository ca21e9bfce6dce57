"""synergy_lab: controlled experiments on synergy in multimodal representation learning.

Subpackages: :mod:`synergy_lab.pid` (partial information decomposition, numpy/scipy only) and
:mod:`synergy_lab.data` (generators with exact ground truth).
"""

__version__ = "0.1.0"

from . import data, pid  # noqa: E402,F401

__all__ = ["__version__", "data", "pid"]
