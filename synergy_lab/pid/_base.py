"""Shared base of the discrete PID measures: validation, mutual informations, result assembly."""

from __future__ import annotations

import functools
import inspect
import math
import numbers

import numpy as np

from ._result import PIDResult
from ._tables import mutual_informations, validate_table


class DiscreteMeasure:
    """A redundancy measure on a joint table ``p[x1, x2, y]``.

    Subclasses set :attr:`name`, :attr:`nonnegative` and implement :meth:`_redundancy`,
    which returns the redundancy in bits and optional extra result fields (``gap``, ``joint``, ``info``).
    Every other atom follows from the redundancy and the three mutual informations, so the PID
    identities hold by construction.
    """

    name: str = ""
    #: Whether every atom is provably >= 0 (then round-off within 1e-9 bit is clamped, beyond raises).
    nonnegative: bool = True

    def decompose(self, p, **options) -> PIDResult:
        allowed = self.options()
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise TypeError(
                f"unknown option(s) {unknown} for the {self.name!r} measure; "
                f"it takes {allowed if allowed else 'no options'}"
            )
        table = validate_table(p)
        mi_1, mi_2, mi_joint = mutual_informations(table)
        redundancy, extra = self._redundancy(table, mi_1, mi_2, mi_joint, **options)
        return PIDResult.from_redundancy(
            redundancy, mi_1, mi_2, mi_joint, self.name, clamp=self.nonnegative, **extra
        )

    @classmethod
    @functools.cache
    def options(cls) -> tuple[str, ...]:
        """Names of the options :meth:`decompose` accepts (the keyword parameters of ``_redundancy``)."""
        params = list(inspect.signature(cls._redundancy).parameters.values())[5:]
        return tuple(q.name for q in params if q.kind is not inspect.Parameter.VAR_KEYWORD)

    def _redundancy(self, p: np.ndarray, mi_1: float, mi_2: float, mi_joint: float, **options):
        raise NotImplementedError


def positive_number(name, value):
    """``value`` as a float, if it is a positive finite real number; else TypeError/ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def integer_at_least(name, value, minimum):
    """``value`` as an int, if it is an integer >= ``minimum``; else TypeError/ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


_MEASURES: dict[str, DiscreteMeasure] = {}


def register(measure_cls):
    """Class decorator adding a measure to the registry under its ``name``."""
    _MEASURES[measure_cls.name] = measure_cls()
    return measure_cls


def get_measure(name: str) -> DiscreteMeasure:
    if not isinstance(name, str) or name.lower() not in _MEASURES:
        raise ValueError(f"unknown PID measure {name!r}; valid measures are {sorted(_MEASURES)}")
    return _MEASURES[name.lower()]


def available_measures() -> list[str]:
    return sorted(_MEASURES)


def decompose(p, measure: str = "broja", **options) -> PIDResult:
    """Exact partial information decomposition of a discrete joint table ``p[x1, x2, y]``.

    Parameters
    ----------
    p : array_like, shape (n1, n2, ny)
        Joint probability table of sources X1, X2 and target Y. Must be non-negative, finite and sum to 1.
    measure : {"broja", "imin", "mmi", "ccs"}
        Redundancy measure. ``"broja"`` (Bertschinger et al. 2014) is solved to a certified optimality gap.
    **options
        Passed to the measure (for BROJA: ``tol`` in bits, ``max_iter``, ``path``, ``options``; for CCS:
        ``tol``, ``max_iter``). An option the measure does not take raises TypeError naming it.

    Returns
    -------
    PIDResult
        ``redundancy``, ``unique1``, ``unique2``, ``synergy`` and ``mi_1``, ``mi_2``, ``mi_joint`` in bits.

    Examples
    --------
    >>> from synergy_lab.data import gate
    >>> from synergy_lab.pid import decompose
    >>> r = decompose(gate("and"))
    >>> round(r.redundancy, 6), round(r.synergy, 6)
    (0.311278, 0.5)
    """
    return get_measure(measure).decompose(p, **options)
