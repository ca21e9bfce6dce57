"""Building blocks of :class:`~synergy_lab.pid.estimators.neural.NeuralPID` (torch): seeded MLPs, a plain
Adam, the aligner, the per-label Sinkhorn projection (with its implicit gradient) that turns minibatch scores
into a coupling with both (X_i, Y) marginals, and the batch union information I_q computed from it.
"""

from __future__ import annotations

import math

import torch

_TINY = 1e-30


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
        with torch.no_grad():  # multi-tensor (foreach) kernels: one call per update for all parameters
            torch._foreach_mul_(self.m, self.b1)
            torch._foreach_add_(self.m, grads, alpha=1 - self.b1)
            torch._foreach_mul_(self.v, self.b2)
            torch._foreach_addcmul_(self.v, grads, grads, value=1 - self.b2)
            denom = torch._foreach_div(self.v, 1 - self.b2**self.t)
            torch._foreach_sqrt_(denom)
            torch._foreach_add_(denom, self.eps)
            torch._foreach_addcdiv_(self.params, self.m, denom, value=-self.lr / (1 - self.b1**self.t))


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


def _vecmat(x, m):
    """Per label ``k``: the rows of ``x[k]`` (R, B) times ``m[k]`` (B, B), i.e. ``m[k].T @ x[k].T``.

    Row vectors times a matrix (one ``bmm``) run several times faster on CPU than ``m @ x`` (a loop of
    ``mv`` or ``bmm`` with a column vector), and R bootstrap draws share one pass over ``m``.
    """
    return torch.bmm(x, m)


def _sinkhorn(kern, kern_t, row, col, n_iter, tol):
    """Scalings ``u``, ``v`` (K, R, B): ``q[k, r] = diag(u) kern[k] diag(v)`` matches ``row`` and ``col``.

    ``row``, ``col`` are (K, R, B): R sets of target marginals (draws) sharing one kernel. Stops when every
    draw's L1 row residual is below ``tol`` (checked every 10 iterations); columns are exact at the end.
    """
    v = torch.ones_like(col)
    for it in range(n_iter):
        u = row / _vecmat(v, kern_t).clamp_min(_TINY)
        v = col / _vecmat(u, kern).clamp_min(_TINY)
        if (it % 10 == 9 or it == n_iter - 1) and float(
                (u * _vecmat(v, kern_t) - row).abs().sum((0, 2)).max()) < tol:
            break
    return u, v


class _SinkhornProjection(torch.autograd.Function):
    """``q = diag(u) exp(s) diag(v)`` per label with row sums ``row``, column sums ``col``; implicit gradient.

    At the fixed point ``q = exp(s + alpha_a + beta_b)``; then ``dL/ds = q * (G - lam_a - mu_b)`` with
    ``(lam, mu)`` such that every row and column of ``q * (G - lam - mu)`` sums to zero (alternating
    updates). This costs as much as the forward pass, unlike back-propagating through the iterations.
    """

    @staticmethod
    def forward(ctx, scores, row, col, n_iter, tol):
        kern = torch.exp(scores - scores.amax(dim=(1, 2), keepdim=True))
        u, v = _sinkhorn(kern, kern.transpose(1, 2).contiguous(), row[:, None], col[:, None], n_iter, tol)
        q = u[:, 0, :, None] * kern * v[:, 0, None, :]
        ctx.save_for_backward(q)
        ctx.n_iter, ctx.tol = n_iter, tol
        return q

    @staticmethod
    def backward(ctx, grad):
        (q,) = ctx.saved_tensors
        q_t = q.transpose(1, 2).contiguous()
        r, c = q.sum(2).clamp_min(_TINY)[:, None], q.sum(1).clamp_min(_TINY)[:, None]
        qg = q * grad
        qg_r, qg_c, mu = qg.sum(2)[:, None], qg.sum(1)[:, None], torch.zeros_like(c)
        for it in range(ctx.n_iter):
            lam = (qg_r - _vecmat(mu, q_t)) / r
            mu, mu_old = (qg_c - _vecmat(lam, q)) / c, mu
            if it % 10 == 9 and float((mu - mu_old).abs().max()) < ctx.tol:
                break
        return q * (grad - lam[:, 0, :, None] - mu[:, 0, None, :]), None, None, None, None


def _batch_marginals(p1, p2, w=None):
    """Per-label target masses (K, R, B) of the rows and columns, and the label marginal pi (K, R).

    Row a of label y gets ``pi_y w_a p(y|x1_a) / sum_a' w_a' p(y|x1_a')`` (columns likewise with x2), with
    ``pi`` the mean of the two sources' weighted average posteriors: both sides of every label carry the
    same mass ``pi_y``. ``w`` (R, B) are sample weights (bootstrap counts); None is one draw of unit weights.
    """
    if w is None:
        w = torch.ones((1, len(p1)), dtype=p1.dtype, device=p1.device)
    m1, m2 = w[None] * p1.T[:, None], w[None] * p2.T[:, None]  # (K, R, B)
    s1, s2 = m1.sum(2, keepdim=True), m2.sum(2, keepdim=True)
    pi = 0.5 * (s1 + s2) / w.sum(1)[None, :, None].clamp_min(_TINY)
    return pi * m1 / s1.clamp_min(_TINY), pi * m2 / s2.clamp_min(_TINY), pi[..., 0]


def _entropy(t, dim=None):
    terms = t * torch.log(t.clamp_min(_TINY))
    return -(terms.sum() if dim is None else terms.sum(dim))


def _batch_scores(e1, e2):
    return torch.einsum("akd,bkd->kab", e1, e2) / math.sqrt(e1.shape[-1])


def _batch_union_information(e1, e2, p1, p2, n_iter, tol):
    """``I_q(Y; X1, X2)`` in nats on one batch (embeddings (B, K, d), posteriors (B, K)), with gradient,
    and the L1 residual of the row marginals (the column marginals are exact after the last Sinkhorn step)."""
    row, col, _ = _batch_marginals(p1, p2)
    q = _SinkhornProjection.apply(_batch_scores(e1, e2), row[:, 0], col[:, 0], n_iter, tol)
    resid = float((q.detach().sum(2) - row[:, 0]).abs().sum())
    q = q / q.sum()
    return _entropy(q.sum((1, 2))) + _entropy(q.sum(0)) - _entropy(q), resid


@torch.no_grad()
def _batch_union_information_draws(e1, e2, p1, p2, w, n_iter, tol):
    """Batch ``I_q`` (nats), the posterior MIs ``I_q(Y; X_i)`` and the batch label entropy ``H(pi)`` for R
    weightings ``w`` (R, B) of one batch at once (no gradient): arrays (R, 4), and the largest L1 row
    residual."""
    kern = _batch_scores(e1, e2)
    kern = torch.exp(kern - kern.amax(dim=(1, 2), keepdim=True))
    kern_t = kern.transpose(1, 2).contiguous()
    row, col, pi = _batch_marginals(p1, p2, w)
    u, v = _sinkhorn(kern, kern_t, row, col, n_iter, tol)
    resid = float((u * _vecmat(v, kern_t) - row).abs().sum((0, 2)).max())
    out = torch.empty((w.shape[0], 4), dtype=torch.float64)
    out[:, 3] = h_pi = _entropy(pi, 0)
    for r in range(w.shape[0]):
        q = u[:, r, :, None] * kern * v[:, r, None, :]
        q = q / q.sum().clamp_min(_TINY)
        out[r, 0] = h_pi[r] + _entropy(q.sum(0)) - _entropy(q)
        # I_q(Y; X_i) of the batch marginals: H(pi) + H(X_i) - H(X_i, Y)
        for j, m in enumerate((row[:, r], col[:, r]), start=1):
            out[r, j] = h_pi[r] + _entropy(m.sum(0)) - _entropy(m)
    return out.numpy(), resid
