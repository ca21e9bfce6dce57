"""The discrete PID measures, one definition per module; importing this package registers each of them.

The solvers they need live in :mod:`synergy_lab.pid.solvers`; the registry and ``decompose`` in
``synergy_lab.pid._base``.
"""

from . import broja, ccs, imin, mmi  # noqa: F401  (each module registers its measure)
