"""The training objective and the validation metrics, in one place.

Each batch is normalised with RevIN statistics of its history; the model maps
the normalised history to the normalised next frame. The loss is the MSE over
real (masked) entries; for a model that predicts scaled increments
(`predict_delta` with `delta_scale`) the error of each sample and field is
measured in units of its history's RMS increment, so slowly and quickly
changing datasets weigh alike (the loss then reads as the squared error
relative to that of persistence, roughly). Metrics are in physical units.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Iterable, Optional

import torch
from torch import nn

from pde_data import Batch, fit_normalization

from morph.model.morph import increment_scale
from morph.predict import Forecast, nrmse, predict, random_shift

__all__ = ["add_noise", "evaluate_batches", "masked_mse", "training_loss"]

logger = logging.getLogger(__name__)


def _expand(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """mask (B, F, C) -> broadcastable to like (B, F, C, D, H, W)."""
    return mask[..., None, None, None].expand_as(like)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
               weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean squared error over real entries, optionally weighted per sample and field.

    pred, target: (B, F, C, D, H, W); mask (B, F, C); weight (B, F) or None.
    """
    m = _expand(mask, pred).to(torch.float32)
    sq = (pred.float() - target.float()) ** 2 * m
    if weight is not None:
        sq = sq * weight[:, :, None, None, None, None]
    return sq.sum() / m.sum().clamp_min(1)


def _predict(model: nn.Module, batch: Batch, history: Optional[int] = None, noise: float = 0.0,
             jitter: int = 0) -> Forecast:
    """`morph.predict.predict` on the last `history` frames of the batch (all when None), with the
    batch's boundaries; `noise` and `jitter` as in `training_loss`."""
    x = batch.x if history is None else batch.x[:, -history:]
    if noise > 0:
        x = add_noise(x, batch.mask, noise)
    return predict(model, x, batch.mask, batch.dataset_std, boundaries=batch.boundaries,
                   shift=random_shift(model, x, jitter))


def add_noise(x: torch.Tensor, mask: torch.Tensor, level: float) -> torch.Tensor:
    """`x (B, t, F, C, D, H, W)` plus Gaussian noise whose magnitude is `level` times each field's
    scale in its history (the RevIN scale: a scalar's standard deviation, a vector's RMS magnitude;
    the normalised field has unit scale), so each of a field's C real components gets standard
    deviation level * scale / sqrt(C); padded components get none. Drawn from the global torch
    RNG (restored on resume)."""
    per_component = fit_normalization(x, mask).std / mask.sum(-1).clamp_min(1).sqrt()  # (B, F)
    noise = torch.randn_like(x) * (level * per_component)[:, None, :, None, None, None, None]
    return x + noise * mask[:, None, :, :, None, None, None]


def _loss(model: nn.Module, batch: Batch, forecast: Forecast) -> torch.Tensor:
    config = getattr(model, "module", model).config  # unwrap DDP
    weight = None
    xn = forecast.x_normalized
    if config.predict_delta and config.delta_scale and xn.shape[1] > 1:
        weight = increment_scale(xn).float().pow(-2)
    return masked_mse(forecast.normalized, forecast.stats.normalize(batch.y), batch.mask, weight)


def training_loss(model: nn.Module, batch: Batch, history: Optional[int] = None, unroll: int = 1,
                  noise: float = 0.0, jitter: int = 0) -> torch.Tensor:
    """The loss of one batch.

    noise: Gaussian noise on the history frames the loss is taken on, `noise` times each field's
        scale (noise injection: the model learns to forgive the errors a rollout feeds back).
    jitter: shift the patch grid by 0..jitter cells per axis, drawn per batch, and back (patch
        jittering: no cell is always at a patch edge).
    With `unroll = n > 1` it is the loss of the n-th autoregressive
    step (target `batch.y_future[:, n - 1]`): the model first rolls out n - 1 steps without
    gradient, each window normalised anew as `rollouts.rollout` does, then predicts from its
    own outputs (the pushforward trick of Brandstetter et al., 2022); so it learns to correct
    the errors its rollouts make, for one extra forward pass per extra step."""
    if unroll > 1:
        if batch.y_future is None or batch.y_future.shape[1] < unroll:
            have = 0 if batch.y_future is None else batch.y_future.shape[1]
            raise ValueError(f"unroll = {unroll} needs batches with {unroll} future frames (WindowDataset("
                             f"horizon={unroll})), got {have}")
        x = batch.x if history is None else batch.x[:, -history:]
        with torch.no_grad():
            for _ in range(unroll - 1):
                frame = predict(model, x, batch.mask, batch.dataset_std, boundaries=batch.boundaries).physical
                x = torch.cat([x[:, 1:], frame.to(x.dtype)[:, None]], dim=1)
        if torch.isfinite(x).all():
            batch = dataclasses.replace(batch, x=x, y=batch.y_future[:, unroll - 1])
            history = None
        else:  # a rollout that blew up teaches nothing and would put NaN into the optimiser
            logger.warning("unrolled training: the %d-step rollout of a batch of %s diverged; training this "
                           "batch on the next step instead", unroll - 1, batch.dataset)
    return _loss(model, batch, _predict(model, batch, history, noise=noise, jitter=jitter))


@torch.no_grad()
def evaluate_batches(model: nn.Module, batches: Iterable[Batch], history: Optional[int] = None
                     ) -> dict[str, float]:
    """Validation loss (the training objective) and next-step nRMSE of the model and
    of persistence ("no change"), averaged over samples and fields, physical units."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loss_sum, n_batches, model_err, persist_err = 0.0, 0, [], []
    for batch in batches:
        batch = batch.to(device)
        forecast = _predict(model, batch, history)
        loss_sum += float(_loss(model, batch, forecast))
        n_batches += 1
        pred = forecast.physical
        model_err.append(nrmse(pred, batch.y, batch.mask))
        persist_err.append(nrmse(batch.x[:, -1], batch.y, batch.mask))
    model.train(was_training)
    model_err_t, persist_t = torch.cat(model_err).cpu(), torch.cat(persist_err).cpu()
    return {
        "val_loss": loss_sum / max(n_batches, 1),
        "nrmse": float(model_err_t.nanmean()),
        "persistence_nrmse": float(persist_t.nanmean()),
    }
