"""`morph data list|generate|convert|inspect`: the data layer from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from morph.cli.options import BOUNDARY_HELP, FORMAT_HELP, OPTION_HELP, data_options, parse_options

__all__ = ["data_app"]

data_app = typer.Typer(help="Open, simulate, convert and inspect PDE datasets.", no_args_is_help=True)


@data_app.command("list")
def data_list() -> None:
    """List the built-in simulators and the file readers."""
    from pde_data import READERS, SIMULATORS

    typer.echo("simulators (morph data generate NAME [--param KEY=VALUE]; a [low, high] range is drawn per "
               "trajectory):")
    for sim in sorted(SIMULATORS.values(), key=lambda sim: (sim.n_spatial_dims, sim.name)):
        typer.echo("  " + sim.describe().replace("\n", "\n  "))
    typer.echo("readers (morph data convert SRC --format NAME, or auto; layouts and options: docs/formats.md):")
    for reader in READERS.values():
        typer.echo(f"  {reader.name:<24} {reader.description}")


@data_app.command("generate")
def data_generate(
    name: str = typer.Argument(..., help="simulator name (see `morph data list`)"),
    out: Path = typer.Option(..., "--out", help="output store, e.g. burgers.zarr"),
    n_traj: int = typer.Option(16, "--n-traj", help="number of trajectories"),
    steps: int = typer.Option(20, "--steps", help="frames per trajectory"),
    resolution: Optional[int] = typer.Option(None, "--resolution", help="grid points per axis"),
    seed: int = typer.Option(0, "--seed", help="random seed of the initial conditions and drawn parameters"),
    param: Optional[List[str]] = typer.Option(None, "--param",
                                              help="physical parameter KEY=VALUE, repeatable (see `morph data list`)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing store"),
) -> None:
    """Simulate a built-in PDE and write it as a canonical zarr store."""
    from pde_data import convert, generate
    from pde_data.simulators import check_parameters

    parameters = parse_options(param, flag="--param", example="--param viscosity=0.005")
    check_parameters(name, parameters)  # before the call: --param seed=1 would clash with --seed
    dataset = generate(name, n_traj=n_traj, steps=steps, resolution=resolution, seed=seed, **parameters)
    store = convert(dataset, out, overwrite=overwrite)
    typer.echo(f"wrote {out}: {store!r}")


@data_app.command("corpus")
def data_corpus(
    out: Path = typer.Option(..., "--out", help="corpus directory (created; an existing corpus resumes)"),
    scale: str = typer.Option("tiny", "--scale", help="tiny (under 2 min on 2 cores), small or full"),
    only: Optional[List[str]] = typer.Option(None, "--only", help="simulator name; repeat to build several"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress report"),
) -> None:
    """Build every built-in simulator's canonical stores and a manifest (corpus.json); resumes."""
    from pde_data.simulators.corpus import MANIFEST, build_corpus

    manifest = build_corpus(out, scale=scale, only=only or None, progress=not quiet)
    stores = manifest["stores"]
    size = sum(entry["bytes"] for entry in stores.values())
    simulators = {entry["simulator"] for entry in stores.values()}
    typer.echo(f"wrote {out}: {len(stores)} stores of {len(simulators)} simulators, "
               f"{size / 2**20:.1f} MiB ({out / MANIFEST}); train on it with --dataset corpus:{out}")


@data_app.command("convert")
def data_convert(
    src: str = typer.Argument(..., help="source file, directory or URL"),
    out: Path = typer.Option(..., "--out", help="output store, e.g. data.zarr"),
    format: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    layout: Optional[str] = typer.Option(None, "--layout", help='array layout, e.g. "N T X Y" (arrays reader)'),
    option: Optional[List[str]] = typer.Option(None, "--option", help=OPTION_HELP),
    boundary: Optional[List[str]] = typer.Option(None, "--boundary", help=BOUNDARY_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing store"),
) -> None:
    """Convert a dataset in any supported format into a canonical zarr store (formats: docs/formats.md)."""
    from pde_data import convert

    store = convert(src, out, format=format, overwrite=overwrite, **data_options(option, boundary, layout=layout))
    typer.echo(f"wrote {out}: {store!r}")


@data_app.command("inspect")
def data_inspect(
    path: str = typer.Argument(..., help="dataset file, directory or URL"),
    format: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    layout: Optional[str] = typer.Option(None, "--layout", help='array layout, e.g. "N T X Y"'),
    option: Optional[List[str]] = typer.Option(None, "--option", help=OPTION_HELP),
    boundary: Optional[List[str]] = typer.Option(None, "--boundary", help=BOUNDARY_HELP),
    max_traj: int = typer.Option(32, "--max-traj", help="trajectories to read for statistics when the source has none"),
) -> None:
    """Print N, T, fields with components, grid, dt, boundary conditions and statistics (formats:
    docs/formats.md)."""
    import pde_data

    dataset = pde_data.open(path, format=format, **data_options(option, boundary, layout=layout))
    spec = dataset.spec
    note = ""
    if not spec.stats:
        spec.stats = pde_data.compute_stats(dataset, max_trajectories=max_traj)
        if len(dataset) > max_traj:
            note = f"(statistics over the first {max_traj} of {len(dataset)} trajectories)"
    typer.echo(spec.describe())
    if note:
        typer.echo(note)
