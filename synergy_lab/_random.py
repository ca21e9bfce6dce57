"""Seeds: every random choice in synergy_lab flows from an explicit ``random_state``."""

from __future__ import annotations

import numpy as np


def as_generator(random_state) -> np.random.Generator:
    """``numpy.random.Generator`` from a non-negative int seed, a Generator (as is), or None (fresh entropy).

    Raises
    ------
    TypeError
        For anything else (a legacy ``RandomState`` included: it cannot be spawned reproducibly).
    ValueError
        For a negative seed.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    is_int = isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)
    if random_state is None or is_int:
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state}")
        return np.random.default_rng(random_state)
    raise TypeError(
        f"random_state must be an int, a numpy.random.Generator or None, got {type(random_state).__name__}"
    )
