"""Non-finite training steps: caught before they reach the weights, then stopped or skipped.

A step is non-finite when the loss of any of its micro-batches, on any process, or its gradient
norm is NaN or infinite (under fp16 the gradient scaler already skips steps whose gradients
overflow, so there only the loss counts). With `TrainConfig.nan_policy` "stop" (the default) the
run raises `NonFiniteLossError` before the optimiser step; with "skip" the step makes no update
(the schedule and the data move on) up to `nan_max_skips` times in the run, and the next one
stops it the same way. The flags are gathered from every process and each decides on all of
them, so the processes of a DDP or FSDP run agree. The weights are checked again before every
save: no checkpoint, periodic or final, ever holds NaN or Inf.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from morph.train.config import TrainConfig
from morph.train.sharding import local_tensor
from morph.train.state import latest_training_state

__all__ = ["NonFiniteLossError", "StepGuard"]

logger = logging.getLogger(__name__)

#: Windows of a bad batch named in the error, at most.
_SHOWN_WINDOWS = 4


class NonFiniteLossError(RuntimeError):
    """A training run stopped at a NaN or infinite loss, gradient or weight: the message names the
    step, the datasets of its batches, the last checkpoint (left as it was) and the fixes."""


class StepGuard:
    """Watches the losses and gradient norms of a run's optimiser steps (`observe`, then `passes`
    once per optimiser step) and its weights before each save (`check_weights`).

    config: the run's TrainConfig (policy, cap, and the settings the message suggests changing).
    labels: the name of each dataset of the mix (`batch.extras["dataset_index"]` indexes it).
    checkpoints: the run's training-state directory (the error names its latest checkpoint).
    precision: the precision the run trains in ("no", "bf16", "fp16").
    """

    def __init__(self, config: TrainConfig, labels: Sequence[str], checkpoints: Path, precision: str) -> None:
        self.config, self.labels, self.checkpoints, self.precision = config, list(labels), checkpoints, precision
        self.skipped = 0  # steps skipped so far in the run (restored on resume)
        self._reset()

    def _reset(self) -> None:
        self._bad_loss = False
        self._suspect = -1  # dataset of the first micro-batch with a bad loss, else of the last one
        self._windows: list[str] = []

    def observe(self, loss: torch.Tensor, batch: Any) -> None:
        """Note the loss of one micro-batch (every micro-batch of the accumulation window)."""
        if self._bad_loss:  # the first bad micro-batch is the one named
            return
        self._suspect = int(batch.extras.get("dataset_index", -1))
        if not bool(torch.isfinite(loss.detach()).all()):
            self._bad_loss = True
            self._windows = [f"{int(t)}/{int(s)}" for t, s in zip(batch.traj[:_SHOWN_WINDOWS],
                                                                   batch.start[:_SHOWN_WINDOWS])]

    def passes(self, accelerator: Any, loss: torch.Tensor, grad_norm: Optional[torch.Tensor],
               step: int) -> tuple[bool, float]:
        """Whether optimiser step `step` (1-based) may update the weights, decided alike on every
        process, and the step's loss averaged over the processes (NaN when any is).

        Called once per optimiser step, after the gradients are reduced and clipped. Raises
        `NonFiniteLossError` under "stop", or under "skip" past `nan_max_skips` skipped steps.
        """
        check_grads = grad_norm is not None and self.precision != "fp16"  # fp16: the scaler skips those
        bad_grad = check_grads and not bool(torch.isfinite(torch.as_tensor(grad_norm)).all())
        mine = torch.tensor([[float(loss.detach()), float(self._bad_loss or bad_grad), float(self._bad_loss),
                              float(self._suspect)]], device=accelerator.device)
        every = accelerator.gather(mine).reshape(-1, 4).cpu()  # (processes, 4)
        mean_loss = float(every[:, 0].mean())
        windows = self._windows
        self._reset()
        if not bool(every[:, 1].any()):
            return True, mean_loss
        what = "loss" if bool(every[:, 2].any()) else "gradient norm"
        if self.config.nan_policy == "skip" and self.skipped < self.config.nan_max_skips:
            self.skipped += 1
            if accelerator.is_main_process:
                logger.warning("non-finite %s at step %d (%s): step skipped, no update (%d of at most %d "
                               "skipped; nan_max_skips)", what, step, self._datasets(every), self.skipped,
                               self.config.nan_max_skips)
            return False, mean_loss
        raise NonFiniteLossError(self._message(what, step, every, windows, accelerator))

    def check_weights(self, accelerator: Any, model: torch.nn.Module, step: int, what: str) -> None:
        """Raise `NonFiniteLossError` (on every process alike) before `what` is saved at `step` when
        any weight of `model`, on any process, is NaN or infinite."""
        tensors = [local_tensor(p.detach()) for p in model.parameters()]  # this process's shard under FSDP
        bad = bool(tensors) and not bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())
        if bool(accelerator.gather(torch.tensor([float(bad)], device=accelerator.device)).any()):
            raise NonFiniteLossError(
                f"the weights hold NaN or Inf at step {step}: {what} was not saved, so nothing non-finite is on "
                f"disk ({self._last_checkpoint()}). {self._fixes()}")

    def _datasets(self, every: torch.Tensor) -> str:
        """`every`'s suspect datasets by name, with the process where there are several."""
        names = [self.labels[int(i)] if 0 <= int(i) < len(self.labels) else "?" for i in every[:, 3].tolist()]
        bad = [k for k in range(len(names)) if every[k, 1]]
        if len(names) == 1:
            return f"dataset {names[0]}"
        return "; ".join(f"dataset {names[k]} on process {k}" for k in bad)

    def _last_checkpoint(self) -> str:
        latest = latest_training_state(self.checkpoints)
        return (f"the last checkpoint, {latest}, is untouched: --resume continues from it" if latest is not None
                else f"no checkpoint was saved yet in {self.checkpoints}")

    def _message(self, what: str, step: int, every: torch.Tensor, windows: list[str], accelerator: Any) -> str:
        where = self._datasets(every)
        if windows:
            here = "" if len(every) == 1 else f" on process {accelerator.process_index}"
            where += f"; windows (trajectory/start){here}: {', '.join(windows)}"
        skipped = (f" after {self.skipped} skipped steps (nan_max_skips {self.config.nan_max_skips})"
                   if self.config.nan_policy == "skip" else "")
        return (f"non-finite {what} at step {step}{skipped}, batch of {where}. The weights were not updated with "
                f"it and nothing after the last checkpoint was saved ({self._last_checkpoint()}). {self._fixes()} "
                f"Data that holds NaN or Inf: clean those windows. {self._policy_hint()}")

    def _policy_hint(self) -> str:
        if self.config.nan_policy == "skip":
            return "To skip more such steps: a larger nan_max_skips (--nan-max-skips N)."
        return ("To skip such steps instead (no update, at most nan_max_skips of them in the run): nan_policy skip "
                "(--nan-policy skip).")

    def _fixes(self) -> str:
        config = self.config
        clip = ("clip the gradients (grad_clip is 0: grad_clip 1.0, --grad-clip 1.0)" if config.grad_clip == 0 else
                f"clip the gradients harder (grad_clip below {config.grad_clip:g})")
        precision = {"fp16": "train in bf16 or float32 instead of fp16 (--mixed-precision bf16 or no)",
                     "bf16": "train in float32 (--mixed-precision no)"}.get(self.precision)
        fixes = [f"lower the learning rate (lr {config.lr:g}: e.g. --lr {config.lr / 10:g})", clip]
        return "Fix: " + ", ".join(fixes) + (f", or {precision}" if precision else "") + "."

