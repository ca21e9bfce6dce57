"""Pre-LN fusion transformer with CLS pooling (docs/methods.md), and its evaluation of many views at once.

:class:`FusionTransformer` runs ``[CLS; tokens]`` through pre-LN blocks (QuickGELU MLP, final LN) and
returns the CLS vector. Only the CLS output is read, so the last block computes its query, out-projection
and MLP for the CLS row alone (keys and values still come from every token): exact, and the per-token cost
of that block drops from 12 E^2 to 2 E^2 MACs. ``return_tokens=True`` runs the last block in full.

:meth:`FusionTransformer.forward_views` evaluates V views of one token batch (tokens replaced by a fill
token, keys padded) in one call on a ``V * B`` batch, sharing all token-wise work of the first block
between views; see its docstring. Key padding is exact for subsets: in a pre-LN block every token's update
depends only on itself (LN, MLP, residual) and on attention over the unpadded keys, whose softmax weights
on padded keys are exactly 0, so the CLS token and the subset's tokens follow the same trajectory as when
the subset is run alone; padded tokens never enter an unpadded token's computation, and only CLS is read.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    """QuickGELU, ``x * sigmoid(1.702 x)``."""
    return x * torch.sigmoid(1.702 * x)


class _Block(nn.Module):
    """Pre-LN block: ``x += MHA(LN(x)); x += W2 QuickGELU(W1 LN(x))``; dropout 0."""

    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.in_proj = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)
        self.c_fc, self.c_proj = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def project(self, x: torch.Tensor, cls_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """LN + attention in-projection: ``q`` (..., L or 1, E) and ``kv`` (..., L, 2E)."""
        e = x.shape[-1]
        h = self.ln_1(x)
        w, bias = self.in_proj.weight, self.in_proj.bias
        if cls_only:  # the query of the first (CLS) row only; keys and values of every row
            return F.linear(h[..., :1, :], w[:e], bias[:e]), F.linear(h, w[e:], bias[e:])
        qkv = F.linear(h, w, bias)
        return qkv[..., :e], qkv[..., e:]

    def attend_mlp(self, x: torch.Tensor, q: torch.Tensor, kv: torch.Tensor,
                   attend: torch.Tensor | None) -> torch.Tensor:
        """Rest of the block: ``x`` (B, Lq, E) residual rows of the queries ``q`` (B, Lq, E);
        ``kv`` (B, L, 2E); ``attend`` (B, 1, 1, L) bool, True = may be attended."""
        dh = x.shape[-1] // self.heads
        qh = q.unflatten(-1, (self.heads, dh)).transpose(1, 2)  # (B, heads, Lq, dh)
        k, v = kv.unflatten(-1, (2, self.heads, dh)).permute(2, 0, 3, 1, 4)  # 2 x (B, heads, L, dh)
        a = F.scaled_dot_product_attention(qh, k, v, attn_mask=attend)
        x = x + self.out_proj(a.transpose(1, 2).flatten(2))
        return x + self.c_proj(quick_gelu(self.c_fc(self.ln_2(x))))

    def forward(self, x: torch.Tensor, attend: torch.Tensor | None, cls_only: bool = False) -> torch.Tensor:
        """``x`` (B, L, E) -> (B, L, E), or (B, 1, E) (the first row only) when ``cls_only``."""
        q, kv = self.project(x, cls_only)
        return self.attend_mlp(x[:, :1] if cls_only else x, q, kv, attend)


class FusionTransformer(nn.Module):
    """``[CLS; tokens]`` -> pre-LN blocks -> final LN -> CLS vector.

    Initialisation (public code's): CLS ~ N(0, 1); attention in-projection ~ N(0, E^-1/2) (std); attention
    out-projection and MLP ``c_proj`` ~ N(0, E^-1/2 (2 depth)^-1/2); MLP ``c_fc`` ~ N(0, (2E)^-1/2);
    attention biases 0, MLP biases and LayerNorms at the torch defaults.

    Parameters
    ----------
    dim : int
        Width ``E``; a multiple of ``heads``.
    depth : int, default 1
        Number of blocks ``N_l``.
    heads : int, default 8
    mlp_ratio : float, default 4
        MLP hidden width ``mlp_ratio * E``.
    """

    def __init__(self, dim: int, depth: int = 1, heads: int = 8, mlp_ratio: float = 4.0):
        super().__init__()
        if dim < 1 or heads < 1 or dim % heads:
            raise ValueError(f"dim ({dim}) must be a positive multiple of heads ({heads})")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        hidden = int(round(mlp_ratio * dim))
        if hidden < 1:
            raise ValueError(f"mlp_ratio must be positive, got {mlp_ratio}")
        self.dim, self.depth, self.heads = dim, depth, heads
        self.cls_token = nn.Parameter(torch.randn(dim))
        self.blocks = nn.ModuleList(_Block(dim, heads, hidden) for _ in range(depth))
        self.ln_post = nn.LayerNorm(dim)
        attn_std, proj_std, fc_std = dim**-0.5, dim**-0.5 * (2 * depth) ** -0.5, (2 * dim) ** -0.5
        for blk in self.blocks:
            nn.init.normal_(blk.in_proj.weight, std=attn_std)
            nn.init.zeros_(blk.in_proj.bias)
            nn.init.normal_(blk.out_proj.weight, std=proj_std)
            nn.init.zeros_(blk.out_proj.bias)
            nn.init.normal_(blk.c_fc.weight, std=fc_std)
            nn.init.normal_(blk.c_proj.weight, std=proj_std)

    def forward(self, tokens: torch.Tensor, key_padding_mask: torch.Tensor | None = None,
                return_tokens: bool = False) -> torch.Tensor:
        """Fuse a token sequence.

        Parameters
        ----------
        tokens : (B, L, E) tensor
        key_padding_mask : (B, L) bool tensor, optional
            True marks a token to ignore (``nn.MultiheadAttention`` convention). The CLS token is never
            padded, so every query has at least one key.
        return_tokens : bool, default False
            Return every output token ``(B, 1 + L, E)`` (CLS first) instead of the CLS vector ``(B, E)``.
        """
        self._check_tokens(tokens)
        b, n, _ = tokens.shape
        attend = self._attend(key_padding_mask, (b, n))
        x = torch.cat([self.cls_token.to(tokens.dtype).expand(b, 1, -1), tokens], dim=1)
        for i, blk in enumerate(self.blocks):
            x = blk(x, attend, cls_only=not return_tokens and i == self.depth - 1)
        x = self.ln_post(x)
        return x if return_tokens else x[:, 0]

    def forward_views(self, tokens: torch.Tensor, keep: torch.Tensor | None = None,
                      fill: torch.Tensor | None = None,
                      key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """CLS vectors of ``V`` views of one token batch, in one call on a ``V * B`` batch.

        View ``v`` is ``torch.where(keep[v, ..., None], tokens, fill)`` with key padding
        ``key_padding_mask[v]``; the result equals stacking :meth:`forward` of each view. The first block's
        LayerNorm and in-projection act token by token, so they are computed once for the ``B * L`` distinct
        tokens, the fill token and the CLS token, then gathered into the ``V * B`` sequences (exact, with
        ``V`` times fewer projection FLOPs in that block); attention and everything after it run on the
        stacked batch. With one block (the default, and the Trifeature setting) even the attention scores
        are shared (:meth:`_one_block_views`), so the per-token cost no longer grows with ``V``.

        Parameters
        ----------
        tokens : (B, L, E) tensor
        keep : (V, B, L) bool tensor, optional
            True keeps the token, False replaces it by ``fill``. Default: keep everything.
        fill : (E,) tensor, optional
            Replacement token (the mask token); required when ``keep`` has a False.
        key_padding_mask : (V, B, L) bool tensor, optional
            True = ignored key (the CLS token is never padded).

        Returns
        -------
        (V, B, E) tensor.
        """
        self._check_tokens(tokens)
        b, n, e = tokens.shape
        given = [m for m in (keep, key_padding_mask) if m is not None]
        if not given:
            raise ValueError("give keep and/or key_padding_mask (they set the number of views)")
        v = given[0].shape[0]
        for name, m in (("keep", keep), ("key_padding_mask", key_padding_mask)):
            if m is not None and (m.shape != (v, b, n) or m.dtype != torch.bool):
                raise ValueError(f"{name} must be a ({v}, {b}, {n}) bool tensor, "
                                 f"got {tuple(m.shape)} {m.dtype}")
        if fill is None:
            if keep is not None and not bool(keep.all()):
                raise ValueError("fill is required when keep drops tokens")
            fill = tokens.new_zeros(e)
        pad = None if key_padding_mask is None else key_padding_mask.flatten(0, 1)
        attend = self._attend(pad, (v * b, n))
        dtype = tokens.dtype
        cls, fill = self.cls_token.to(dtype), fill.to(dtype)
        if self.depth == 1:
            return self._one_block_views(tokens, keep, fill, attend, v)
        uniq = torch.cat([cls[None], fill[None], tokens.flatten(0, 1)])  # (2 + B L, E)
        # row of uniq for every (view, sample, position): 0 = CLS, 1 = fill, 2 + b * L + l = token (b, l)
        idx = torch.arange(2, 2 + b * n, device=tokens.device).view(1, b, n).expand(v, b, n)
        if keep is not None:
            idx = torch.where(keep, idx, 1)
        idx = torch.cat([idx.new_zeros(v, b, 1), idx], dim=2).flatten(0, 1)  # (V * B, 1 + L)
        q_u, kv_u = self.blocks[0].project(uniq)
        x = self.blocks[0].attend_mlp(F.embedding(idx, uniq), F.embedding(idx, q_u), F.embedding(idx, kv_u),
                                      attend)
        for i, blk in enumerate(self.blocks[1:], start=1):
            x = blk(x, attend, cls_only=i == self.depth - 1)
        return self.ln_post(x[:, 0]).unflatten(0, (v, b))

    def _one_block_views(self, tokens: torch.Tensor, keep: torch.Tensor | None, fill: torch.Tensor,
                         attend: torch.Tensor | None, v: int) -> torch.Tensor:
        """:meth:`forward_views` for ``depth == 1``: attention of the single CLS query with shared keys.

        The CLS query is the same in every view, so its score against a token depends only on the token:
        scores are computed once for the distinct tokens, then gathered per view (a score per head, not a
        key vector), masked and soft-maxed per view; the value sum reads each sample's values once for all
        views (``einsum`` over the views), plus the CLS and fill values weighted by their probabilities.
        Per distinct token: LN + 2 E^2 MACs once; per view and token: E MACs (the value sum) instead of the
        2 E^2 + 2 E of a stacked call. Returns (V, B, E).
        """
        b, n, e = tokens.shape
        heads, dh, blk = self.heads, e // self.heads, self.blocks[0]
        cls = self.cls_token.to(tokens.dtype)
        h = blk.ln_1(torch.cat([cls[None], fill[None], tokens.flatten(0, 1)]))  # (2 + B L, E)
        w, bias = blk.in_proj.weight, blk.in_proj.bias
        q = F.linear(h[:1], w[:e], bias[:e]).view(heads, dh)
        k, val = F.linear(h, w[e:], bias[e:]).unflatten(-1, (2, heads, dh)).unbind(1)  # (2 + B L, heads, dh)
        s_u = torch.einsum("uhd,hd->uh", k, q) * dh**-0.5  # (2 + B L, heads)
        s_tok = s_u[2:].view(1, b, n, heads)
        if keep is not None:
            s_tok = torch.where(keep[..., None], s_tok, s_u[1])
        s = torch.cat([s_u[0].expand(v, b, 1, heads), s_tok.expand(v, b, n, heads)], dim=2)  # (V, B, 1+L, h)
        if attend is not None:
            s = s.masked_fill(~attend.view(v, b, n + 1, 1), float("-inf"))
        p = s.float().softmax(dim=2).to(val.dtype)
        p_tok = p[:, :, 1:]
        o = p[:, :, 0, :, None] * val[0]  # CLS value
        if keep is not None:
            o = o + (p_tok * (~keep)[..., None]).sum(2)[..., None] * val[1]  # fill value
            p_tok = p_tok * keep[..., None]
        o = o + torch.einsum("vblh,blhd->vbhd", p_tok, val[2:].view(b, n, heads, dh))
        x = cls + blk.out_proj(o.flatten(-2))  # (V, B, E)
        x = x + blk.c_proj(quick_gelu(blk.c_fc(blk.ln_2(x))))
        return self.ln_post(x)

    def _check_tokens(self, tokens: torch.Tensor) -> None:
        if tokens.ndim != 3 or tokens.shape[-1] != self.dim:
            raise ValueError(f"expected tokens (B, L, {self.dim}), got {tuple(tokens.shape)}")

    @staticmethod
    def _attend(key_padding_mask: torch.Tensor | None, shape: tuple[int, int]) -> torch.Tensor | None:
        """(B, L) padding mask -> (B, 1, 1, 1 + L) attention mask (True = may attend), CLS always on."""
        if key_padding_mask is None:
            return None
        if key_padding_mask.shape != shape or key_padding_mask.dtype != torch.bool:
            raise ValueError(f"key_padding_mask must be a {shape} bool tensor, got "
                             f"{tuple(key_padding_mask.shape)} {key_padding_mask.dtype}")
        keep = torch.cat([key_padding_mask.new_ones(shape[0], 1), ~key_padding_mask], dim=1)
        return keep[:, None, None, :]
