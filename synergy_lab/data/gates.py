"""Textbook joint tables p[x1, x2, y], random tables, and sampling from any table.

The sources are independent uniform symbols unless stated; ``p[x1, x2, y]`` sums to 1.
Textbook PID values (bits) are tabulated in ``docs/pid.md`` and checked by the test-suite.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..pid import decompose, validate_table
from ._dataset import SyntheticDataset, as_generator, ground_truth_row, ground_truth_table

#: Names accepted by :func:`gate` (case-insensitive).
GATES = ("xor", "and", "or", "copy", "rdn", "unq", "rdnxor", "rdnunqxor", "xorand", "sum", "xor_k")


def _table_from_events(events, shape) -> np.ndarray:
    """Uniform distribution over the listed (x1, x2, y) events (repeats add mass)."""
    p = np.zeros(shape)
    for x1, x2, y in events:
        p[x1, x2, y] += 1.0
    return p / p.sum()


def _binary_gate(fn) -> np.ndarray:
    return _table_from_events([(a, b, fn(a, b)) for a in (0, 1) for b in (0, 1)], (2, 2, 2))


def gate(name: str, k: int = 3) -> np.ndarray:
    """Joint table ``p[x1, x2, y]`` of a textbook two-input gate.

    Parameters
    ----------
    name : str
        One of :data:`GATES`:

        - ``"xor"``, ``"and"``, ``"or"``: Y = X1 op X2 on uniform bits.
        - ``"copy"``: Y = (X1, X2), encoded as ``2*x1 + x2``.
        - ``"rdn"``: X1 = X2 = Y, a uniform bit.
        - ``"unq"``: Y = X1, with X2 an independent bit.
        - ``"rdnxor"``: X_i = (r, a_i), Y = (r, a1 xor a2); symbols encoded as ``2*r + bit``.
        - ``"rdnunqxor"``: X_i = (r, u_i, s_i), Y = (r, u1, u2, s1 xor s2); 8 source and 16 target symbols.
        - ``"xorand"``: Y = (X1 xor X2, X1 and X2), encoded as ``2*xor + and`` (3 of 4 symbols occur).
        - ``"sum"``: Y = X1 + X2 in {0, 1, 2}.
        - ``"xor_k"``: Y = (X1 + X2) mod k on uniform symbols in {0, ..., k-1}.
    k : int, default 3
        Alphabet size for ``"xor_k"`` (ignored otherwise).

    Returns
    -------
    numpy.ndarray of shape (n1, n2, ny)

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or ``k < 2``.

    Examples
    --------
    >>> from synergy_lab.data import gate
    >>> gate("xor")[:, :, 1]
    array([[0.  , 0.25],
           [0.25, 0.  ]])
    """
    key = str(name).lower()
    if key == "xor":
        return _binary_gate(lambda a, b: a ^ b)
    if key == "and":
        return _binary_gate(lambda a, b: a & b)
    if key == "or":
        return _binary_gate(lambda a, b: a | b)
    if key == "copy":
        return _table_from_events([(a, b, 2 * a + b) for a in (0, 1) for b in (0, 1)], (2, 2, 4))
    if key == "rdn":
        return _table_from_events([(a, a, a) for a in (0, 1)], (2, 2, 2))
    if key == "unq":
        return _table_from_events([(a, b, a) for a in (0, 1) for b in (0, 1)], (2, 2, 2))
    if key == "rdnxor":
        events = [
            (2 * r + a1, 2 * r + a2, 2 * r + (a1 ^ a2)) for r, a1, a2 in itertools.product((0, 1), repeat=3)
        ]
        return _table_from_events(events, (4, 4, 4))
    if key == "rdnunqxor":
        events = [
            (4 * r + 2 * u1 + s1, 4 * r + 2 * u2 + s2, 8 * r + 4 * u1 + 2 * u2 + (s1 ^ s2))
            for r, u1, u2, s1, s2 in itertools.product((0, 1), repeat=5)
        ]
        return _table_from_events(events, (8, 8, 16))
    if key == "xorand":
        return _table_from_events([(a, b, 2 * (a ^ b) + (a & b)) for a in (0, 1) for b in (0, 1)], (2, 2, 4))
    if key == "sum":
        return _table_from_events([(a, b, a + b) for a in (0, 1) for b in (0, 1)], (2, 2, 3))
    if key == "xor_k":
        if int(k) != k or k < 2:
            raise ValueError(f"xor_k needs an integer alphabet size k >= 2, got k={k!r}")
        k = int(k)
        return _table_from_events([(a, b, (a + b) % k) for a in range(k) for b in range(k)], (k, k, k))
    raise ValueError(f"unknown gate {name!r}; valid gates are {list(GATES)}")


def random_table(shape, alpha: float = 1.0, random_state=None) -> np.ndarray:
    """A random joint table drawn from a symmetric Dirichlet over all cells.

    Parameters
    ----------
    shape : tuple of 3 ints
        ``(n1, n2, ny)``.
    alpha : float, default 1.0
        Dirichlet concentration; small values (e.g. 0.1) give sparse tables with many near-zero cells.
    random_state : int, numpy.random.Generator or None

    Examples
    --------
    >>> from synergy_lab.data import random_table
    >>> p = random_table((4, 4, 4), random_state=0)
    >>> p.shape, round(float(p.sum()), 12)
    ((4, 4, 4), 1.0)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be three positive sizes (n1, n2, ny), got {shape}")
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive finite concentration, got {alpha!r}")
    rng = as_generator(random_state)
    # Gamma draws normalised, so tiny alpha cannot yield an all-zero table in float64.
    g = rng.gamma(alpha, size=int(np.prod(shape)))
    if g.sum() == 0:
        g[rng.integers(g.size)] = 1.0
    return (g / g.sum()).reshape(shape)


def sample_table(p, n_samples: int, random_state=None):
    """Draw ``n_samples`` i.i.d. triples ``(x1, x2, y)`` from a joint table.

    Returns
    -------
    x1, x2, y : numpy.ndarray of int64, shape (n_samples,)

    Examples
    --------
    >>> from synergy_lab.data import gate, sample_table
    >>> x1, x2, y = sample_table(gate("xor"), 5, random_state=0)
    >>> bool(((x1 ^ x2) == y).all())
    True
    """
    table = validate_table(p)
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    rng = as_generator(random_state)
    flat = rng.choice(table.size, size=int(n_samples), p=table.ravel() / table.sum())
    x1, x2, y = np.unravel_index(flat, table.shape)
    return x1.astype(np.int64), x2.astype(np.int64), y.astype(np.int64)


def empirical_table(x1, x2, y, shape=None) -> np.ndarray:
    """Plug-in joint table of integer samples (the maximum-likelihood estimate)."""
    cols = []
    for name, v in (("x1", x1), ("x2", x2), ("y", y)):
        a = np.asarray(v)
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(
                f"{name} must be a 1-D array of integer symbols, got dtype {a.dtype}, shape {a.shape}"
            )
        if a.size and a.min() < 0:
            raise ValueError(f"{name} holds negative symbols")
        cols.append(a)
    if not (len(cols[0]) == len(cols[1]) == len(cols[2])) or len(cols[0]) == 0:
        raise ValueError(f"x1, x2, y must have the same non-zero length, got {[len(c) for c in cols]}")
    if shape is None:
        shape = tuple(int(c.max()) + 1 for c in cols)
    counts = np.zeros(shape)
    np.add.at(counts, tuple(cols), 1.0)
    return counts / counts.sum()


def make_gate(
    name: str = "xor", n_samples: int = 1000, k: int = 3, measure: str = "broja", random_state=None
) -> SyntheticDataset:
    """Samples of a textbook gate as one-hot modalities, with the gate's exact PID as ground truth.

    Examples
    --------
    >>> from synergy_lab.data import make_gate
    >>> ds = make_gate("xor", n_samples=100, random_state=0)
    >>> ds.x1.shape, round(ds.truth("y")["synergy"], 6)
    ((100, 2), 1.0)
    """
    p = gate(name, k=k)
    x1, x2, y = sample_table(p, n_samples, random_state)
    eye1, eye2 = np.eye(p.shape[0]), np.eye(p.shape[1])
    truth = ground_truth_table([ground_truth_row("y", decompose(p, measure=measure))])
    return SyntheticDataset(
        name="gate",
        x1=eye1[x1],
        x2=eye2[x2],
        targets={"y": y},
        ground_truth=truth,
        factors={"x1": x1, "x2": x2},
        target_factors={"y": (x1, x2)},
        params={"gate": name, "n_samples": n_samples, "k": k, "measure": measure},
    )
