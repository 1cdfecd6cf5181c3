"""morph: the MORPH model, its checkpoints, the trainer and the `morph` CLI."""

from typing import Any

from morph.checkpoint import CheckpointError, RunRecord, run_record
from morph.config import PRESETS, MorphConfig
from morph.model import MORPH

# `morph.train` stays the training subpackage (`from morph.train import train`); `morph.TrainConfig`
# is imported on first use, so loading a model (e.g. from `rollouts`) does not load the trainer.
__all__ = ["MORPH", "PRESETS", "CheckpointError", "MorphConfig", "RunRecord", "TrainConfig", "run_record"]


def __getattr__(name: str) -> Any:
    if name == "TrainConfig":
        from morph.train.config import TrainConfig

        return TrainConfig
    raise AttributeError(f"module 'morph' has no attribute {name!r}")
