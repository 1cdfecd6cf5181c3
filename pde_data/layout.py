"""The canonical tensor layout, defined once: `LAYOUT = "b t f c d h w"`.

batch, time (history), field, component, depth, height, width. 1D data lives
in W (D = H = 1), 2D in (H, W) (D = 1), 3D in (D, H, W). Fields with fewer
components than C are zero-padded; a boolean `mask (B, F, C)` marks the real
entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import numpy as np
import torch

from pde_data.errors import DataError

__all__ = ["LAYOUT", "NO_AXIS", "Batch", "canonical_boundaries", "component_mask", "to_canonical_space"]

#: The axes of a batch: batch, time (history), field, component, depth, height, width.
LAYOUT = "b t f c d h w"
#: The boundary "condition" of a canonical axis the data does not have (D of 2D data, D and H of 1D).
NO_AXIS = "none"


def to_canonical_space(array: np.ndarray, n_spatial_dims: int) -> np.ndarray:
    """Insert unit axes so the trailing `n_spatial_dims` axes become (D, H, W).

    `(..., X) -> (..., 1, 1, X)`, `(..., X, Y) -> (..., 1, X, Y)`, 3D unchanged.
    """
    if n_spatial_dims == 1:
        return array[..., None, None, :]
    elif n_spatial_dims == 2:
        return array[..., None, :, :]
    elif n_spatial_dims == 3:
        return array
    else:
        raise DataError(f"n_spatial_dims must be 1, 2 or 3, got {n_spatial_dims}")


def canonical_boundaries(boundary_conditions: Sequence[str]) -> tuple[str, str, str]:
    """Per canonical axis (D, H, W) the boundary condition of the data's spatial axes
    (`DatasetSpec.boundary_conditions`, one per axis), `NO_AXIS` for axes it does not have:
    `("periodic",) -> ("none", "none", "periodic")`."""
    bcs = tuple(boundary_conditions)
    if not 1 <= len(bcs) <= 3:
        raise DataError(f"boundary conditions must name 1 to 3 spatial axes, got {bcs}")
    return (NO_AXIS,) * (3 - len(bcs)) + bcs  # type: ignore[return-value]


def component_mask(components: Sequence[int], n_fields: int, n_components: int) -> torch.Tensor:
    """`mask (F, C)`: True where field f has a real component c."""
    mask = torch.zeros(n_fields, n_components, dtype=torch.bool)
    for f, c in enumerate(components):
        mask[f, :c] = True
    return mask


@dataclass
class Batch:
    """A batch of windows from ONE dataset (shapes differ between datasets).

    x: (B, T, F, C, D, H, W) history frames.
    y: (B, F, C, D, H, W) the next frame.
    mask: (B, F, C) bool, True on real (not padded) field components.
    y_future: (B, S, F, C, D, H, W) the next S frames (y_future[:, 0] == y), or None.
    dataset_mean: (B, F, C) dataset-level mean per component (0 where unknown/padded).
    dataset_std: (B, F) dataset-level scale per field (1 where unknown/padded).
    traj, start: (B,) trajectory index and first history frame of each window.
    boundaries: the boundary condition of each canonical axis (D, H, W), the same for the whole
        batch: "periodic", "wall", "open", "unknown", or "none" for an axis the data does not have
        (`canonical_boundaries`); None when unknown on every axis.
    """

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    dataset: str
    field_names: tuple[str, ...]
    n_spatial_dims: int
    dataset_mean: torch.Tensor
    dataset_std: torch.Tensor
    traj: torch.Tensor
    start: torch.Tensor
    y_future: Optional[torch.Tensor] = None
    boundaries: Optional[tuple[str, str, str]] = None
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        b, t, f, c = self.x.shape[:4]
        assert self.x.ndim == 7, f"x must be (B, T, F, C, D, H, W), got {tuple(self.x.shape)}"
        assert self.y.shape == (b, *self.x.shape[2:]), (tuple(self.y.shape), tuple(self.x.shape))
        assert self.mask.shape == (b, f, c), tuple(self.mask.shape)

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        """A copy with every tensor on `device`; the other fields as they are."""
        move = lambda v: v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v  # noqa: E731
        return replace(self, **{k: move(getattr(self, k)) for k in
                                ("x", "y", "mask", "dataset_mean", "dataset_std", "traj", "start", "y_future")})
