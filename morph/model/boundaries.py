"""Boundary conditions the model can see: padding by axis, grid shifts and a boundary embedding.

The boundary condition of each canonical axis (D, H, W) travels with the batch
(`pde_data.Batch.boundaries`, e.g. `("none", "wall", "periodic")`). With
`MorphConfig.boundary_padding` a periodic axis is padded by wrapping around (in
the component convolutions and when the grid is padded to a patch multiple) and
any other axis with zeros or, with `wall_padding="replicate"`, its edge values;
without it every axis is zero-padded, as the published MORPH does. With
`MorphConfig.boundary_embedding` a learned vector per axis and boundary type is
added to every token. `shift_grid` / `unshift_grid` move the patch grid by a few
cells (patch jittering) and back.
"""

from __future__ import annotations

from typing import Literal, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BOUNDARY_TYPES", "BoundaryEmbedding", "grid_conv3d", "pad_axis", "pad_modes", "shift_grid", "unshift_grid"]

#: Every value an axis of `Batch.boundaries` takes, in the order of the embedding's rows.
BOUNDARY_TYPES = ("periodic", "wall", "open", "unknown", "none")
PadMode = Literal["circular", "replicate", "constant"]
Boundaries = Optional[Sequence[str]]


def pad_modes(boundaries: Boundaries, enabled: bool, wall_padding: str = "zero") -> tuple[PadMode, ...]:
    """How to pad each canonical axis (D, H, W): "circular" on periodic axes, else "replicate" or
    "constant" (zeros) as `wall_padding` says; all "constant" when not `enabled` or unknown."""
    if not enabled or boundaries is None:
        return ("constant",) * 3
    other: PadMode = "replicate" if wall_padding == "replicate" else "constant"
    return tuple("circular" if bc == "periodic" else other for bc in boundaries)


def pad_axis(x: torch.Tensor, dim: int, low: int, high: int, mode: PadMode) -> torch.Tensor:
    """Pad axis `dim` of `x` by `low` and `high` cells: wrapped around ("circular", any amount),
    edge values repeated ("replicate") or zeros ("constant")."""
    if low == 0 and high == 0:
        return x
    size = x.shape[dim]
    if mode == "constant":
        pad = [0, 0] * (x.ndim - dim % x.ndim - 1) + [low, high]
        return F.pad(x, pad)
    index = torch.arange(-low, size + high, device=x.device)
    index = index % size if mode == "circular" else index.clamp(0, size - 1)
    return x.index_select(dim, index)


def grid_conv3d(volume: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                modes: Sequence[PadMode]) -> torch.Tensor:
    """A 3x3x3 convolution of `volume (N, C_in, D, H, W)` with `weight (C_out, C_in, 3, 3, 3)` that
    keeps the grid: `-> (N, C_out, D, H, W)`.

    On an axis of length 1 only the middle kernel slice meets data (the rest meets the padding), so
    the kernel is cut to that slice there and that axis is not padded: a 2D grid convolves with
    (1, 3, 3) kernels, a 1D grid with (1, 1, 3) kernels. Every other axis is padded by one cell in
    its mode of `modes` (D, H, W): zeros through the convolution's own padding, wrapped or repeated
    edges explicitly.
    """
    spatial = volume.shape[2:]
    kernel_index = (slice(None), slice(None)) + tuple(slice(None) if size > 1 else slice(1, 2) for size in spatial)
    explicit = [size > 1 and mode != "constant" for size, mode in zip(spatial, modes)]
    padding = tuple(1 if size > 1 and not pre else 0 for size, pre in zip(spatial, explicit))
    for axis in (a for a, pre in enumerate(explicit) if pre):
        volume = pad_axis(volume, 2 + axis, 1, 1, modes[axis])
    return F.conv3d(volume, weight[kernel_index], bias, padding=padding)


def shift_grid(x: torch.Tensor, shift: Sequence[int], modes: Sequence[PadMode]) -> torch.Tensor:
    """Move the patch grid by `shift` cells per canonical axis: `x (..., D, H, W)` rolled on
    circular axes, padded by `shift` cells at the low end on the others (undone by `unshift_grid`)."""
    for axis, (s, mode) in enumerate(zip(shift, modes)):
        dim = x.ndim - 3 + axis
        if s and mode == "circular":
            x = torch.roll(x, s, dims=dim)
        elif s:
            x = pad_axis(x, dim, s, 0, mode)
    return x


def unshift_grid(frame: torch.Tensor, shift: Sequence[int], modes: Sequence[PadMode]) -> torch.Tensor:
    """The inverse of `shift_grid` on an output `(..., D, H, W)`."""
    for axis, (s, mode) in enumerate(zip(shift, modes)):
        dim = frame.ndim - 3 + axis
        if s and mode == "circular":
            frame = torch.roll(frame, -s, dims=dim)
        elif s:
            frame = frame.narrow(dim, s, frame.shape[dim] - s)
    return frame


class BoundaryEmbedding(nn.Module):
    """A learned vector per canonical axis and boundary type: `boundaries -> (dim,)`, their sum,
    added to every token. Starts at zero, so switching it on changes nothing until trained."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros(3, len(BOUNDARY_TYPES), dim))

    def forward(self, boundaries: Boundaries) -> torch.Tensor:
        kinds = ["unknown"] * 3 if boundaries is None else list(boundaries)
        return sum(self.table[axis, BOUNDARY_TYPES.index(kind)] for axis, kind in enumerate(kinds))
