"""The result object every PID measure returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

#: Round-off below this many bits may be clamped to zero; anything more negative is a bug and raises.
CLAMP_TOL_BITS = 1e-9

COMPONENTS = ("redundancy", "unique1", "unique2", "synergy")


@dataclass(frozen=True)
class PIDResult:
    """A two-source partial information decomposition, in bits.

    The identities ``redundancy + unique1 == mi_1``, ``redundancy + unique2 == mi_2`` and
    ``redundancy + unique1 + unique2 + synergy == mi_joint`` hold by construction.

    Attributes
    ----------
    redundancy, unique1, unique2, synergy : float
        The four atoms (bits).
    mi_1, mi_2, mi_joint : float
        I(X1;Y), I(X2;Y), I(X1,X2;Y) (bits).
    measure : str
        Name of the redundancy measure.
    gap : float
        Certified optimality gap of the underlying optimisation (bits); 0.0 for closed-form measures.
    joint : numpy.ndarray or None
        For discrete BROJA, the optimal joint table q(x1, x2, y) in the set that keeps p's (X1,Y) and (X2,Y)
        marginals; for the Gaussian BROJA-type measure, the optimal coupling's joint covariance of
        [X1, X2, Y].
    info : dict
        Solver diagnostics (iterations, time, ...).
    """

    redundancy: float
    unique1: float
    unique2: float
    synergy: float
    mi_1: float
    mi_2: float
    mi_joint: float
    measure: str
    gap: float = 0.0
    joint: np.ndarray | None = field(default=None, repr=False, compare=False)
    info: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_redundancy(cls, redundancy, mi_1, mi_2, mi_joint, measure, *, clamp=True, **extra):
        """Build the decomposition implied by a redundancy value and the three mutual informations."""
        r = float(redundancy)
        atoms = {
            "redundancy": r,
            "unique1": mi_1 - r,
            "unique2": mi_2 - r,
            "synergy": mi_joint - mi_1 - mi_2 + r,
        }
        if clamp:
            atoms = clamp_atoms(atoms, measure)
        mis = {"mi_1": float(mi_1), "mi_2": float(mi_2), "mi_joint": float(mi_joint)}
        if "gap" in extra:
            extra["gap"] = float(extra["gap"])
        return cls(**atoms, **mis, measure=measure, **extra)

    def as_dict(self) -> dict:
        """The atoms, mutual informations, measure and gap as a plain dict (no joint table)."""
        d = asdict(self)
        d.pop("joint")
        d.pop("info")
        return d

    def atoms(self) -> dict:
        """``{"redundancy": R, "unique1": U1, "unique2": U2, "synergy": S}``."""
        return {k: getattr(self, k) for k in COMPONENTS}


def clamp_atoms(atoms: dict, measure: str, tol: float = CLAMP_TOL_BITS) -> dict:
    """Set atoms in ``[-tol, 0)`` to zero, raise on anything more negative.

    Only measures whose atoms are provably non-negative are clamped; the caller decides.
    Clamping moves an identity by at most ``tol`` bits.
    """
    out = dict(atoms)
    for name, value in atoms.items():
        if not np.isfinite(value):
            raise ArithmeticError(f"{measure}: {name} is not finite ({value!r})")
        if value < -tol:
            raise ArithmeticError(
                f"{measure}: {name} = {value:.3e} bits is negative beyond round-off ({tol:g}); this is a bug"
            )
        if value < 0:
            out[name] = 0.0
    return out
