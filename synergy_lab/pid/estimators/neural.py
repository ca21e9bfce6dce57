"""NeuralPID: the BATCH estimator of Liang et al. (NeurIPS 2023) for high-dimensional continuous sources.

Re-implemented from the paper's description (Liang et al., "Quantifying & Modeling Multimodal Interactions:
An Information Decomposition Framework", NeurIPS 2023), no third-party code. This module and
:mod:`._neural_batch` (networks, Sinkhorn projection, batch union information) are the only modules of
:mod:`synergy_lab.pid` that import torch; :mod:`synergy_lab.pid` and
:mod:`synergy_lab.pid.estimators` import them only when ``NeuralPID`` is first accessed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from scipy.stats import t as student_t

from .._result import COMPONENTS, PIDResult
from ._neural_batch import (
    _Adam,
    _Aligner,
    _batch_marginals,
    _batch_union_information,
    _batch_union_information_draws,
    _entropy,
    _mlp,
)
from ._sample_tools import standardised
from .base import INTERVAL_QUANTITIES, PIDEstimator, check_bool

_LN2 = math.log(2.0)
_TINY = 1e-30
#: Share of the training part that early-stops the classifiers, the patience in epochs, and the least
#: decrease of the early-stopping cross-entropy (nats) that counts as an improvement.
_STOP_FRACTION, _PATIENCE, _MIN_DELTA = 0.2, 8, 1e-3
#: Range of the calibration temperature T (logits / T) fitted on the early-stopping slice.
_TEMPERATURE_RANGE = (0.2, 5.0)


class NeuralPID(PIDEstimator):
    """BROJA-type PID of continuous, high-dimensional sources and a discrete target (Liang et al. BATCH).

    One fit (an ensemble *member*) splits the samples, stratified by label, into a training part and a
    held-out evaluation part (``eval_fraction``). On the training part, three MLP classifiers learn
    ``p(y|x1)``, ``p(y|x2)`` and ``p(y|x1,x2)`` by cross-entropy (early-stopped on a fifth of it), then an
    alignment network is trained to minimise the batch union information ``I_q(Y; X1, X2)``: it scores every
    pair ``(x1_a, x2_b)`` of a batch per label, and a per-label Sinkhorn projection turns the scores into a
    joint ``q~(a, b, y)`` whose ``(x1, y)`` and ``(x2, y)`` marginals are the classifiers' ones. On the
    evaluation part, ``I(X;Y) = H(Y) - CE`` for each classifier (plug-in label entropy minus held-out
    cross-entropy, in bits; a variational lower bound, biased low for an imperfect classifier) and ``I_q`` is
    the size-weighted mean batch estimate over a random partition into batches of about ``eval_batch_size``.
    Then ``U1 = I_q - I(X2;Y)``, ``U2 = I_q - I(X1;Y)``, ``R = I(X1;Y) + I(X2;Y) - I_q``,
    ``S = I(X1,X2;Y) - I_q``, after a correction for the classifiers' finite-sample noise
    (``bias_correction``; see Notes).

    The estimator fits ``n_fits`` independent members (each its own split, batch orders and network
    initialisation, all drawn from ``random_state``) and reports their mean; the spread of the members is
    what the intervals are built from (see Notes).

    Negative atoms are **not** clipped to 0 (the public code clips them): they are estimation error,
    reported as they come and listed in ``decomposition_.info["negative_atoms"]``.

    Parameters
    ----------
    hidden : int, default 64
        Width of the two hidden layers of every network.
    embed_dim : int, default 10
        Dimension d of the per-label alignment embeddings (pair scores are bounded by sqrt(d)).
    classifier_epochs, align_epochs : int, default 40 and 8
        Most passes over the training part for the classifiers (which stop early once the early-stopping
        cross-entropy has not fallen by 1e-3 nats for 8 epochs), and passes for the alignment network.
    batch_size : int, default 256
        Training minibatch size (at least 2).
    eval_batch_size : int, default 1024
        Batch size for I_q on the evaluation part. The batch estimate is biased upwards by roughly
        O(1/sqrt(B)) (0.012 bit at B=256 and 0.003 at B=4096 on AND), so evaluating on batches larger than
        the training ones helps; the cost is O(K B^2).
    lr : float, default 1e-3
        Adam learning rate.
    eval_fraction : float, default 0.3
        Held-out fraction, in (0, 1).
    sinkhorn_iter, sinkhorn_tol : int and float, default 100 and 1e-3
        Most Sinkhorn iterations per batch, and the L1 row-marginal residual (q~ has mass 1) that stops them.
    max_classes : int, default 64
        More labels than this raise ``ValueError`` (the batch tensor is K x B x B).
    device : {"auto", "cpu", "cuda", "cuda:N"}, default "auto"
        "auto" uses CUDA when available. Computation is float32.
    n_fits : int, default 5
        Ensemble members; :meth:`confidence_interval` needs at least 2. The fit costs ``n_fits`` times one
        member's.
    n_bootstrap : int, default 10
        Resamples of each member's evaluation part for :meth:`confidence_interval` (at least 2; drawn
        lazily on the first call, then cached).
    align_max_steps : int, default 200
        Cap on the alignment network's optimiser steps: it trains for ``align_epochs`` passes or the fewest
        whole passes that reach this many steps, whichever is less (its batch I_q levels off after
        ~100 steps on the gates; at n = 20k the cap cuts 8 passes to 4).
    random_state : int, numpy.random.Generator or None
        Seeds the members (splits, batch orders, evaluation batches and, through local
        ``torch.Generator`` objects, the weights) and the bootstrap; the global torch RNG and thread
        settings are left alone. On CPU the same seed gives identical results for the same torch thread
        count (CUDA kernels need not be bitwise reproducible).
    bias_correction : bool, default True
        Correct the classifier-noise bias with the bracket of the Notes (midpoint as the estimate, half-range
        added to the interval). False gives the uncorrected BATCH estimate and statistical intervals only.
    calibration_margin : float in [0, 1), default 0.3
        Relative temperature error the intervals allow for: every quantity is recomputed with the calibrated
        logits divided by ``1 - m`` and by ``1 / (1 - m)``, and the ensemble-mean largest shift is added to
        the interval's half-width (Notes). 0 turns this term off.

    Attributes
    ----------
    decomposition_ : PIDResult
        Ensemble-mean atoms in bits (the identities hold exactly), ``measure="neural-broja"``, ``gap=inf``
        (no optimality certificate: the alignment network reaches a local optimum of a non-convex training
        problem). ``info`` holds ``i_q`` (union information, corrected) and ``i_q_uncorrected``,
        ``mi_1_posterior``, ``mi_2_posterior`` (the MIs of the batch marginals that I_q is constrained to) and
        ``mi_joint_posterior`` (plug-in MIs of the classifiers' posteriors, uncorrected), ``classifier_gaps``
        (ensemble means of ``mi_*_posterior - mi_*``, the cross-entropy MIs uncorrected),
        ``calibration_range`` (the calibration term of the intervals, per quantity), ``temperatures``
        (ensemble-mean fitted T per classifier), ``sinkhorn_residual`` (largest over members and batches),
        ``negative_atoms``, ``n_fits``,
        ``n_train`` and ``n_eval`` (per member).
    fits_ : pandas.DataFrame
        One row per member: the seven quantities (corrected), and uncorrected ``i_q``, ``mi_1_posterior``,
        ``mi_2_posterior`` and ``mi_joint_posterior``.
    n_classes_ : int
    device_ : str
    history_ : list of dict
        Per member, per-epoch losses in nats: early-stopping cross-entropy ``"clf1"``, ``"clf2"``,
        ``"clf12"`` and mean training batch I_q ``"align"``; and the fitted temperatures
        ``"clf1_temperature"``, ``"clf2_temperature"``, ``"clf12_temperature"``.

    Notes
    -----
    **Intervals.** :meth:`confidence_interval` returns, per quantity, the Student-t interval
    ``mean +- t(1 - alpha/2; nu) * sqrt(s2 / M + f * v)`` where

    - ``s2`` is the sample variance of the ``M = n_fits`` member estimates. Given the data, the members
      are i.i.d. (fresh split and seeds), so ``s2 / M`` is the variance of the ensemble mean due to network
      training and to which samples each member held out. The bootstrap of one member's evaluation part with
      its networks fixed (the interval of earlier versions) misses the training part, and that part
      dominated: those intervals covered the truth in only 6-70% of repeats.
    - ``v`` is the mean over members of the variance of a member's estimate over ``n_bootstrap``
      resamples of its ``n_eval`` evaluation samples (networks fixed; I_q recomputed on the member's batches
      with the resampling counts as weights), and ``f = n_eval / n``. This adds the sampling variance of
      the data themselves, which the spread of members cannot see: to first order the ensemble mean
      averages per-sample terms over all n samples (each lies in the evaluation part of a share f of the
      members), whose variance is ``f`` times the variance at ``n_eval`` that the bootstrap estimates. The
      training part's dependence on the data is second order (the networks minimise their losses).
    - ``nu`` is the Welch-Satterthwaite degrees of freedom of the two terms (``M - 1`` for ``s2``,
      ``M (n_bootstrap - 1)`` for ``v``): with few members a normal or percentile interval would be too
      narrow, and ``t(0.975; 4) = 2.78`` makes five members usable.

    **Label entropy.** Every batch quantity (I_q and the posterior MIs) is ``H(pi) - H(Y | ...)`` with
    ``pi`` the batch's mean posterior; the plug-in ``H(pi)`` of a batch of B samples is biased low by up to
    ``(K - 1) / (2 B)`` nats (the whole of it when the posteriors are one-hot). The evaluation replaces each
    batch's ``H(pi)`` with that of the whole evaluation part (same weights): on RDN at n = 20k this took
    U1 = U2 from -0.0006 bit (outside the intervals) to 0.0000. Training is unaffected (a constant per
    batch).

    **Calibration.** Each classifier trains with Adam until its early-stopping loss levels off, then once
    more from its best weights at a tenth of the learning rate; its logits are then divided by the
    temperature T in [0.2, 5] that minimises the cross-entropy on the early-stopping slice (temperature
    scaling, Guo et al. 2017; fitted on training data, never on the evaluation part). This matters most
    where the truth puts the union information at its upper end, a deterministic coupling (COPY, RDN, UNQ,
    compositional redundancy): a posterior tail of mass eps lets the Sinkhorn coupling leak mass into cells
    the true coupling leaves empty, which lowers I_q by ~eps log(1/eps), far more than it lowers the
    cross-entropy MIs. Measured on COPY at n = 20k (seed 0): S came out 0.0118 bit high without either
    step, 0.0039 with temperature scaling, 0.0026 with both; the 95% intervals (half-width ~0.001 from the
    spread of the members) still missed 0. Because that bias depends on the posteriors' tails, which the
    cross-entropy hardly constrains, the intervals add a **calibration term**: every member's quantities are
    recomputed with its calibrated logits divided by ``1 - calibration_margin`` (sharper) and by its
    inverse (softer), and the ensemble mean of the largest shift is added to the half-width. It is a
    sensitivity range, not a statistical one: the truth is not guaranteed inside, but an estimate that a
    +-30% temperature error would move is reported with that much less certainty. It is asymmetric in
    effect (a softer posterior leaks more than a sharper one leaks less), so on COPY at n = 20k it widens
    the intervals from ~0.003 to ~0.010 bit (mean half-width; the error is at most 0.0026 bit over two
    seeds, inside); on XOR it adds ~1e-4 bit, on AND and SUM ~0.003.

    **Classifier-noise bias and its correction.** Every member estimates each ``I(X_i;Y)`` twice from the
    same classifier ``p^ = p + delta``: the cross-entropy MI ``mi_i = H(Y) - CE`` and the plug-in MI of the
    posteriors ``mi_i_post = H(mean p^) - mean H(p^)``, which is the MI of the batch marginals that ``I_q``
    is constrained to. Their biases have opposite signs: ``CE = H(Y|X) + E KL(p || p^)`` bounds ``mi_i`` from
    below, and when the classifier's error ``delta`` averages to zero over training runs, Jensen's inequality
    (``H`` is concave) biases ``mi_i_post`` upwards, both by ``~ E chi2(p, p^) / 2`` to second order. So the
    gap ``d_i = mi_i_post - mi_i >= 0`` brackets the truth, ``I(X_i;Y)`` in ``[mi_i, mi_i + d_i]``, and
    the same noise inflates ``I_q``: where the minimising coupling makes X1 and X2 independent given Y (the
    boundary R = 0 of XOR and of compositional synergy) ``I_q`` carries both sources' posterior biases,
    hence ``I_q`` in ``[I_q - d_1 - d_2, I_q]``. The estimate is the midpoint of each bracket (``mi_i +
    d_i / 2``, ``mi_joint + d_12 / 2``, ``I_q - (d_1 + d_2) / 2``; the identities still hold), and the
    interval adds the half-range of the implied atom bracket to the t half-width: ``d_1 + d_2`` for R,
    ``d_1 / 2 + d_2`` for U1 (``d_1 + d_2 / 2`` for U2), ``(d_12 + d_1 + d_2) / 2`` for S and ``d / 2``
    for the MIs, with ``d`` the ensemble-mean gaps. The statistical terms are computed from the corrected
    members and bootstrap draws (each with its own gaps), so the noise of the gaps is counted. A gap whose
    ensemble mean is negative (the posteriors are under-confident rather than noisy, seen on AND, and
    for near-deterministic joint classifiers) is not a bracket: that MI is left uncorrected.

    Why this and not the batch size: on XOR and compositional synergy (K = 2) the evaluation batch I_q
    equals ``mi_1_post + mi_2_post`` to 1e-4 bit at every batch size from 128 to 2048 (the aligner has
    learnt the product coupling), so the whole upward bias of I_q comes from the classifiers, not from the
    finite Sinkhorn batch, and an extrapolation in the batch size changes nothing there. Measured with the
    defaults at n = 5000 / 20000 (seed 0): XOR members have ``I_q`` 0.0005-0.0023 bit and ``mi_i`` -0.0026
    to 0.0004, which gave R -0.0032 / -0.0023 with t half-widths 0.003 / 0.002; compositional synergy
    (K = 2) R -0.0116 / -0.0077 with half-widths 0.004. The corrected R is 0.0000 on both. Off the boundary
    the batch size does matter (on AND, I_q falls by ~0.009 bit from B = 128 to 1024), but there the
    intervals already cover (19-20 of 20 repeats) and the classifier gaps are negative or small.

    A continuous y is not supported: BATCH needs ``p(y|x)`` over a finite label set; discretise y first
    (non-integer labels raise ``ValueError``).

    A constant y (a single class) carries no information: the result is the exact all-zero decomposition
    (``info["constant_target"]``, zero-width intervals) and no network is trained (``fits_`` and ``history_``
    are empty), as for every estimator of :mod:`synergy_lab.pid.estimators`.

    Examples
    --------
    >>> import numpy as np
    >>> from synergy_lab.pid import NeuralPID
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.integers(0, 2, (2, 1000))
    >>> x1 = np.eye(2)[a] + 0.1 * rng.standard_normal((1000, 2))
    >>> x2 = np.eye(2)[b] + 0.1 * rng.standard_normal((1000, 2))
    >>> est = NeuralPID(n_fits=3, align_epochs=2, random_state=0).fit(x1, x2, a ^ b)  # XOR: 1 bit synergy
    >>> r = est.decomposition_
    >>> bool(abs(r.synergy - 1) < 0.15 and abs(r.redundancy) < 0.15)
    True
    >>> ci = est.confidence_interval(0.05)  # columns estimate, low, high; one row per quantity
    >>> bool(ci.loc["synergy", "low"] <= r.synergy <= ci.loc["synergy", "high"])
    True
    """

    target_kind = "discrete"
    measure_name = "neural-broja"

    def __init__(self, hidden=64, embed_dim=10, classifier_epochs=40, align_epochs=8, batch_size=256,
                 eval_batch_size=1024, lr=1e-3, eval_fraction=0.3, sinkhorn_iter=100, sinkhorn_tol=1e-3,
                 max_classes=64, device="auto", n_fits=5, n_bootstrap=10, align_max_steps=200,
                 bias_correction=True, calibration_margin=0.3, random_state=None):
        super().__init__(n_bootstrap=n_bootstrap, random_state=random_state)
        self.hidden, self.embed_dim = hidden, embed_dim
        self.classifier_epochs, self.align_epochs = classifier_epochs, align_epochs
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.lr, self.eval_fraction = lr, eval_fraction
        self.sinkhorn_iter, self.sinkhorn_tol = sinkhorn_iter, sinkhorn_tol
        self.max_classes, self.device, self.n_fits = max_classes, device, n_fits
        self.align_max_steps, self.bias_correction = align_max_steps, bias_correction
        self.calibration_margin = calibration_margin

    def fit(self, X1, X2, y):
        """Fit on sources ``X1`` (n, d1), ``X2`` (n, d2) and class labels ``y`` (n,); returns self."""
        self._device = self._check_params()
        self.device_ = str(self._device)
        return super().fit(X1, X2, y)

    # -- validation -------------------------------------------------------------------------------
    def _check_params(self):
        for name, low in (("hidden", 1), ("embed_dim", 2), ("classifier_epochs", 1), ("align_epochs", 0),
                          ("batch_size", 2), ("eval_batch_size", 2), ("sinkhorn_iter", 1),
                          ("max_classes", 2), ("n_fits", 1), ("align_max_steps", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        for name, lo, hi, closed in (("lr", 0.0, np.inf, False), ("eval_fraction", 0.0, 1.0, False),
                                     ("sinkhorn_tol", 0.0, np.inf, False),
                                     ("calibration_margin", 0.0, 1.0, True)):
            v = getattr(self, name)
            if (isinstance(v, bool) or not isinstance(v, (int, float, np.number))
                    or not (lo <= v if closed else lo < v) or not v < hi):
                interval = f"{'[' if closed else '('}{lo:g}, {hi:g})"
                raise ValueError(f"{name} must be a number in {interval}, got {v!r}")
        check_bool(self.bias_correction, "bias_correction")
        if isinstance(self.device, str) and self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(self.device)
        except (RuntimeError, TypeError, ValueError):
            dev = None
        if dev is None or dev.type not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} but CUDA is not available; use 'auto' or 'cpu'")
        return dev

    def _validate(self, X1, X2, y):
        y_arr = np.asarray(y)
        if y_arr.dtype.kind == "f" and np.all(np.isfinite(y_arr)) and np.any(y_arr != np.round(y_arr)):
            raise ValueError("NeuralPID needs class labels: y holds non-integer floats, and continuous "
                             "targets are not supported (Liang's BATCH estimator is for discrete y)")
        X1, X2, y = super()._validate(X1, X2, y)
        k = int(y.max()) + 1
        if k > self.max_classes:
            raise ValueError(f"y has {k} classes > max_classes={self.max_classes}; NeuralPID is for discrete "
                             "targets with few classes (continuous targets are not supported)")
        return X1, X2, y

    # -- estimation -------------------------------------------------------------------------------
    def _split(self, y, rng):
        """Stratified (fit, early-stopping, evaluation) index arrays."""
        parts = ([], [], [])
        for c in range(int(y.max()) + 1):
            idx = rng.permutation(np.flatnonzero(y == c))
            n_ev = int(round(self.eval_fraction * len(idx)))
            n_es = int(round(_STOP_FRACTION * (len(idx) - n_ev)))
            if min(n_ev, n_es, len(idx) - n_ev - n_es) < 1:
                raise ValueError(f"class {c} has {len(idx)} samples: too few for eval_fraction="
                                 f"{self.eval_fraction} and an early-stopping slice, each with >= 1 sample")
            for part, sel in zip(parts, (idx[n_ev + n_es:], idx[n_ev:n_ev + n_es], idx[:n_ev]), strict=True):
                part.append(sel)
        return [np.sort(np.concatenate(p)) for p in parts]

    @staticmethod
    def _batches(n, size, rng):
        """A random partition of range(n) into ceil(n / size) near-equal batches."""
        return np.array_split(rng.permutation(n), max(1, -(-n // int(size))))

    def _train_classifier(self, net, x, y, fit, stop, rng):
        """Adam on cross-entropy; keeps the weights of the epoch with the lowest early-stopping loss.

        Once that loss has not improved by ``_MIN_DELTA`` nats for ``_PATIENCE`` epochs, training goes on
        once from the best weights at a tenth of the learning rate (and a tenth of ``_MIN_DELTA``), then
        stops at the next plateau: the lower rate takes the SGD noise out of near-deterministic posteriors,
        whose tails bias I_q (class Notes)."""
        opt, losses, best, ref, since = _Adam(net.parameters(), self.lr), [], np.inf, np.inf, 0
        polished = False
        for _ in range(int(self.classifier_epochs)):
            for b in self._batches(len(fit), self.batch_size, rng):
                opt.step(torch.nn.functional.cross_entropy(net(x[fit[b]]), y[fit[b]]))
            with torch.no_grad():
                losses.append(torch.nn.functional.cross_entropy(net(x[stop]), y[stop]).item())
            if losses[-1] < best:
                best, best_state = losses[-1], {k: v.clone() for k, v in net.state_dict().items()}
            if losses[-1] < ref - _MIN_DELTA * (0.1 if polished else 1.0):
                ref, since = losses[-1], 0
            elif (since := since + 1) >= _PATIENCE:
                if polished or not np.isfinite(best):
                    break
                polished, since, ref, opt.lr = True, 0, best, opt.lr / 10
                net.load_state_dict(best_state)
        if not np.isfinite(best):
            raise ValueError(f"NeuralPID: a classifier diverged (early-stopping loss {losses[-1]}); lower lr "
                             f"(now {self.lr})")
        net.load_state_dict(best_state)
        return losses

    def _fit_member(self, X1, X2, y, rng):
        """One ensemble member: its own split, classifiers and aligner; returns its evaluation state."""
        dev, k, h = self._device, self.n_classes_, int(self.hidden)
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(rng.integers(2**63)))
        fit, stop, ev = self._split(y, rng)
        train = np.sort(np.concatenate([fit, stop]))
        xs = [torch.as_tensor(standardised(x, train), dtype=torch.float32, device=dev) for x in (X1, X2)]
        xs.append(torch.cat(xs, dim=1))
        yt = torch.as_tensor(y, device=dev)
        fit_t, stop_t, train_t, ev_t = (torch.as_tensor(i, device=dev) for i in (fit, stop, train, ev))
        history, logits, post = {}, [], []
        for name, x in zip(("clf1", "clf2", "clf12"), xs, strict=True):
            net = _mlp([x.shape[1], h, h, k], gen, dev)
            history[name] = self._train_classifier(net, x, yt, fit_t, stop_t, rng)
            with torch.no_grad():
                z = net(x)
            history[name + "_temperature"] = temperature = _fit_temperature(z[stop_t], yt[stop_t])
            logits.append(z[ev_t].double().cpu().numpy() / temperature)
            post.append(torch.softmax(z / temperature, dim=1))
        # The alignment network learns on the whole training part; the posteriors are fixed inputs.
        align = _Aligner(X1.shape[1], X2.shape[1], h, k, int(self.embed_dim), gen, dev)
        opt, history["align"] = _Adam(align.parameters(), self.lr), []
        x1, x2, p1, p2 = xs[0][train_t], xs[1][train_t], post[0][train_t], post[1][train_t]
        per_epoch = -(-len(train) // int(self.batch_size))
        for _ in range(min(int(self.align_epochs), -(-int(self.align_max_steps) // per_epoch))):
            total = 0.0
            for b in self._batches(len(train), self.batch_size, rng):
                iq, _ = _batch_union_information(*align(x1[b], x2[b]), p1[b], p2[b], self.sinkhorn_iter,
                                                 self.sinkhorn_tol)
                opt.step(iq)
                total += iq.item() * len(b)
            history["align"].append(total / len(train))
        with torch.no_grad():
            e1, e2 = align(xs[0][ev_t], xs[1][ev_t])
        member = _tempered({"y": y[ev], "logits": logits, "e1": e1, "e2": e2, "n_train": len(train),
                            "batches": self._batches(len(ev), self.eval_batch_size, rng)}, 1.0)
        return member, history

    def _evaluate(self, member, w):
        """Member quantities (R, 7) in bits, ``[mi_1, mi_2, mi_joint, i_q, mi_1_posterior,
        mi_2_posterior, mi_joint_posterior]``, on R weightings ``w`` (R, n_eval) of its evaluation part
        (bootstrap counts; ones for the estimate), and the largest Sinkhorn row residual."""
        total = w.sum(1)
        freq = (w @ np.eye(self.n_classes_)[member["y"]]) / total[:, None]
        h_y = -np.sum(freq * np.log(np.where(freq > 0, freq, 1.0)), axis=1)
        out = np.zeros((len(w), 7))
        out[:, :3] = h_y[:, None] - (w @ member["loss"]) / total[:, None]
        p12 = member["p12"]  # posterior MI of the joint classifier: H(mean p) - mean H(p)
        mean_p12 = (w @ p12) / total[:, None]
        out[:, 6] = (-np.sum(mean_p12 * np.log(np.maximum(mean_p12, _TINY)), axis=1)
                     - (w @ -np.sum(p12 * np.log(np.maximum(p12, _TINY)), axis=1)) / total)
        resid, dev = 0.0, member["e1"].device
        # Each batch's terms share its label entropy H(pi_batch), a plug-in estimate biased low by about
        # (K - 1) / (2 B) nats; the evaluation part's H(pi) replaces it (class Notes).
        w_t = torch.as_tensor(w, dtype=torch.float32, device=dev)
        pi = _batch_marginals(member["p1"], member["p2"], w_t)[2]
        out[:, 3:6] = _entropy(pi.double(), 0).cpu().numpy()[:, None]
        for b in member["batches"]:
            rows = torch.as_tensor(b, device=dev)
            wb = torch.as_tensor(w[:, b], dtype=torch.float32, device=dev)
            s = {key: member[key][rows] for key in ("e1", "e2", "p1", "p2")}
            vals, res = _batch_union_information_draws(s["e1"], s["e2"], s["p1"], s["p2"], wb,
                                                       self.sinkhorn_iter, self.sinkhorn_tol)
            out[:, 3:6] += w[:, b].sum(1)[:, None] / total[:, None] * (vals[:, :3] - vals[:, 3:])
            resid = max(resid, res)
        return out / _LN2, resid

    def _fit_constant(self, X1, X2, y, rng):
        # Nothing to learn: no networks are trained, no members exist.
        self.n_classes_, self._members, self.history_ = 1, [], []
        self.fits_ = pd.DataFrame(columns=[*INTERVAL_QUANTITIES, "i_q", "mi_1_posterior", "mi_2_posterior",
                                           "mi_joint_posterior"], dtype=float).rename_axis("fit")
        return super()._fit_constant(X1, X2, y, rng)

    def _estimate(self, X1, X2, y, rng):
        self.n_classes_ = int(y.max()) + 1
        self._members, self.history_, rows, tempered, resid = [], [], [], [], 0.0
        m = float(self.calibration_margin)
        factors = (1.0 - m, 1.0 / (1.0 - m)) if m > 0 else ()
        for seed in rng.integers(2**63, size=int(self.n_fits)):
            member, history = self._fit_member(X1, X2, y, np.random.default_rng(seed))
            ones = np.ones((1, len(member["y"])))
            vals, res = self._evaluate(member, ones)
            self._members.append(member)
            self.history_.append(history)
            rows.append(vals[0])
            tempered.append([self._evaluate(_tempered(member, c), ones)[0][0] for c in factors])
            resid = max(resid, res)
        rows = self._member_rows = np.array(rows)
        # classifier-noise correction (class Notes): on for the MIs whose ensemble-mean gap is positive
        self._gap_mask = (np.mean(rows[:, 4:7] - rows[:, :3], axis=0) > 0) & bool(self.bias_correction)
        corrected = _bracket(rows, self._gap_mask)
        # calibration sensitivity (class Notes): how far each quantity moves when the temperatures change
        self._calibration_range = np.zeros(len(INTERVAL_QUANTITIES))
        if factors:
            shifts = [np.abs(_quantities(_bracket(np.array(t), self._gap_mask)) - _quantities(c[None]))
                      for t, c in zip(tempered, corrected, strict=True)]
            self._calibration_range = np.mean([d.max(0) for d in shifts], axis=0)
        self.fits_ = pd.DataFrame(np.column_stack([_quantities(corrected), rows[:, 3:]]),
                                  columns=[*INTERVAL_QUANTITIES, "i_q", "mi_1_posterior", "mi_2_posterior",
                                           "mi_joint_posterior"])
        self.fits_.index.name = "fit"
        mi_1, mi_2, mi_joint, i_q = corrected.mean(0).tolist()
        res = PIDResult.from_redundancy(mi_1 + mi_2 - i_q, mi_1, mi_2, mi_joint, "neural-broja", clamp=False,
                                        gap=float("inf"))
        n_ev = len(self._members[0]["y"])
        raw = rows.mean(0)
        res.info.update({"i_q": i_q, "i_q_uncorrected": raw[3], "mi_1_posterior": raw[4],
                         "mi_2_posterior": raw[5], "mi_joint_posterior": raw[6],
                         "classifier_gaps": dict(zip(("mi_1", "mi_2", "mi_joint"),
                                                     (raw[4:7] - raw[:3]).tolist(), strict=True)),
                         "calibration_range": dict(zip(INTERVAL_QUANTITIES,
                                                       self._calibration_range.tolist(), strict=True)),
                         "temperatures": {c: float(np.mean([h[c + "_temperature"] for h in self.history_]))
                                          for c in ("clf1", "clf2", "clf12")},
                         "sinkhorn_residual": resid, "n_fits": int(self.n_fits),
                         "n_train": self._members[0]["n_train"], "n_eval": n_ev,
                         "negative_atoms": [c for c in COMPONENTS if getattr(res, c) < 0]})
        return res

    # -- intervals --------------------------------------------------------------------------------
    def _bootstrap_results(self):
        """Per member, ``n_bootstrap`` resamples of its evaluation part (networks fixed): (R, 7) arrays."""
        if not hasattr(self, "_boot_results"):
            if self.n_bootstrap < 2:
                raise ValueError("confidence intervals need n_bootstrap >= 2")
            if self.n_fits < 2:
                raise ValueError("confidence intervals need n_fits >= 2 (the spread of the ensemble)")
            rng, self._boot_results = np.random.default_rng(self._boot_seed), []
            for member in self._members:
                n = len(member["y"])
                counts = rng.multinomial(n, np.full(n, 1.0 / n), size=int(self.n_bootstrap)).astype(float)
                self._boot_results.append(_quantities(_bracket(self._evaluate(member, counts)[0],
                                                               self._gap_mask)))
        return self._boot_results

    def _interval(self, alpha):
        """Ensemble t-interval; see the class Notes."""
        boot = self._bootstrap_results()
        m, r = len(boot), len(boot[0])
        point = np.array([getattr(self.decomposition_, q) for q in INTERVAL_QUANTITIES])
        a = self.fits_[list(INTERVAL_QUANTITIES)].to_numpy().var(0, ddof=1) / m  # spread of the ensemble mean
        f = self.decomposition_.info["n_eval"] / self.n_samples_
        b = f * np.mean([d.var(0, ddof=1) for d in boot], axis=0)  # sampling variance of the data
        var = a + b
        with np.errstate(divide="ignore", invalid="ignore"):
            dof = np.where(var > 0, var**2 / (a**2 / (m - 1) + b**2 / (m * (r - 1))), m - 1)
        gaps = self._gap_mask * np.mean([f[4:7] - f[:3] for f in self._member_rows], axis=0)
        half = (student_t.ppf(1 - alpha / 2, dof) * np.sqrt(var) + _bracket_half_range(gaps)
                + self._calibration_range)
        return pd.DataFrame({"estimate": point, "low": point - half, "high": point + half},
                            index=list(INTERVAL_QUANTITIES))


def _tempered(member, factor):
    """A member's evaluation state with each classifier's (calibrated) logits divided by ``factor``: the
    per-sample cross-entropies ``loss`` (n_eval, 3), the posteriors ``p1``, ``p2`` (torch, for I_q) and
    ``p12``."""
    out, losses, post = dict(member), [], []
    rows = np.arange(len(member["y"]))
    for z in member["logits"]:
        log_p = z / factor
        log_p = log_p - logsumexp(log_p, axis=1, keepdims=True)
        losses.append(-log_p[rows, member["y"]])
        post.append(np.exp(log_p))
    dev = member["e1"].device
    out["loss"], out["p12"] = np.column_stack(losses), post[2]
    out["p1"], out["p2"] = (torch.as_tensor(p, dtype=torch.float32, device=dev) for p in post[:2])
    return out


def _fit_temperature(logits, y):
    """Temperature T in _TEMPERATURE_RANGE minimising the cross-entropy of ``softmax(logits / T)`` on held-out
    samples (temperature scaling, Guo et al. 2017), computed in float64."""
    z = logits.double().cpu().numpy()
    rows, labels = np.arange(len(z)), y.cpu().numpy()

    def cross_entropy(log_t):
        s = z / math.exp(log_t)
        m = s.max(1)
        return float(np.mean(m + np.log(np.exp(s - m[:, None]).sum(1)) - s[rows, labels]))

    lo, hi = (math.log(t) for t in _TEMPERATURE_RANGE)
    return math.exp(minimize_scalar(cross_entropy, bounds=(lo, hi), method="bounded",
                                    options={"xatol": 1e-3}).x)


def _bracket(rows, mask):
    """Member rows ``[mi_1, mi_2, mi_joint, i_q, mi_1_post, mi_2_post, mi_joint_post]`` (R, 7) -> corrected
    ``[mi_1, mi_2, mi_joint, i_q]`` (R, 4): the midpoints of the brackets of the class Notes, for the MIs
    selected by ``mask`` (3,) (the others are left as they are)."""
    g = (rows[:, 4:7] - rows[:, :3]) * mask
    return np.column_stack([rows[:, :3] + g / 2, rows[:, 3] - (g[:, 0] + g[:, 1]) / 2])


def _bracket_half_range(gaps):
    """Half-widths of the brackets of INTERVAL_QUANTITIES for the gaps ``[d1, d2, d12]`` (bits, >= 0)."""
    d1, d2, d12 = gaps
    return np.array([d1 + d2, d1 / 2 + d2, d1 + d2 / 2, (d12 + d1 + d2) / 2, d1 / 2, d2 / 2, d12 / 2])


def _quantities(v):
    """Rows ``[mi_1, mi_2, mi_joint, i_q]`` -> rows of INTERVAL_QUANTITIES (R, U1, U2, S and the MIs)."""
    mi_1, mi_2, mi_joint, i_q = v.T
    return np.column_stack([mi_1 + mi_2 - i_q, i_q - mi_2, i_q - mi_1, mi_joint - i_q, mi_1, mi_2, mi_joint])
