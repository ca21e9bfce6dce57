"""Closed-form PID of jointly Gaussian sources and target from their covariance (numpy/scipy only, no torch).

For jointly Gaussian blocks A, B every mutual information is a ratio of determinants,
``I(A;B) = 1/2 log2(det S_A det S_B / det S_AB)``, so the MMI decomposition needs no samples and no solver.
The Gaussian BROJA-type PID (~G-PID) is an optimisation over couplings that also has a closed-form minimum;
see :mod:`synergy_lab.pid.solvers.gaussian`.
"""

from __future__ import annotations

import operator

import numpy as np

from ._result import PIDResult
from .solvers.gaussian import solve_gaussian_broja

#: Measures :func:`decompose_gaussian` computes.
GAUSSIAN_MEASURES = ("mmi", "broja")

#: Tolerance of the symmetry check, relative to each entry's own scale ``sqrt(cov_ii cov_jj)`` (an entry of
#: the correlation matrix): round-off from ``A @ A.T`` is far below it, a typo is far above.
SYMMETRY_RTOL = 1e-10


def validate_covariance(cov, name: str = "cov") -> np.ndarray:
    """Return ``cov`` as a symmetric float64 array after checking it is a positive-definite covariance.

    Every check is scale-free: symmetry is measured entry by entry on the correlation scale,
    ``|cov_ij - cov_ji| / sqrt(cov_ii cov_jj)``, so a large variance elsewhere in the matrix cannot hide an
    asymmetric pair of small variables, and positive definiteness is tested after the exact power-of-two
    rescaling of :func:`_rescale`, so variances of 1e-300 or 1e300 are as valid as variances of 1.

    Raises
    ------
    ValueError
        If ``cov`` is not numeric, not a non-empty square 2-D array, holds NaN or inf, has a variance that
        is not positive, is not symmetric (relative tolerance ``SYMMETRY_RTOL``), or is not positive
        definite.
    """
    try:
        arr = np.array(cov, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array, got {type(cov).__name__}: {exc}") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square 2-D matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"{name} has {bad} non-finite entries (NaN or inf)")
    diag = np.diag(arr)
    if np.any(diag <= 0):
        i = int(np.argmin(diag))
        raise ValueError(f"{name} is not positive definite: the variance {name}[{i}, {i}] = {diag[i]:.3g} is "
                         "not positive")
    scaled = _rescale(arr)
    # After the rescaling each variance lies in [1/2, 2]: dividing by sqrt(var_i var_j) is exact enough.
    root = np.sqrt(np.diag(scaled))
    rel = np.abs(scaled - scaled.T) / (root[:, None] * root[None, :])
    if float(rel.max()) > SYMMETRY_RTOL:
        i, j = np.unravel_index(int(np.argmax(rel)), rel.shape)
        raise ValueError(
            f"{name} is not symmetric: |{name}[{i}, {j}] - {name}[{j}, {i}]| / sqrt({name}[{i}, {i}] "
            f"{name}[{j}, {j}]) = {float(rel[i, j]):.3g} exceeds {SYMMETRY_RTOL:g}"
        )
    # Average away the tolerated round-off so both triangles agree exactly.
    arr = 0.5 * (arr + arr.T)
    scaled = 0.5 * (scaled + scaled.T)
    try:
        np.linalg.cholesky(scaled)
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(scaled)[0])
        raise ValueError(
            f"{name} is not positive definite (smallest eigenvalue {smallest:.3g} after scaling every "
            "variance into [1/2, 2]); a singular covariance means some variable is a deterministic function "
            "of others and the information is infinite"
        ) from None
    return arr


def _logdet_pd(mat: np.ndarray) -> float:
    """Natural log-determinant of a positive-definite matrix through its Cholesky factor (no overflow)."""
    return 2.0 * float(np.sum(np.log(np.diag(np.linalg.cholesky(mat)))))


def _as_indices(idx, n: int, name: str) -> np.ndarray:
    if isinstance(idx, slice):
        out = np.arange(n)[idx]
    else:
        out = np.atleast_1d(np.asarray(idx))
        if out.ndim != 1 or not (np.issubdtype(out.dtype, np.integer) or out.size == 0):
            raise ValueError(f"{name} must be an int, a 1-D sequence of ints or a slice, got {idx!r}")
    if out.size == 0:
        raise ValueError(f"{name} selects no variables")
    if out.min() < 0 or out.max() >= n:
        raise ValueError(f"{name} has indices outside 0..{n - 1}: {out.tolist()}")
    if np.unique(out).size != out.size:
        raise ValueError(f"{name} repeats an index: {out.tolist()}")
    return out.astype(np.intp)


def _mutual_information_bits(scaled: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    def logdet(idx):
        return _logdet_pd(scaled[np.ix_(idx, idx)])

    nats = 0.5 * (logdet(a) + logdet(b) - logdet(np.concatenate([a, b])))
    # Fischer's inequality makes this >= 0; only round-off (~1e-16) can push it below.
    return max(float(nats / np.log(2.0)), 0.0)


def _rescale(cov: np.ndarray) -> np.ndarray:
    """``cov`` with every variance brought into [1/2, 2] by an exact power-of-two scaling of each variable.

    Mutual information is invariant to rescaling a variable, and this keeps the log-determinants away from
    overflow and underflow for any units. Powers of two are exact in floating point, so, unlike a division by
    the standard deviations, the scaling adds no round-off: a nearly deterministic relation such as
    ``Var(Y | X) = 1e-12`` keeps the precision the input has.
    """
    scale = _rescale_factors(cov)
    return cov * scale[:, None] * scale[None, :]


def _rescale_factors(cov: np.ndarray) -> np.ndarray:
    """The powers of two :func:`_rescale` multiplies each variable by."""
    return np.exp2(-np.round(0.5 * np.log2(np.diag(cov))))


def gaussian_mutual_information(cov, idx_a, idx_b) -> float:
    """Mutual information ``I(A;B)`` in bits between two blocks of a jointly Gaussian vector.

    Parameters
    ----------
    cov : array_like, shape (n, n)
        Covariance of the whole vector: symmetric, finite and positive definite.
    idx_a, idx_b : int, sequence of int or slice
        Disjoint, non-empty sets of positions of the blocks A and B in ``cov``.

    Returns
    -------
    float
        ``1/2 log2(det S_A det S_B / det S_AB)`` computed from Cholesky log-determinants.

    Raises
    ------
    ValueError
        For an invalid covariance (see :func:`validate_covariance`), or indices that are empty, out of range,
        repeated or shared between the two blocks (a shared variable makes the information infinite).

    Examples
    --------
    Two standard normals with correlation 0.6 share ``-1/2 log2(1 - 0.36)`` bits:

    >>> from synergy_lab.pid.gaussian import gaussian_mutual_information
    >>> round(gaussian_mutual_information([[1.0, 0.6], [0.6, 1.0]], 0, 1), 6)
    0.321928
    """
    arr = validate_covariance(cov)
    n = arr.shape[0]
    a = _as_indices(idx_a, n, "idx_a")
    b = _as_indices(idx_b, n, "idx_b")
    shared = np.intersect1d(a, b)
    if shared.size:
        raise ValueError(f"idx_a and idx_b must be disjoint, both contain {shared.tolist()}")
    return _mutual_information_bits(_rescale(arr), a, b)


def _validate_dims(dims, labels=("d1", "d2", "dy")) -> tuple[int, int, int]:
    """Three positive ints; ``labels`` name them in the error message (the caller's parameter names)."""
    spelled = ", ".join(labels)
    try:
        parts = list(dims)
    except TypeError:
        raise ValueError(f"dims must be three positive ints ({spelled}), got {dims!r}") from None
    if len(parts) != 3:
        raise ValueError(f"dims must be three positive ints ({spelled}), got {len(parts)} values: {dims!r}")
    out = []
    for label, d in zip(labels, parts, strict=True):
        try:
            value = operator.index(d)
        except TypeError:
            value = None
        if value is None or isinstance(d, (bool, np.bool_)) or value < 1:
            raise ValueError(f"dims must be three positive ints ({spelled}), got {label} = {d!r}")
        out.append(int(value))
    return out[0], out[1], out[2]


def decompose_gaussian(cov, dims, measure: str = "mmi") -> PIDResult:
    """Exact PID of jointly Gaussian sources X1, X2 and target Y from their joint covariance.

    Parameters
    ----------
    cov : array_like, shape (d1 + d2 + dy, d1 + d2 + dy)
        Joint covariance in the order ``[X1, X2, Y]``: symmetric, finite and positive definite.
    dims : tuple of 3 ints
        ``(d1, d2, dy)``, the dimensions of X1, X2 and Y.
    measure : {"mmi", "broja"}
        ``"mmi"``: minimum mutual information, R = min(I(X1;Y), I(X2;Y)). For a scalar target it coincides
        with the Gaussian BROJA-type PID and with any PID whose unique information depends only on the
        (Xi, Y) marginals (Barrett 2015); for a multivariate target it generally over-counts redundancy.
        ``"broja"``: the Gaussian BROJA-type PID, the ~G-PID of Venkatesh, Bhattacharya et al. (NeurIPS
        2023): the union information ``I_q(X1,X2;Y)`` minimised over jointly Gaussian ``q`` with the
        (X1,Y) and (X2,Y) marginals of ``cov``, i.e. over the X1-X2 cross-covariance. Its minimum has a
        closed form (derived in :mod:`synergy_lab.pid.solvers.gaussian`): with ``lambda_k`` the eigenvalues
        of ``Cov(Y|X2)^-1 Cov(Y|X1)``, ``U1 = 1/2 sum log2 max(1, 1/lambda_k)`` and
        ``U2 = 1/2 sum log2 max(1, lambda_k)``. Cost O(d^3), no iterations.

    Returns
    -------
    PIDResult
        Atoms and ``mi_1 = I(X1;Y)``, ``mi_2 = I(X2;Y)``, ``mi_joint = I(X1,X2;Y)`` in bits.
        For ``"mmi"``: ``gap = 0``. For ``"broja"``: ``gap`` is the certificate, the objective at the
        returned coupling minus the closed-form minimum (only round-off, typically below 1e-12 bit);
        ``joint`` is the optimal coupling's joint covariance of ``[X1, X2, Y]`` (equal to ``cov`` except
        in the X1-X2 blocks; at a tie ``lambda_k = 1`` the optimum lies on the boundary and ``joint`` is the
        strictly feasible point ``info["shrink"]`` away from it); ``info`` holds ``eigenvalues``
        (``lambda_k``, decreasing), ``iterations`` (0), ``seconds``, ``shrink`` and ``roundoff_bits`` (how far
        the two closed-form expressions of the union information, ``mi_1 + U2`` and ``mi_2 + U1``, and the
        bounds ``max(mi_1, mi_2) <= union <= min(mi_1 + mi_2, mi_joint)`` disagree).

    Raises
    ------
    ValueError
        For bad ``dims``, a covariance whose size is not ``d1 + d2 + dy`` or that is not a valid covariance,
        or an unknown measure (the message lists the valid ones).

    Notes
    -----
    ``gap`` certifies the optimisation, not the input's conditioning: every information here (MMI too) is
    computed in float64 from Cholesky factors, and for a covariance whose condition number after the
    power-of-two rescaling is ``kappa`` its error is of the order of ``1e-16 * kappa`` bits (about 1e-3 bit
    at ``kappa = 1e12``; below 1e-10 bit for ``kappa <= 1e5``).

    Examples
    --------
    X1, X2 iid N(0, 1) and Y = X1 + X2 + N(0, 1): I(Y;Xi) = 1/2 log2(3/2) is redundant and the sum adds
    S = I(Y;X1,X2) - I(Y;X1) = 1/2 log2(3) - 1/2 log2(3/2) = 0.5 bit of synergy.

    >>> from synergy_lab.pid.gaussian import decompose_gaussian
    >>> cov = [[1, 0, 1], [0, 1, 1], [1, 1, 3]]
    >>> r = decompose_gaussian(cov, (1, 1, 1))
    >>> round(r.redundancy, 6), round(r.unique1, 6), round(r.unique2, 6), round(r.synergy, 6)
    (0.292481, 0.0, 0.0, 0.5)

    For a multivariate target the two measures differ. In the doubling system of Venkatesh et al.,
    Y ~ N(0, I_2), X1 = diag(2, 1) Y + N(0, I), X2 = diag(1, sqrt 2) Y + N(0, I), X1 is better on the
    first coordinate and X2 on the second, so each has unique information that MMI cannot see:

    >>> import numpy as np
    >>> h = np.vstack([np.diag([2.0, 1.0]), np.diag([1.0, np.sqrt(2.0)]), np.eye(2)])
    >>> cov = h @ h.T + np.diag([1.0, 1, 1, 1, 0, 0])
    >>> b = decompose_gaussian(cov, (2, 2, 2), measure="broja")
    >>> [round(v, 4) for v in (b.redundancy, b.unique1, b.unique2, b.synergy)], b.gap < 1e-9
    ([1.0, 0.661, 0.2925, 0.339], True)
    >>> m = decompose_gaussian(cov, (2, 2, 2), measure="mmi")
    >>> [round(v, 4) for v in (m.redundancy, m.unique1, m.unique2, m.synergy)]
    [1.2925, 0.3685, 0.0, 0.6315]
    """
    key = measure.lower() if isinstance(measure, str) else measure
    if key not in GAUSSIAN_MEASURES:
        raise ValueError(
            f"unknown Gaussian PID measure {measure!r}; valid measures are {list(GAUSSIAN_MEASURES)}"
        )
    d1, d2, dy = _validate_dims(dims)
    arr = validate_covariance(cov)
    if arr.shape[0] != d1 + d2 + dy:
        raise ValueError(
            f"cov has size {arr.shape[0]} but dims {(d1, d2, dy)} need d1 + d2 + dy = {d1 + d2 + dy}"
        )
    scaled = _rescale(arr)
    x1, x2, y = np.arange(d1), np.arange(d1, d1 + d2), np.arange(d1 + d2, d1 + d2 + dy)
    mi_1 = _mutual_information_bits(scaled, x1, y)
    mi_2 = _mutual_information_bits(scaled, x2, y)
    mi_joint = _mutual_information_bits(scaled, np.concatenate([x1, x2]), y)
    if key == "mmi":
        return PIDResult.from_redundancy(
            min(mi_1, mi_2), mi_1, mi_2, mi_joint, "mmi", clamp=True, info={"dims": (d1, d2, dy)}
        )
    return _broja_result(arr, scaled, (d1, d2, dy), mi_1, mi_2, mi_joint)


def _broja_result(arr, scaled, dims, mi_1, mi_2, mi_joint) -> PIDResult:
    """Assemble the ~G-PID result: union information, consistency bounds, coupling in the input's units."""
    d1, d2, _ = dims
    sol = solve_gaussian_broja(scaled, dims)
    candidates = (mi_1 + sol.unique2, mi_2 + sol.unique1)
    union = 0.5 * (candidates[0] + candidates[1])
    # In exact arithmetic max(mi_1, mi_2) <= union <= min(mi_1 + mi_2, mi_joint); clip round-off, record it.
    clipped = float(np.clip(union, max(mi_1, mi_2), max(min(mi_1 + mi_2, mi_joint), max(mi_1, mi_2))))
    roundoff = max(abs(candidates[0] - candidates[1]) / 2, abs(clipped - union))
    scale = _rescale_factors(arr)
    joint = arr.copy()
    cross = sol.cross_cov / (scale[:d1, None] * scale[None, d1:d1 + d2])
    joint[:d1, d1:d1 + d2], joint[d1:d1 + d2, :d1] = cross, cross.T
    info = {"dims": dims, **sol.info, "eigenvalues": sol.eigenvalues, "roundoff_bits": roundoff}
    return PIDResult.from_redundancy(
        mi_1 + mi_2 - clipped, mi_1, mi_2, mi_joint, "broja", clamp=True, gap=sol.gap, joint=joint, info=info
    )
