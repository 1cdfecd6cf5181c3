"""Patch embedding: component convolutions, patches, projection, field cross-attention.

`x (B, t, F, C, D, H, W)` -> tokens `(B, t, n, dim)` with n = nD * nH * nW patches.

The numbers are those of the padded formulation (every volume 3D, C padded to
max_components, patch features zero-padded to filters * p**3), computed without
the padding:
- a 3x3x3 convolution with zero padding on an axis of length 1 only sees the
  middle kernel slice there, so on such axes the kernel is cut to that slice
  (9 taps on 2D grids, 3 on 1D grids instead of 27);
- missing components are zero, so the 1x1x1 component projection uses the
  leading C input channels; being linear and bias-free, it is folded into the
  first 3x3x3 convolution (C instead of 8 input channels);
- zero-padded features meet zero weights, so the projection of a smaller patch
  uses the leading filters * patch_volume columns of its weight.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from morph.config import COMPONENT_CHANNELS, MorphConfig
from morph.model.boundaries import PadMode, grid_conv3d, pad_axis

__all__ = ["PatchEmbedding", "FieldCrossAttention", "conv_channels"]


def conv_channels(filters: int) -> list[tuple[int, int]]:
    """(in, out) channels of the 3x3x3 stack: 8 -> 16 -> ... -> filters, then filters -> filters."""
    pairs, width = [], COMPONENT_CHANNELS
    while width < filters:
        pairs.append((width, min(2 * width, filters)))
        width = pairs[-1][1]
    return pairs + [(width, filters)]


class FieldCrossAttention(nn.Module):
    """A learned query attends over the F field tokens of each patch: `(N, F, dim) -> (N, dim)`.

    Multi-head attention with packed q, k, v input projections (the rows of
    `in_proj_weight` in that order), like `nn.MultiheadAttention`. The query is
    one vector, so its projection is folded into per-head key directions:
    score[n, f, h] = x[n, f] . (Wk_h^T q_h) + bk_h . q_h.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Parameter(torch.empty(1, 1, dim))
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.normal_(self.query, std=0.02)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n, fields, dim = tokens.shape
        head_dim = dim // self.heads
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        query = F.linear(self.query.reshape(1, dim), w_q, b_q).view(self.heads, head_dim)
        query = query / math.sqrt(head_dim)
        key_directions = torch.einsum("hde,hd->eh", w_k.view(self.heads, head_dim, dim), query)
        key_bias = (b_k.view(self.heads, head_dim) * query).sum(-1)
        scores = tokens @ key_directions + key_bias  # (N, F, heads)
        weights = scores.softmax(dim=1)
        values = F.linear(tokens, w_v, b_v).view(n, fields, self.heads, head_dim)
        fused = (weights.unsqueeze(-1) * values).sum(dim=1).reshape(n, dim)  # (N, heads, hd) -> (N, dim)
        return self.out_proj(fused)


class PatchEmbedding(nn.Module):
    """`x (B, t, F, C, D, H, W)` -> `(B, t, n, dim)`; each axis a multiple of its patch size once
    `grid_padding` is added."""

    def __init__(self, config: MorphConfig) -> None:
        super().__init__()
        self.config = config
        self.component_proj = nn.Conv3d(config.max_components, COMPONENT_CHANNELS, 1, bias=False)
        self.convs = nn.ModuleList(nn.Conv3d(c_in, c_out, 3, padding=1, bias=False)
                                   for c_in, c_out in conv_channels(config.filters))
        self.projection = nn.Linear(config.filters * config.max_patch_volume, config.dim)
        self.field_attention = FieldCrossAttention(config.dim, config.heads_xa)

    def conv_features(self, volumes: torch.Tensor, modes: Sequence[PadMode] = ("constant",) * 3
                      ) -> torch.Tensor:
        """`(N, C, D, H, W) -> (N, filters, D, H, W)`.

        Each convolution keeps the grid (`morph.model.boundaries.grid_conv3d`): on an axis of
        length 1 the kernels are cut to their middle slice, so a 2D grid convolves with (1, 3, 3)
        kernels and a 1D grid with (1, 1, 3) kernels. `modes` pads each axis (D, H, W) before every
        convolution: zeros ("constant", the published model), wrapped ("circular") or repeated
        edges ("replicate"); see `morph.model.boundaries`.
        """
        component_proj = self.component_proj.weight[:, :volumes.shape[1], 0, 0, 0]  # (8, C)
        h = volumes
        for i, layer in enumerate(self.convs):
            weight = layer.weight  # (out, in, 3, 3, 3)
            if i == 0:
                # (out, 8, 3, 3, 3) x (8, C) -> (out, C, 3, 3, 3)
                weight = (weight.movedim(1, -1) @ component_proj).movedim(-1, 1).contiguous()
            h = F.leaky_relu(grid_conv3d(h, weight, None, modes), 0.2)
        return h

    def forward(self, x: torch.Tensor, patch: tuple[int, int, int],
                modes: Sequence[PadMode] = ("constant",) * 3,
                grid_padding: Sequence[int] = (0, 0, 0)) -> torch.Tensor:
        """`x (B, t, F, C, D, H, W)` -> tokens `(B, t, n, dim)`. The convolutions pad each axis as
        `modes` says; `grid_padding` cells are then added at the high end of each axis of the
        features (wrapped, repeated or zeros, the same way) to make whole patches."""
        b, t, fields = x.shape[:3]
        features = self.conv_features(x.flatten(0, 2), modes)  # (B*t*F, filters, D, H, W)
        for axis, amount in enumerate(grid_padding):
            features = pad_axis(features, 2 + axis, 0, amount, modes[axis])
        pd, ph, pw = patch
        features = rearrange(features, "n c (d pd) (h ph) (w pw) -> n (d h w) (c pd ph pw)",
                             pd=pd, ph=ph, pw=pw)
        width = features.shape[-1]
        tokens = F.linear(features, self.projection.weight[:, :width], self.projection.bias)
        tokens = rearrange(tokens, "(b t f) n e -> (b t n) f e", b=b, t=t, f=fields)
        fused = self.field_attention(tokens)
        return rearrange(fused, "(b t n) e -> b t n e", b=b, t=t)
