"""A wall-clock budget for a training run (`TrainConfig.max_minutes`).

The run's length is fitted to the steps that fit: after a few untimed steps (compilation, caches)
the budget times `calibration_steps` steps and sets the length to the steps that fit in what is
left, less a reserve for the final validation and save; it fits again at a quarter, half and three
quarters of the budget, and at the last step of a length that left time unused, from the rate
measured since calibration (which then includes validation and checkpoints). The learning-rate
schedule follows each new length. Should the run still reach the
budget before its last step (a machine that slowed down), it ends at that step, cleanly.

Time is counted across sessions: a resumed run starts with the seconds its earlier sessions spent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["WallClockBudget"]


@dataclass
class WallClockBudget:
    """seconds: the budget. Every `elapsed` the budget is given counts the run's earlier sessions too.
    untimed_steps, calibration_steps: steps skipped, then timed, before the first fit.
    reserve: the fraction of the budget kept for the final validation and save."""

    seconds: float
    untimed_steps: int = 2
    calibration_steps: int = 10
    reserve: float = 0.02
    refit_at: tuple[float, ...] = (0.25, 0.5, 0.75)
    _first_step: Optional[int] = None
    _mark: Optional[tuple[int, float]] = None
    _fits: int = 0
    _next_refit: list[float] = field(default_factory=list)

    def fit(self, step: int, elapsed: float, total: int) -> Optional[int]:
        """Called after each optimiser step with the run's `step`, the seconds `elapsed` in all
        (earlier sessions included) and its length `total` now. Returns the run's new length when
        it fits one now, else None."""
        if self._first_step is None:
            self._first_step = step - 1
            self._next_refit = [f * self.seconds for f in self.refit_at if f * self.seconds > elapsed]
        if self._mark is None:
            if step - self._first_step >= self.untimed_steps:
                self._mark = (step, elapsed)
            return None
        timed = step - self._mark[0]
        calibrated = timed >= self.calibration_steps or elapsed - self._mark[1] >= 0.1 * self.seconds
        if self._fits == 0 and not calibrated:
            return None
        at_mark = bool(self._next_refit) and elapsed >= self._next_refit[0]
        if self._fits > 0 and not at_mark and step < total:
            return None
        while self._next_refit and elapsed >= self._next_refit[0]:
            self._next_refit.pop(0)
        self._fits += 1
        per_step = (elapsed - self._mark[1]) / max(timed, 1)
        left = self.seconds * (1 - self.reserve) - elapsed
        return step + max(0, math.floor(left / per_step)) if per_step > 0 else step

    def exhausted(self, elapsed: float) -> bool:
        """True once `elapsed` (seconds, earlier sessions included) reaches the budget."""
        return elapsed >= self.seconds
