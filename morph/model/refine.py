"""A light convolutional head that refines the un-patchified frame (`MorphConfig.refine_channels`).

The linear decoder writes each patch of the output from one token, so on small grids (few, large
patches) its frames are blocky at patch edges. This head looks across those edges: every
(field, component) volume of the decoded frame, beside the same volume of the last input frame,
goes through conv - GELU - conv with `channels` hidden channels (3 taps per axis longer than 1,
padded by the boundary condition of the axis), and the result is added to the frame. Its weights
are shared by every field and component, so it takes any number of them (and a grown model keeps
it as it is); its last convolution starts at zero, so a new head changes nothing at step 0.
Not part of the published MORPH: 0 channels (no head) for imported weights.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from morph.model.boundaries import PadMode, grid_conv3d

__all__ = ["RefineHead"]


class RefineHead(nn.Module):
    """`frame, last (B, F, C, D, H, W) -> frame + refinement (B, F, C, D, H, W)`."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.inner = nn.Conv3d(2, channels, 3)
        self.outer = nn.Conv3d(channels, 1, 3)
        nn.init.zeros_(self.outer.weight)
        nn.init.zeros_(self.outer.bias)

    def forward(self, frame: torch.Tensor, last: torch.Tensor, modes: Sequence[PadMode]) -> torch.Tensor:
        b, f = frame.shape[:2]
        volumes = rearrange(torch.stack([frame, last.to(frame.dtype)], dim=3),
                            "b f c two d h w -> (b f c) two d h w")
        hidden = F.gelu(grid_conv3d(volumes, self.inner.weight, self.inner.bias, modes))
        correction = grid_conv3d(hidden, self.outer.weight, self.outer.bias, modes)  # ((B F C), 1, D, H, W)
        return frame + rearrange(correction, "(b f c) 1 d h w -> b f c d h w", b=b, f=f)
