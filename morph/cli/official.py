"""`morph import-official`: published MORPH weights -> a morph-pde checkpoint directory."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["import_official_command"]


def import_official_command(
    ckpt: Path = typer.Argument(..., help="a published MORPH checkpoint (.pth)"),
    size: str = typer.Option(..., "--size", help="the model size the file holds: Ti, S, M, L or XL"),
    out: Path = typer.Option(..., "--out", help="output directory (config.json + model.safetensors)"),
) -> None:
    """Convert published MORPH weights into a morph-pde checkpoint directory."""
    from morph.checkpoint.official import import_official

    if not ckpt.is_file():
        raise typer.BadParameter(f"{ckpt} does not exist", param_hint="CKPT")
    model = import_official(ckpt, size, out)
    n_params = sum(p.numel() for p in model.parameters())
    typer.echo(f"imported {ckpt} as MORPH-{size} ({n_params:,} parameters) into {out}")
