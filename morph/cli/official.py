"""`morph import-official`: published MORPH weights -> a morph-pde checkpoint directory."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["import_official_command"]


def import_official_command(
    ckpt: Optional[Path] = typer.Argument(None, help="a published MORPH checkpoint (.pth); or give --hub"),
    size: str = typer.Option(..., "--size", help="the model size the file holds: Ti, S, M, L or XL"),
    out: Path = typer.Option(..., "--out", help="output directory (config.json + model.safetensors)"),
    hub: Optional[str] = typer.Option(
        None, "--hub", help="fetch the file from this Hugging Face Hub repository (optionally @revision), e.g. "
                            "mahindrautela/MORPH, through the Hub cache (HF_HUB_OFFLINE=1: the cache only)"),
    hub_file: Optional[str] = typer.Option(
        None, "--hub-file", help="the file's path in the --hub repository (default: the published file of "
                                 "--size, models/FM/morph-SIZE-FM-....pth)"),
) -> None:
    """Convert published MORPH weights into a morph-pde checkpoint directory."""
    from morph.checkpoint.official import OFFICIAL_FILES, OFFICIAL_HUB_FOLDER, import_official

    if (ckpt is None) == (hub is None):
        raise typer.BadParameter("give either a .pth file or --hub REPO (e.g. --hub mahindrautela/MORPH)",
                                 param_hint="CKPT")
    if hub is not None:
        from morph.checkpoint.hub import hub_file as fetch

        if hub_file is None and size not in OFFICIAL_FILES:
            raise typer.BadParameter(f"the published files are of sizes {', '.join(OFFICIAL_FILES)}; for --size "
                                     f"{size} name the file with --hub-file", param_hint="--size")
        folder, _, name = (hub_file or f"{OFFICIAL_HUB_FOLDER}/{OFFICIAL_FILES[size]}").rpartition("/")
        repo, _, revision = hub.partition("@")
        ckpt = fetch(repo, name, subfolder=folder or None, revision=revision or None)
    elif not ckpt.is_file():
        raise typer.BadParameter(f"{ckpt} does not exist", param_hint="CKPT")
    model = import_official(ckpt, size, out, metadata={"hub": hub} if hub else None)
    n_params = sum(p.numel() for p in model.parameters())
    typer.echo(f"imported {hub + ': ' if hub else ''}{ckpt} as MORPH-{size} ({n_params:,} parameters) into {out}")
