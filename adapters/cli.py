"""`morph finetune`: `adapters.finetune`, then the steps registered to follow a fine-tune.

The `morph` app finds this command through the entry-point group "morph.commands"
(pyproject.toml). What follows a fine-tune (the test table of the fine-tuned model
beside its zero-shot base and persistence, which `rollouts` computes) is found the
same way, through the group `REPORTS_GROUP`: `adapters` imports `morph` and `pde_data`,
never `rollouts`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, List, Optional

import typer

from morph.cli.options import (BATCH_SIZE_HELP, BOUNDARY_HELP, COMPILE_HELP, EPOCHS_HELP, FORMAT_HELP, MAX_MINUTES_HELP,
                               NAN_MAX_SKIPS_HELP, NAN_POLICY_HELP, OPTION_HELP, PRECISION_HELP, SEED_HELP, SET_HELP,
                               data_options, merge_flags)
from morph.cli.plugins import MissingPlugin, load_group, reinstall_hint

__all__ = ["REPORTS_GROUP", "SCRATCH_DIR", "finetune_command", "finetune_reports"]

#: The entry-point group of the steps that run after a fine-tune in the main process, each called
#: as `report(result: FinetuneResult, base: str, progress: bool, others: list[FinetuneResult])` with
#: the --checkpoint as given and the trainings to compare with (--compare-scratch).
REPORTS_GROUP = "morph.finetune_reports"
#: Where `--compare-scratch` trains its model from scratch, inside the fine-tune's output directory.
SCRATCH_DIR = "scratch"


def finetune_reports(group: str = REPORTS_GROUP) -> dict[str, Callable[..., None]]:
    """The steps of the entry-point `group`, by name; MissingPlugin when the install has none."""
    reports = load_group(group)
    if not reports:
        raise MissingPlugin("morph finetune ends with the test table of the rollouts package; "
                            + reinstall_hint(group))
    return reports


def finetune_command(
    checkpoint: Optional[str] = typer.Option(
        None, "--checkpoint", help="the base: 'starter', a checkpoint directory or a run directory"),
    data: Optional[str] = typer.Option(
        None, "--data", help="the new PDE: any dataset pde_data opens, path or URL (or a simulator name)"),
    level: Optional[int] = typer.Option(
        None, "--level", help="1 LoRA; 2 LoRA + norms, embeddings, decoder; 3 encoder frozen; 4 full (default 2)"),
    rank: Optional[int] = typer.Option(None, "--rank", help="LoRA rank r (levels 1, 2; default 8)"),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="LoRA alpha (default 2 r)"),
    n_traj: Optional[int] = typer.Option(None, "--n-traj", help="train on this many trajectories of the train split"),
    history: Optional[int] = typer.Option(None, "--history", help="history length k (default: the base's)"),
    horizon: Optional[int] = typer.Option(None, "--horizon", help="rollout steps of the test evaluation (default 10)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="optimiser steps (default 500)"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help=EPOCHS_HELP),
    lr: Optional[float] = typer.Option(None, "--lr", help="peak learning rate (default set by the level)"),
    warmup: Optional[int] = typer.Option(None, "--warmup", help="warmup steps of the learning rate (default: a "
                                         "tenth of the steps, at most 50)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=BATCH_SIZE_HELP),
    seed: Optional[int] = typer.Option(None, "--seed", help=SEED_HELP),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help=MAX_MINUTES_HELP),
    mixed_precision: Optional[str] = typer.Option(None, "--mixed-precision", help=PRECISION_HELP),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help=COMPILE_HELP),
    nan_policy: Optional[str] = typer.Option(None, "--nan-policy", help=NAN_POLICY_HELP),
    nan_max_skips: Optional[int] = typer.Option(None, "--nan-max-skips", help=NAN_MAX_SKIPS_HELP),
    out: Optional[str] = typer.Option(None, "--out", help="output directory, itself a checkpoint "
                                                          "(default runs/finetune)"),
    from_scratch: bool = typer.Option(False, "--from-scratch",
                                      help="train the same architecture from random weights, same budget"),
    compare_scratch: bool = typer.Option(False, "--compare-scratch",
                                         help="then train the same architecture from random weights with the "
                                              "same budget (steps, or --max-minutes) into OUT/scratch, and score "
                                              "it in the same test table"),
    format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    option: Optional[List[str]] = typer.Option(None, "--option", help=OPTION_HELP),
    boundary: Optional[List[str]] = typer.Option(None, "--boundary", help=BOUNDARY_HELP),
    cache: Optional[str] = typer.Option(None, "--cache", help="cache directory: generated simulator data, and "
                                        "a URL's data read through DIR/remote (default ~/.cache/morph-pde)"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of FinetuneConfig keys"),
    setting: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP + " (FinetuneConfig keys; "
                                                "train.KEY for its training, e.g. train.weight_decay=0)"),
    resume: bool = typer.Option(False, "--resume", help="continue the fine-tune in --out from its latest "
                                "complete checkpoint, with its own settings"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress report"),
) -> None:
    """Fine-tune a pretrained MORPH on a new PDE (LoRA or full); ends with a test table. Devices are
    Accelerate's: a GPU when there is one (CUDA_VISIBLE_DEVICES= keeps it on the CPU; accelerate launch for several)."""
    from adapters.finetune import FinetuneConfig, finetune, is_main_process
    from morph.train.config_files import apply_settings

    reports = finetune_reports()  # before training, not after it
    if compare_scratch and from_scratch:
        raise typer.BadParameter("--compare-scratch compares a fine-tune with a training from scratch; "
                                 "drop --from-scratch", param_hint="--compare-scratch")
    flags = dict(checkpoint=checkpoint, data=data, level=level, rank=rank, alpha=alpha, n_traj=n_traj,
                 history=history, horizon=horizon, output_dir=out, format=format,
                 from_scratch=from_scratch or None, options=data_options(option, boundary) or None,
                 train=dict(steps=steps, epochs=epochs, lr=lr, warmup_steps=warmup, batch_size=batch_size, seed=seed,
                            cache_dir=cache,
                            max_minutes=max_minutes, mixed_precision=mixed_precision, compile=compile,
                            nan_policy=nan_policy, nan_max_skips=nan_max_skips))
    saved = FinetuneConfig.from_run(out or FinetuneConfig.output_dir) if resume and config is None else None
    if config is not None:
        base = FinetuneConfig.file_values(config)
    elif saved is not None:  # --resume alone continues the fine-tune as it was started
        base = saved.to_dict()
    else:
        base = {}
    finetune_config = FinetuneConfig.from_dict(apply_settings(merge_flags(base, flags), setting, FinetuneConfig))
    result = finetune(finetune_config, resume=resume, progress=not quiet)
    others = []
    if compare_scratch:  # the same settings and budget, from random weights, beside the fine-tune
        scratch_config = dataclasses.replace(finetune_config, from_scratch=True,
                                             output_dir=str(result.output_dir / SCRATCH_DIR))
        scratch_resume = resume and (result.output_dir / SCRATCH_DIR).is_dir()
        others.append(finetune(scratch_config, resume=scratch_resume, progress=not quiet))
    if not is_main_process():
        return
    for trained in (result, *others):
        typer.echo(f"\n{trained.label}: {trained.trainable_parameters:,} trainable parameters, "
                   f"{trained.train.steps} steps, {trained.train.seconds / 60:.1f} min")
    for report in reports.values():
        report(result, finetune_config.checkpoint, not quiet, others)
    typer.echo(f"\ncheckpoint: {result.output_dir} (MORPH.from_pretrained or --checkpoint loads it)")
