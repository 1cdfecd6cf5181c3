"""Autoregressive rollout: `k` history frames in, one predicted frame per step out.

Every step does exactly what training does (`morph.predict.predict`, the one
inference path): RevIN statistics of the current history window, components
padded to the model's `max_components`, then the prediction is denormalised to
physical units and appended to the window (the oldest frame drops out). The one-step
model knows nothing of rollouts.

A rollout is a generator of `RolloutStep`s, so callers can stream metrics or
stop early; `rollout_all` collects the steps into `(B, K, F, C, D, H, W)`.
A step whose prediction is non-finite, or larger than `max_growth` times the
RMS of the history, raises `RolloutDiverged` naming the step (or, with
`on_divergence="flag"`, marks the sample and continues with the others).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator, Literal, Optional, Sequence, Union

import torch
from torch import nn
from pde_data import Batch, DataError
from pde_data.progress import progress_bar
from morph.precision import autocast
from morph.predict import predict, random_shift, warn_unseen_boundaries

__all__ = ["RolloutDiverged", "RolloutStep", "persistence", "rollout", "rollout_all"]

logger = logging.getLogger(__name__)

OnDivergence = Literal["raise", "flag"]


class RolloutDiverged(RuntimeError):
    """A rollout whose prediction became non-finite or exploded.

    step: the first diverging step (1 = the first predicted frame).
    samples: batch indices that diverged at that step.
    reason: what was seen ("non-finite values" or "|value| ... > ...").
    predictions: the finite steps before it, `(B, step - 1, F, C, D, H, W)`, when
        raised by `rollout_all` (else None).
    """

    def __init__(self, step: int, samples: list[int], reason: str,
                 predictions: Optional[torch.Tensor] = None) -> None:
        self.step, self.samples, self.reason, self.predictions = step, samples, reason, predictions
        super().__init__(f"rollout diverged at step {step} (sample{'s' if len(samples) > 1 else ''} "
                         f"{', '.join(map(str, samples))}): {reason}; earlier steps were finite. "
                         f"Try a shorter horizon, another history length, or a model trained on this data")


@dataclass
class RolloutStep:
    """One rollout step, physical units.

    step: 1-based index of the predicted frame after the history.
    prediction: (B, F, C, D, H, W); NaN for samples flagged as diverged.
    target: (B, F, C, D, H, W) the true frame, when the truth was given, else None.
    diverged: (B,) bool, True for samples that have diverged at this step or before
        (only with on_divergence="flag"; all False otherwise).
    """

    step: int
    prediction: torch.Tensor
    target: Optional[torch.Tensor]
    diverged: torch.Tensor


def _history_tensors(history: Union[torch.Tensor, Batch], mask: Optional[torch.Tensor],
                     dataset_std: Optional[torch.Tensor]
                     ) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """(x (B, k, F, C, D, H, W) float32, mask (B, F, C) bool, dataset_std (B, F) or None) of a
    `Batch` (its own mask and dataset_std) or of a bare history tensor."""
    if isinstance(history, Batch):
        return history.x.float(), history.mask.bool(), history.dataset_std
    if not isinstance(history, torch.Tensor) or history.ndim != 7:
        shape = tuple(history.shape) if isinstance(history, torch.Tensor) else type(history).__name__
        raise DataError(f"rollout history must be a Batch or a tensor (B, k, F, C, D, H, W), got {shape}")
    b, _, f, c = history.shape[:4]
    mask = torch.ones(b, f, c, dtype=torch.bool) if mask is None else mask.to(torch.bool)
    if mask.shape != (b, f, c):
        raise DataError(f"rollout mask must be (B, F, C) = {(b, f, c)}, got {tuple(mask.shape)}")
    return history.float(), mask, dataset_std


def _field_scale(x: torch.Tensor, mask: torch.Tensor, dataset_std: Optional[torch.Tensor]) -> torch.Tensor:
    """Per sample and field RMS of the history `(B, k, F, C, D, H, W)` -> `(B, F)`, the yardstick of
    divergence; at least the dataset scale, and never 0 (the sample's RMS over fields, else 1)."""
    m = mask[:, None, :, :, None, None, None].to(torch.float64)
    sq = (x.double() ** 2 * m).sum(dim=(1, 3, 4, 5, 6))
    count = (m.expand_as(x).sum(dim=(1, 3, 4, 5, 6))).clamp_min(1)
    rms = (sq / count).sqrt()
    if dataset_std is not None:
        rms = torch.maximum(rms, dataset_std.to(rms))
    sample = (sq.sum(1) / count.sum(1)).sqrt()[:, None].expand_as(rms)
    rms = torch.where(rms > 0, rms, sample)
    return torch.where(rms > 0, rms, torch.ones_like(rms)).float()


def _diverged(pred: torch.Tensor, mask: torch.Tensor, scale: torch.Tensor,
              max_growth: Optional[float]) -> tuple[torch.Tensor, str]:
    """(B,) bool: samples whose prediction `(B, F, C, D, H, W)` is non-finite or exploded, and why."""
    m = mask[..., None, None, None].expand_as(pred)
    nonfinite = ~torch.where(m, pred.isfinite(), True).flatten(1).all(1)
    reasons = ["non-finite values (NaN or Inf)"] if nonfinite.any() else []
    if max_growth is None:
        return nonfinite, "; ".join(reasons)
    peak = torch.where(m & pred.isfinite(), pred.abs(), 0).amax(dim=(2, 3, 4, 5))  # (B, F)
    ratio = peak / scale
    exploded = (ratio > max_growth).any(1)
    if exploded.any():
        reasons.append(f"|value| reached {float(ratio.max()):.3g} x the RMS of the history "
                       f"(limit max_growth = {max_growth:g})")
    return nonfinite | exploded, "; ".join(reasons)


def rollout(model: nn.Module, history: Union[torch.Tensor, Batch], steps: int,
            mask: Optional[torch.Tensor] = None, *, truth: Optional[torch.Tensor] = None,
            teacher_forcing: bool = False, dataset_std: Optional[torch.Tensor] = None,
            boundaries: Optional[Sequence[str]] = None, jitter: int = 0, seed: int = 0,
            max_growth: Optional[float] = 1e3, on_divergence: OnDivergence = "raise",
            precision: str = "no", progress: bool = False) -> Iterator[RolloutStep]:
    """Roll `model` out for `steps` steps from `history`, yielding one `RolloutStep` per step.

    history: `(B, k, F, C, D, H, W)` physical units, or a `pde_data.Batch` (its
        x, mask and dataset_std; its `y_future` is the truth when `truth` is None).
    mask: `(B, F, C)` real components (default: all real); padded entries come out 0.
    truth: `(B, K >= steps, F, C, D, H, W)` true future frames; each step carries
        its target, and with `teacher_forcing` the true frame (not the prediction)
        is fed back, so every step is a one-step forecast.
    dataset_std: `(B, F)` fallback scale of the normalisation (as in training).
    boundaries: the boundary condition per canonical axis (D, H, W); a Batch brings its own.
        A type the model never trained on is named in a warning.
    jitter: move the patch grid by 0..jitter cells per axis at every step (drawn with `seed`),
        as patch-jittered training does; 0 keeps it fixed.
    max_growth: a prediction larger than this times the RMS of the initial history
        (per sample and field) counts as diverged; None checks finiteness only.
    on_divergence: "raise" raises `RolloutDiverged`; "flag" marks the sample in
        `RolloutStep.diverged`, sets its predictions to NaN from then on and goes on
        with the others.
    precision: "no" (float32), "bf16", or "auto": bfloat16 autocast where the model's device computes
        it natively (`morph.precision`); the frames fed back and yielded stay float32.
    """
    if not isinstance(steps, int) or steps < 1:
        raise DataError(f"rollout steps must be an int >= 1, got {steps!r}")
    if on_divergence not in ("raise", "flag"):
        raise DataError(f"on_divergence must be 'raise' or 'flag', got {on_divergence!r}")
    x, mask, dataset_std = _history_tensors(history, mask, dataset_std)
    if truth is None and isinstance(history, Batch):
        truth = history.y_future if history.y_future is not None else history.y[:, None]
        truth = truth if truth.shape[1] >= steps else None
    if truth is not None and (truth.ndim != 7 or truth.shape[1] < steps
                              or truth.shape[:1] + truth.shape[2:] != x.shape[:1] + x.shape[2:]):
        raise DataError(f"rollout truth must be (B, K >= {steps}, F, C, D, H, W) matching the history "
                        f"{tuple(x.shape)}, got {tuple(truth.shape)}")
    if teacher_forcing and truth is None:
        raise DataError("teacher_forcing needs the true future frames: pass truth=(B, K, F, C, D, H, W)")
    getattr(model, "module", model).config.check_fits(tuple(x.shape), where="rollout history")
    if boundaries is None and isinstance(history, Batch):
        boundaries = history.boundaries
    warn_unseen_boundaries(model, boundaries, history.dataset if isinstance(history, Batch) else "rollout data")
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    window, mask = x.to(device), mask.to(device)  # window: (B, k, F, C, D, H, W)
    dataset_std = None if dataset_std is None else dataset_std.to(device, torch.float32)
    scale = _field_scale(window, mask, dataset_std)
    diverged = torch.zeros(window.shape[0], dtype=torch.bool, device=device)
    was_training = model.training
    model.eval()
    try:
        for step in progress_bar(range(1, steps + 1), desc="rollout", unit="step", enabled=progress):
            with torch.no_grad(), autocast(precision, device):
                pred = predict(model, window, mask, dataset_std, boundaries=boundaries,
                               shift=random_shift(model, window, jitter, generator)).physical  # (B, F, C, D, H, W)
            bad, reason = _diverged(pred, mask, scale, max_growth)
            new = bad & ~diverged
            if new.any():
                samples = new.nonzero().flatten().tolist()
                if on_divergence == "raise":
                    raise RolloutDiverged(step, samples, reason)
                logger.warning("rollout: samples %s diverged at step %d: %s", samples, step, reason)
            diverged |= bad
            # Diverged samples keep their last finite window, so they cannot poison the others.
            fed = truth[:, step - 1].to(device).float() if teacher_forcing else pred
            fed = torch.where(diverged[:, None, None, None, None, None], window[:, -1], fed)
            window = torch.cat([window[:, 1:], fed[:, None]], dim=1)
            if diverged.any():
                pred = torch.where(diverged[:, None, None, None, None, None], float("nan"), pred)
            target = None if truth is None else truth[:, step - 1].to(device).float()
            yield RolloutStep(step=step, prediction=pred, target=target, diverged=diverged.clone())
    finally:
        model.train(was_training)


def rollout_all(model: nn.Module, history: Union[torch.Tensor, Batch], steps: int,
                mask: Optional[torch.Tensor] = None, **kwargs) -> torch.Tensor:
    """All steps of `rollout(...)` stacked: `(B, K, F, C, D, H, W)`, physical units.

    On divergence the `RolloutDiverged` raised carries the finite steps before it
    in `.predictions`.
    """
    frames: list[torch.Tensor] = []
    try:
        for out in rollout(model, history, steps, mask, **kwargs):
            frames.append(out.prediction)
    except RolloutDiverged as err:
        if frames:
            err.predictions = torch.stack(frames, dim=1)
        raise
    return torch.stack(frames, dim=1)


def persistence(history: torch.Tensor, steps: int) -> torch.Tensor:
    """The "no change" baseline: the last history frame repeated.

    history `(B, k, F, C, D, H, W)` -> `(B, K, F, C, D, H, W)` with K = steps.
    """
    return history[:, -1:].expand(-1, steps, *history.shape[2:]).clone()
