"""Optimisers behind the PID measures, kept apart from the definitions in :mod:`synergy_lab.pid.measures`.

``broja``: the exact BROJA programme (certified interior point); ``maxent``: the pairwise maximum-entropy
table of the CCS measure; ``gaussian``: the closed-form minimum of the Gaussian BROJA-type PID (~G-PID)
behind :func:`synergy_lab.pid.decompose_gaussian`.
"""
