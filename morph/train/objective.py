"""The training objective and the validation metrics, in one place.

Each batch is normalised with RevIN statistics of its history; the model maps
the normalised history to the normalised next frame; the loss is the MSE over
real (masked) entries. Metrics are reported in physical units.
"""

from __future__ import annotations

from typing import Iterable, Optional

import torch
from torch import nn

from pde_data import Batch, NormStats, fit_normalization

__all__ = ["evaluate_batches", "masked_mse", "nrmse", "predict", "training_loss"]


def _expand(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """mask (B, F, C) -> broadcastable to like (B, F, C, D, H, W)."""
    return mask[..., None, None, None].expand_as(like)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over real entries. pred, target: (B, F, C, D, H, W); mask (B, F, C)."""
    m = _expand(mask, pred).to(pred.dtype)
    return ((pred.float() - target.float()) ** 2 * m).sum() / m.sum().clamp_min(1)


def predict(model: nn.Module, batch: Batch, history: Optional[int] = None
            ) -> tuple[torch.Tensor, NormStats]:
    """Normalised prediction `(B, F, C, D, H, W)` from the last `history` frames, and the stats."""
    x = batch.x if history is None else batch.x[:, -history:]
    stats = fit_normalization(x, batch.mask, batch.dataset_std)
    return model(stats.normalize(x)), stats


def training_loss(model: nn.Module, batch: Batch, history: Optional[int] = None) -> torch.Tensor:
    pred, stats = predict(model, batch, history)
    return masked_mse(pred, stats.normalize(batch.y), batch.mask)


def nrmse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Relative L2 error per sample and field: `||pred - y|| / ||y||` over real components
    and space. pred, target (B, F, C, D, H, W) -> (B, F); NaN for fields with no real component."""
    m = _expand(mask, pred).to(torch.float64)
    err = (((pred.double() - target.double()) ** 2) * m).sum(dim=(2, 3, 4, 5))
    ref = ((target.double() ** 2) * m).sum(dim=(2, 3, 4, 5))
    out = (err / ref.clamp_min(eps)).sqrt()
    return torch.where(mask.any(-1), out, torch.full_like(out, float("nan")))


@torch.no_grad()
def evaluate_batches(model: nn.Module, batches: Iterable[Batch], history: Optional[int] = None
                     ) -> dict[str, float]:
    """Validation loss (normalised MSE) and next-step nRMSE of the model and of
    persistence ("no change"), averaged over samples and fields, physical units."""
    was_training = model.training
    model.eval()
    loss_sum, n_batches, model_err, persist_err = 0.0, 0, [], []
    for batch in batches:
        pred_n, stats = predict(model, batch, history)
        loss_sum += float(masked_mse(pred_n, stats.normalize(batch.y), batch.mask))
        n_batches += 1
        pred = stats.denormalize(pred_n.float())
        model_err.append(nrmse(pred, batch.y, batch.mask))
        persist_err.append(nrmse(batch.x[:, -1], batch.y, batch.mask))
    model.train(was_training)
    model_err_t, persist_t = torch.cat(model_err), torch.cat(persist_err)
    return {
        "val_loss": loss_sum / max(n_batches, 1),
        "nrmse": float(model_err_t.nanmean()),
        "persistence_nrmse": float(persist_t.nanmean()),
    }
