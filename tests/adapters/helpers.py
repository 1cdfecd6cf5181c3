"""Tiny random base models and datasets for the adapter tests."""

from pathlib import Path

import torch

import pde_data
from morph import MORPH, MorphConfig
from tests.conftest import make_dataset
from tests.conftest import tiny_config as shared_tiny_config

def tiny_config(**changes) -> MorphConfig:
    """The shared tiny MORPH with history up to 2, predicting increments."""
    return shared_tiny_config(**{"max_ar": 2, "predict_delta": True, **changes})


def save_base(path: Path, seed: int = 0, **changes) -> Path:
    """A random tiny MORPH saved with save_pretrained; returns its directory."""
    torch.manual_seed(seed)
    MORPH(tiny_config(**changes)).save_pretrained(path)
    return path


def perturb_trainable(model: torch.nn.Module, scale: float = 0.05, seed: int = 1) -> None:
    """Move every trainable parameter off its initial value (LoRA B starts at zero)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(scale * torch.randn(p.shape, generator=generator))


def save_dataset(path: Path, n: int = 6, t: int = 7, grid=(6, 5), fields=(("p", 1), ("v", 2)), seed: int = 0) -> Path:
    """A canonical zarr store of `make_dataset` values."""
    pde_data.convert(make_dataset(n=n, t=t, grid=grid, fields=fields, seed=seed), path, progress=False)
    return path
