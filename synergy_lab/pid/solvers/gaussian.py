"""Gaussian BROJA-type PID (the ~G-PID of Venkatesh, Bhattacharya et al., NeurIPS 2023), in closed form.

The ~G-PID minimises the union information ``I_q(X1,X2;Y)`` over jointly Gaussian ``q`` that keep the
``(X1,Y)`` and ``(X2,Y)`` marginals; the only free block is the X1-X2 cross-covariance. After whitening,
``X_i = H_i Y + N_i`` with ``Y ~ N(0, I)`` and ``N_i ~ N(0, I)``, the free variable is the noise
cross-covariance ``Sigma`` (``||Sigma||_2 <= 1``) and the objective is::

    f(Sigma) = 1/2 log2 det(I + H2' H2 + B' S^-1 B),   B = H1 - Sigma H2,   S = I - Sigma Sigma'.

This optimisation has a closed-form minimum. Write ``C_i = Cov(Y | X_i)`` and let ``lambda_k`` be the
eigenvalues of ``C_2^-1 C_1`` (``lambda_k > 1`` where X2 pins Y down better than X1). Then::

    U1 = 1/2 sum_k log2 max(1, 1/lambda_k),   U2 = 1/2 sum_k log2 max(1, lambda_k),
    union = I(X1;Y) + U2 = I(X2;Y) + U1.

Proof, in whitened coordinates with posterior precisions ``P_i = C_i^-1 = I + H_i' H_i``:

* Lower bound. Under any coupling ``q`` the precision ``P_q = Cov_q(Y | X1, X2)^-1`` satisfies
  ``P_q >= P_1`` and ``P_q >= P_2`` (Loewner order: conditioning on more shrinks the covariance), and the
  union information is ``1/2 log det P_q``. A congruence ``V`` with ``V' P_1 V = I``, ``V' P_2 V = diag(d)``
  turns ``min {log det P : P >= P_1, P >= P_2}`` into ``max {log det R : R <= I, R <= diag(1/d)}`` for
  ``R = (V' P V)^-1``. Those constraints are invariant under ``R -> D R D`` for every diagonal sign matrix
  ``D``, and ``log det`` is concave, so averaging over the ``D`` shows the diagonal of ``R`` is at least as
  good: the optimum is ``R = diag(min(1, 1/d_k))``, i.e. ``log det P_1 + sum_k log max(1, d_k)``; the
  ``d_k`` are the ``lambda_k`` above.
* Achievability. With ``P*`` that optimum and ``Q = P* - I >= H_i' H_i``, the statistic
  ``T = Q Y + W``, ``W ~ N(0, Q)``, has posterior precision ``P*``, and ``X_i = H_i Q^+ T + V_i`` with
  independent ``V_i ~ N(0, I - H_i Q^+ H_i')`` reproduces both marginals. ``Y -> T -> (X1, X2)`` is a
  Markov chain, so this coupling, noise cross-covariance ``Sigma* = H1 Q^+ H2'``, attains the bound.

For a scalar target this is ``R = min(I(X1;Y), I(X2;Y))``, the MMI PID (Barrett 2015). The minimum costs one
Cholesky factorisation per block and an SVD of a ``dy x dy`` matrix: O(d^3) with no iterations. As a
certificate the solver also builds ``Sigma*`` and evaluates ``f`` there; ``f(Sigma*) - union`` is the
reported ``gap`` (zero in exact arithmetic, so it measures round-off).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular, svd

LN2 = float(np.log(2.0))

#: Singular values of the stacked gains below this fraction of the largest one count as zero when the
#: optimal coupling is built (directions that neither source informs about).
RCOND = 1e-12

#: First relative shrink ``1 - t`` applied to ``Sigma*`` when round-off puts it on or outside the unit
#: spectral-norm ball, or makes the coupling's joint covariance numerically singular (the optimum lies on the
#: boundary where a generalised eigenvalue equals one); multiplied by 100 until both factorisations succeed.
SHRINK = 1e-12


@dataclass(frozen=True)
class GaussianBrojaSolution:
    """Closed-form ~G-PID of one covariance; informations in bits, matrices in the input's units.

    Attributes
    ----------
    unique1, unique2 : float
        ``1/2 sum_k log2 max(1, 1/lambda_k)`` and ``1/2 sum_k log2 max(1, lambda_k)``.
    union_upper : float
        The objective ``f`` at the returned coupling: an upper bound on the union information, which
        exceeds the closed-form minimum only through round-off.
    gap : float
        ``max(union_upper - (mi_1 + unique2), 0)`` with ``mi_1`` from the same factors.
    cross_cov : numpy.ndarray, shape (d1, d2)
        ``Cov_q(X1, X2)`` of the optimal coupling (the X1-X2 block of the optimal joint covariance).
    sigma : numpy.ndarray, shape (d1, d2)
        Its whitened noise cross-covariance ``Sigma`` (spectral norm <= 1).
    eigenvalues : numpy.ndarray, shape (dy,)
        ``lambda_k``, eigenvalues of ``Cov(Y|X2)^-1 Cov(Y|X1)``, in decreasing order.
    info : dict
        ``method``, ``iterations`` (0), ``seconds``, ``shrink`` (``1 - t`` applied to ``Sigma*``).
    """

    unique1: float
    unique2: float
    union_upper: float
    gap: float
    cross_cov: np.ndarray = field(repr=False)
    sigma: np.ndarray = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)
    info: dict = field(default_factory=dict, repr=False)


def _chol(mat: np.ndarray) -> np.ndarray:
    return cholesky(mat, lower=True, check_finite=False)


def _tri_solve(lower_factor: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    return solve_triangular(lower_factor, rhs, lower=True, check_finite=False)


def _logdet_from_factor(lower_factor: np.ndarray) -> float:
    return 2.0 * float(np.sum(np.log(np.diag(lower_factor))))


def whitened_channels(cov: np.ndarray, dims) -> tuple[np.ndarray, np.ndarray, list, list]:
    """Gains ``H1, H2`` of ``X_i = H_i Y + N_i`` after whitening Y and each source's noise.

    Parameters
    ----------
    cov : numpy.ndarray, shape (d1 + d2 + dy, d1 + d2 + dy)
        Valid joint covariance of ``[X1, X2, Y]`` (not re-checked here).
    dims : tuple of 3 ints
        ``(d1, d2, dy)``.

    Returns
    -------
    h1, h2 : numpy.ndarray, shapes (d1, dy) and (d2, dy)
        ``H_i = K_i^-1 Cov(X_i, Y) L_Y^-T`` with ``L_Y L_Y' = Cov(Y)`` and ``K_i K_i' = Cov(X_i | Y)``.
    loads, noise_factors : list of numpy.ndarray
        ``F_i = Cov(X_i, Y) L_Y^-T`` and ``K_i``, so that ``Cov(X_i) = F_i F_i' + K_i K_i'`` and a coupling
        with whitened noise cross-covariance ``Sigma`` has ``Cov_q(X1, X2) = F_1 F_2' + K_1 Sigma K_2'``.

    Examples
    --------
    X1 = 5 (2 Y + N1) and X2 = Y + N2 with Y, N1, N2 iid N(0, 1): the gains are 2 and 1 whatever the
    units of X1:

    >>> import numpy as np
    >>> from synergy_lab.pid.solvers.gaussian import whitened_channels
    >>> cov = np.array([[125.0, 10, 10], [10, 2, 1], [10, 1, 1]])  # [X1, X2, Y]
    >>> h1, h2, _, _ = whitened_channels(cov, (1, 1, 1))
    >>> float(h1[0, 0]), float(h2[0, 0])
    (2.0, 1.0)
    """
    d1, d2, dy = dims
    y = np.arange(d1 + d2, d1 + d2 + dy)
    gains, loads, factors = [], [], []
    for xi in (np.arange(d1), np.arange(d1, d1 + d2)):
        order = np.concatenate([y, xi])
        factor = _chol(cov[np.ix_(order, order)])  # [[L_Y, 0], [F_i, K_i]]
        load, noise = factor[dy:, :dy], factor[dy:, dy:]
        gains.append(_tri_solve(noise, load))
        loads.append(load)
        factors.append(noise)
    return gains[0], gains[1], loads, factors


def union_information(sigma, h1, h2) -> float:
    """The ~G-PID objective ``f(Sigma) = 1/2 log2 det(I + H2'H2 + B'S^-1 B)`` in bits.

    ``f(Sigma)`` is ``I_q(X1,X2;Y)`` for the coupling whose whitened noise cross-covariance is ``Sigma``.

    Raises
    ------
    ValueError
        If ``S = I - Sigma Sigma'`` is not numerically positive definite (``||Sigma||_2 >= 1``).

    Examples
    --------
    Independent noises (``Sigma = 0``) give ``1/2 log2 det(I + H1'H1 + H2'H2)``:

    >>> import numpy as np
    >>> from synergy_lab.pid.solvers.gaussian import union_information
    >>> round(union_information(np.zeros((1, 1)), np.array([[1.0]]), np.array([[1.0]])), 6)
    0.792481
    """
    sigma, h1, h2 = (np.asarray(a, dtype=np.float64) for a in (sigma, h1, h2))
    try:
        s_factor = _chol(np.eye(sigma.shape[0]) - sigma @ sigma.T)
    except LinAlgError:
        raise ValueError("Sigma is outside the open unit spectral-norm ball (I - Sigma Sigma' not PD)") \
            from None
    z = _tri_solve(s_factor, h1 - sigma @ h2)
    precision = np.eye(h1.shape[1]) + h2.T @ h2 + z.T @ z
    return _logdet_from_factor(_chol(precision)) / (2.0 * LN2)


def _optimal_sigma(h1, h2, g2, l_y, u, s) -> np.ndarray:
    """``Sigma* = H1 Q^+ H2'`` with ``Q = P* - I = H2'H2 + E'E`` (a sum of PSD terms: no cancellation)."""
    # Whitened-Y congruence W^-1 = U' G2^-1 L_Y: P* - P_2 = W^-T diag(max(0, s^-2 - 1)) W^-1 = E'E.
    boost = np.sqrt(np.maximum(1.0 / s**2 - 1.0, 0.0))
    e = boost[:, None] * (u.T @ _tri_solve(g2, l_y))
    _, sv, vt = svd(np.vstack([h2, e]), full_matrices=False, check_finite=False, lapack_driver="gesdd")
    keep = sv > RCOND * sv[0] if sv.size and sv[0] > 0 else np.zeros(sv.shape, bool)
    a1 = (h1 @ vt[keep].T) / sv[keep]
    a2 = (h2 @ vt[keep].T) / sv[keep]
    return a1 @ a2.T


def _certified_coupling(cov, dims, sigma, h1, h2, loads, noise_factors):
    """``(f(t Sigma), 1 - t, Cov_q(X1, X2))`` for the largest tried ``t <= 1`` that is strictly feasible.

    Feasible means both ``I - t^2 Sigma Sigma'`` and the assembled joint covariance pass a Cholesky
    factorisation, so the returned coupling is a valid positive-definite covariance.
    """
    d1, d2, _ = dims
    norm = None
    for shrink in (0.0, *(SHRINK * 100.0**k for k in range(6))):
        if shrink:
            norm = norm or float(np.linalg.norm(sigma, 2))
            t = (1.0 - shrink) / max(norm, 1.0)
        else:
            t = 1.0
        cross = loads[0] @ loads[1].T + noise_factors[0] @ (t * sigma) @ noise_factors[1].T
        joint = cov.copy()
        joint[:d1, d1:d1 + d2], joint[d1:d1 + d2, :d1] = cross, cross.T
        try:
            _chol(joint)
            return union_information(t * sigma, h1, h2), 1.0 - t, cross
        except (ValueError, LinAlgError):
            continue
    # Independent noises: Sigma = 0 is always strictly feasible (reached only if everything else failed).
    cross = loads[0] @ loads[1].T
    return union_information(np.zeros_like(sigma), h1, h2), 1.0, cross


def solve_gaussian_broja(cov: np.ndarray, dims) -> GaussianBrojaSolution:
    """Closed-form ~G-PID unique informations of a validated covariance, with a certificate.

    Parameters
    ----------
    cov : numpy.ndarray, shape (d1 + d2 + dy, d1 + d2 + dy)
        Symmetric positive-definite joint covariance of ``[X1, X2, Y]`` (validated by the caller; a
        power-of-two rescaling of the variables, as :func:`~synergy_lab.pid.gaussian.decompose_gaussian`
        applies, keeps the factors well scaled).
    dims : tuple of 3 ints
        ``(d1, d2, dy)``.

    Returns
    -------
    GaussianBrojaSolution
        The unique informations, the optimal coupling (``sigma`` whitened, ``cross_cov`` in the units of
        ``cov``), the generalised eigenvalues and the certificate ``gap``.

    Examples
    --------
    The doubling system of Venkatesh et al.: Y ~ N(0, I_2), X1 = diag(2, 1) Y + N(0, I),
    X2 = diag(1, sqrt 2) Y + N(0, I); per coordinate the better source's excess is unique.

    >>> import numpy as np
    >>> from synergy_lab.pid.solvers.gaussian import solve_gaussian_broja
    >>> h = np.vstack([np.diag([2.0, 1.0]), np.diag([1.0, np.sqrt(2.0)]), np.eye(2)])
    >>> cov = h @ h.T + np.diag([1.0, 1, 1, 1, 0, 0])
    >>> sol = solve_gaussian_broja(cov, (2, 2, 2))
    >>> round(sol.unique1, 4), round(sol.unique2, 4), sol.gap < 1e-10
    (0.661, 0.2925, True)
    """
    start = time.perf_counter()
    d1, d2, dy = dims
    y = np.arange(d1 + d2, d1 + d2 + dy)
    l_y = _chol(cov[np.ix_(y, y)])
    post = []  # G_i with G_i G_i' = Cov(Y | X_i): trailing block of the factor with X_i ordered first
    for xi in (np.arange(d1), np.arange(d1, d1 + d2)):
        order = np.concatenate([xi, y])
        post.append(_chol(cov[np.ix_(order, order)])[xi.size:, xi.size:])
    g1, g2 = post
    # Cov(Y|X2)^-1 Cov(Y|X1) is similar to M M' with M = G2^-1 G1, so lambda_k = s_k^2.
    u, s, _ = svd(_tri_solve(g2, g1), check_finite=False, lapack_driver="gesdd")
    log2_s = np.log2(s)
    unique2 = float(np.sum(np.maximum(log2_s, 0.0)))
    unique1 = float(np.sum(np.maximum(-log2_s, 0.0)))
    mi_1 = (_logdet_from_factor(l_y) - _logdet_from_factor(g1)) / (2.0 * LN2)

    h1, h2, loads, noise_factors = whitened_channels(cov, dims)
    sigma = _optimal_sigma(h1, h2, g2, l_y, u, s)
    union_upper, shrink, cross = _certified_coupling(cov, dims, sigma, h1, h2, loads, noise_factors)
    sigma = (1.0 - shrink) * sigma
    info = {
        "method": "closed form (generalised eigenvalues of Cov(Y|X1), Cov(Y|X2))",
        "iterations": 0,
        "seconds": time.perf_counter() - start,
        "shrink": shrink,
    }
    return GaussianBrojaSolution(
        unique1=unique1,
        unique2=unique2,
        union_upper=union_upper,
        gap=max(union_upper - (mi_1 + unique2), 0.0),
        cross_cov=cross,
        sigma=sigma,
        eigenvalues=s**2,
        info=info,
    )
