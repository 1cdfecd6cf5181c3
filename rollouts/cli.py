"""`morph rollout` and `morph evaluate`: a model rolled out on one trajectory, or scored on a split;
and the test table that ends `morph finetune`.

The `morph` app finds the two commands through the entry-point group "morph.commands", and
`morph finetune` (of `adapters`) the table through "morph.finetune_reports" (pyproject.toml):
`rollouts` imports `morph` and `pde_data`, and neither of them imports `rollouts`.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence

import typer

from morph.cli.options import (BATCH_SIZE_HELP, BOUNDARY_HELP, FORMAT_HELP, OPTION_HELP, PRECISION_HELP, data_options,
                               device as run_device)

__all__ = ["TEST_FILE", "evaluate_command", "finetune_test_table", "rollout_command"]

logger = logging.getLogger("morph")

#: What the test table after a fine-tune writes into the fine-tune's output directory.
TEST_FILE = "test_metrics.json"


def _load(checkpoint: str, data: str, format: str, options: dict[str, Any], device: str,
          cache: Optional[Path]) -> tuple[Any, Any]:
    """The model (eval mode, on `device`: auto takes a GPU when there is one) and the dataset (read with the
    reader `options`; a URL read through `cache/remote`)."""
    from morph.checkpoint import load_pretrained
    from morph.train.config import default_cache_dir
    from morph.train.data import open_data

    model = load_pretrained(checkpoint).to(run_device(device))
    dataset = open_data(data, cache or default_cache_dir(), format=format, **options)
    return model, dataset


CACHE_HELP = "cache directory; a URL's data is kept in DIR/remote (default ~/.cache/morph-pde)"

# The options `morph rollout`, `morph evaluate` and `morph compare` share, declared once (typer reads
# an option's declaration without changing it, so one serves every command that names it).
MAX_GROWTH_OPTION = typer.Option(1e3, "--max-growth", help="diverged when |value| > this x the history's RMS")
STRIDE_OPTION = typer.Option(None, "--stride", help="frames between windows (default: horizon)")
BATCH_SIZE_OPTION = typer.Option(8, "--batch-size", help=BATCH_SIZE_HELP)
FORMAT_OPTION = typer.Option("auto", "--format", help=FORMAT_HELP)
READER_OPTION = typer.Option(None, "--option", help=OPTION_HELP)
BOUNDARY_OPTION = typer.Option(None, "--boundary", help=BOUNDARY_HELP)
CACHE_OPTION = typer.Option(None, "--cache", help=CACHE_HELP)
DEVICE_OPTION = typer.Option("auto", "--device", help="cpu, cuda, ... or auto")
PRECISION_OPTION = typer.Option("auto", "--precision", help=PRECISION_HELP)
QUIET_OPTION = typer.Option(False, "--quiet", help="no progress bar")


def _history(model: Any, history: Optional[int], spec: Any, where: str) -> int:
    """--history (by default the history the model was trained with, from its run record), checked
    with the data against the model and against the trajectories."""
    from pde_data import DataError
    from rollouts.evaluate import evaluation_setup

    n_steps = spec.n_steps
    history, *_ = evaluation_setup(model, n_steps, history=history)
    model.config.check_fits(spec, history=history, where=where)
    if history >= n_steps:
        raise DataError(f"{where}: trajectories have {n_steps} frames; --history {history} leaves none "
                        "to predict")
    return history


def _trajectory(model: Any, dataset: Any, traj: Optional[int]) -> int:
    """--traj; by default the first trajectory of the test split of the model's run (its split seed, as
    `morph evaluate --split test`). A trajectory of the training split of data the model trained on (its run
    record's data specs) is rolled out with a warning saying so."""
    from pde_data import split_trajectories
    from morph.checkpoint import run_record
    from rollouts.evaluate import evaluation_setup

    *_, seed, fractions = evaluation_setup(model, dataset.spec.n_steps)
    parts = split_trajectories(len(dataset), fractions, seed)
    if traj is None:
        traj = int(parts["test"][0]) if len(parts["test"]) else 0
        typer.echo(f"trajectory {traj}: the first of the test split (split seed {seed}; --traj picks another)")
    elif traj in parts["train"] and _trained_on(run_record(model), dataset.spec):
        logger.warning("--traj %d is in the training split of the model (it trained on %s with split seed %d): the "
                       "rollout shows how it fits data it saw; a test trajectory shows how it generalises: --traj %s",
                       traj, dataset.spec.name, seed, " or ".join(map(str, parts["test"][:3])) or "(none)")
    return traj


def _trained_on(record: Any, spec: Any) -> bool:
    """Whether the model of run `record` trained on the data of `spec` (same name, trajectories, frames, grid
    and fields as one of its datasets)."""
    if record is None:
        return False
    mine = json.loads(spec.to_json())
    keys = ("name", "n_trajectories", "n_steps", "grid_shape", "fields")
    return any(all(other.get(k) == mine[k] for k in keys) for other in record.data_specs)


def rollout_command(
    checkpoint: str = typer.Option(..., "--checkpoint", help="checkpoint directory, or 'starter'"),
    data: str = typer.Option(..., "--data", help="dataset path or URL (any format `morph data convert` reads)"),
    steps: int = typer.Option(..., "--steps", help="steps to roll out (K)"),
    out: Path = typer.Option(..., "--out", help="output FILE.nc or FILE.zarr (truth and prediction)"),
    traj: Optional[int] = typer.Option(None, "--traj", help="trajectory index (default: the first of the test "
                                       "split the model's training held out, as morph evaluate scores)"),
    start: int = typer.Option(0, "--start", help="first history frame"),
    history: Optional[int] = typer.Option(None, "--history",
                                          help="history frames k (default: the training history)"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="also plot truth / prediction / error: "
                                                            "FILE.png or FILE.gif"),
    teacher_forcing: bool = typer.Option(False, "--teacher-forcing",
                                         help="feed the true frames back (one-step forecasts)"),
    max_growth: float = MAX_GROWTH_OPTION,
    format: str = FORMAT_OPTION,
    option: Optional[List[str]] = READER_OPTION,
    boundary: Optional[List[str]] = BOUNDARY_OPTION,
    cache: Optional[Path] = CACHE_OPTION,
    device: str = DEVICE_OPTION,
    precision: str = PRECISION_OPTION,
) -> None:
    """Roll a model out on one trajectory; write truth and prediction (xarray) and, optionally, plots."""
    if out.suffix not in (".nc", ".zarr"):
        raise typer.BadParameter(f"{out}: use a .nc or .zarr path", param_hint="--out")
    if plot is not None and plot.suffix.lower() not in (".png", ".gif", ".pdf", ".svg", ".jpg"):
        raise typer.BadParameter(f"{plot}: use a .png or .gif path", param_hint="--plot")
    import torch

    from pde_data import DataError, WindowDataset, collate
    from rollouts import RolloutDiverged, compute_metrics, plot_rollout, rollout, save_xarray, to_xarray

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # its animation writer logs at INFO
    model, dataset = _load(checkpoint, data, format, data_options(option, boundary), device, cache)
    spec = dataset.spec
    where = str(data)  # the path as the user gave it (spec.source may be the original, pre-convert file)
    traj = _trajectory(model, dataset, traj)
    if not 0 <= traj < len(dataset):
        raise DataError(f"{where}: --traj {traj} out of range; the dataset has {len(dataset)} trajectories "
                        f"(0..{len(dataset) - 1})")
    k = _history(model, history, spec, where)
    if steps < 1 or start < 0 or start + k + steps > spec.n_steps:
        raise DataError(f"{where}: trajectories have {spec.n_steps} frames; --start {start} + --history {k} + "
                        f"--steps {steps} does not fit (at most --steps {spec.n_steps - start - k})")
    windows = WindowDataset(dataset, history=k, horizon=steps, split="all", stride=1)
    batch = collate([windows[traj * windows.windows_per_traj + start]])
    truth = batch.y_future if batch.y_future is not None else batch.y[:, None]  # (1, K, F, C, D, H, W)
    frames, failure = [], None
    try:
        for step in rollout(model, batch, steps, truth=truth, teacher_forcing=teacher_forcing,
                            max_growth=max_growth, precision=precision, progress=True):
            frames.append(step.prediction.cpu())
    except RolloutDiverged as err:
        failure = err
    if frames:
        pred = torch.stack(frames, dim=1)  # (1, K', F, C, D, H, W)
        truth = truth[:, : pred.shape[1]]
        attrs = dict(checkpoint=str(checkpoint), data=str(data), trajectory=traj, history=k,
                     history_start=start, teacher_forcing=int(teacher_forcing))
        save_xarray(to_xarray(pred[0], truth[0], spec, first_frame=start + k, attrs=attrs), out)
        typer.echo(f"wrote {out}: {pred.shape[1]} steps of trajectory {traj} after frames {start}..{start + k - 1}"
                   + (" (teacher forcing: each step a one-step forecast from true frames)" if teacher_forcing
                      else ""))
        nrmse = compute_metrics(pred, truth, batch.mask)["nrmse"][0]  # (K', F)
        for f, name in enumerate(spec.field_names):
            typer.echo(f"  {name:<14} nRMSE step 1 {float(nrmse[0, f]):.4g}, "
                       f"step {pred.shape[1]} {float(nrmse[-1, f]):.4g}")
        if plot is not None:
            plot_rollout(pred[0], truth[0], plot, spec=spec, title=f"{spec.name} trajectory {traj}")
            typer.echo(f"wrote {plot}")
    if failure is not None:
        typer.echo(f"error: {failure}" + (f" (the {len(frames)} steps before it are in {out})" if frames else ""),
                   err=True)
        sys.exit(1)


def evaluate_command(
    checkpoint: str = typer.Option(..., "--checkpoint", help="checkpoint directory, or 'starter'"),
    data: str = typer.Option(..., "--data", help="dataset path or URL (any format `morph data convert` reads)"),
    split: str = typer.Option("test", "--split", help="train, val, test or all (the training split)"),
    horizon: Optional[int] = typer.Option(None, "--horizon", help="rollout steps (default 10, or what the "
                                                                  "trajectories allow)"),
    history: Optional[int] = typer.Option(None, "--history",
                                          help="history frames k (default: the training history)"),
    split_seed: Optional[int] = typer.Option(None, "--split-seed",
                                             help="seed of the split (default: the training run's)"),
    stride: Optional[int] = STRIDE_OPTION,
    batch_size: int = BATCH_SIZE_OPTION,
    max_growth: float = MAX_GROWTH_OPTION,
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the metrics to this JSON file"),
    format: str = FORMAT_OPTION,
    option: Optional[List[str]] = READER_OPTION,
    boundary: Optional[List[str]] = BOUNDARY_OPTION,
    cache: Optional[Path] = CACHE_OPTION,
    device: str = DEVICE_OPTION,
    precision: str = PRECISION_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Score rollouts on a split beside the persistence baseline: a table, and optionally JSON."""
    if json_out is not None and not json_out.parent.exists():
        raise typer.BadParameter(f"{json_out}: the directory {json_out.parent} does not exist", param_hint="--json")
    from pde_data.files import write_json_atomic
    from rollouts import evaluate

    model, dataset = _load(checkpoint, data, format, data_options(option, boundary), device, cache)
    spec = dataset.spec
    k = _history(model, history, spec, spec.source or spec.name)
    result = evaluate(model, dataset, horizon=horizon, history=k, split=split, split_seed=split_seed,
                      stride=stride, batch_size=batch_size, max_growth=max_growth, precision=precision,
                      progress=not quiet)
    horizon = result.horizon
    result.setup["checkpoint"] = str(checkpoint)
    typer.echo(f"{spec.name}, {split} split ({len(result.setup['trajectories'])} trajectories, "
               f"{result.n_windows} windows), history {k}, horizon {horizon}:")
    typer.echo(result.table())
    if json_out is not None:
        write_json_atomic(json_out, result.to_dict())
        typer.echo(f"wrote {json_out}")


def finetune_test_table(result: Any, base: str, progress: bool, others: Sequence[Any] = ()) -> None:
    """After `morph finetune`: the fine-tuned model (`result`, an `adapters.FinetuneResult`) beside
    the models of `others` (the same data and split trained otherwise: `--compare-scratch`), its
    zero-shot base (`base` as the user named it) and persistence, on the test split the fine-tune
    held out; printed, and written to TEST_FILE in its output directory. A base grown for the data
    (more fields or components) is scored grown: its new slots predict the mean or, with
    predict_delta, the last frame."""
    from morph.checkpoint import load_pretrained
    from morph.growth import grow_to
    from pde_data.files import write_json_atomic
    from rollouts import compare

    zero_shot = grow_to(load_pretrained(result.base), [result.dataset.spec])
    grown = ", grown" if getattr(zero_shot, "growth", None) is not None else ""
    models = {trained.label: load_pretrained(trained.output_dir).to(run_device()) for trained in (result, *others)}
    models[f"zero-shot ({base}{grown})"] = zero_shot.to(run_device())
    trained_in = json.loads((result.output_dir / "train_config.json").read_text())["mixed_precision"]
    scores = compare(models, result.dataset, history=result.history, horizon=result.horizon, split="test",
                     precision=trained_in, progress=progress)
    write_json_atomic(result.output_dir / TEST_FILE, scores.to_dict())
    typer.echo(f"test split, {result.horizon}-step rollouts:")
    typer.echo(scores.table())
