"""Tokenisers: encoder outputs -> ``(B, L, E)`` token sequences for the fusion transformer (docs/methods.md).

* :func:`sincos_2d` -- fixed 2-D sin-cos position codes in the MoCo-v3 layout.
* :class:`FeatureMapTokenizer` -- a 1x1 conv (patch 1, stride 1) turns a ``C x h x w`` map into ``h*w``
  tokens, plus the position codes (no modality-type embedding: every modality gets the same codes).
* :class:`FeatureGroupTokenizer` -- one token per feature group, ``token_k = x_k W_k + b_k``.
* :class:`VectorTokenizer` -- a whole vector as one token.
* :class:`InputBlockTokenizer` -- the raw vector cut into contiguous blocks, each encoded by its own MLP
  into one token (the vector analogue of image patches: token j sees block j only).

Position codes are already added to the tokens that leave a tokeniser, so replacing a token by the mask
token (:class:`~synergy_lab.models.fusion.MaskedFusion`) also removes its position code, as in the public
code.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def sincos_2d(grid_h: int, grid_w: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2-D sin-cos position codes, ``(grid_h * grid_w, dim)`` float32.

    Token ``i = h * grid_w + w`` (row-major, the order of ``feature_map.flatten(2)``) gets
    ``[sin(w * omega), cos(w * omega), sin(h * omega), cos(h * omega)]`` with
    ``omega_k = temperature ** (-k / (dim / 4))``, ``k = 0 .. dim/4 - 1``.

    Raises
    ------
    ValueError
        If ``dim`` is not a positive multiple of 4 or the grid is empty.
    """
    if dim < 4 or dim % 4:
        raise ValueError(f"dim must be a positive multiple of 4, got {dim}")
    if grid_h < 1 or grid_w < 1:
        raise ValueError(f"grid must be at least 1x1, got {grid_h}x{grid_w}")
    quarter = dim // 4
    omega = temperature ** (-torch.arange(quarter, dtype=torch.float64) / quarter)
    hh, ww = torch.meshgrid(torch.arange(grid_h, dtype=torch.float64),
                            torch.arange(grid_w, dtype=torch.float64), indexing="ij")
    aw = ww.reshape(-1, 1) * omega  # (h*w, dim/4)
    ah = hh.reshape(-1, 1) * omega
    return torch.cat([aw.sin(), aw.cos(), ah.sin(), ah.cos()], dim=1).float()


class FeatureMapTokenizer(nn.Module):
    """``(B, C, h, w)`` feature map -> ``(B, h*w, dim)`` tokens: 1x1 conv + fixed sin-cos codes.

    The codes are a non-learnable, non-persistent buffer computed for ``grid`` (if given) and recomputed
    exactly for any other grid size met at run time (the public code bicubic-interpolates a stored table
    instead; computing it directly for the grid is the exact version of the same codes).

    Parameters
    ----------
    in_channels : int
        Channels of the feature map (256 for :class:`~synergy_lab.models.encoders.AlexNetFeatures`).
    dim : int
        Token width ``E``; a multiple of 4.
    grid : int or (int, int) or None, default None
        Expected map size, only used to precompute the buffer.
    """

    def __init__(self, in_channels: int, dim: int, grid: int | tuple[int, int] | None = None):
        super().__init__()
        if dim < 4 or dim % 4:
            raise ValueError(f"dim must be a positive multiple of 4, got {dim}")
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=1)
        self.dim = dim
        hw = (grid, grid) if isinstance(grid, int) else grid
        self.register_buffer("pos_embed", sincos_2d(*hw, dim) if hw else torch.empty(0, dim),
                             persistent=False)
        self._grid = tuple(hw) if hw else None

    def position_codes(self, grid_h: int, grid_w: int) -> torch.Tensor:
        """``(grid_h * grid_w, dim)`` codes on the module's device (cached for the last grid seen)."""
        if self._grid != (grid_h, grid_w):
            self.pos_embed = sincos_2d(grid_h, grid_w, self.dim).to(self.pos_embed.device)
            self._grid = (grid_h, grid_w)
        return self.pos_embed

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        if fmap.ndim != 4:
            raise ValueError(f"expected a (B, C, h, w) feature map, got {tuple(fmap.shape)}")
        tokens = self.proj(fmap).flatten(2).transpose(1, 2)  # (B, h*w, E)
        pos = self.position_codes(*fmap.shape[-2:])
        return tokens + pos.to(tokens.dtype)


class FeatureGroupTokenizer(nn.Module):
    """One token per feature group of a vector: ``token_k = x[group_k] @ W_k + b_k``.

    Groups are contiguous slices of the input, in order. Each group has its own weights, so ``b_k`` plays
    the role of a learned position code and no other one is added. Unequal group sizes are handled by
    zero-padding every group to the largest size, so all groups are one ``einsum``, never a Python loop.
    ``W_k`` and ``b_k`` are initialised like ``nn.Linear(g_k, dim)``: ``U(-1/sqrt(g_k), 1/sqrt(g_k))``.

    Parameters
    ----------
    dim : int
        Token width ``E``.
    group_sizes : sequence of int, optional
        Size of each group (``sum(group_sizes)`` is the input width).
    in_dim, n_groups : int, optional
        Alternative to ``group_sizes``: ``n_groups`` equal groups of ``in_dim / n_groups`` features.
        ``in_dim`` alone means one token per feature (the public code's ``FeaturesInputAdapter``).

    Shapes
    ------
    ``(B, in_dim) -> (B, n_groups, dim)``.
    """

    def __init__(self, dim: int, group_sizes: Sequence[int] | None = None, in_dim: int | None = None,
                 n_groups: int | None = None):
        super().__init__()
        if group_sizes is None:
            if in_dim is None:
                raise ValueError("give group_sizes, or in_dim (and optionally n_groups)")
            n_groups = in_dim if n_groups is None else n_groups
            if n_groups < 1 or in_dim % n_groups:
                raise ValueError(f"in_dim={in_dim} is not divisible into n_groups={n_groups} groups")
            group_sizes = [in_dim // n_groups] * n_groups
        elif in_dim is not None and in_dim != sum(group_sizes):
            raise ValueError(f"in_dim={in_dim} != sum(group_sizes)={sum(group_sizes)}")
        sizes = [int(g) for g in group_sizes]
        if not sizes or min(sizes) < 1:
            raise ValueError(f"group sizes must be positive, got {list(group_sizes)}")
        self.group_sizes, self.in_dim, self.dim = tuple(sizes), sum(sizes), dim
        k, gmax = len(sizes), max(sizes)
        # index[k, j] = input column of feature j of group k, or in_dim (a zero column) past the group's end
        index = torch.full((k, gmax), self.in_dim, dtype=torch.long)
        valid = torch.zeros(k, gmax, 1)
        start = 0
        for i, g in enumerate(sizes):
            index[i, :g] = torch.arange(start, start + g)
            valid[i, :g] = 1.0
            start += g
        self.register_buffer("index", index, persistent=False)
        self.padded = gmax * k != self.in_dim
        bound = 1.0 / torch.tensor(sizes, dtype=torch.float32).sqrt()
        self.weight = nn.Parameter((torch.rand(k, gmax, dim) * 2 - 1) * bound.view(k, 1, 1) * valid)
        self.bias = nn.Parameter((torch.rand(k, dim) * 2 - 1) * bound.view(k, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"expected {self.in_dim} input features, got {x.shape[-1]}")
        if self.padded:
            x = torch.cat([x, x.new_zeros(*x.shape[:-1], 1)], dim=-1)[..., self.index]
        else:
            x = x.unflatten(-1, self.index.shape)
        return torch.einsum("...kg,kge->...ke", x, self.weight.to(x.dtype)) + self.bias.to(x.dtype)


class VectorTokenizer(nn.Module):
    """A whole vector as a single token: ``(B, in_dim) -> (B, 1, dim)`` through ``nn.Linear``."""

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).unsqueeze(-2)


class InputBlockTokenizer(nn.Module):
    """Raw vector -> one token per contiguous input block, each block through its own ReLU MLP.

    The input is cut into ``n_blocks`` equal contiguous blocks; token ``j`` is ``MLP_j(x[block_j])``, where
    every ``MLP_j`` has ``n_layers`` linear layers (``block -> hidden -> ... -> dim``, ReLU between them, none
    after the last) and weights of its own. So token ``j`` is a function of block ``j`` alone -- like a CNN
    patch embedding, and unlike :class:`FeatureGroupTokenizer` on an MLP encoding, where every token may carry
    information from the whole input. Masking token ``j`` then removes block ``j`` from the view. The last
    layer's per-block bias plays the role of a learned position code. Each layer of every block is
    initialised like ``nn.Linear``: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weights and biases. All blocks
    run as one batched ``einsum`` per layer. ``weights[i]`` is ``(n_blocks, fan_in, fan_out)``; ``biases[i]``
    is stored flat, ``(n_blocks * fan_out,)``, so that the trainer's rule (weight decay on parameters with
    >= 2 dimensions) treats them as the biases of ``nn.Linear`` layers, undecayed.

    Parameters
    ----------
    in_dim : int
        Input width; divisible by ``n_blocks``.
    n_blocks : int
        Number of blocks (= tokens).
    dim : int
        Token width ``E``.
    hidden : int, default 128
        Hidden width of every block MLP (unused when ``n_layers`` is 1).
    n_layers : int, default 2
        Linear layers per block MLP; 1 is a per-block linear map.

    Shapes
    ------
    ``(B, in_dim) -> (B, n_blocks, dim)``; extra leading axes are allowed.
    """

    def __init__(self, in_dim: int, n_blocks: int, dim: int, hidden: int = 128, n_layers: int = 2):
        super().__init__()
        for name, value in (("in_dim", in_dim), ("n_blocks", n_blocks), ("dim", dim), ("hidden", hidden),
                            ("n_layers", n_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if in_dim % n_blocks:
            raise ValueError(f"in_dim={in_dim} is not divisible into n_blocks={n_blocks} equal blocks")
        self.in_dim, self.n_blocks, self.dim = in_dim, n_blocks, dim
        sizes = [in_dim // n_blocks] + [hidden] * (n_layers - 1) + [dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1.0 / fan_in**0.5
            self.weights.append(nn.Parameter((torch.rand(n_blocks, fan_in, fan_out) * 2 - 1) * bound))
            self.biases.append(nn.Parameter((torch.rand(n_blocks * fan_out) * 2 - 1) * bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"expected {self.in_dim} input features, got {x.shape[-1]}")
        h = x.unflatten(-1, (self.n_blocks, self.in_dim // self.n_blocks))
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.einsum("...ka,kab->...kb", h, w.to(h.dtype)) + b.view(self.n_blocks, -1).to(h.dtype)
            if i < last:
                h = torch.relu(h)
        return h
