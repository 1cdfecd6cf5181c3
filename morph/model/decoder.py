"""Decoder: LayerNorm, linear to patch voxels, un-patchify; last time slot only."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = ["Decoder"]


class Decoder(nn.Module):
    """Tokens `(B, nD, nH, nW, dim)` -> frame `(B, F, C, nD*pD, nH*pH, nW*pW)`.

    The linear layer is sized for max_fields * max_components * p**3 outputs;
    the leading F * C * patch_volume are used, ordered (f, c, pD, pH, pW).
    """

    def __init__(self, dim: int, max_outputs: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.linear = nn.Linear(dim, max_outputs)

    def forward(self, tokens: torch.Tensor, fields: int, components: int,
                patch: tuple[int, int, int]) -> torch.Tensor:
        used = fields * components * math.prod(patch)
        voxels = F.linear(self.norm(tokens), self.linear.weight[:used], self.linear.bias[:used])
        pd, ph, pw = patch
        return rearrange(voxels, "b d h w (f c pd ph pw) -> b f c (d pd) (h ph) (w pw)",
                         f=fields, c=components, pd=pd, ph=ph, pw=pw)
