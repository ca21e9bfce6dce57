"""Compositional vectors: fixed random nonlinear embeddings of discrete latent factors.

Each modality embeds a shared factor ``r``, a unique factor ``u_i``, a synergy half ``s_i`` and nuisance
factors; the targets read redundancy, uniqueness, synergy and their mixture off the factors, so their PID is
known exactly at the factor level. ``pairing="biased"`` ties ``s2 = pi(s1)`` for self-supervised training data
(see ``docs/data.md``). ``layout="factor_blocks"`` puts each factor in its own contiguous block of dimensions
instead of mixing all of them into every dimension.
"""

from __future__ import annotations

import numpy as np

from ..pid import available_measures, decompose
from ._dataset import SyntheticDataset, as_generator, ground_truth_row, ground_truth_table

#: Targets in the order of the ground-truth table.
TARGETS = ("redundancy", "unique1", "unique2", "synergy", "mixed", "match")
PAIRINGS = ("unbiased", "biased")
#: How a modality's dimensions carry its factors (see :func:`make_compositional`).
LAYOUTS = ("mixed", "factor_blocks")
#: Smallest allowed distance between the embeddings of two distinct factor combinations (tanh units).
MIN_SEPARATION = 0.05
#: Most factor combinations per modality for which the injectivity check (all pairs) is run.
MAX_COMBINATIONS = 2**14


def target_alphabet(target: str, k: int) -> int:
    """Number of symbols of a target: ``k``; ``k**3`` for ``"mixed"``; 2 for ``"match"``."""
    return {"mixed": k**3, "match": 2}.get(target, k)


def _target_values(target, r, u1, u2, s1, s2, k, perm):
    if target == "redundancy":
        return r
    if target == "unique1":
        return u1
    if target == "unique2":
        return u2
    if target == "synergy":
        return (s1 + s2) % k
    if target == "mixed":
        return (r * k + u1) * k + (s1 + s2) % k
    return (s2 == perm[s1]).astype(np.int64)  # match


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_float(name, value, lo, hi, what):
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = np.nan
    if isinstance(value, bool) or not lo <= v <= hi:  # NaN fails the comparison
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return v


def _check_common(k, pairing, label_noise, measure, targets):
    k = _check_int("k", k, 2)
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {list(PAIRINGS)}, got {pairing!r}")
    label_noise = _check_float("label_noise", label_noise, 0.0, 1.0, "a probability in [0, 1]")
    if not isinstance(measure, str) or measure.lower() not in available_measures():
        raise ValueError(f"measure must be one of {available_measures()}, got {measure!r}")
    targets = TARGETS if targets is None else tuple(targets)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown or not targets:
        raise ValueError(f"targets must be a non-empty subset of {list(TARGETS)}, got {list(targets)}")
    return k, label_noise, targets


def _streams(random_state):
    """Independent seed sequences ``(embedding, permutation, samples)`` derived from ``random_state``."""
    if isinstance(random_state, np.random.Generator):
        root = np.random.SeedSequence(random_state.integers(0, 2**63, size=4).tolist())
    else:
        as_generator(random_state)  # validates the type and sign
        root = np.random.SeedSequence(None if random_state is None else int(random_state))
    embedding, permutation, samples = root.spawn(3)
    return root, embedding, permutation, samples


def _permutation(seq, k):
    return np.random.default_rng(seq).permutation(k).astype(np.int64)


#: Factors each source keeps in the ground-truth table of a target; the others are jointly independent of
#: the kept ones and of the label, so dropping them changes no atom (see compositional_ground_truth).
RELEVANT_FACTORS = {
    "redundancy": (("r",), ("r",)),
    "unique1": (("u1",), ()),
    "unique2": ((), ("u2",)),
    "synergy": (("s1",), ("s2",)),
    "mixed": (("r", "u1", "s1"), ("r", "s2")),
    "match": (("s1",), ("s2",)),
}
FULL_FACTORS = (("r", "u1", "s1"), ("r", "u2", "s2"))


def factor_codes(target: str, factors: dict, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``(f1, f2)`` of the factors each modality contributes to ``target`` (:data:`RELEVANT_FACTORS`).

    Mixed radix ``k`` in the order listed (e.g. ``mixed``: ``f1 = (r*k + u1)*k + s1``, ``f2 = r*k + s2``);
    a modality with no relevant factor gets the constant code 0. These are the sources of the reduced
    ground-truth table, so the exact PID of ``(f1, f2; target)`` is the target's ground truth.
    """
    n = np.asarray(factors["r"]).shape[0]
    codes = []
    for names in RELEVANT_FACTORS[target]:
        code = np.zeros(n, dtype=np.int64)
        for name in names:
            code = code * k + np.asarray(factors[name], dtype=np.int64)
        codes.append(code)
    return codes[0], codes[1]


def compositional_table(target, k, pairing, label_noise, permutation, reduced=False) -> np.ndarray:
    """Factor-level joint table ``p[x1, x2, y]`` of one target, label noise included.

    With ``reduced=False``, ``x1 = (r*k + u1)*k + s1`` and ``x2 = (r*k + u2)*k + s2`` (``k**3`` symbols each).
    With ``reduced=True`` each source keeps only the factors :data:`RELEVANT_FACTORS` lists for the target,
    in the same mixed-radix order (no factor: a single symbol); both tables have the same PID.
    """
    f = dict(zip(("r", "u1", "u2", "s1", "s2"), (a.ravel() for a in np.indices((k,) * 5)), strict=True))
    if pairing == "biased":
        keep = f["s2"] == permutation[f["s1"]]
        f = {name: v[keep] for name, v in f.items()}
    weight = 1.0 / f["r"].size  # every allowed factor combination is equally likely
    codes, sizes = [], []
    for names in (RELEVANT_FACTORS[target] if reduced else FULL_FACTORS):
        code = np.zeros_like(f["r"])
        for name in names:
            code = code * k + f[name]
        codes.append(code)
        sizes.append(k ** len(names))
    y = _target_values(target, f["r"], f["u1"], f["u2"], f["s1"], f["s2"], k, permutation)
    n_y = target_alphabet(target, k)
    clean = np.zeros((*sizes, n_y))
    np.add.at(clean, (*codes, y), weight)
    # Label noise: with probability eps the label is replaced by a uniform draw over the alphabet.
    return (1.0 - label_noise) * clean + label_noise * clean.sum(axis=2, keepdims=True) / n_y


def compositional_ground_truth(k=2, pairing="unbiased", label_noise=0.0, measure="broja", targets=None,
                               *, permutation=None, random_state=None, reduced=True):
    """Exact PID of the compositional targets at the factor level (the ``ground_truth`` of the dataset).

    Parameters
    ----------
    k, pairing, label_noise, measure
        As in :func:`make_compositional`.
    targets : sequence of str, optional
        Subset of :data:`TARGETS` (default: all, in that order).
    permutation : array_like of int, optional
        The pairing permutation pi of ``{0, ..., k-1}``. By default the one :func:`make_compositional`
        draws for ``random_state``. Only the ``"biased"`` tables depend on pi (under ``"unbiased"`` pairing
        relabelling s2 leaves every table's PID unchanged).
    random_state : int, numpy.random.Generator or None
    reduced : bool, default True
        Solve the table of the factors each target depends on (:data:`RELEVANT_FACTORS`; same PID, much
        smaller: ``k**3 x k**2 x k**3`` for ``mixed``, ``k x k x |Y|`` or less otherwise) instead of the full
        ``k**3 x k**3 x |Y|`` factor table.

    Returns
    -------
    pandas.DataFrame
        One row per target with the columns :data:`GROUND_TRUTH_COLUMNS` (bits).

    Examples
    --------
    >>> from synergy_lab.data.compositional import compositional_ground_truth
    >>> gt = compositional_ground_truth(2, targets=["synergy", "match"])
    >>> gt[["target", "redundancy", "synergy"]].round(6).values.tolist()
    [['synergy', 0.0, 1.0], ['match', 0.0, 1.0]]
    """
    k, label_noise, targets = _check_common(k, pairing, label_noise, measure, targets)
    if permutation is None:
        permutation = _permutation(_streams(random_state)[2], k)
    permutation = np.asarray(permutation, dtype=np.int64)
    if permutation.shape != (k,) or not np.array_equal(np.sort(permutation), np.arange(k)):
        raise ValueError(f"permutation must be a permutation of range({k}), got {permutation.tolist()}")
    # Nuisance factors are left out of the tables, and with reduced=True so are the factors a target ignores.
    # Both rest on one fact: write X_i = (X_i', N_i) with (N1, N2) jointly independent of (X1', X2', Y)
    # (N1 and N2 may depend on each other, like s1 and s2 under biased pairing). Dropping N_i leaves the
    # BROJA, MMI and Imin PIDs unchanged. The mutual informations do not change; nor do Imin's specific
    # informations, since p(y | x', n) = p(y | x'); for BROJA, every q in the enlarged set Delta_p has
    # I_q(X1, X2; Y) >= I_q(X1', X2'; Y) with q's (x1', x2', y)-marginal in the smaller Delta_p, and
    # q* (x) p(n1) p(n2) lies in the enlarged set and attains the smaller minimum q*, so the union
    # information, hence every atom, is equal. Each modality is an injective function of its factors, and a
    # PID is invariant under injective relabelling of a source, so these tables give the PID of the
    # noise-free modalities.
    rows = []
    for t in targets:
        table = compositional_table(t, k, pairing, label_noise, permutation, reduced=reduced)
        rows.append(ground_truth_row(t, decompose(table, measure)))
    return ground_truth_table(rows)


def _init_embedding(seq, k, n_factors, dim, depth):
    """Weights of a random ``depth``-layer tanh network from one-hot factors to ``dim`` dimensions."""
    rng = np.random.default_rng(seq)
    layers, fan_in = [], k * n_factors
    for layer in range(depth):
        # One-hot input has n_factors ones, so this scale gives unit-variance first pre-activations;
        # later layers get gain 1.5 on tanh outputs, which keeps the units away from saturation.
        scale = 1.0 / np.sqrt(n_factors) if layer == 0 else 1.5 / np.sqrt(fan_in)
        layers.append((rng.normal(0.0, scale, size=(fan_in, dim)), rng.normal(0.0, 0.5, size=dim)))
        fan_in = dim
    return layers


def _embed(codes, layers, k):
    """Embed integer factor codes of shape (n, n_factors) with the network ``layers``."""
    w0, b0 = layers[0]
    rows = codes + k * np.arange(codes.shape[1])  # row of each factor value in the one-hot layout
    h = np.tanh(w0[rows].sum(axis=1) + b0)
    for w, b in layers[1:]:
        h = np.tanh(h @ w + b)
    return h


def _init_block_embeddings(seq, k, blocks, depth):
    """One random one-factor network per block (``layout="factor_blocks"``), each from its own stream."""
    return [_init_embedding(child, k, 1, block.stop - block.start, depth)
            for child, block in zip(seq.spawn(len(blocks)), blocks, strict=True)]


def _embed_blocks(codes, per_block, k):
    """Embed codes ``(n, n_factors)`` factor by factor: column j through ``per_block[j]`` into block j."""
    return np.concatenate([_embed(codes[:, [j]], layers, k) for j, layers in enumerate(per_block)], axis=1)


def factor_block_slices(dim: int, n_factors: int) -> list[slice]:
    """The contiguous blocks of ``range(dim)`` that ``layout="factor_blocks"`` gives the factors, in order.

    Sizes are as equal as possible: the first ``dim % n_factors`` blocks have one dimension more
    (``np.array_split``). Factor order per modality i: ``r, u_i, s_i, nuisance_1, ..., nuisance_m``.

    Examples
    --------
    >>> factor_block_slices(10, 4)
    [slice(0, 3, None), slice(3, 6, None), slice(6, 8, None), slice(8, 10, None)]
    """
    sizes = [len(part) for part in np.array_split(np.arange(dim), n_factors)]
    edges = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _min_pairwise_distance(points, chunk=512):
    sq = np.einsum("ij,ij->i", points, points)
    best = np.inf
    for start in range(0, len(points) - 1, chunk):
        block, rest = points[start:start + chunk], points[start:]  # pairs (i, j >= i) only
        d2 = sq[start:start + chunk, None] + sq[None, start:] - 2.0 * block @ rest.T
        d2[np.tril_indices(len(block))] = np.inf  # i >= j within the diagonal block
        best = min(best, float(d2.min()))
    return float(np.sqrt(max(best, 0.0)))


def make_compositional(n_samples=5000, k=2, dim=32, n_nuisance=1, noise=0.0, label_noise=0.0,
                       pairing="unbiased", embedding_depth=2, random_state=None, measure="broja",
                       targets=None, layout="mixed") -> SyntheticDataset:
    """Two modalities embedding discrete latent factors; targets of known redundancy, uniqueness, synergy.

    Latent factors, independent and uniform on ``{0, ..., k-1}``: ``r`` (seen by both modalities),
    ``u1``, ``u2`` (unique), ``s1``, ``s2`` (synergy halves) and ``n_nuisance`` nuisance factors per modality
    (irrelevant to every target). Modality i is a fixed random injective tanh network of the one-hot codes of
    ``(r, u_i, s_i, nuisance_i)`` into ``dim`` dimensions, plus isotropic Gaussian noise of std ``noise``.
    With ``layout="factor_blocks"`` each factor instead gets its own contiguous block of the dimensions
    (:func:`factor_block_slices`) and its own random network, so every block is a function of one factor
    only -- the vector analogue of an image patch showing one object.

    Targets (integer labels): ``redundancy`` = r, ``unique1`` = u1, ``unique2`` = u2,
    ``synergy`` = (s1 + s2) mod k, ``mixed`` = (r*k + u1)*k + (s1 + s2) mod k, and
    ``match`` = 1[s2 == pi(s1)] for a fixed random permutation pi. Label noise convention: with probability
    ``label_noise`` a label is replaced by a uniform draw over the target's alphabet (k symbols; k**3 for
    ``mixed``; 2 for ``match``), so it may by chance keep its value.

    Parameters
    ----------
    n_samples : int, default 5000
    k : int, default 2
        Cardinality of every factor (>= 2).
    dim : int, default 32
        Dimension of each modality; at least the number of factors per modality, ``3 + n_nuisance``.
    n_nuisance : int, default 1
        Nuisance factors per modality (>= 0).
    noise : float, default 0.0
        Std of the isotropic Gaussian noise added to each modality (>= 0).
    label_noise : float, default 0.0
        Probability in [0, 1] that a label is replaced by a uniform symbol (independently per target).
    pairing : {"unbiased", "biased"}, default "unbiased"
        ``"biased"`` draws ``s2 = pi(s1)`` (self-supervised training data: it makes synergy learnable);
        pi is the same for both pairings of one seed.
    embedding_depth : int, default 2
        Number of (random linear, tanh) layers of each embedding (>= 1).
    random_state : int, numpy.random.Generator or None
        Seeds three independent streams (``SeedSequence.spawn``): embedding weights, pi, and samples. So the
        same seed gives the same embeddings and pi for any ``n_samples``, ``noise`` or ``pairing``.
    measure : str, default "broja"
        PID measure of the ground truth.
    targets : sequence of str, optional
        Subset of :data:`TARGETS` to generate (default: all).
    layout : {"mixed", "factor_blocks"}, default "mixed"
        ``"mixed"``: one network of all the modality's factors, so every dimension depends on every factor.
        ``"factor_blocks"``: the modality's factors ``r, u_i, s_i, nuisance_i...`` in this order each fill one
        contiguous block of :func:`factor_block_slices` ``(dim, 3 + n_nuisance)``, each block the output of a
        ``embedding_depth``-layer random tanh network of that factor's one-hot code alone (its own weights,
        drawn from the embedding stream). A model that cuts the raw vector into those blocks (or finer ones)
        sees each factor in its own tokens. Factors, labels, pi and the ground truth are the same as under
        ``"mixed"`` for the same seed; only the modalities differ. ``"mixed"`` output is unchanged by this
        option.

    Returns
    -------
    SyntheticDataset
        ``name="compositional"``; ``factors`` holds ``r, u1, u2, s1, s2`` (shape (n,)) and ``nuisance1``,
        ``nuisance2`` (shape (n, n_nuisance)); ``target_factors`` the codes of :func:`factor_codes` per
        target; ``params`` holds the parameters, ``permutation`` (pi) and
        ``seed_entropy``. ``ground_truth`` (see :func:`compositional_ground_truth`) is the exact PID of the
        factor-level table ``p[(r, u1, s1), (r, u2, s2), y]`` under the sampling distribution (pairing and
        label noise included; nuisance and the factors a target ignores are left out, which changes no
        atom). It is the truth for the noise-free modalities: with ``noise > 0`` the modalities carry less
        information than the table says.

    Raises
    ------
    ValueError
        For an invalid parameter (the message names it), or if the random embedding separates two factor
        combinations by less than :data:`MIN_SEPARATION`.

    Examples
    --------
    >>> from synergy_lab.data import make_compositional
    >>> ds = make_compositional(n_samples=200, k=2, random_state=0)
    >>> ds.x1.shape, sorted(ds.targets)
    ((200, 32), ['match', 'mixed', 'redundancy', 'synergy', 'unique1', 'unique2'])
    >>> round(ds.truth("synergy")["synergy"], 6), round(ds.truth("mixed")["unique1"], 6)
    (1.0, 1.0)
    """
    n_samples = _check_int("n_samples", n_samples, 1)
    k, label_noise, targets = _check_common(k, pairing, label_noise, measure, targets)
    n_nuisance = _check_int("n_nuisance", n_nuisance, 0)
    embedding_depth = _check_int("embedding_depth", embedding_depth, 1)
    n_factors = 3 + n_nuisance
    dim = _check_int("dim", dim, 1)
    if dim < n_factors:
        raise ValueError(f"dim must be >= the {n_factors} factors per modality (3 + n_nuisance), got {dim}")
    noise = _check_float("noise", noise, 0.0, np.finfo(float).max, "a non-negative finite std")
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    if k**n_factors > MAX_COMBINATIONS:
        raise ValueError(f"k**(3 + n_nuisance) = {k**n_factors} factor combinations exceed "
                         f"{MAX_COMBINATIONS}: too many to check injectivity; lower k or n_nuisance")

    root, emb_seq, perm_seq, sample_seq = _streams(random_state)
    perm = _permutation(perm_seq, k)
    if layout == "mixed":
        embeddings = [_init_embedding(seq, k, n_factors, dim, embedding_depth) for seq in emb_seq.spawn(2)]
        grid = np.indices((k,) * n_factors).reshape(n_factors, -1).T
        for i, layers in enumerate(embeddings, start=1):
            sep = _min_pairwise_distance(_embed(grid, layers, k))
            if sep < MIN_SEPARATION:
                raise ValueError(f"dim={dim}: the random embedding of modality {i} is not clearly injective "
                                 f"(min distance {sep:.2e} < {MIN_SEPARATION}); raise dim or change "
                                 f"random_state")
        embed = _embed
    else:
        blocks = factor_block_slices(dim, n_factors)
        embeddings = [_init_block_embeddings(seq, k, blocks, embedding_depth) for seq in emb_seq.spawn(2)]
        for i, per_block in enumerate(embeddings, start=1):
            # Two combinations differing in one factor differ only in its block, so the smallest distance
            # between combinations is the smallest within-block distance.
            values = np.arange(k)[:, None]
            sep = min(_min_pairwise_distance(_embed(values, layers, k)) for layers in per_block)
            if sep < MIN_SEPARATION:
                raise ValueError(f"dim={dim}: a factor block of modality {i} is not clearly injective "
                                 f"(min distance {sep:.2e} < {MIN_SEPARATION}); raise dim or change "
                                 f"random_state")
        embed = _embed_blocks

    factor_seq, noise_seq, label_seq = sample_seq.spawn(3)
    frng = np.random.default_rng(factor_seq)
    r, u1, u2, s1, s2 = frng.integers(0, k, size=(5, n_samples))
    nuisance = frng.integers(0, k, size=(2, n_samples, n_nuisance))
    if pairing == "biased":
        s2 = perm[s1]  # s2 is still drawn above, so the other factors match the unbiased data of this seed
    nrng = np.random.default_rng(noise_seq)
    xs = []
    for layers, u, s, nuis in ((embeddings[0], u1, s1, nuisance[0]), (embeddings[1], u2, s2, nuisance[1])):
        x = embed(np.column_stack([r, u, s, nuis]), layers, k)
        xs.append(x + noise * nrng.standard_normal(x.shape) if noise > 0 else x)

    label_seqs = dict(zip(TARGETS, label_seq.spawn(len(TARGETS)), strict=True))
    labels = {}
    for t in targets:
        y = _target_values(t, r, u1, u2, s1, s2, k, perm).astype(np.int64)
        lrng = np.random.default_rng(label_seqs[t])
        flip, fresh = lrng.random(n_samples) < label_noise, lrng.integers(0, target_alphabet(t, k), n_samples)
        labels[t] = np.where(flip, fresh, y)

    truth = compositional_ground_truth(k, pairing, label_noise, measure, targets, permutation=perm)
    params = {
        "n_samples": n_samples, "k": k, "dim": dim, "n_nuisance": n_nuisance, "noise": noise,
        "label_noise": label_noise, "pairing": pairing, "embedding_depth": embedding_depth, "layout": layout,
        "random_state": "Generator" if isinstance(random_state, np.random.Generator) else random_state,
        "seed_entropy": root.entropy, "measure": measure, "targets": list(targets),
        "permutation": perm.tolist(),
    }
    factors = {"r": r, "u1": u1, "u2": u2, "s1": s1, "s2": s2,
               "nuisance1": nuisance[0], "nuisance2": nuisance[1]}
    target_factors = {t: factor_codes(t, factors, k) for t in targets}
    return SyntheticDataset(name="compositional", x1=xs[0], x2=xs[1], targets=labels, ground_truth=truth,
                            factors=factors, params=params, target_factors=target_factors)
