"""rollouts: autoregressive rollout, metrics, evaluation, export and plots.

    rollout(model, history, steps)    a generator of RolloutStep, physical units
    rollout_all(...)                  (B, K, F, C, D, H, W)
    compute_metrics(pred, y, mask)    mse, rmse, mae, nrmse, vrmse, spectral bands
    evaluate(model, dataset, ...)     rollouts over a split beside persistence
    compare({label: model}, dataset)  several models on the same rollouts, one table
    score_stress_set(model)           rollout stability on STRESS_CASES, settings off the corpus
    to_xarray / save_xarray           truth and prediction with coordinates (.nc, .zarr)
    plot_rollout(pred, y, path)       truth / prediction / error (.png, .gif)
"""

from rollouts.evaluate import Comparison, Evaluation, compare, evaluate
from rollouts.export import save_xarray, to_xarray
from rollouts.metrics import BANDS, METRICS, compute_metrics
from rollouts.plots import plot_rollout
from rollouts.rollout import RolloutDiverged, RolloutStep, persistence, rollout, rollout_all
from rollouts.stress import STRESS_CASES, StressCase, StressReport, is_stable, score_stress_set, stress_cases

__all__ = [
    "BANDS",
    "METRICS",
    "Comparison",
    "Evaluation",
    "RolloutDiverged",
    "RolloutStep",
    "STRESS_CASES",
    "StressCase",
    "StressReport",
    "compare",
    "compute_metrics",
    "evaluate",
    "is_stable",
    "persistence",
    "plot_rollout",
    "rollout",
    "rollout_all",
    "save_xarray",
    "score_stress_set",
    "stress_cases",
    "to_xarray",
]
