"""Exact BROJA solver: ``min_q I_q(X1,X2;Y)`` over the tables that keep p's (X1,Y) and (X2,Y) marginals.

Since H(Y) is fixed, this is the convex programme (Bertschinger, Rauh, Olbrich, Jost, Ay 2014)

    minimise   F(q) = sum q(x1,x2,y) ln( q(x1,x2,y) / q(x1,x2) )        (= -H_q(Y|X1,X2), nats)
    subject to sum_x2 q = p(x1,y),  sum_x1 q = p(x2,y),  q >= 0,

solved by a primal-dual interior-point method written for its structure (docs/pid.md walks through it):

* Only whole cells (x1,x2) are ever at the bound: inside a cell of positive mass F's gradient log(q/q(x1,x2))
  keeps every entry positive. The main method (barrier.cell_barrier) therefore pairs each cell's mass with
  its dual slack s = -logsumexp_y(alpha + beta), q(x1,x2) (exp(s) - 1) = mu, and needs about 16 iterations
  on random tables; the per-entry complementarity method (barrier.entry_barrier, about 25 iterations: a
  vanishing cell's entries are a degenerate block) is the fallback when the first cannot certify ``tol``.
* The Hessian of F is block diagonal, one ``ny x ny`` block ``diag(1/q) - 11'/q(x1,x2)`` per cell, inverted
  in closed form (Sherman-Morrison), so the Newton system reduces to the normal equations in the
  marginal multipliers (alpha(x1,y), beta(x2,y)) or to a system in the cells, whichever is cheaper
  (problem.Problem.newton_system).
* The Lagrange dual is ``max sum alpha p(x1,y) + sum beta p(x2,y)`` subject to
  ``logsumexp_y(alpha(x1,y) + beta(x2,y)) <= 0`` for every cell. Any multipliers become dual feasible
  by shifting alpha(x1,.) by the largest violation of its row, so every iterate yields a certified lower
  bound; the solver stops when primal value minus that bound (the reported ``gap``) is below ``tol``.
* Iterates are projected onto the marginals and certified only near convergence, the Newton steps carrying
  the marginal residual before; if that cannot certify ``tol``, the method is rerun certifying every
  iterate.
* Small and medium problems (up to about 20x20x20; solve.choose_path compares the flops) run the same
  cell-level method on flat arrays of the active entries (lean.py, flat.py, normal.py), where the general
  code would spend its time in numpy call overhead, and finish with a few pure Newton steps on the live
  cells once the vanishing ones are identified; if neither of its runs certifies ``tol``, the general
  methods take over.
* Entries below ``BrojaOptions.tiny_mass`` (masses near the end of the float range) are set aside while
  solving, and the solution is certified on the whole table (solve.py).

Modules: solve (entry point, path choice, tiny entries), options (BrojaOptions), problem (the programme,
its dual bounds, marginal projection and Newton systems), barrier (the general cell and entry barriers),
lean, flat and normal (the lean path), linalg (batched closed forms).
"""

from .options import DEFAULT_TOL_BITS, PATHS, STALL_TOL_BITS, BrojaOptions
from .solve import BrojaConvergenceError, solve_broja

__all__ = [
    "DEFAULT_TOL_BITS",
    "PATHS",
    "STALL_TOL_BITS",
    "BrojaConvergenceError",
    "BrojaOptions",
    "solve_broja",
]
