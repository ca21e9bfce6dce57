"""Name -> generator registry: ``make(name, **params)`` and ``describe(name, **params)``."""

from __future__ import annotations

import inspect

import pandas as pd

from ._dataset import SyntheticDataset
from .compositional import make_compositional
from .gates import make_gate
from .gaussian import make_gaussian

_GENERATORS = {
    "gate": make_gate,
    "compositional": make_compositional,
    "gaussian": make_gaussian,
}


def available_generators() -> list[str]:
    return sorted(_GENERATORS)


def _generator(name: str):
    if not isinstance(name, str) or name.lower() not in _GENERATORS:
        raise ValueError(f"unknown generator {name!r}; valid generators are {available_generators()}")
    return _GENERATORS[name.lower()]


def generator_parameters(name: str) -> dict:
    """The generator's keyword parameters and their defaults."""
    sig = inspect.signature(_generator(name))
    return {k: v.default for k, v in sig.parameters.items()}


def make(name: str, /, **params) -> SyntheticDataset:
    """Build a dataset by registry name.

    Parameters
    ----------
    name : {"gate", "compositional", "gaussian"}
    **params
        Keyword parameters of the generator (``make_gate``, ``make_compositional``, ``make_gaussian``).
        A parameter the generator does not take raises ValueError naming it.

    Examples
    --------
    >>> from synergy_lab.data import make
    >>> ds = make("gate", name="and", n_samples=10, random_state=0)
    >>> round(ds.truth("y")["redundancy"], 6)
    0.311278
    """
    fn = _generator(name)
    valid = generator_parameters(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for generator {name!r}; valid parameters are {sorted(valid)}"
        )
    return fn(**params)


def describe(name: str, /, **params) -> pd.DataFrame:
    """Ground-truth PID table (bits) of a generator's targets for the given parameters."""
    params.setdefault("n_samples", 200)
    return make(name, **params).ground_truth
