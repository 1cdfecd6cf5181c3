"""`morph finetune`: `adapters.finetune`, then the test table of `rollouts.compare`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from morph.cli.options import device, merge_flags, parse_options

__all__ = ["finetune_command"]

#: What the closing evaluation writes into the fine-tune's output directory.
TEST_FILE = "test_metrics.json"


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
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    lr: Optional[float] = typer.Option(None, "--lr", help="peak learning rate (default set by the level)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    out: Optional[str] = typer.Option(None, "--out", help="output directory, itself a checkpoint "
                                                          "(default runs/finetune)"),
    from_scratch: bool = typer.Option(False, "--from-scratch",
                                      help="train the same architecture from random weights, same budget"),
    format: Optional[str] = typer.Option(None, "--format", help="reader name for --data (default auto)"),
    option: Optional[List[str]] = typer.Option(None, "--option", help="reader option KEY=VALUE (JSON value)"),
    cache: Optional[str] = typer.Option(None, "--cache", help="cache directory: generated simulator data, and "
                                        "a URL's data read through DIR/remote (default ~/.cache/morph-pde)"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of FinetuneConfig keys"),
    resume: bool = typer.Option(False, "--resume", help="continue the fine-tune in --out from its latest "
                                "complete checkpoint, with its own settings"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress report"),
) -> None:
    """Fine-tune a pretrained MORPH on a new PDE (LoRA or full); ends with a test table."""
    from adapters.finetune import FinetuneConfig, finetune, is_main_process
    from morph.checkpoint import load_pretrained
    from morph.growth import grow_to
    from pde_data.files import write_text_atomic
    from rollouts import compare

    flags = dict(checkpoint=checkpoint, data=data, level=level, rank=rank, alpha=alpha, n_traj=n_traj,
                 history=history, horizon=horizon, output_dir=out, format=format,
                 from_scratch=from_scratch or None, options=parse_options(option) if option else None,
                 train=dict(steps=steps, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, cache_dir=cache))
    saved = FinetuneConfig.from_run(out or FinetuneConfig.output_dir) if resume and config is None else None
    if config is not None:
        base = FinetuneConfig.file_values(config)
    elif saved is not None:  # --resume alone continues the fine-tune as it was started
        base = saved.to_dict()
    else:
        base = {}
    finetune_config = FinetuneConfig.from_dict(merge_flags(base, flags))
    result = finetune(finetune_config, resume=resume, progress=not quiet)
    if not is_main_process():
        return
    # A base grown for the data (more fields or components) is scored grown: its new slots predict
    # the mean or, with predict_delta, the last frame.
    zero_shot = grow_to(load_pretrained(result.base), [result.dataset.spec])
    grown = ", grown" if getattr(zero_shot, "growth", None) is not None else ""
    models = {result.label: load_pretrained(result.output_dir).to(device()),
              f"zero-shot ({finetune_config.checkpoint}{grown})": zero_shot.to(device())}
    scores = compare(models, result.dataset, history=result.history, horizon=result.horizon, split="test",
                     progress=not quiet)
    write_text_atomic(result.output_dir / TEST_FILE, json.dumps(scores.to_dict(), indent=2) + "\n")
    typer.echo(f"\nfine-tuning level {result.level}: {result.trainable_parameters:,} trainable parameters, "
               f"{result.train.steps} steps, {result.train.seconds / 60:.1f} min")
    typer.echo(f"test split, {result.horizon}-step rollouts:")
    typer.echo(scores.table())
    typer.echo(f"\ncheckpoint: {result.output_dir} (MORPH.from_pretrained or --checkpoint loads it)")
