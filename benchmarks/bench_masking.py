"""Batched masking vs a per-view loop: one InfMasking training step of fusion + head, side by side.

Per step and per augmentation (two of them), :class:`synergy_lab.models.MaskedFusion` evaluates the
unmasked full input, the n unimodal subsets and T masked views of the full input, and
:class:`synergy_lab.models.ProjectionHead` projects them; then a loss, its backward and a plain SGD update.

* ``batched`` -- one transformer call on a ``(1 + n + T) B`` batch per augmentation (subsets by key-padding
  masks, views stacked on the batch axis) and one head call on ``(1 + n + T, B, E)`` (per-view BatchNorm).
* ``stacked`` -- for reference, the plain way to batch: the same views materialised and stacked on the
  batch axis, one ``FusionTransformer.forward`` call with key padding (no sharing of the first block's
  token-wise work between views), and the same batched head.
* ``loop``    -- the same model, same masks, one transformer call and one head call per view.

Token inputs are leaf tensors with ``requires_grad`` (standing in for encoder outputs), so the backward
pass reaches them as it would reach the encoders. The loss is ``synergy_lab.losses.infmasking_loss``
(tau = 0.1, lambda = 1, weights [1, 1, 1, 1, 5] as the public n = 2 runs; no entropy term); if that package
is missing, an inline stand-in: NT-Xent (docs/methods.md) for the CoMM terms plus an NT-Xent between each full
projection and the mean of its masked views.

Shapes: ``trifeature`` = 2 modalities x 36 tokens, E=512, 8 heads, 1 block, T=6, B=64, head 512-512-256;
``cpu`` = 2 x 16 tokens, E=64, 8 heads, 1 block, T=6, B=64, head 128-128-64.

    python benchmarks/bench_masking.py                    # both shapes, 1 and 2 threads
    python benchmarks/bench_masking.py --shapes cpu --steps 20 --threads 1
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from synergy_lab.models import MaskedFusion, ProjectionHead, random_token_masks

SHAPES = {
    "trifeature": dict(n=2, tokens=36, dim=512, heads=8, depth=1, T=6, B=64, hidden=512, out=256, ratio=0.7),
    "cpu": dict(n=2, tokens=16, dim=64, heads=8, depth=1, T=6, B=64, hidden=128, out=64, ratio=0.7),
}
TAU, LAMBDA = 0.1, 1.0

try:
    from synergy_lab.losses import infmasking_loss
except ImportError:  # the losses package is optional here
    infmasking_loss = None


def nt_xent(u: torch.Tensor, v: torch.Tensor, tau: float = TAU) -> torch.Tensor:
    """NT-Xent: 2B anchors, 1 positive and 2(B - 1) negatives each (rows already L2-normalised)."""
    b = u.shape[0]
    eye = torch.eye(b, dtype=torch.bool, device=u.device)
    uu = (u @ u.T).masked_fill(eye, -1e8)
    vv = (v @ v.T).masked_fill(eye, -1e8)
    uv = u @ v.T
    logits = torch.cat([torch.cat([uv, uu], 1), torch.cat([vv, uv.T], 1)], 0) / tau
    return -torch.diagonal(logits.log_softmax(dim=1)).mean()


def standin_loss(z1: torch.Tensor, z2: torch.Tensor, n: int) -> torch.Tensor:
    """``z1``, ``z2``: (1 + n + T, B, d) projections [full, unimodal..., masked...] of the two augmentations.

    Mean of: NT-Xent(z'_full, z''_full); for each modality i, the mean of NT-Xent(z'_i, z''_full) and
    NT-Xent(z''_i, z'_full); and for each augmentation NT-Xent(full, normalised mean of its masked views).
    """
    terms = [nt_xent(z1[0], z2[0])]
    terms += [0.5 * (nt_xent(z1[1 + i], z2[0]) + nt_xent(z2[1 + i], z1[0])) for i in range(n)]
    terms += [nt_xent(z1[0], F.normalize(z1[1 + n:].mean(0), dim=-1)),
              nt_xent(z2[0], F.normalize(z2[1 + n:].mean(0), dim=-1))]
    return torch.stack(terms).mean()


def stacked_views(fusion: MaskedFusion, tokens: list[torch.Tensor], t: int, ratio: float,
                  gen: torch.Generator) -> torch.Tensor:
    """(1 + n + T, B, E) CLS of the same views (same masks from ``gen``) through one plain stacked call."""
    x, lengths, n = torch.cat(tokens, 1), [tk.shape[1] for tk in tokens], len(tokens)
    b, length, _ = x.shape
    masks = random_token_masks(b, lengths, ratio, t, gen)
    seg = torch.repeat_interleave(torch.arange(n), torch.tensor(lengths))
    pad = torch.cat([torch.zeros(1, length, dtype=torch.bool), seg[None] != torch.arange(n)[:, None]])
    pad = torch.cat([pad[:, None].expand(1 + n, b, length), torch.zeros(t, b, length, dtype=torch.bool)])
    keep = torch.cat([torch.ones(1 + n, b, length, dtype=torch.bool), masks])
    xv = torch.where(keep[..., None], x, fusion.mask_token)
    return fusion.transformer(xv.flatten(0, 1), pad.flatten(0, 1)).unflatten(0, (1 + n + t, b))


class Step:
    """One training step (fwd + bwd + SGD) of fusion + head on fixed token inputs."""

    def __init__(self, cfg: dict, seed: int = 0):
        torch.manual_seed(seed)
        self.cfg = cfg
        self.fusion = MaskedFusion(cfg["dim"], cfg["n"], depth=cfg["depth"], heads=cfg["heads"])
        self.head = ProjectionHead(cfg["dim"], cfg["hidden"], cfg["out"])
        self.params = list(self.fusion.parameters()) + list(self.head.parameters())
        shape = (cfg["B"], cfg["tokens"], cfg["dim"])
        self.tokens = [[torch.randn(shape, requires_grad=True) for _ in range(cfg["n"])] for _ in range(2)]

    @staticmethod
    def loss_label() -> str:
        if infmasking_loss is not None:
            return f"synergy_lab.losses.infmasking_loss (tau={TAU}, lambda={LAMBDA}, weights 1,..,1,5)"
        return "inline stand-in (NT-Xent CoMM terms + NT-Xent full vs mean of masked views)"

    def _loss(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        n = self.cfg["n"]
        if infmasking_loss is None:
            return standin_loss(z1, z2, n)
        return infmasking_loss(z1[0], z2[0], list(z1[1:1 + n]), list(z2[1:1 + n]), z1[1 + n:], z2[1 + n:],
                               TAU, LAMBDA, [1.0] * (n + 2) + [5.0])

    def __call__(self, mode: str, seed: int) -> float:
        gen = torch.Generator().manual_seed(seed)
        cfg, zs = self.cfg, []
        for aug in range(2):
            toks = self.tokens[aug]
            if mode == "stacked":
                zs.append(self.head(stacked_views(self.fusion, toks, cfg["T"], cfg["ratio"], gen)))
            elif mode == "batched":
                zs.append(self.head(self.fusion(toks, cfg["T"], cfg["ratio"], gen).views))
            else:
                views = self.fusion(toks, cfg["T"], cfg["ratio"], gen, batched=False).views
                zs.append(torch.stack([self.head(v) for v in views]))
        loss = self._loss(*zs)
        loss.backward()
        with torch.no_grad():
            for p in self.params:
                p.add_(p.grad, alpha=-1e-4)
                p.grad = None
            for toks in self.tokens:
                for tk in toks:
                    tk.grad = None
        return float(loss.detach())


MODES = ("batched", "stacked", "loop")


def bench(name: str, steps: int, threads: int) -> None:
    torch.set_num_threads(threads)
    cfg = SHAPES[name]
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    runner = {mode: Step(cfg) for mode in MODES}  # identical initial weights and inputs (same seed)
    losses = {mode: runner[mode](mode, seed=12345) for mode in MODES}  # warm-up, same masks
    for i in range(steps):
        for mode in MODES:  # interleaved, so drifts of the machine hit all alike
            t0, c0 = time.perf_counter(), time.process_time()
            runner[mode](mode, seed=i)
            wall[mode].append(time.perf_counter() - t0)
            cpu[mode].append(time.process_time() - c0)
    for label, times in (("wall", wall), ("cpu ", cpu)):
        ms = {mode: statistics.median(v) * 1e3 for mode, v in times.items()}
        print(f"{name:<10} threads={threads} steps={steps:<2} {label} ms: "
              + "  ".join(f"{mode} {ms[mode]:8.1f}" for mode in MODES)
              + f"  | loop/batched {ms['loop'] / ms['batched']:5.2f}x  loop/stacked "
              f"{ms['loop'] / ms['stacked']:5.2f}x")
    diff = max(abs(losses[m] - losses["loop"]) for m in MODES)
    print(f"{'':<10} same masks in every mode: max |loss - loss_loop| = {diff:.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=["cpu", "trifeature"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--steps", type=int, default=10, help="timed steps of the cpu shape (median reported)")
    ap.add_argument("--trifeature-steps", type=int, default=2, help="timed steps of the trifeature shape")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; fwd+bwd+SGD of MaskedFusion + ProjectionHead, 2 augmentations "
          f"per step;\nmedian wall and process-CPU time per step; loss: {Step.loss_label()}")
    for c in args.shapes:
        print(f"  {c}: " + ", ".join(f"{k}={v}" for k, v in SHAPES[c].items()))
    for name in args.shapes:
        for threads in args.threads:
            bench(name, args.steps if name == "cpu" else args.trifeature_steps, threads)


if __name__ == "__main__":
    main()
