"""Decoder: LayerNorm, linear to patch voxels, un-patchify; last time slot only."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = ["Decoder", "output_rows"]


def output_rows(sizes: Sequence[tuple[int, int]], voxels: int, max_voxels: int) -> torch.Tensor:
    """The decoder row of every output slot of a model grown through `sizes`: `(F, C, voxels)`.

    sizes: (max_fields, max_components) of each size the model has had, oldest first; the last is
        its size now. A model built at its size has one, and its rows are packed: slot (f, c),
        voxel v of a patch of `voxels` cells is row (f * C + c) * voxels + v, the published layout.
    Each growth keeps the rows of the slots that were there and gives every new slot (a field
    index or component index beyond the earlier size) `max_voxels` rows of its own after all
    earlier rows, of which a patch of `voxels` cells uses the first.
    """
    fields, components = sizes[0]
    rows = torch.arange(fields * components * voxels).view(fields, components, voxels)
    next_row = fields * components * max_voxels
    for fields, components in sizes[1:]:
        grown = torch.full((fields, components, voxels), -1, dtype=torch.long)
        grown[:rows.shape[0], :rows.shape[1]] = rows
        for f in range(fields):
            for c in range(components):
                if grown[f, c, 0] < 0:
                    grown[f, c] = next_row + torch.arange(voxels)
                    next_row += max_voxels
        rows = grown
    return rows


class Decoder(nn.Module):
    """Tokens `(B, nD, nH, nW, dim)` -> frame `(B, F, C, nD*pD, nH*pH, nW*pW)`.

    The linear layer is sized for max_fields * max_components * p**3 outputs. A model built at
    its size uses the leading F * C * patch_volume, ordered (f, c, pD, pH, pW) (the published
    layout); a grown one (`sizes` lists more than one size) picks each slot's rows through
    `output_rows`, so the slots it had keep their rows and the new ones have rows of their own.
    """

    def __init__(self, dim: int, sizes: Sequence[tuple[int, int]], max_voxels: int) -> None:
        super().__init__()
        fields, components = sizes[-1]
        self.norm = nn.LayerNorm(dim)
        self.linear = nn.Linear(dim, fields * components * max_voxels)
        self.sizes, self.max_voxels = [tuple(s) for s in sizes], max_voxels
        self._rows: dict[int, torch.Tensor] = {}

    def rows(self, fields: int, components: int, voxels: int) -> torch.Tensor:
        """Row indices `(fields * components * voxels,)` of the outputs for that many fields and
        components and patches of `voxels` cells, ordered (f, c, voxel)."""
        if len(self.sizes) == 1:
            return torch.arange(fields * components * voxels)
        if voxels not in self._rows:
            self._rows[voxels] = output_rows(self.sizes, voxels, self.max_voxels)
        return self._rows[voxels][:fields, :components].reshape(-1)

    def forward(self, tokens: torch.Tensor, fields: int, components: int,
                patch: tuple[int, int, int]) -> torch.Tensor:
        used = fields * components * math.prod(patch)
        if len(self.sizes) == 1:
            weight, bias = self.linear.weight[:used], self.linear.bias[:used]
        else:
            rows = self.rows(fields, components, math.prod(patch)).to(tokens.device)
            weight, bias = self.linear.weight[rows], self.linear.bias[rows]
        voxels = F.linear(self.norm(tokens), weight, bias)
        pd, ph, pw = patch
        return rearrange(voxels, "b d h w (f c pd ph pw) -> b f c (d pd) (h ph) (w pw)",
                         f=fields, c=components, pd=pd, ph=ph, pw=pw)
