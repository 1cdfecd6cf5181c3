"""Training on Accelerate: `TrainConfig`, `train` (pretraining and fine-tuning), and the errors a run
raises: `ConfigError` (a bad setting, before training) and `NonFiniteLossError` (a NaN or infinite
loss that stopped it)."""

from morph.train.config import ConfigError, DataSource, TrainConfig
from morph.train.guard import NonFiniteLossError
from morph.train.loop import TrainResult, train

__all__ = ["ConfigError", "DataSource", "NonFiniteLossError", "TrainConfig", "TrainResult", "train"]
