"""Learned positional table `(1, max_ar, max_patches, dim)`, resampled to `(t, n)`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from morph.config import PosMode

__all__ = ["PositionalTable"]


class PositionalTable(nn.Module):
    """`(t, n) -> (1, t, n, dim)` positional embedding for t time slots of n patches.

    "slice": the first t time rows, linearly interpolated along the flattened
    patch index from max_patches to n (align_corners=False).
    "bilinear": the whole (max_ar, max_patches) table bilinearly resampled to
    (t, n) with antialias (align_corners=False).
    """

    def __init__(self, max_ar: int, max_patches: int, dim: int, mode: PosMode) -> None:
        super().__init__()
        self.mode = mode
        self.table = nn.Parameter(torch.empty(1, max_ar, max_patches, dim))
        nn.init.trunc_normal_(self.table, std=0.02)

    def forward(self, t: int, n: int) -> torch.Tensor:
        if self.mode == "slice":
            rows = rearrange(self.table[0, :t], "t p e -> 1 (t e) p")
            rows = F.interpolate(rows, size=n, mode="linear", align_corners=False)
            return rearrange(rows, "1 (t e) n -> 1 t n e", t=t)
        elif self.mode == "bilinear":
            grid = rearrange(self.table, "1 t p e -> 1 e t p")
            grid = F.interpolate(grid, size=(t, n), mode="bilinear", align_corners=False,
                                 antialias=True)
            return rearrange(grid, "1 e t n -> 1 t n e")
        else:
            raise ValueError(f"pos_mode must be 'slice' or 'bilinear', got {self.mode!r}")
