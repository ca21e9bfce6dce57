"""Jointly Gaussian sources and target whose covariance dials redundancy, uniqueness and synergy.

Every recipe is a linear-Gaussian model, so its exact covariance, and from it the exact PID, is known in
closed form (:func:`synergy_lab.pid.gaussian.decompose_gaussian`); samples are drawn from that covariance.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..pid.gaussian import _validate_dims, decompose_gaussian
from ._dataset import SyntheticDataset, as_generator, ground_truth_row, ground_truth_table

#: Recipes accepted by :func:`gaussian_covariance` and :func:`make_gaussian`.
RECIPES = ("redundant", "unique", "synergy", "mixed", "random")

#: Which amplitude knobs each recipe uses; passing another one is an error rather than silently ignored.
_RECIPE_CHANNELS = {
    "redundant": ("redundancy",),
    "unique": ("unique",),
    "synergy": ("synergy",),
    "mixed": ("redundancy", "unique", "synergy"),
    "random": (),
}


def _check_recipe(recipe) -> str:
    key = recipe.lower() if isinstance(recipe, str) else recipe
    if key not in _RECIPE_CHANNELS:
        raise ValueError(f"unknown Gaussian recipe {recipe!r}; valid recipes are {list(RECIPES)}")
    return key


def _is_finite_real(value) -> bool:
    # bool is an int subclass, but True as an amplitude or noise level is a mistake, not 1.0.
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and bool(np.isfinite(value))


def _check_amplitudes(recipe: str, knobs: dict) -> dict:
    """Amplitudes of the redundant, unique and synergistic channels, 0.0 for channels the recipe lacks."""
    used = _RECIPE_CHANNELS[recipe]
    out = {}
    for name, value in knobs.items():
        if name not in used:
            if value not in (None, 0, 0.0):
                raise ValueError(f"recipe {recipe!r} does not use {name}={value!r}; it uses {list(used)}")
            out[name] = 0.0
            continue
        value = 1.0 if value is None else value
        if not _is_finite_real(value) or value < 0:
            raise ValueError(f"{name} must be a finite amplitude >= 0, got {value!r}")
        out[name] = float(value)
    if used and not any(out[name] > 0 for name in used):
        # All target channels off would make Y identically zero: a singular covariance.
        raise ValueError(f"recipe {recipe!r} needs a positive amplitude among {list(used)}, got {knobs}")
    return out


def _measurement(d: int, dy: int, k: int) -> np.ndarray:
    """(d, dy) map whose source coordinate j reads target coordinate j for j < k, and nothing else."""
    out = np.zeros((d, dy))
    out[np.arange(k), np.arange(k)] = 1.0
    return out


def _channel_covariance(dims, redundancy: float, unique: float, synergy: float, noise: float) -> np.ndarray:
    """Covariance of the channel model documented in :func:`gaussian_covariance`, as loadings @ loadings.T."""
    d1, d2, dy = dims
    # Source coordinate j measures target coordinate j. The shared channels stop at the coordinates both
    # sources have, so unequal dimensions do not turn redundancy or synergy into unique information.
    shared = min(d1, d2, dy)
    s1, s2 = _measurement(d1, dy, shared), _measurement(d2, dy, shared)
    own1, iy, zero = _measurement(d1, dy, min(d1, dy)), np.eye(dy), np.zeros
    # Columns: latents C (shared), A (X1 only), B1, B2 (synergy halves), then source noises N1, N2.
    loadings = np.block([
        [redundancy * s1, unique * own1, synergy * s1, zero((d1, dy)), noise * np.eye(d1), zero((d1, d2))],
        [redundancy * s2, zero((d2, dy)), zero((d2, dy)), synergy * s2, zero((d2, d1)), noise * np.eye(d2)],
        [redundancy * iy, unique * iy, synergy * iy, synergy * iy, zero((dy, d1)), zero((dy, d2))],
    ])
    return loadings @ loadings.T


def gaussian_covariance(recipe: str = "mixed", dims=(1, 1, 1), *, redundancy=None, unique=None, synergy=None,
                        noise: float = 1.0, random_state=None) -> np.ndarray:
    """Exact joint covariance of ``[X1, X2, Y]`` for one of the :data:`RECIPES`.

    The structured recipes share one channel model. Latents C, A, B1, B2 ~ N(0, I_dy) and noises
    N1 ~ N(0, I_d1), N2 ~ N(0, I_d2) are independent::

        Y  = r C + u A + s (B1 + B2)
        X1 = S1 (r C + s B1) + F1 u A + noise N1
        X2 = S2 (r C + s B2)          + noise N2

    with ``r = redundancy``, ``u = unique``, ``s = synergy``. ``r C`` is seen by both sources (redundancy),
    ``u A`` by X1 only (unique to X1), and ``s (B1 + B2)`` needs both sources at once (synergy, as in
    Y = X1 + X2 + noise; under MMI the sum also carries some redundancy). Source coordinate j reads target
    coordinate j: through ``S_i`` for the first ``min(d1, d2, dy)`` target coordinates (those both sources
    can see), through ``F1`` for the first ``min(d1, dy)``. Other source coordinates are pure noise and
    other target coordinates are seen by no source.

    Parameters
    ----------
    recipe : {"redundant", "unique", "synergy", "mixed", "random"}
        ``"redundant"``: only ``r`` (X_i = S_i Y + noise N_i); ``"unique"``: only ``u`` (X2 is pure noise,
        so R = S = 0); ``"synergy"``: only ``s``; ``"mixed"``: all three; ``"random"``: ``G G.T / D``
        with ``G`` a (D, D) standard-normal draw, ``D = d1 + d2 + dy`` (a seeded Wishart draw with D degrees
        of freedom), plus ``noise**2`` on the diagonal of the source block. Its atoms are arbitrary and mostly
        small for scalar variables; it exists to exercise estimators and identities on generic covariances.
    dims : tuple of 3 ints
        ``(d1, d2, dy)``, each >= 1.
    redundancy, unique, synergy : float >= 0 or None
        Channel amplitudes; ``None`` means 1.0 for a channel the recipe uses. Setting a channel the recipe
        does not use raises, rather than being ignored.
    noise : float > 0, default 1.0
        Standard deviation of the independent noise on every source coordinate. Zero would make a
        source a deterministic function of the latents: a singular covariance with infinite information.
    random_state : int, numpy.random.Generator or None
        Only ``"random"`` draws from it.

    Returns
    -------
    numpy.ndarray, shape (d1 + d2 + dy, d1 + d2 + dy)

    Examples
    --------
    >>> from synergy_lab.data.gaussian import gaussian_covariance
    >>> gaussian_covariance("redundant", (1, 1, 1), redundancy=2.0)
    array([[5., 4., 4.],
           [4., 5., 4.],
           [4., 4., 4.]])
    """
    knobs = {"redundancy": redundancy, "unique": unique, "synergy": synergy}
    return _recipe_covariance(recipe, dims, knobs, noise, random_state, ("dims[0]", "dims[1]", "dims[2]"))[2]


def _recipe_covariance(recipe, dims, knobs: dict, noise, random_state, dim_names):
    """``(recipe key, resolved amplitudes, covariance)`` after validating every argument."""
    key = _check_recipe(recipe)
    d1, d2, dy = _validate_dims(dims, labels=dim_names)
    if not _is_finite_real(noise) or noise <= 0:
        raise ValueError(f"noise must be a finite standard deviation > 0, got {noise!r}")
    amps = _check_amplitudes(key, knobs)
    if key != "random":
        return key, amps, _channel_covariance((d1, d2, dy), noise=float(noise), **amps)
    size = d1 + d2 + dy
    g = as_generator(random_state).standard_normal((size, size))
    cov = g @ g.T / size
    # Noise on the sources only, as in the channel model; the Wishart part alone is already PD (df = D).
    cov[: d1 + d2, : d1 + d2] += float(noise) ** 2 * np.eye(d1 + d2)
    return key, amps, 0.5 * (cov + cov.T)


def make_gaussian(n_samples: int = 10000, dim1: int = 1, dim2: int = 1, dim_y: int = 1, recipe: str = "mixed",
                  redundancy=None, unique=None, synergy=None, noise: float = 1.0,
                  random_state=None) -> SyntheticDataset:
    """Samples of jointly Gaussian (X1, X2, Y) with the exact MMI decomposition as ground truth.

    Parameters
    ----------
    n_samples : int, default 10000
    dim1, dim2, dim_y : int, default 1
        Dimensions of X1, X2 and Y.
    recipe, redundancy, unique, synergy, noise
        The covariance recipe and its knobs; see :func:`gaussian_covariance`.
    random_state : int, numpy.random.Generator or None
        Seeds the covariance (``"random"`` recipe, drawn first) and then the samples, so an int seed
        reproduces both and ``gaussian_covariance(..., random_state=seed)`` equals ``params["cov"]``.

    Returns
    -------
    SyntheticDataset
        ``name="gaussian"``, ``x1`` (n, dim1), ``x2`` (n, dim2), ``targets={"y": (n, dim_y)}``, ground truth
        from ``decompose_gaussian(cov, dims, "mmi")``, no factors, and ``params`` with the resolved knobs and
        the exact covariance as a nested list under ``"cov"``.

    Raises
    ------
    ValueError
        For a non-positive ``n_samples`` or dimension, an unknown recipe (the valid ones are listed),
        ``noise <= 0``, a negative amplitude, or a knob the recipe does not use.

    Examples
    --------
    >>> from synergy_lab.data.gaussian import make_gaussian
    >>> ds = make_gaussian(n_samples=500, recipe="synergy", random_state=0)
    >>> ds.x1.shape, ds.targets["y"].shape
    ((500, 1), (500, 1))
    >>> truth = ds.truth("y")
    >>> truth["synergy"] > truth["redundancy"]
    True
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    rng = as_generator(random_state)
    knobs = {"redundancy": redundancy, "unique": unique, "synergy": synergy}
    dims = (dim1, dim2, dim_y)
    key, amps, cov = _recipe_covariance(recipe, dims, knobs, noise, rng, ("dim1", "dim2", "dim_y"))
    # Standard normals through the exact Cholesky factor: the population covariance is exactly ``cov``.
    samples = rng.standard_normal((int(n_samples), cov.shape[0])) @ np.linalg.cholesky(cov).T
    d1, d2, _ = dims
    params = {"recipe": key, "n_samples": int(n_samples), "dim1": dims[0], "dim2": dims[1], "dim_y": dims[2]}
    params.update({name: (amps[name] if name in _RECIPE_CHANNELS[key] else None) for name in amps})
    params.update({"noise": float(noise), "cov": cov.tolist()})
    truth = ground_truth_table([ground_truth_row("y", decompose_gaussian(cov, dims, "mmi"))])
    x1, x2, y = (np.ascontiguousarray(part) for part in np.split(samples, [d1, d1 + d2], axis=1))
    return SyntheticDataset(name="gaussian", x1=x1, x2=x2, targets={"y": y}, ground_truth=truth, factors={},
                            params=params)
