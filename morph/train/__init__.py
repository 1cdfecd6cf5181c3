"""Training on Accelerate: `TrainConfig`, `train` (pretraining and fine-tuning)."""

from morph.train.config import ConfigError, DataSource, TrainConfig
from morph.train.loop import TrainResult, train

__all__ = ["ConfigError", "DataSource", "TrainConfig", "TrainResult", "train"]
