"""Helpers shared by the loss tests (imported as a plain module: pytest puts this folder on sys.path)."""

import torch
import torch.nn.functional as F


def unit(*shape, seed=0, dtype=torch.float64):
    """Random (..., d) rows on the unit sphere from a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=gen, dtype=dtype), dim=-1)


def leaf(seed, *shape):
    """A random float32 leaf tensor with gradient (embeddings optimised directly)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen).requires_grad_()


def norm(x):
    return F.normalize(x, dim=-1)


def descend(loss_fn, params, lr=0.05, steps=20, after_step=None):
    """Run ``steps`` Adam steps on ``loss_fn()`` over ``params``; return the loss before and after."""
    opt = torch.optim.Adam(params, lr=lr)
    with torch.no_grad():
        first = float(loss_fn())
    for _ in range(steps):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
        if after_step is not None:
            after_step()
    with torch.no_grad():
        return first, float(loss_fn())
