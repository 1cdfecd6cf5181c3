"""The one inference path: a history in physical units -> the next frame.

    forecast = predict(model, x, mask, dataset_std)
    forecast.physical      (B, F, C, D, H, W)  the next frame, physical units
    forecast.normalized    (B, F, C, D, H, W)  what the network produced (normalised units)
    forecast.stats         the RevIN statistics of the history (`pde_data.NormStats`)
    forecast.x_normalized  (B, t, F, C, D, H, W) the history the network read

Each call normalises the history with its own statistics (never the frames to
be predicted), pads the components to the model's `max_components` (the
decoder's output slot (f, c) means the same for every dataset), runs the model
and crops the padding. The training objective (`morph.train.objective`) and
every rollout step (`rollouts.rollout`) call it, so a rollout does exactly what
training did. `nrmse` is the one definition of the relative L2 error both report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from pde_data import NormStats, fit_normalization

__all__ = ["DEFAULT_HORIZON", "Forecast", "nrmse", "predict"]

#: Rollout steps an evaluation scores when none are given (fewer where trajectories are shorter).
DEFAULT_HORIZON = 10


@dataclass
class Forecast:
    """One predicted frame and how it was made; see the module docstring for the shapes."""

    normalized: torch.Tensor
    stats: NormStats
    x_normalized: torch.Tensor

    @property
    def physical(self) -> torch.Tensor:
        """The prediction in physical units `(B, F, C, D, H, W)`, float32; 0 on padded components."""
        return self.stats.denormalize(self.normalized.float())


def predict(model: nn.Module, x: torch.Tensor, mask: torch.Tensor,
            dataset_std: Optional[torch.Tensor] = None) -> Forecast:
    """Predict the frame after the history `x (B, t, F, C, D, H, W)` (physical units).

    mask: `(B, F, C)` True on real components (padded ones must be 0 in x).
    dataset_std: `(B, F)` fallback scale of the normalisation where a history is
        (near) constant; None falls back to 1.
    model: a MORPH (or a wrapper with `.module`, as DDP) taking `(B, t, F, C', D, H, W)`.
    """
    stats = fit_normalization(x, mask, dataset_std)
    xn = stats.normalize(x)
    components = x.shape[3]
    limit = getattr(model, "module", model).config.max_components
    if components < limit:
        padded = F.pad(xn, (0, 0, 0, 0, 0, 0, 0, limit - components))  # (B, t, F, C', D, H, W)
        return Forecast(model(padded)[:, :, :components], stats, xn)
    return Forecast(model(xn), stats, xn)


def nrmse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, eps: float = 1e-30) -> torch.Tensor:
    """Relative L2 error per sample and field, `||pred - target|| / ||target||` over the field's
    real components and the grid, in float64.

    pred, target: `(..., F, C, D, H, W)`; mask: `(..., F, C)` broadcastable to their leading axes.
    Returns `(..., F)`; NaN for fields with no real component.
    """
    m = mask[..., None, None, None].to(torch.float64)
    err = (((pred.double() - target.double()) ** 2) * m).sum(dim=(-4, -3, -2, -1))
    ref = ((target.double() ** 2) * m).sum(dim=(-4, -3, -2, -1))
    out = (err / ref.clamp_min(eps)).sqrt()
    real = mask.expand(*out.shape, mask.shape[-1]).any(-1)
    return torch.where(real, out, torch.full_like(out, float("nan")))
