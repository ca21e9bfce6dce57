"""Tuning constants of the BROJA solver, grouped in one frozen object (defaults are the measured choices)."""

from __future__ import annotations

from dataclasses import dataclass, fields

#: Default certified-gap tolerance in bits. Tighter than the 1e-7 bit the API promises, so that atoms
#: that are exactly zero (e.g. R on COPY) come out within the 1e-9 bit round-off clamp.
DEFAULT_TOL_BITS = 1e-10
#: Gap (bits) accepted when every method stalls in floating point before reaching ``tol``.
STALL_TOL_BITS = 1e-7

PATHS = ("auto", "lean", "general", "entry")
_CHOICES = {"normal": ("auto", "dense", "block"), "system": ("auto", "cells", "multipliers")}


@dataclass(frozen=True)
class BrojaOptions:
    """Tuning of :func:`synergy_lab.pid.solvers.broja.solve_broja`; every field has a measured default.

    Path choice
        lean_flop_factor, general_overhead_flops: the lean path is taken while its factorisation flops are
        at most ``lean_flop_factor`` times the general path's plus ``general_overhead_flops`` (the general
        path's per-iteration numpy calls, about 1 ms). Measured: lean is faster up to 20x20x20, as fast at
        24x24x24; general at 32x32x32 and on 4x4x64.
    Linear algebra
        normal: the lean path's normal equations, ``"dense"`` (one Cholesky), ``"block"`` (alpha blocks,
        then the beta Schur complement) or ``"auto"`` (the cheaper by flops, counting
        ``block_overhead_flops`` for the block form's extra numpy calls: dense is faster up to 10x10x10).
        system: the general path's Newton system, ``"cells"``, ``"multipliers"`` or ``"auto"`` (cheaper).
        slab_elements: elements of the cell-system slab built per batched GEMM (about 4 MB).
        ridge_attempts: factorisations retried with a growing ridge when round-off breaks definiteness.
    Tiny entries
        tiny_mass: entries below this mass are set aside while solving and the solution is certified on
        the whole table (see ``solve``); split_margin: how far (nats) the multiplier of a marginal row
        populated only by such entries is kept below the multipliers it is paired with.
    Barrier (both paths)
        step_to_boundary: fraction of the largest step to the slack bound; cell_shrink: a Newton step may
        shrink an entry to this fraction of its value at most (clipped there); cell_start_margin: the
        dual slack of the general start's heaviest cell; sinkhorn_rounds: alternating best responses
        that read multipliers off the primal for the certificate.
    Lean path
        first_sigma: centring of the first step (later ones follow the progress); reproject_rounds:
        projection rounds with the last Newton factor before a new one; start_blend, start_mu: the start's
        slacks are start_blend of the way from dual feasible to centred at mu * cells = start_mu;
        certify_from, certify_after: iterates are projected and certified once the complementarity sum is
        below certify_from * tol, or after certify_after iterations; certify_pending: certify_from while
        the Newton phase is still to come.
    Newton phase (lean path)
        newton_phase: try it (once the complementarity sum is below newton_from and every cell is clearly
        live or vanishing: live_ratio on (exp(s) - 1) / q(x1,x2), pred_live / pred_vanish on the relative
        change of q(x1,x2) the last affine step asked for); newton_steps at most, each cutting the
        complementarity by newton_rate; certified once it is below newton_certify * tol; a live cell's
        slack shrinks to newton_s_floor of itself at most per step.
    """

    lean_flop_factor: float = 1.6
    general_overhead_flops: float = 1e7
    normal: str = "auto"
    block_overhead_flops: float = 4e6
    system: str = "auto"
    slab_elements: int = 1 << 19
    ridge_attempts: int = 4
    tiny_mass: float = 1e-18
    split_margin: float = 50.0
    step_to_boundary: float = 0.995
    cell_shrink: float = 0.1
    cell_start_margin: float = 0.1
    sinkhorn_rounds: int = 30
    first_sigma: float = 0.1
    reproject_rounds: int = 4
    start_blend: float = 0.8
    start_mu: float = 0.1
    certify_from: float = 100.0
    certify_after: int = 30
    certify_pending: float = 1.0
    newton_phase: bool = True
    newton_from: float = 1e-5
    live_ratio: float = 1e-2
    pred_live: float = 0.2
    pred_vanish: float = 0.5
    newton_steps: int = 6
    newton_rate: float = 0.1
    newton_certify: float = 1.0
    newton_s_floor: float = 1e-3

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _CHOICES:
                if value not in _CHOICES[f.name]:
                    choices = _CHOICES[f.name]
                    raise ValueError(f"BrojaOptions.{f.name} must be one of {choices}, got {value!r}")
            elif f.type == "bool":
                if not isinstance(value, bool):
                    raise TypeError(f"BrojaOptions.{f.name} must be a bool, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"BrojaOptions.{f.name} must be a non-negative number, got {value!r}")


DEFAULT_OPTIONS = BrojaOptions()
