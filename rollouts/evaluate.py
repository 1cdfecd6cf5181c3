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

from pde_data import DataError, PDEDataset, WindowDataset, collate
from pde_data.progress import progress_bar
from pde_data.windows import DEFAULT_FRACTIONS
from morph.checkpoint import run_record
from morph.predict import DEFAULT_HORIZON
from rollouts.metrics import METRICS, compute_metrics
from rollouts.rollout import persistence, rollout

__all__ = ["Comparison", "Evaluation", "compare", "evaluate"]

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


def evaluation_setup(model: nn.Module, n_steps: int, history: Optional[int] = None,
                     horizon: Optional[int] = None, split_seed: Optional[int] = None,
                     fractions: Optional[Sequence[float]] = None
                     ) -> tuple[int, int, int, tuple[float, ...]]:
    """(history, horizon, split_seed, fractions) with the defaults `evaluate` documents filled in
    from the model's run record and trajectories of `n_steps` frames."""
    record = run_record(model)
    if history is None:
        trained = record.history if record is not None else None
        limit = getattr(model, "module", model).config.max_ar
        history = min(trained or limit, limit, max(n_steps - 1, 1))
    if horizon is None:
        horizon = max(1, min(DEFAULT_HORIZON, n_steps - history))
    if split_seed is None:
        split_seed = record.split_seed if record is not None else 0
    if fractions is None:
        fractions = record.split_fractions if record is not None else DEFAULT_FRACTIONS
    return history, horizon, split_seed, tuple(fractions)


def _finite(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _finite(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_finite(v) for v in tree]
    if isinstance(tree, float) and not math.isfinite(tree):
        return None
    return tree


def evaluate(model: nn.Module, dataset: PDEDataset, *, horizon: Optional[int] = None,
             history: Optional[int] = None, split: str = "test", split_seed: Optional[int] = None,
             fractions: Optional[Sequence[float]] = None,
             stride: Optional[int] = None, batch_size: int = 8, max_growth: Optional[float] = 1e3,
             precision: str = "no", progress: bool = False) -> Evaluation:
    """Roll `model` out over every window of `split` and score it and the persistence baseline.

    horizon: steps per rollout (K); None: `DEFAULT_HORIZON`, or what the trajectories allow.
    history: frames given (k); None: the history the model was trained with (its run record),
        else its max_ar, at most what the trajectories allow.
    split, split_seed, fractions: as in training (`pde_data.WindowDataset`); "all" takes every
        trajectory. None takes the seed and fractions of the model's run record (the trajectories
        its training held out), else 0 and `pde_data.DEFAULT_FRACTIONS`.
    stride: frames between window starts within a trajectory (default: the horizon, so
        rollouts do not overlap).
    max_growth, precision: as in `rollout` ("auto": bfloat16 where the hardware has it natively).
    """
    spec = dataset.spec
    where = spec.source or spec.name
    history, horizon, split_seed, fractions = evaluation_setup(model, spec.n_steps, history, horizon,
                                                               split_seed, fractions)
    if not isinstance(horizon, int) or horizon < 1 or not isinstance(history, int) or history < 1:
        raise DataError(f"horizon and history must be ints >= 1, got {horizon!r} and {history!r}")
    if history + horizon > spec.n_steps:
        raise DataError(f"{where}: trajectories have {spec.n_steps} frames, too few for history {history} + "
                        f"horizon {horizon}; lower --horizon or --history")
    windows = WindowDataset(dataset, history=history, horizon=horizon, split=split, seed=split_seed,
                            fractions=fractions, stride=stride or horizon)
    getattr(model, "module", model).config.check_fits(spec, history=history, where=where)
    sums: dict[str, dict[str, torch.Tensor]] = {"model": {}, "persistence": {}}
    diverged: list[dict[str, int]] = []
    starts = range(0, len(windows), batch_size)
    for first in progress_bar(starts, desc=f"evaluate {spec.name}", unit="batch", enabled=progress):
        batch = collate([windows[i] for i in range(first, min(first + batch_size, len(windows)))])
        truth = batch.y_future if batch.y_future is not None else batch.y[:, None]  # (B, K, F, C, D, H, W)
        frames, flags = [], []
        for out in rollout(model, batch, horizon, truth=truth, max_growth=max_growth, on_divergence="flag",
                           precision=precision):
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
             "fractions": list(fractions),
             "trajectories": [int(t) for t in windows.trajectories], "history": history,
             "horizon": horizon, "stride": stride or horizon}
    return Evaluation(field_names=list(spec.field_names), scores=scores, n_windows=n,
                      diverged=diverged, setup=setup)


@dataclass
class Comparison:
    """Several models scored on the same rollouts, beside persistence (`compare`).

    evaluations: {label: Evaluation} per model.
    rows: {label | "persistence": {"step_1", "horizon" (mean over the steps), "last", "growth" (last / step_1),
        "per_step", "diverged", "windows"}}: nRMSE with the fields averaged.
    """

    evaluations: dict[str, Evaluation]
    rows: dict[str, dict[str, Any]]

    @property
    def horizon(self) -> int:
        return next(iter(self.evaluations.values())).horizon

    def table(self) -> str:
        """Markdown: per model, nRMSE at 1 step, mean over the horizon, at its last step, the error growth
        (last step / step 1) and the windows whose rollout diverged (they score inf)."""
        k = self.horizon
        split = next(iter(self.evaluations.values())).setup.get("split", "test")
        lines = [f"| model | {split} nRMSE, 1 step | mean over {k} steps | at step {k} | growth | diverged |",
                 "|---|---|---|---|---|---|"]
        for name, m in self.rows.items():
            lines.append(f"| {name} | {m['step_1']:.4g} | {m['horizon']:.4g} | {m['last']:.4g} "
                         f"| x{m['growth']:.3g} | {m['diverged']}/{m['windows']} |")
        return "\n".join(lines)

    def csv(self) -> str:
        """The rows of `table` as CSV text (one line a model, persistence last; inf where a rollout diverged)."""
        columns = ("step_1", "horizon", "last", "growth", "diverged", "windows")
        lines = ["model,nrmse_step_1,nrmse_mean,nrmse_last,growth,diverged,windows"]
        for name, m in self.rows.items():
            label = '"' + name.replace('"', '""') + '"' if any(c in name for c in ',"\n') else name
            lines.append(",".join([label, *(f"{m[c]:.6g}" if isinstance(m[c], float) else str(m[c])
                                            for c in columns)]))
        return "\n".join(lines) + "\n"

    def summary(self) -> dict[str, dict[str, Any]]:
        """`rows`, JSON-ready (non-finite numbers become null)."""
        return _finite(self.rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: each model's `Evaluation.to_dict()` under its label."""
        return {label: e.to_dict() for label, e in self.evaluations.items()}


def compare(models: dict[str, nn.Module], dataset: PDEDataset, **options: Any) -> Comparison:
    """Score each of `models` with `evaluate(model, dataset, **options)` on the same windows, and
    persistence beside them. Options left out (history, horizon, split_seed, fractions) come from
    the first model, so every model sees the same windows."""
    if not models:
        raise DataError("compare: give at least one model")
    first = next(iter(models.values()))
    history, horizon, split_seed, fractions = evaluation_setup(
        first, dataset.spec.n_steps, options.pop("history", None), options.pop("horizon", None),
        options.pop("split_seed", None), options.pop("fractions", None))
    evaluations = {label: evaluate(model, dataset, history=history, horizon=horizon, split_seed=split_seed,
                                   fractions=fractions, **options) for label, model in models.items()}
    rows = {label: _row(e, "model") for label, e in evaluations.items()}
    rows["persistence"] = _row(next(iter(evaluations.values())), "persistence")
    return Comparison(evaluations=evaluations, rows=rows)


def _row(evaluation: Evaluation, source: str) -> dict[str, Any]:
    curve = evaluation.summary(source)["mean"]["nrmse"]
    diverged = len(evaluation.diverged) if source == "model" else 0
    first, last = curve["step_1"], curve["per_step"][-1]
    growth = last / first if first > 0 else math.inf if last > 0 else 1.0
    return {"step_1": first, "horizon": curve["horizon"], "last": last, "growth": growth,
            "per_step": curve["per_step"], "diverged": diverged, "windows": evaluation.n_windows}
