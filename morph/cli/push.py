"""`morph push`: a saved checkpoint (full weights or a LoRA adapter) uploaded to the Hugging Face Hub."""

from __future__ import annotations

from typing import Optional

import typer

__all__ = ["push_command"]


def push_command(
    checkpoint: str = typer.Argument(..., metavar="CHECKPOINT",
                                   help="a checkpoint or run directory (morph pretrain/finetune --out)"),
    hub_id: str = typer.Argument(..., metavar="HUB_ID", help="the Hub repository, org/name, optionally "
                                                                "@branch and /folder; created if missing"),
    private: bool = typer.Option(False, "--private", help="make a new repository private"),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="the commit message"),
) -> None:
    """Upload a checkpoint to the Hugging Face Hub (token: `hf auth login` or HF_TOKEN); it loads back as
    --checkpoint HUB_ID."""
    from morph.checkpoint import push_to_hub

    url = push_to_hub(checkpoint, hub_id, private=private or None, commit_message=message)
    typer.echo(f"pushed {checkpoint} to {hub_id}: {url}")
