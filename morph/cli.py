"""The `morph` command line. Each subcommand parses its options and calls one
library function; this is the only module that wires all packages together.
"""

from __future__ import annotations

import json
import logging
import platform
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(help="morph-pde: MORPH-style PDE foundation models.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Open, simulate, convert and inspect PDE datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

logger = logging.getLogger("morph")


def _parse_options(options: Optional[List[str]], layout: Optional[str] = None, flag: str = "--option",
                   example: str = "--option 'fields={\"velocity\": [\"u\", \"v\"]}'") -> dict:
    """`--option key=value` pairs (values parsed as JSON when they parse) into a dict of options."""
    from pde_data import DataError

    parsed: dict = {}
    for item in options or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DataError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {example}")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    if layout is not None:
        parsed["layout"] = layout
    return parsed


@data_app.command("list")
def data_list() -> None:
    """List the built-in simulators and the file readers."""
    from pde_data import READERS, SIMULATORS

    typer.echo("simulators (morph data generate NAME):")
    for sim in SIMULATORS.values():
        typer.echo(f"  {sim.name:<24} {sim.n_spatial_dims}D, default resolution {sim.default_resolution}: "
                   f"{sim.description}")
        parameters = ", ".join(f"{k}={v}" for k, v in sim.parameters.items())
        typer.echo(f"  {'':<24} --param {parameters}")
    typer.echo("readers (morph data convert SRC --format NAME, or auto):")
    for reader in READERS.values():
        typer.echo(f"  {reader.name:<24} {reader.description}")


@data_app.command("generate")
def data_generate(
    name: str = typer.Argument(..., help="simulator name (see `morph data list`)"),
    out: Path = typer.Option(..., "--out", help="output store, e.g. burgers.zarr"),
    n_traj: int = typer.Option(16, "--n-traj", help="number of trajectories"),
    steps: int = typer.Option(20, "--steps", help="frames per trajectory"),
    resolution: Optional[int] = typer.Option(None, "--resolution", help="grid points per axis"),
    seed: int = typer.Option(0, "--seed"),
    param: Optional[List[str]] = typer.Option(None, "--param",
                                              help="physical parameter KEY=VALUE, repeatable (see `morph data list`)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing store"),
) -> None:
    """Simulate a built-in PDE and write it as a canonical zarr store."""
    from pde_data import convert, generate

    from pde_data.simulators import check_parameters

    parameters = _parse_options(param, flag="--param", example="--param viscosity=0.005")
    check_parameters(name, parameters)  # before the call: --param seed=1 would clash with --seed
    dataset = generate(name, n_traj=n_traj, steps=steps, resolution=resolution, seed=seed, **parameters)
    store = convert(dataset, out, overwrite=overwrite)
    typer.echo(f"wrote {out}: {store!r}")


@data_app.command("convert")
def data_convert(
    src: str = typer.Argument(..., help="source file, directory or URL"),
    out: Path = typer.Option(..., "--out", help="output store, e.g. data.zarr"),
    format: str = typer.Option("auto", "--format", help="reader name (see `morph data list`) or auto"),
    layout: Optional[str] = typer.Option(None, "--layout", help='array layout, e.g. "N T X Y" (arrays reader)'),
    option: Optional[List[str]] = typer.Option(None, "--option", help="reader option KEY=VALUE (JSON value)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing store"),
) -> None:
    """Convert a dataset in any supported format into a canonical zarr store."""
    from pde_data import convert

    store = convert(src, out, format=format, overwrite=overwrite, **_parse_options(option, layout))
    typer.echo(f"wrote {out}: {store!r}")


@data_app.command("inspect")
def data_inspect(
    path: str = typer.Argument(..., help="dataset file, directory or URL"),
    format: str = typer.Option("auto", "--format"),
    layout: Optional[str] = typer.Option(None, "--layout", help='array layout, e.g. "N T X Y"'),
    option: Optional[List[str]] = typer.Option(None, "--option", help="reader option KEY=VALUE"),
    max_traj: int = typer.Option(32, "--max-traj", help="trajectories to read for statistics when the source has none"),
) -> None:
    """Print N, T, fields with components, grid, dt, boundary conditions and statistics."""
    import pde_data

    dataset = pde_data.open(path, format=format, **_parse_options(option, layout))
    spec = dataset.spec
    note = ""
    if not spec.stats:
        spec.stats = pde_data.compute_stats(dataset, max_trajectories=max_traj)
        if len(dataset) > max_traj:
            note = f"(statistics over the first {max_traj} of {len(dataset)} trajectories)"
    typer.echo(spec.describe())
    if note:
        typer.echo(note)


@app.command("pretrain")
def pretrain(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file with TrainConfig keys"),
    dataset: Optional[List[str]] = typer.Option(
        None, "--dataset", help="simulator name or path, optionally NAME:WEIGHT; repeat for a mix"),
    preset: Optional[str] = typer.Option(None, "--preset", help="model preset: Ti, S, M, L, XL"),
    model_option: Optional[List[str]] = typer.Option(None, "--model", help="model field KEY=VALUE, e.g. dim=128"),
    history: Optional[int] = typer.Option(None, "--history", help="history length k"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="batch size per dataset"),
    steps: Optional[int] = typer.Option(None, "--steps", help="optimiser steps (overrides epochs)"),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    lr: Optional[float] = typer.Option(None, "--lr", help="peak learning rate (warmup + cosine)"),
    warmup: Optional[int] = typer.Option(None, "--warmup", help="warmup steps"),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay"),
    grad_clip: Optional[float] = typer.Option(None, "--grad-clip"),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help="gradient accumulation steps"),
    mixed_precision: Optional[str] = typer.Option(None, "--mixed-precision", help="no, bf16, fp16 or auto"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    out: Optional[str] = typer.Option(None, "--out", help="output directory (default runs/pretrain)"),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="save every N steps"),
    curriculum_steps: Optional[int] = typer.Option(None, "--curriculum-steps", help="steps with history 1 first"),
    min_history: Optional[int] = typer.Option(None, "--min-history",
                                              help="draw each batch's history from MIN..--history"),
    unroll: Optional[int] = typer.Option(None, "--unroll", help="rollout training: each batch trains on its "
                                         "n-th autoregressive step, n drawn from 1..N (default 1: next step)"),
    num_workers: Optional[int] = typer.Option(None, "--num-workers", help="DataLoader worker processes"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its latest complete "
                                "checkpoint, with its own settings (--steps may extend it)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Pretrain MORPH on a mix of datasets (default: every built-in simulator)."""
    from morph.train import TrainConfig, train

    overrides = dict(history=history, batch_size=batch_size, steps=steps, epochs=epochs, lr=lr,
                     warmup_steps=warmup, weight_decay=weight_decay, grad_clip=grad_clip,
                     grad_accum=grad_accum, mixed_precision=mixed_precision, seed=seed, output_dir=out,
                     checkpoint_every=checkpoint_every, curriculum_steps=curriculum_steps, min_history=min_history,
                     unroll=unroll, num_workers=num_workers)
    if dataset:
        overrides["datasets"] = list(dataset)
    run_dir = out or TrainConfig.output_dir
    saved = TrainConfig.from_run(run_dir) if resume and config is None else None
    if config is not None:
        base = TrainConfig.from_file(config)
    elif saved is not None:  # --resume alone continues the run as it was started; flags still override
        base = saved
        logger.info("--resume: the run's settings from %s", run_dir)
    else:
        base = TrainConfig()
    values = base.to_dict()
    values.update({k: v for k, v in overrides.items() if v is not None})
    if epochs is not None and steps is None:  # --epochs replaces the steps of a config file
        values["steps"] = None
    model = dict(values["model"])
    if preset is not None:
        model["preset"] = preset
    model.update(_parse_options(model_option))
    values["model"] = model
    train_config = TrainConfig.from_dict(values)
    logger.info("data cache: %s", train_config.cache)
    result = train(train_config, resume=resume, progress=not quiet)
    if result.per_dataset:
        typer.echo(f"\nvalidation, next step ({result.steps} steps, {result.seconds / 60:.1f} min):")
        typer.echo(result.table())
        typer.echo(f"\ncheckpoint: {result.checkpoint}")


@app.command("import-official")
def import_official_cmd(
    ckpt: Path = typer.Argument(..., help="a published MORPH checkpoint (.pth)"),
    size: str = typer.Option(..., "--size", help="the model size the file holds: Ti, S, M, L or XL"),
    out: Path = typer.Option(..., "--out", help="output directory (config.json + model.safetensors)"),
) -> None:
    """Convert published MORPH weights into a morph-pde checkpoint directory."""
    from morph.official import import_official

    if not ckpt.is_file():
        raise typer.BadParameter(f"{ckpt} does not exist", param_hint="CKPT")
    model = import_official(ckpt, size, out)
    n_params = sum(p.numel() for p in model.parameters())
    typer.echo(f"imported {ckpt} as MORPH-{size} ({n_params:,} parameters) into {out}")


# Rollouts and evaluation live in rollouts/cli.py (imports only typer up front).
from rollouts.cli import evaluate_command, rollout_command  # noqa: E402

app.command("rollout")(rollout_command)
app.command("evaluate")(evaluate_command)

# Fine-tuning lives in adapters/cli.py (peft and the trainer are imported when it runs).
from adapters.cli import finetune_command  # noqa: E402

app.command("finetune")(finetune_command)


@app.command("env")
def env() -> None:
    """Versions of Python and the libraries, for bug reports."""
    from importlib import metadata

    typer.echo(f"python      {platform.python_version()} ({platform.platform()})")
    for dist in ("morph-pde", "torch", "numpy", "einops", "h5py", "xarray", "h5netcdf", "zarr",
                 "safetensors", "accelerate", "peft", "the-well"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "not installed"
        typer.echo(f"{dist:<11} {version}")
    import torch

    typer.echo(f"devices     cpu ({torch.get_num_threads()} threads)"
               + (f", cuda x{torch.cuda.device_count()} ({torch.cuda.get_device_name(0)})"
                  if torch.cuda.is_available() else ""))


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the `morph` console script: clear messages for user errors."""
    from pde_data import DataError

    from morph.checkpoint import CheckpointError
    from morph.train.config import ConfigError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("accelerate", "torch.distributed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        app(args=argv, standalone_mode=False)
    except (DataError, ConfigError, CheckpointError) as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except (typer.Exit, SystemExit) as ex:
        raise ex
    except Exception as err:  # click usage errors carry their own exit code
        import click

        # recent typer (0.29 here) raises its own vendored click's exceptions (subclasses of TyperException)
        if isinstance(err, (click.ClickException, typer.TyperException)) and hasattr(err, "exit_code"):
            err.show()
            sys.exit(err.exit_code)
        raise
