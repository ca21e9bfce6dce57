"""One call scores a representation against the exact truth: ``score_representation``.

For every target it runs the fair probe and the paper probe (balanced accuracy, :mod:`.protocols`), the
bits probe (:func:`.bits_captured`) and the read-out PID of the bits probe's predictions
(:func:`.readout_pid`), and returns tidy rows ``{"target", "metric", "value", "ground_truth"}`` that fit
the result tables of :mod:`synergy_lab.experiments.results` (add ``experiment``, ``method``, ``seed``...
and append them).

Metrics (``ground_truth`` in brackets where there is one):

* ``balanced_accuracy`` -- fair probe on the test split; ``val_balanced_accuracy`` -- the same probe on the
  validation split, where its C was chosen (optimistic; only when a real validation split is given);
* ``balanced_accuracy_paper`` -- paper probe on the test split; ``chance`` -- 1 / number of test classes;
* ``C_fair``, ``C_paper``, ``C_bits`` -- the costs chosen;
* ``bits``, ``bits_low``, ``bits_high`` -- H(Y) - CE of the bits probe and its 95% interval [I(X1, X2; Y)];
  ``entropy`` -- H(Y) of the test labels; ``capture_ratio`` -- bits / I(X1, X2; Y);
* ``readout_R``, ``readout_U1``, ``readout_U2``, ``readout_S`` -- PID of (F1, F2; Yhat) [PID(F1, F2; Y)];
* ``sample_R`` ... ``sample_S`` -- PID of (F1, F2; Y) on the test samples, what a perfect read-out scores on
  them [PID(F1, F2; Y)].

The read-out PID uses the test samples' joint distribution of the factors, so it is compared most sharply
with ``sample_*`` (equal for a perfect read-out); the generator's population truth differs from it by
sampling error (e.g. ~0.05 bit of synergy on 800 test pairs of the 25%-positive "match" label).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from .information import N_RESAMPLES, bits_captured
from .protocols import (
    FAIR_C_GRID,
    as_seed,
    balanced_accuracy,
    carve_validation,
    check_split,
    fit_paper_probe,
    fit_selected_probe,
)
from .readout import readout_pid

SPLITS = ("train", "val", "test")
PROTOCOLS = ("fair", "paper")
#: Read-out metric -> ground-truth column (and PIDResult attribute).
READOUT_ATOMS = {"readout_R": "redundancy", "readout_U1": "unique1", "readout_U2": "unique2",
                 "readout_S": "synergy"}
SAMPLE_ATOMS = {f"sample_{k.split('_')[1]}": v for k, v in READOUT_ATOMS.items()}
BITS_METRICS = ("bits", "bits_low", "bits_high", "entropy", "capture_ratio", "C_bits")
#: Largest read-out table (f1 codes x f2 codes x classes) decomposed by default. Exact BROJA on a dense
#: 64 x 16 x 64 table (compositional "mixed" at k = 4) takes about half a minute; 20^3 takes about a second.
MAX_READOUT_ENTRIES = 8000


def _row(target, metric, value, truth=np.nan) -> dict:
    return {"target": target, "metric": metric, "value": float(value), "ground_truth": float(truth)}


def _truth(ground_truth, target) -> dict:
    if ground_truth is None:
        return {}
    rows = ground_truth[ground_truth["target"] == target]
    return {} if rows.empty else rows.iloc[0].to_dict()


def _check_inputs(features, labels, factors, targets):
    if not isinstance(features, Mapping) or not isinstance(labels, Mapping):
        raise TypeError("features and labels must be mappings {split: ...} with splits train, val, test")
    unknown = [s for s in (*features, *labels) if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown split {unknown[0]!r}; splits are {list(SPLITS)}")
    for split in ("train", "test"):
        if features.get(split) is None or labels.get(split) is None:
            raise ValueError(f"features and labels need the {split!r} split")
    has_val = features.get("val") is not None
    if has_val != (labels.get("val") is not None):
        raise ValueError("features and labels must both have the 'val' split, or neither")
    splits = [s for s in SPLITS if features.get(s) is not None]
    x = {}
    for s in splits:
        x[s] = check_split(s, features[s], np.zeros(len(np.asarray(features[s]))),
                           None if s == "train" else x["train"].shape[1])[0]
    available = list(labels["train"])
    targets = available if targets is None else list(targets)
    for t in targets:
        if any(t not in labels[s] for s in splits):
            raise ValueError(f"unknown target {t!r}; available: {available}")
        for s in splits:
            check_split(s, x[s], labels[s][t])
    factors = dict(factors or {})
    for t, pair in factors.items():
        if len(pair) != 2:
            raise ValueError(f"factors[{t!r}] must be a pair (f1, f2)")
        for name, f in zip(("f1", "f2"), pair, strict=True):
            if np.shape(f) != (x["test"].shape[0],):
                raise ValueError(f"factors[{t!r}] {name} must have one code per test row "
                                 f"({x['test'].shape[0]},), got {np.shape(f)}")
    return x, targets, factors, has_val


def score_representation(features, labels, *, factors=None, ground_truth=None, targets=None,
                         protocols=PROTOCOLS, readout_measure="broja", random_state=0,
                         n_resamples: int = N_RESAMPLES, grid=FAIR_C_GRID, max_iter: int = 1000,
                         max_readout_entries: int = MAX_READOUT_ENTRIES) -> list[dict]:
    """Fair and paper probes, bits captured and read-out PID of a representation, beside the truth.

    Parameters
    ----------
    features : mapping {"train", "val" (optional), "test"} -> array (n_split, d)
        Frozen features of each split (rows aligned with ``labels``).
    labels : mapping split -> {target: array of int (n_split,)}
    factors : mapping target -> (f1, f2), optional
        Codes of the latent factors of modality 1 and 2 that each target depends on, one per *test* row
        (datasets expose them as ``target_factors``). Targets without factors get no read-out rows.
    ground_truth : pandas.DataFrame, optional
        One row per target with the columns of ``synergy_lab.data.GROUND_TRUTH_COLUMNS`` (bits).
    targets : sequence of str, optional
        Default: every target of ``labels["train"]``.
    protocols : subset of ("fair", "paper")
    readout_measure : str
        PID measure of the read-out (and it should be that of ``ground_truth``).
    random_state : int or numpy.random.Generator
        Seeds the carved validation part (when there is no "val" split) and the bootstrap.
    n_resamples, grid, max_iter
        Bootstrap resamples, fair/bits cost grid, L-BFGS iterations of the fair and bits probes (the paper
        probe keeps the public code's 100).
    max_readout_entries : int
        Read-out tables with more entries (distinct f1 codes x f2 codes x classes) are not decomposed: their
        rows are NaN, with a warning (raise the limit to compute them; exact BROJA grows fast with size).

    Returns
    -------
    list of dict
        Tidy rows ``{"target", "metric", "value", "ground_truth"}`` (see the module docstring); NaN where
        there is no truth. A target whose test labels hold a class the training labels lack gets NaN bits
        and read-out rows, with a warning.
    """
    x, targets, factors, has_val = _check_inputs(features, labels, factors, targets)
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad or not protocols:
        raise ValueError(f"protocols must be a non-empty subset of {list(PROTOCOLS)}, got {list(protocols)}")
    seed = as_seed(random_state)
    rows = []
    for t in targets:
        y = {s: np.asarray(labels[s][t]) for s in x}
        truth = _truth(ground_truth, t)
        if has_val:
            x_fit, y_fit, x_val, y_val = x["train"], y["train"], x["val"], y["val"]
        else:  # never select on test: a seeded stratified quarter of the training rows decides
            fit, val = carve_validation(y["train"], random_state=seed)
            x_fit, y_fit, x_val, y_val = x["train"][fit], y["train"][fit], x["train"][val], y["train"][val]
        rows.append(_row(t, "chance", 1.0 / len(np.unique(y["test"]))))
        if "fair" in protocols:
            fair = fit_selected_probe(x_fit, y_fit, x_val, y_val, grid=grid, random_state=seed,
                                      max_iter=max_iter)
            rows.append(_row(t, "balanced_accuracy", balanced_accuracy(y["test"], fair.predict(x["test"]))))
            if has_val:
                rows.append(_row(t, "val_balanced_accuracy", fair.val_score))
            rows.append(_row(t, "C_fair", fair.C))
        if "paper" in protocols:
            paper = fit_paper_probe(x["train"], y["train"])
            rows.append(_row(t, "balanced_accuracy_paper",
                             balanced_accuracy(y["test"], paper.predict(x["test"]))))
            rows.append(_row(t, "C_paper", paper.C))
        mi = truth.get("mi_joint", np.nan)
        try:
            b = bits_captured(x_fit, y_fit, x["test"], y["test"], val_feats=x_val, val_y=y_val,
                              random_state=seed, grid=grid, n_resamples=n_resamples, max_iter=max_iter)
        except ValueError as exc:
            if "absent from the probe's training labels" not in str(exc):
                raise
            warnings.warn(f"target {t!r}: {exc}; bits and read-out are NaN", stacklevel=2)
            rows += [_row(t, m, np.nan, mi if m.startswith("bits") else np.nan) for m in BITS_METRICS]
            if t in factors:
                rows += [_row(t, m, np.nan, truth.get(atom, np.nan))
                         for m, atom in (*READOUT_ATOMS.items(), *SAMPLE_ATOMS.items())]
            continue
        rows += [_row(t, "bits", b.bits, mi), _row(t, "bits_low", b.low, mi),
                 _row(t, "bits_high", b.high, mi), _row(t, "entropy", b.entropy),
                 _row(t, "capture_ratio", b.bits / mi if mi > 0 else np.nan), _row(t, "C_bits", b.C)]
        if t in factors:
            size = len(np.unique(factors[t][0])) * len(np.unique(factors[t][1])) * b.proba.shape[1]
            if size > max_readout_entries:
                warnings.warn(f"target {t!r}: read-out table of {size} entries exceeds max_readout_entries = "
                              f"{max_readout_entries}; read-out rows are NaN", stacklevel=2)
                pids = None
            else:
                onehot = (y["test"][:, None] == b.classes[None, :]).astype(float)
                pids = [readout_pid(p, *factors[t], measure=readout_measure) for p in (b.proba, onehot)]
            for pid, names in zip(pids or (None, None), (READOUT_ATOMS, SAMPLE_ATOMS), strict=True):
                rows += [_row(t, m, np.nan if pid is None else getattr(pid, atom), truth.get(atom, np.nan))
                         for m, atom in names.items()]
    return rows


def metrics_by_target(rows) -> dict:
    """``{target: {metric: value, ..., "n_classes": int, "truth_<metric>": ground truth}}`` of tidy rows."""
    out = {}
    for r in rows:
        m = out.setdefault(r["target"], {})
        m[r["metric"]] = r["value"]
        if np.isfinite(r["ground_truth"]):
            m[f"truth_{r['metric']}"] = r["ground_truth"]
        if r["metric"] == "chance":
            m["n_classes"] = int(round(1.0 / r["value"]))
    return out


def format_scores(rows) -> str:
    """A plain-text table of tidy score rows: one line per target, truths in brackets."""
    lines = [f"{'target':<12s} {'bal.acc':>7s} {'paper':>6s} {'chance':>6s}  {'bits [95% CI]':<22s} "
             f"{'truth I':>7s} {'capture':>7s}  read-out R / U1 / U2 / S  [truth]"]
    for t, m in metrics_by_target(rows).items():
        def get(key, fmt=".3f", m=m):
            v = m.get(key, np.nan)
            return "-" if not np.isfinite(v) else format(v, fmt)

        ci = f"{get('bits')} [{get('bits_low')}, {get('bits_high')}]" if "bits" in m else "-"
        readout = " / ".join(get(k, ".2f") for k in READOUT_ATOMS)
        truth = " / ".join(get(f"truth_{k}", ".2f") for k in READOUT_ATOMS)
        ro = f"{readout}  [{truth}]" if any(k in m for k in READOUT_ATOMS) else "-"
        lines.append(f"{t:<12s} {get('balanced_accuracy'):>7s} {get('balanced_accuracy_paper'):>6s} "
                     f"{get('chance'):>6s}  {ci:<22s} {get('truth_bits'):>7s} "
                     f"{get('capture_ratio'):>7s}  {ro}")
    return "\n".join(lines)
