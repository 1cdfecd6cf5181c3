"""`morph pretrain`: flags (and a config file, or a run's own settings on --resume) -> `morph.train.train`."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any, List, Optional

import typer

from morph.cli.options import (BATCH_SIZE_HELP, BOUNDARY_HELP, COMPILE_HELP, EPOCHS_HELP, FORMAT_HELP, MAX_MINUTES_HELP,
                               NAN_MAX_SKIPS_HELP, NAN_POLICY_HELP, OPTION_HELP, PRECISION_HELP, SEED_HELP, SET_HELP,
                               data_options, merge_flags, parse_options)

__all__ = ["pretrain_command"]

logger = logging.getLogger("morph")


def pretrain_command(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file with TrainConfig keys"),
    dataset: Optional[List[str]] = typer.Option(
        None, "--dataset", help="simulator name, path, URL or corpus:DIR (morph data corpus), optionally "
        "NAME:WEIGHT; repeat for a mix (files are read as --format, --option and --boundary say)"),
    format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP + " (every --dataset file)"),
    option: Optional[List[str]] = typer.Option(None, "--option", help=OPTION_HELP + " (every --dataset file)"),
    boundary: Optional[List[str]] = typer.Option(None, "--boundary", help=BOUNDARY_HELP + " (every --dataset file)"),
    exclude: Optional[List[str]] = typer.Option(
        None, "--exclude", help="leave this simulator out of the corpus:DIR datasets (leave-family-out); repeat "
        "for several"),
    arch: Optional[str] = typer.Option(None, "--arch", help="morph (default), or a per-dataset baseline: fno, "
                                       "unet (one --dataset; needs the baselines extra: pip install 'morph-pde\\[baselines]')"),
    preset: Optional[str] = typer.Option(None, "--preset", help="model preset: Ti, S, M, L, XL"),
    model_option: Optional[List[str]] = typer.Option(
        None, "--model", help="model field KEY=VALUE, e.g. dim=128 (MorphConfig), or hidden_channels=32 "
        "(FNOConfig), features=32 (UNetConfig)"),
    init_checkpoint: Optional[str] = typer.Option(
        None, "--init-checkpoint", help="start from these weights (\"starter\", a checkpoint or run directory); "
        "grown to data with more fields or components"),
    history: Optional[int] = typer.Option(None, "--history", help="history length k"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=BATCH_SIZE_HELP + " (per dataset)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="optimiser steps (overrides epochs)"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help=EPOCHS_HELP),
    lr: Optional[float] = typer.Option(None, "--lr", help="peak learning rate (warmup + cosine)"),
    warmup: Optional[int] = typer.Option(None, "--warmup", help="warmup steps"),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="AdamW weight decay"),
    grad_clip: Optional[float] = typer.Option(None, "--grad-clip", help="clip the gradient norm to this"),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help="gradient accumulation steps"),
    nan_policy: Optional[str] = typer.Option(None, "--nan-policy", help=NAN_POLICY_HELP),
    nan_max_skips: Optional[int] = typer.Option(None, "--nan-max-skips", help=NAN_MAX_SKIPS_HELP),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help=MAX_MINUTES_HELP),
    mixed_precision: Optional[str] = typer.Option(None, "--mixed-precision", help=PRECISION_HELP + " (or fp16)"),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help=COMPILE_HELP),
    seed: Optional[int] = typer.Option(None, "--seed", help=SEED_HELP),
    out: Optional[str] = typer.Option(None, "--out", help="output directory (default runs/pretrain)"),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="save every N steps"),
    curriculum_steps: Optional[int] = typer.Option(None, "--curriculum-steps", help="steps with history 1 first"),
    min_history: Optional[int] = typer.Option(None, "--min-history",
                                              help="draw each batch's history from MIN..--history"),
    unroll: Optional[int] = typer.Option(None, "--unroll", help="rollout training: each batch trains on its "
                                         "n-th autoregressive step, n drawn from 1..N (default 1: next step)"),
    noise: Optional[float] = typer.Option(None, "--noise", help="Gaussian noise on the history frames, times "
                                          "each field's scale (noise injection; 0 <= noise < 1)"),
    patch_jitter: Optional[int] = typer.Option(None, "--patch-jitter", help="shift the patch grid by 0..N cells "
                                               "per batch (N < patch size)"),
    loss_balance: Optional[str] = typer.Option(None, "--loss-balance", help="none (default) or ema: each dataset's "
                                               "loss over a running average of its own, so easy and hard "
                                               "datasets weigh alike"),
    num_workers: Optional[int] = typer.Option(None, "--num-workers", help="DataLoader worker processes"),
    cache: Optional[str] = typer.Option(None, "--cache", help="cache directory: generated simulator data, and "
                                        "URL datasets read through DIR/remote (default ~/.cache/morph-pde)"),
    setting: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP + " (TrainConfig keys)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its latest complete "
                                "checkpoint, with its own settings (--steps may extend it)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress report"),
) -> None:
    """Pretrain MORPH on a mix of datasets (default: the 5 built-in simulators burgers_1d, euler_1d,
    shallow_water_2d, navier_stokes_2d and advection_diffusion_3d), or train an FNO or U-Net baseline
    on one dataset (--arch)."""
    from morph.train import TrainConfig, train
    from morph.train.config import ARCHS, DEFAULT_MODEL, ConfigError, exclude_from_corpus, model_to_dict
    from morph.train.config_files import apply_settings, read_config_file

    if arch is not None and arch not in ARCHS:
        raise ConfigError(f"--arch {arch!r}: unknown architecture; available: {', '.join(ARCHS)}")

    flags = dict(init_checkpoint=init_checkpoint, history=history, batch_size=batch_size, steps=steps, epochs=epochs, lr=lr,
                 warmup_steps=warmup, weight_decay=weight_decay, grad_clip=grad_clip, grad_accum=grad_accum,
                 nan_policy=nan_policy, nan_max_skips=nan_max_skips,
                 max_minutes=max_minutes, mixed_precision=mixed_precision, compile=compile, seed=seed, output_dir=out,
                 checkpoint_every=checkpoint_every,
                 curriculum_steps=curriculum_steps, min_history=min_history, unroll=unroll, noise=noise,
                 patch_jitter=patch_jitter, loss_balance=loss_balance, cache_dir=cache,
                 num_workers=num_workers, datasets=list(dataset) if dataset else None,
                 model={"preset": preset, **parse_options(model_option)})
    if format is not None or option or boundary:
        flags["datasets"] = _read_files_with(flags["datasets"], format, data_options(option, boundary))
    run_dir = out or TrainConfig.output_dir
    saved = TrainConfig.from_run(run_dir) if resume and config is None else None
    if exclude:  # into the corpus:DIR entries as given (--dataset, else the config file's), before they expand
        given = flags["datasets"] or (read_config_file(config).get("datasets") if config is not None else None)
        flags["datasets"] = exclude_from_corpus(given or [], exclude)
    if config is not None:  # --dataset replaces the file's datasets unread (its corpus:DIR need not exist here)
        base = TrainConfig.from_file(config, datasets=flags["datasets"])
    elif saved is not None:  # --resume alone continues the run as it was started; flags still override
        base = saved
        logger.info("--resume: the run's settings from %s", run_dir)
    else:
        base = TrainConfig()
    values = base.to_dict()
    if arch is not None and arch != base.arch:  # another architecture: its own sizes, not the base's
        values["model"] = model_to_dict(DEFAULT_MODEL) if arch == "morph" else {"arch": arch}
    train_config = TrainConfig.from_dict(apply_settings(merge_flags(values, flags), setting, TrainConfig))
    logger.info("data cache: %s", train_config.cache)
    result = train(train_config, resume=resume, progress=not quiet)
    if int(os.environ.get("RANK", "0")) == 0:  # the main process of a launch writes it
        _write_splits(Path(result.output_dir), train_config)
    if result.per_dataset:
        typer.echo(f"\nvalidation, next step ({result.steps} steps, {result.seconds / 60:.1f} min):")
        typer.echo(result.table())
        typer.echo(f"\ncheckpoint: {result.checkpoint}")


def _write_splits(out: Path, config: Any) -> None:
    """`splits.json` in the run directory, as a fine-tune writes it: per dataset (in the order of its
    `data_specs.json`) the trajectories of each split of the run's split seed."""
    from pde_data.files import write_text_atomic
    from pde_data.windows import split_record

    specs = json.loads((out / "data_specs.json").read_text())
    datasets = [{"name": spec["name"], "source": source.source,
                 **split_record(spec["n_trajectories"], config.split_seed, max_train=source.max_train_traj)}
                for spec, source in zip(specs, config.datasets)]
    record = {"seed": config.split_seed, "datasets": datasets}
    write_text_atomic(out / "splits.json", json.dumps(record, indent=2) + "\n")


def _read_files_with(datasets: Optional[list[str]], format: Optional[str], options: dict[str, Any]) -> list[Any]:
    """The --dataset entries, those that are files, directories or URLs read with `format` and the reader
    `options` (simulators and corpus:DIR entries unchanged); a ConfigError when none is a file."""
    from pde_data import SIMULATORS

    from morph.train.config import CORPUS_PREFIX, ConfigError, DataSource

    sources = [DataSource.parse(d) for d in datasets or []]
    is_file = [s.source not in SIMULATORS and not s.source.startswith(CORPUS_PREFIX) for s in sources]
    if not any(is_file):
        raise ConfigError(f"--format, --option and --boundary say how to read the --dataset files, and none is given "
                          f"(datasets: {', '.join(s.source for s in sources) or 'none'}); add --dataset PATH")
    return [dataclasses.replace(s, format=format or s.format, options={**s.options, **options}) if file else s
            for s, file in zip(sources, is_file)]
