"""Per-dataset loss balancing: each dataset's loss divided by a running average of its own.

In a mix, a dataset that barely changes from frame to frame (near persistence) settles at a loss
far below that of a hard one, whose gradients then make most of every update. With balancing
(`TrainConfig.loss_balance = "ema"`), the loss of each batch (a batch holds one dataset) is divided
by an exponential moving average of that dataset's losses, so each dataset contributes about 1
per batch whatever its scale, and the mixture weights alone say how often each one pulls.
(Gradient clipping balances too, bluntly: a clipped step has the clipped norm whatever its loss;
this acts on the steps below the clip.)

The averages are plain numbers: the division adds no gradient path, and they are saved with the
training state (`state_dict`), so a resumed run divides by the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

__all__ = ["LossBalance"]

#: The smallest average a loss is divided by: a dataset the model predicts exactly must not blow up.
_FLOOR = 1e-12


class LossBalance:
    """Running averages of the loss of each of `n_datasets` datasets, and the balanced loss.

    After batches of dataset i with losses l_1, l_2, ... its average is
    a_1 = l_1, a_n = decay * a_{n-1} + (1 - decay) * l_n; the balanced loss of a batch is its loss
    over the average that already includes it (about 1 when the loss is steady).
    """

    def __init__(self, n_datasets: int, decay: float) -> None:
        assert n_datasets >= 1 and 0 <= decay < 1, (n_datasets, decay)
        self.decay = decay
        self.averages: list[Optional[float]] = [None] * n_datasets

    def update(self, dataset: int, loss: float) -> None:
        """Fold the loss of one batch of `dataset` into its average (a non-finite loss is left out)."""
        if not math.isfinite(loss):
            return
        previous = self.averages[dataset]
        self.averages[dataset] = loss if previous is None else self.decay * previous + (1 - self.decay) * loss

    def balanced(self, loss: torch.Tensor, dataset: int) -> torch.Tensor:
        """`loss` (a scalar tensor of a batch of `dataset`) over that dataset's average, a constant;
        `loss` itself while the dataset has no average yet."""
        average = self.averages[dataset]
        return loss if average is None else loss / max(average, _FLOOR)

    def state_dict(self) -> list[Optional[float]]:
        """The averages, one per dataset (None: no batch yet), JSON-ready."""
        return list(self.averages)

    def load_state_dict(self, averages: Sequence[Optional[float]]) -> None:
        if len(averages) != len(self.averages):
            raise ValueError(f"loss averages of {len(averages)} datasets saved, the run has {len(self.averages)}")
        self.averages = [None if a is None else float(a) for a in averages]
