"""RevIN-style normalisation: per-sample, per-field statistics of the history.

Statistics come from the history frames `x` only, never from the frames to be
predicted, so evaluation does not peek at the future. Each field `f` of sample
`b` is shifted by its mean (one per component) and divided by ONE scale: the
standard deviation for a scalar, the RMS magnitude of `v - mean(v)` for a
vector or tensor field, so directions are preserved. Where a history is
(near) constant, the dataset-level scale is used instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from einops import reduce

__all__ = ["NormStats", "fit_normalization"]


@dataclass
class NormStats:
    """Per-sample, per-field affine normalisation.

    mean: (B, F, C) shift per component (0 on padded components).
    std: (B, F) scale per field.
    mask: (B, F, C) real components; padded entries come out as exactly 0.
    """

    mean: torch.Tensor
    std: torch.Tensor
    mask: torch.Tensor

    def _broadcast(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # t: (B, [T,] F, C, D, H, W) -> stats shaped to broadcast over it
        extra = t.ndim - 6  # 0 for a frame (B, F, C, D, H, W), 1 for a stack (B, T, ...)
        if extra not in (0, 1):
            raise ValueError(f"expected (B, F, C, D, H, W) or (B, T, F, C, D, H, W), got {tuple(t.shape)}")
        mean = self.mean.reshape(self.mean.shape[0], *([1] * extra), *self.mean.shape[1:], 1, 1, 1)
        std = self.std.reshape(self.std.shape[0], *([1] * extra), self.std.shape[1], 1, 1, 1, 1)
        mask = self.mask.reshape(self.mask.shape[0], *([1] * extra), *self.mask.shape[1:], 1, 1, 1)
        return mean.to(t.dtype), std.to(t.dtype), mask

    def normalize(self, t: torch.Tensor) -> torch.Tensor:
        """`(t - mean) / std` on real entries, 0 on padding. t: (B, [T,] F, C, D, H, W)."""
        mean, std, mask = self._broadcast(t)
        return torch.where(mask, (t - mean) / std, torch.zeros((), dtype=t.dtype, device=t.device))

    def denormalize(self, t: torch.Tensor) -> torch.Tensor:
        """Exact inverse of `normalize` on real entries. t: (B, [T,] F, C, D, H, W)."""
        mean, std, mask = self._broadcast(t)
        return torch.where(mask, t * std + mean, torch.zeros((), dtype=t.dtype, device=t.device))


def fit_normalization(x: torch.Tensor, mask: torch.Tensor,
                      dataset_std: Optional[torch.Tensor] = None,
                      rel_eps: float = 1e-3, abs_eps: float = 1e-8) -> NormStats:
    """Fit `NormStats` on the history `x (B, T, F, C, D, H, W)` with `mask (B, F, C)`.

    `dataset_std (B, F)` is the fallback scale where a history's scale is below
    `rel_eps * dataset_std` (or `abs_eps`); without it the fallback is 1.
    Statistics are computed in float64 for accuracy, returned in float32.
    """
    xd = x.double()
    m = mask[:, None, :, :, None, None, None].to(xd.dtype)
    mean = reduce(xd, "b t f c d h w -> b f c", "mean") * mask
    dev = (xd - mean[:, None, :, :, None, None, None]) * m
    std = reduce(dev**2, "b t f c d h w -> b f c", "mean").sum(-1).sqrt()  # (B, F) RMS magnitude
    fallback = (torch.ones_like(std) if dataset_std is None
                else dataset_std.to(std).clamp_min(abs_eps))
    threshold = (rel_eps * fallback).clamp_min(abs_eps)
    std = torch.where(std < threshold, fallback, std)
    return NormStats(mean=mean.float(), std=std.float(), mask=mask.bool())
