"""What each optimiser step of a run uses: its learning rate, history length and unroll length.

Every draw is seeded by the run's seed and the step alone, so all processes of a
launch and a resumed run draw the same.
"""

from __future__ import annotations

import math
import random
from typing import Callable, Optional

from morph.train.config import TrainConfig

__all__ = ["history_length", "lr_schedule", "unroll_steps"]


def lr_schedule(warmup: int, total: int, min_ratio: float) -> Callable[[int], float]:
    """The learning-rate factor of each step: linear warmup over `warmup` steps, then a cosine from 1
    down to `min_ratio` at step `total` (for `torch.optim.lr_scheduler.LambdaLR`)."""
    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return schedule


def history_length(config: TrainConfig, step: int) -> Optional[int]:
    """History length of the batch at `step`: 1 in curriculum stage 1, else the full history or,
    with `min_history`, a length drawn from min_history..history (the same on every process)."""
    if step < config.curriculum_steps:
        return 1
    if config.min_history is None or config.min_history == config.history:
        return None
    draw = random.Random(config.seed * 1_000_003 + step).randint(config.min_history, config.history)
    return draw


def unroll_steps(config: TrainConfig, step: int) -> int:
    """Autoregressive steps of the batch at `step`: drawn from 1..unroll (the same on every process
    and on resume), so the model keeps its next-step accuracy while learning from its own rollouts."""
    if config.unroll == 1:
        return 1
    return random.Random(config.seed * 1_000_033 + 7 * step + 1).randint(1, config.unroll)
