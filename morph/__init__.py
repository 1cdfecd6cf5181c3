"""morph: the MORPH model, its checkpoints, the trainer and the `morph` CLI."""

from morph.checkpoint import CheckpointError, RunRecord, run_record
from morph.config import PRESETS, MorphConfig
from morph.model import MORPH
from morph.train.config import TrainConfig

# `morph.train` stays the training subpackage (`from morph.train import train`).
__all__ = ["MORPH", "PRESETS", "CheckpointError", "MorphConfig", "RunRecord", "TrainConfig", "run_record"]
