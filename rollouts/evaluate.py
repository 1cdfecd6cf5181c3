"""Evaluation of a model by rollouts over the windows of one split, beside baselines.

Each window of the split (history of k frames, then `horizon` true frames) is
rolled out for `horizon` steps; the metrics of `rollouts.metrics` are averaged
over windows per step and field. The persistence baseline ("no change": the
last history frame held) is scored the same way. A window whose rollout
diverges scores +inf from the step it diverged at and is listed in `diverged`.
Splits are by trajectory with the seed of training (`pde_data.split_trajectories`),
so "test" holds the same trajectories the training run held out.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm  # not tqdm.auto: no widget warning in notebooks

from pde_data import DataError, PDEDataset, WindowDataset, collate
from rollouts.metrics import METRICS, compute_metrics
from rollouts.rollout import check_fits, persistence, rollout

__all__ = ["Evaluation", "evaluate"]

logger = logging.getLogger(__name__)

LABELS = {"mse": "MSE", "rmse": "RMSE", "mae": "MAE", "nrmse": "nRMSE", "vrmse": "VRMSE",
          "spectral_low": "spectral low", "spectral_mid": "spectral mid", "spectral_high": "spectral high"}


@dataclass
class Evaluation:
    """Metrics of the model and of each baseline, averaged over windows.

    scores: {"model" | "persistence": {metric: (K, F) array}}, per step and field.
    diverged: one dict per diverged window: traj, start (first history frame), step.
    setup: what was evaluated (dataset, split, trajectories, history, horizon, ...).
    """

    field_names: list[str]
    scores: dict[str, dict[str, np.ndarray]]
    n_windows: int
    diverged: list[dict[str, int]] = field(default_factory=list)
    setup: dict[str, Any] = field(default_factory=dict)

    @property
    def horizon(self) -> int:
        return next(iter(self.scores["model"].values())).shape[0]

    def summary(self, source: str = "model") -> dict[str, dict[str, dict[str, Any]]]:
        """{field | "mean": {metric: {"step_1", "horizon" (mean over steps), "per_step"}}};
        "mean" averages the fields."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for metric, values in self.scores[source].items():
            columns = {name: values[:, f] for f, name in enumerate(self.field_names)}
            columns["mean"] = values.mean(axis=1)
            for name, curve in columns.items():
                out.setdefault(name, {})[metric] = {
                    "step_1": float(curve[0]), "horizon": float(curve.mean()),
                    "per_step": [float(v) for v in curve]}
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the model's metrics under "model", each baseline under its own key,
        plus "setup" and "diverged". Non-finite numbers become null."""
        out: dict[str, Any] = {source: _finite(self.summary(source)) for source in self.scores}
        out["setup"] = {**self.setup, "windows": self.n_windows, "fields": self.field_names}
        out["diverged"] = self.diverged
        return out

    def table(self, metrics: Sequence[str] = ("nrmse", "vrmse")) -> str:
        """A markdown table per field and averaged: each metric at 1 step and over the horizon,
        the model beside the persistence baseline."""
        k = self.horizon
        model, base = self.summary("model"), self.summary("persistence")
        lines = [f"| field | metric | 1 step: model | 1 step: persistence | {k} steps: model "
                 f"| {k} steps: persistence |", "|---|---|---|---|---|---|"]
        for name in (*self.field_names, "mean"):
            for metric in metrics:
                m, p = model[name][metric], base[name][metric]
                lines.append(f"| {name} | {LABELS.get(metric, metric)} | {m['step_1']:.4g} | {p['step_1']:.4g} "
                             f"| {m['horizon']:.4g} | {p['horizon']:.4g} |")
        if self.diverged:
            first = min(d["step"] for d in self.diverged)
            lines.append(f"\n{len(self.diverged)} of {self.n_windows} windows diverged (first at step {first}); "
                         "their steps from there on score inf")
        return "\n".join(lines)


def _finite(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _finite(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_finite(v) for v in tree]
    if isinstance(tree, float) and not math.isfinite(tree):
        return None
    return tree


def evaluate(model: nn.Module, dataset: PDEDataset, *, horizon: int = 10, history: int = 1,
             split: str = "test", split_seed: int = 0, fractions: Sequence[float] = (0.8, 0.1, 0.1),
             stride: Optional[int] = None, batch_size: int = 8, max_growth: Optional[float] = 1e3,
             progress: bool = False) -> Evaluation:
    """Roll `model` out over every window of `split` and score it and the persistence baseline.

    horizon: steps per rollout (K); history: frames given (k).
    split, split_seed, fractions: as in training (`pde_data.WindowDataset`); "all" takes every trajectory.
    stride: frames between window starts within a trajectory (default: the horizon, so
        rollouts do not overlap).
    max_growth: the divergence threshold of `rollout`.
    """
    spec = dataset.spec
    where = spec.source or spec.name
    if not isinstance(horizon, int) or horizon < 1 or not isinstance(history, int) or history < 1:
        raise DataError(f"horizon and history must be ints >= 1, got {horizon!r} and {history!r}")
    if history + horizon > spec.n_steps:
        raise DataError(f"{where}: trajectories have {spec.n_steps} frames, too few for history {history} + "
                        f"horizon {horizon}; lower --horizon or --history")
    windows = WindowDataset(dataset, history=history, horizon=horizon, split=split, seed=split_seed,
                            fractions=fractions, stride=stride or horizon)
    check_fits(model, (1, history, len(spec.fields), max(spec.components), *_canonical(spec.grid_shape)),
               where=where)
    sums: dict[str, dict[str, torch.Tensor]] = {"model": {}, "persistence": {}}
    diverged: list[dict[str, int]] = []
    starts = range(0, len(windows), batch_size)
    for first in tqdm(starts, desc=f"evaluate {spec.name}", unit="batch", disable=not progress):
        batch = collate([windows[i] for i in range(first, min(first + batch_size, len(windows)))])
        truth = batch.y_future if batch.y_future is not None else batch.y[:, None]  # (B, K, F, C, D, H, W)
        frames, flags = [], []
        for out in rollout(model, batch, horizon, truth=truth, max_growth=max_growth, on_divergence="flag"):
            frames.append(out.prediction.cpu())
            flags.append(out.diverged.cpu())
        flagged = torch.stack(flags, dim=1)  # (B, K)
        model_scores = compute_metrics(torch.stack(frames, dim=1), truth, batch.mask)
        for b in flagged.any(1).nonzero().flatten().tolist():
            diverged.append({"traj": int(batch.traj[b]), "start": int(batch.start[b]),
                             "step": int(flagged[b].nonzero()[0]) + 1})
        for source, scores in (("model", model_scores),
                               ("persistence", compute_metrics(persistence(batch.x, horizon), truth, batch.mask))):
            for metric in METRICS:
                values = scores[metric]  # (B, K, F)
                if source == "model":
                    values = torch.where(flagged[:, :, None], math.inf, values)
                total = values.sum(0)
                sums[source][metric] = sums[source].get(metric, 0) + total
    n = len(windows)
    if diverged:
        logger.warning("%s: %d of %d rollouts diverged", where, len(diverged), n)
    scores = {source: {m: (v / n).numpy() for m, v in per.items()} for source, per in sums.items()}
    setup = {"dataset": spec.name, "source": spec.source, "split": split, "split_seed": split_seed,
             "trajectories": [int(t) for t in windows.trajectories], "history": history,
             "horizon": horizon, "stride": stride or horizon}
    return Evaluation(field_names=list(spec.field_names), scores=scores, n_windows=n,
                      diverged=diverged, setup=setup)


def _canonical(grid: Sequence[int]) -> tuple[int, int, int]:
    """A grid shape as canonical `(D, H, W)`."""
    return tuple([1] * (3 - len(grid)) + list(grid))
