"""NeuralPID: the BATCH estimator of Liang et al. (NeurIPS 2023) for high-dimensional continuous sources.

Re-implemented from the paper's description (``shared/pid_notes.md``), no third-party code. This is the only
module of :mod:`synergy_lab.pid` that imports torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._estimator_base import PIDEstimator
from ._result import COMPONENTS, PIDResult

_LN2 = math.log(2.0)
_TINY = 1e-30
#: Share of the training part that early-stops the classifiers, and the patience in epochs.
_STOP_FRACTION, _PATIENCE = 0.2, 8


def _mlp(sizes, gen, device):
    """ReLU MLP initialised from ``gen`` only (``skip_init``: the global torch RNG is never touched)."""
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = torch.nn.utils.skip_init(torch.nn.Linear, fan_in, fan_out, device=device)
        with torch.no_grad():
            lin.weight.uniform_(-math.sqrt(3.0 / fan_in), math.sqrt(3.0 / fan_in), generator=gen)
            lin.bias.zero_()
        layers += [lin, torch.nn.ReLU()] if i < len(sizes) - 2 else [lin]
    return torch.nn.Sequential(*layers)


class _Adam:
    """Plain Adam (Kingma & Ba 2015); avoids torch.optim, whose first step imports torch._dynamo (~3 s)."""

    def __init__(self, params, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps, self.t = list(params), lr, b1, b2, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def step(self, loss):
        grads = torch.autograd.grad(loss, self.params)
        self.t += 1
        with torch.no_grad():
            for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
                m.mul_(self.b1).add_(g, alpha=1 - self.b1)
                v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                denom = (v / (1 - self.b2**self.t)).sqrt_().add_(self.eps)
                p.addcdiv_(m, denom, value=-self.lr / (1 - self.b1**self.t))


class _Aligner(torch.nn.Module):
    """Per-label embeddings ``f_i(x)_y`` in R^d standardised over d, so scores lie in [-sqrt(d), sqrt(d)]."""

    def __init__(self, d1, d2, hidden, n_classes, dim, gen, device):
        super().__init__()
        self.k, self.dim = n_classes, dim
        self.f1 = _mlp([d1, hidden, hidden, n_classes * dim], gen, device)
        self.f2 = _mlp([d2, hidden, hidden, n_classes * dim], gen, device)

    def _embed(self, f, x):
        z = f(x).unflatten(1, (self.k, self.dim))  # (n, K, d)
        return (z - z.mean(-1, keepdim=True)) / (z.std(-1, unbiased=False, keepdim=True) + 1e-5)

    def forward(self, x1, x2):
        return self._embed(self.f1, x1), self._embed(self.f2, x2)


def _matvec(m, x):
    """Per-label ``m[k] @ x[k]``; a loop of ``mv`` is several times faster than ``bmm`` on CPU."""
    return torch.stack([torch.mv(m[i], x[i]) for i in range(len(x))])


class _SinkhornProjection(torch.autograd.Function):
    """``q = diag(u) exp(s) diag(v)`` per label with row sums ``row``, column sums ``col``; implicit gradient.

    At the fixed point ``q = exp(s + alpha_a + beta_b)``; then ``dL/ds = q * (G - lam_a - mu_b)`` with
    ``(lam, mu)`` such that every row and column of ``q * (G - lam - mu)`` sums to zero (alternating
    updates). This costs as much as the forward pass, unlike back-propagating through the iterations.
    """

    @staticmethod
    def forward(ctx, scores, row, col, n_iter, tol):
        kern = torch.exp(scores - scores.amax(dim=(1, 2), keepdim=True))
        kern_t, v = kern.transpose(1, 2).contiguous(), torch.ones_like(col)
        for it in range(n_iter):
            u = row / _matvec(kern, v).clamp_min(_TINY)
            v = col / _matvec(kern_t, u).clamp_min(_TINY)
            if (it % 10 == 9 or it == n_iter - 1) and float((u * _matvec(kern, v) - row).abs().sum()) < tol:
                break
        q = u[..., :, None] * kern * v[..., None, :]
        ctx.save_for_backward(q)
        ctx.n_iter, ctx.tol = n_iter, tol
        return q

    @staticmethod
    def backward(ctx, grad):
        (q,) = ctx.saved_tensors
        q_t = q.transpose(1, 2).contiguous()
        r, c = q.sum(2).clamp_min(_TINY), q.sum(1).clamp_min(_TINY)
        qg = q * grad
        qg_r, qg_c, mu = qg.sum(2), qg.sum(1), torch.zeros_like(c)
        for it in range(ctx.n_iter):
            lam = (qg_r - _matvec(q, mu)) / r
            mu, mu_old = (qg_c - _matvec(q_t, lam)) / c, mu
            if it % 10 == 9 and float((mu - mu_old).abs().max()) < ctx.tol:
                break
        return q * (grad - lam[..., :, None] - mu[..., None, :]), None, None, None, None


def _batch_marginals(p1, p2):
    """Per-label target masses (K, B) of the rows and columns, and the label marginal pi (K,).

    Row a of label y gets ``pi_y p(y|x1_a) / sum_a' p(y|x1_a')`` (columns likewise with x2), with ``pi`` the
    mean of the two sources' average posteriors: both sides of every label carry the same mass ``pi_y``.
    """
    pi = 0.5 * (p1.mean(0) + p2.mean(0))
    return (pi * p1 / p1.sum(0)).T.contiguous(), (pi * p2 / p2.sum(0)).T.contiguous(), pi


def _entropy(t):
    return -(t * torch.log(t.clamp_min(_TINY))).sum()


def _batch_union_information(e1, e2, p1, p2, n_iter, tol):
    """``I_q(Y; X1, X2)`` in nats on one batch (embeddings (B, K, d), posteriors (B, K)), and the L1 residual
    of the row marginals (the column marginals are exact after the last Sinkhorn step)."""
    scores = torch.einsum("akd,bkd->kab", e1, e2) / math.sqrt(e1.shape[-1])
    row, col, _ = _batch_marginals(p1, p2)
    q = _SinkhornProjection.apply(scores, row, col, n_iter, tol)
    resid = float((q.detach().sum(2) - row).abs().sum())
    q = q / q.sum()
    return _entropy(q.sum((1, 2))) + _entropy(q.sum(0)) - _entropy(q), resid


class NeuralPID(PIDEstimator):
    """BROJA-type PID of continuous, high-dimensional sources and a discrete target (Liang et al. BATCH).

    The samples are split, stratified by label, into a training part and a held-out evaluation part
    (``eval_fraction``). On the training part, three MLP classifiers learn ``p(y|x1)``, ``p(y|x2)`` and
    ``p(y|x1,x2)`` by cross-entropy (early-stopped on a fifth of it), then an alignment network is trained
    to minimise the batch union information ``I_q(Y; X1, X2)``: it scores every pair ``(x1_a, x2_b)`` of
    a batch per label, and a per-label Sinkhorn projection turns the scores into a joint ``q~(a, b, y)``
    whose ``(x1, y)`` and ``(x2, y)`` marginals are the classifiers' ones. On the evaluation part,
    ``I(X;Y) = H(Y) - CE`` for each classifier (plug-in label entropy minus held-out cross-entropy, in bits;
    a variational lower bound, biased low for an imperfect classifier) and ``I_q`` is the size-weighted mean
    batch estimate over a random partition into batches of about ``eval_batch_size``. Then
    ``U1 = I_q - I(X2;Y)``, ``U2 = I_q - I(X1;Y)``, ``R = I(X1;Y) + I(X2;Y) - I_q``, ``S = I(X1,X2;Y) - I_q``.

    Negative atoms are **not** clipped to 0 (the public code clips them): they are estimation error,
    reported as they come and listed in ``decomposition_.info["negative_atoms"]``.

    Parameters
    ----------
    hidden : int, default 64
        Width of the two hidden layers of every network.
    embed_dim : int, default 10
        Dimension d of the per-label alignment embeddings (pair scores are bounded by sqrt(d)).
    classifier_epochs, align_epochs : int, default 40 and 8
        Most passes over the training part for the classifiers, and passes for the alignment network.
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
    n_bootstrap : int, default 100
        Resamples for :meth:`confidence_interval`.
    random_state : int, numpy.random.Generator or None
        Seeds the split, batch orders, evaluation batches and, through a local ``torch.Generator``, the
        weights; the global torch RNG and thread settings are left alone. On CPU the same seed gives
        identical results for the same torch thread count (CUDA kernels need not be bitwise reproducible).

    Attributes
    ----------
    decomposition_ : PIDResult
        Atoms in bits, ``measure="neural-broja"``, ``gap=inf`` (no optimality certificate: the alignment
        network reaches a local optimum of a non-convex training problem). ``info`` holds
        ``i_q`` (union information), ``mi_1_posterior`` and ``mi_2_posterior`` (the MIs of the batch
        marginals that I_q is constrained to; they differ from ``mi_1``, ``mi_2`` when a classifier is
        miscalibrated), ``sinkhorn_residual``, ``negative_atoms``, ``n_train`` and ``n_eval``.
    n_classes_ : int
    device_ : str
    history_ : dict
        Per-epoch losses in nats: early-stopping cross-entropy ``"clf1"``, ``"clf2"``, ``"clf12"`` and mean
        training batch I_q ``"align"``.

    Notes
    -----
    :meth:`confidence_interval` bootstraps the evaluation part with the fitted networks held fixed (label
    entropy, per-sample losses, and I_q on re-drawn batches). It ignores training variance, so intervals
    are too narrow when the networks vary from seed to seed. A continuous y is not supported: BATCH needs
    ``p(y|x)`` over a finite label set; discretise y first (non-integer labels raise ``ValueError``).

    Examples
    --------
    >>> import numpy as np
    >>> from synergy_lab.pid.neural import NeuralPID
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.integers(0, 2, (2, 1000))
    >>> x1 = np.eye(2)[a] + 0.1 * rng.standard_normal((1000, 2))
    >>> x2 = np.eye(2)[b] + 0.1 * rng.standard_normal((1000, 2))
    >>> est = NeuralPID(align_epochs=2, random_state=0).fit(x1, x2, a ^ b)  # XOR: one bit of synergy
    >>> r = est.decomposition_
    >>> bool(abs(r.synergy - 1) < 0.15 and abs(r.redundancy) < 0.15)
    True
    """

    target_kind = "discrete"

    def __init__(self, hidden=64, embed_dim=10, classifier_epochs=40, align_epochs=8, batch_size=256,
                 eval_batch_size=1024, lr=1e-3, eval_fraction=0.3, sinkhorn_iter=100, sinkhorn_tol=1e-3,
                 max_classes=64, device="auto", n_bootstrap=100, random_state=None):
        super().__init__(n_bootstrap=n_bootstrap, random_state=random_state)
        self.hidden, self.embed_dim = hidden, embed_dim
        self.classifier_epochs, self.align_epochs = classifier_epochs, align_epochs
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.lr, self.eval_fraction = lr, eval_fraction
        self.sinkhorn_iter, self.sinkhorn_tol = sinkhorn_iter, sinkhorn_tol
        self.max_classes, self.device = max_classes, device

    def fit(self, X1, X2, y):
        """Fit on sources ``X1`` (n, d1), ``X2`` (n, d2) and class labels ``y`` (n,); returns self."""
        self._device = self._check_params()
        self.device_ = str(self._device)
        self.__dict__.pop("_boot_results", None)  # bootstrap draws belong to the previous fit
        return super().fit(X1, X2, y)

    # -- validation -------------------------------------------------------------------------------
    def _check_params(self):
        for name, low in (("hidden", 1), ("embed_dim", 2), ("classifier_epochs", 1), ("align_epochs", 0),
                          ("batch_size", 2), ("eval_batch_size", 2), ("sinkhorn_iter", 1),
                          ("max_classes", 2)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        for name, lo, hi in (("lr", 0.0, np.inf), ("eval_fraction", 0.0, 1.0), ("sinkhorn_tol", 0.0, np.inf)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not lo < v < hi:
                raise ValueError(f"{name} must be a number in ({lo:g}, {hi:g}), got {v!r}")
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
        if k < 2:
            raise ValueError("y has a single class: NeuralPID needs at least 2 classes")
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
        """Adam on cross-entropy; keeps the weights of the epoch with the lowest early-stopping loss."""
        opt, losses, best, since = _Adam(net.parameters(), self.lr), [], np.inf, 0
        for _ in range(int(self.classifier_epochs)):
            for b in self._batches(len(fit), self.batch_size, rng):
                opt.step(torch.nn.functional.cross_entropy(net(x[fit[b]]), y[fit[b]]))
            with torch.no_grad():
                losses.append(torch.nn.functional.cross_entropy(net(x[stop]), y[stop]).item())
            if losses[-1] < best:
                best, since, best_state = losses[-1], 0, {k: v.clone() for k, v in net.state_dict().items()}
            elif (since := since + 1) >= _PATIENCE:
                break
        net.load_state_dict(best_state)
        return losses

    def _estimate(self, X1, X2, y, rng):
        dev, k, h = self._device, int(y.max()) + 1, int(self.hidden)
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(rng.integers(2**63)))
        fit, stop, ev = self._split(y, rng)
        train = np.sort(np.concatenate([fit, stop]))
        xs = []
        for x in (X1, X2):  # standardised with training statistics
            mu, sd = x[train].mean(0), x[train].std(0)
            xs.append(torch.as_tensor((x - mu) / np.where(sd > 0, sd, 1.0), dtype=torch.float32, device=dev))
        xs.append(torch.cat(xs, dim=1))
        yt = torch.as_tensor(y, device=dev)
        fit_t, stop_t, train_t, ev_t = (torch.as_tensor(i, device=dev) for i in (fit, stop, train, ev))
        self.history_, losses, post = {}, [], []
        for name, x in zip(("clf1", "clf2", "clf12"), xs, strict=True):
            net = _mlp([x.shape[1], h, h, k], gen, dev)
            self.history_[name] = self._train_classifier(net, x, yt, fit_t, stop_t, rng)
            with torch.no_grad():
                logits = net(x)
            losses.append(torch.nn.functional.cross_entropy(logits[ev_t], yt[ev_t], reduction="none"))
            post.append(torch.softmax(logits, dim=1))
        # The alignment network learns on the whole training part; the posteriors are fixed inputs.
        align = _Aligner(X1.shape[1], X2.shape[1], h, k, int(self.embed_dim), gen, dev)
        opt, self.history_["align"] = _Adam(align.parameters(), self.lr), []
        x1, x2, p1, p2 = xs[0][train_t], xs[1][train_t], post[0][train_t], post[1][train_t]
        for _ in range(int(self.align_epochs)):
            total = 0.0
            for b in self._batches(len(train), self.batch_size, rng):
                iq, _ = _batch_union_information(*align(x1[b], x2[b]), p1[b], p2[b], self.sinkhorn_iter,
                                                 self.sinkhorn_tol)
                opt.step(iq)
                total += iq.item() * len(b)
            self.history_["align"].append(total / len(train))
        with torch.no_grad():
            e1, e2 = align(xs[0][ev_t], xs[1][ev_t])
        self.n_classes_ = k
        self._eval = {"y": y[ev], "loss": torch.stack(losses, 1).double().cpu().numpy(), "e1": e1, "e2": e2,
                      "p1": post[0][ev_t], "p2": post[1][ev_t], "n_train": len(train)}
        return self._result(np.arange(len(ev)), rng)

    def _union_information(self, idx, rng):
        """Size-weighted mean batch I_q and posterior MIs (bits) over a random batching of rows ``idx``."""
        s, out = self._eval, np.zeros(3)
        resid = 0.0
        with torch.no_grad():
            for b in self._batches(len(idx), self.eval_batch_size, rng):
                rows = torch.as_tensor(idx[b], device=s["e1"].device)
                p1, p2 = s["p1"][rows], s["p2"][rows]
                iq, res = _batch_union_information(s["e1"][rows], s["e2"][rows], p1, p2, self.sinkhorn_iter,
                                                   self.sinkhorn_tol)
                row, col, pi = _batch_marginals(p1, p2)
                # I_q(Y; X_i) of the batch marginals: H(pi) + H(X_i) - H(X_i, Y)
                mis = [_entropy(pi) + _entropy(m.sum(0)) - _entropy(m) for m in (row, col)]
                out += len(b) / len(idx) * np.array([iq.item()] + [m.item() for m in mis])
                resid = max(resid, res)
        return (*(out / _LN2).tolist(), resid)

    def _result(self, idx, rng):
        s = self._eval
        freq = np.bincount(s["y"][idx], minlength=self.n_classes_) / len(idx)
        h_y = -np.sum(freq[freq > 0] * np.log(freq[freq > 0]))
        mi_1, mi_2, mi_joint = ((h_y - s["loss"][idx].mean(0)) / _LN2).tolist()
        i_q, mi1_post, mi2_post, resid = self._union_information(idx, rng)
        res = PIDResult.from_redundancy(mi_1 + mi_2 - i_q, mi_1, mi_2, mi_joint, "neural-broja", clamp=False,
                                        gap=float("inf"))
        res.info.update({"i_q": i_q, "mi_1_posterior": mi1_post, "mi_2_posterior": mi2_post,
                         "sinkhorn_residual": resid, "n_train": s["n_train"], "n_eval": len(idx),
                         "negative_atoms": [c for c in COMPONENTS if getattr(res, c) < 0]})
        return res

    def _bootstrap_results(self):
        """Resample the evaluation part with the fitted networks held fixed (no training variance)."""
        if not hasattr(self, "_boot_results"):
            if self.n_bootstrap < 1:
                raise ValueError("confidence intervals need n_bootstrap >= 1")
            rng, n = np.random.default_rng(self._boot_seed), len(self._eval["y"])
            draws = (rng.integers(0, n, size=n) for _ in range(self.n_bootstrap))
            self._boot_results = [self._result(idx, rng) for idx in draws]
        return self._boot_results
