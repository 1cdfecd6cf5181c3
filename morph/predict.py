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
import logging
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pde_data import NormStats, fit_normalization

from morph.checkpoint.record import run_record
from morph.config import ConfigError

__all__ = ["DEFAULT_HORIZON", "Forecast", "nrmse", "predict", "random_shift", "unseen_boundaries",
           "warn_unseen_boundaries"]

logger = logging.getLogger(__name__)

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
            dataset_std: Optional[torch.Tensor] = None, boundaries: Optional[Sequence[str]] = None,
            shift: Optional[Sequence[int]] = None) -> Forecast:
    """Predict the frame after the history `x (B, t, F, C, D, H, W)` (physical units).

    mask: `(B, F, C)` True on real components (padded ones must be 0 in x).
    dataset_std: `(B, F)` fallback scale of the normalisation where a history is
        (near) constant; None falls back to 1.
    boundaries: the boundary condition per canonical axis (D, H, W), `pde_data.Batch.boundaries`.
    shift: cells to move the patch grid by (patch jittering), per axis (D, H, W).
    model: a MORPH (or a wrapper with `.module`, as DDP) taking `(B, t, F, C', D, H, W)`.
    """
    stats = fit_normalization(x, mask, dataset_std)
    xn = stats.normalize(x)
    components = x.shape[3]
    config = getattr(model, "module", model).config
    limit = config.max_components
    # Boundaries go to models that use them (MORPH with boundary switches on); any model takes x alone.
    uses_boundaries = getattr(config, "boundary_padding", False) or getattr(config, "boundary_embedding", False)
    options = {k: v for k, v in (("boundaries", boundaries if uses_boundaries else None), ("shift", shift))
               if v is not None}
    if components < limit:
        padded = F.pad(xn, (0, 0, 0, 0, 0, 0, 0, limit - components))  # (B, t, F, C', D, H, W)
        return Forecast(model(padded, **options)[:, :, :components], stats, xn)
    return Forecast(model(xn, **options), stats, xn)


def random_shift(model: nn.Module, x: torch.Tensor, jitter: int,
                 generator: Optional[torch.Generator] = None) -> Optional[tuple[int, int, int]]:
    """A patch-grid shift for `x (B, t, F, C, D, H, W)`: per axis longer than 1, a number of cells
    drawn from 0..jitter (at most the patch size - 1); None when `jitter` is 0."""
    if not jitter:
        return None
    config = getattr(model, "module", model).config
    patch = getattr(config, "patch_size", None)
    if patch is None:
        raise ConfigError(f"jitter {jitter}: only models with a patch grid (MORPH) can jitter it, not a "
                          f"{type(config).__name__}; use jitter=0")
    high = min(jitter, patch - 1)
    draws = torch.randint(0, high + 1, (3,), generator=generator).tolist()
    return tuple(s if size > 1 else 0 for s, size in zip(draws, x.shape[-3:]))


def unseen_boundaries(model: nn.Module, boundaries: Optional[Sequence[str]]) -> list[str]:
    """The boundary types of `boundaries` (per canonical axis) that none of the datasets the model
    was trained on had (from its run record); [] when it has no record or saw them all."""
    record = run_record(model)
    if boundaries is None or record is None or not record.data_specs:
        return []
    return sorted({bc for bc in boundaries if bc not in ("none", "unknown")} - record.boundary_types)


_WARNED: set[tuple[int, str, tuple[str, ...]]] = set()


def warn_unseen_boundaries(model: nn.Module, boundaries: Optional[Sequence[str]], where: str) -> None:
    """Log a warning naming the boundary types the model never trained on (see `unseen_boundaries`),
    once per model, data and types."""
    unseen = unseen_boundaries(model, boundaries)
    key = (id(model), where, tuple(unseen))
    if unseen and key not in _WARNED:
        _WARNED.add(key)
        seen = sorted(run_record(model).boundary_types)
        logger.warning("%s has %s boundaries, which the model never trained on (it saw: %s); expect larger "
                       "errors near them, or fine-tune on such data", where, " and ".join(unseen),
                       ", ".join(seen) or "none")


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
