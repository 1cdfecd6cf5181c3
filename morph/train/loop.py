"""The training loop on Accelerate: one trainer for pretraining and fine-tuning.

Accelerate owns devices, mixed precision, gradient accumulation and DDP/FSDP;
`accelerate launch --num_processes N -m morph pretrain ...` runs the same code
on N processes, each on its own shard of batches.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from torch.utils.data import DataLoader
from tqdm import tqdm  # not tqdm.auto: no widget warning in notebooks

from morph.model import MORPH
from morph.train.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from morph.train.config import RUN_CONFIG_FILE, ConfigError, TrainConfig
from morph.train.data import RunData, build_data
from morph.train.objective import evaluate_batches, training_loss

__all__ = ["TrainResult", "train"]

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("step", "epoch", "loss", "lr", "samples_per_s", "val_loss")


@dataclass
class TrainResult:
    """What a run produced: the final checkpoint and per-dataset validation figures."""

    checkpoint: Path
    output_dir: Path
    steps: int
    final_loss: float
    per_dataset: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0

    def table(self) -> str:
        lines = ["| dataset | val nRMSE (model) | val nRMSE (persistence) | model / persistence |",
                 "|---|---|---|---|"]
        for name, m in self.per_dataset.items():
            ratio = m["nrmse"] / m["persistence_nrmse"] if m["persistence_nrmse"] > 0 else float("nan")
            lines.append(f"| {name} | {m['nrmse']:.4f} | {m['persistence_nrmse']:.4f} | {ratio:.2f} |")
        return "\n".join(lines)


def _mixed_precision(choice: str) -> str:
    if choice != "auto":
        return choice
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases, norms and the positional table."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "positional" in name or "norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lr_lambda(warmup: int, total: int, min_ratio: float) -> Callable[[int], float]:
    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return schedule


def _check_output_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"output_dir {path} cannot be created ({err.strerror}); choose another --out") from err
    if not os.access(path, os.W_OK):
        raise ConfigError(f"output_dir {path} is not writable; choose another --out")


def _val_batches(data: RunData, config: TrainConfig, index: int) -> list:
    """A fixed, evenly spaced subset of the validation windows of dataset `index`."""
    windows = data.val[index]
    n = min(len(windows), config.val_windows)
    picks = [round(i * (len(windows) - 1) / max(n - 1, 1)) for i in range(n)]
    loader = DataLoader(torch.utils.data.Subset(windows, picks), batch_size=config.batch_size,
                        collate_fn=data.collate_fn, generator=torch.Generator())  # keeps the global RNG
    return list(loader)


def _metrics_writer(path: Path, resume_step: Optional[int]) -> Any:
    """CSV of metrics; on resume, rows after the resumed step are dropped first."""
    rows = []
    if resume_step is not None and path.exists():
        with path.open() as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
    f = path.open("w", newline="")
    writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    f.flush()
    return f, writer


def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          model_factory: Optional[Callable[[], torch.nn.Module]] = None,
          task: str = "pretrain") -> TrainResult:
    """Train on the mix in `config`; returns the final checkpoint and validation figures.

    `task` names the run in the progress bar and the log ("pretrain", "finetune").

    With `resume`, continues from the latest complete checkpoint in
    `config.output_dir` and reaches the same state as an uninterrupted run.
    """
    start_time = time.perf_counter()
    out = Path(config.output_dir)
    _check_output_dir(out)
    saved = TrainConfig.from_run(out) if resume else None
    conflicts = config.resume_conflicts(saved) if saved is not None else []
    if conflicts:
        raise ConfigError(f"--resume: {out} was trained with other settings ({'; '.join(conflicts)}); resume "
                          f"with the run's own settings (`morph {task} --resume --out {out}` alone reads them) "
                          f"or start a new run with another --out")
    # Without an accelerator device, several launched processes train on the CPU (gloo).
    no_device = not (torch.cuda.is_available() or torch.backends.mps.is_available())
    # Batches of 1D, 2D and 3D data use different attention axes: DDP must allow unused parameters.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    accelerator = Accelerator(mixed_precision=_mixed_precision(config.mixed_precision),
                              gradient_accumulation_steps=config.grad_accum, cpu=no_device,
                              kwargs_handlers=[ddp])
    set_seed(config.seed)
    model_config = config.morph_config()
    with accelerator.main_process_first():
        data = build_data(config, model_config)
    if model_factory is not None:
        model = model_factory()
    elif config.init_checkpoint:
        model = MORPH.from_pretrained(config.init_checkpoint)
    else:
        model = MORPH(model_config)
    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr)
    model, optimizer, loader = accelerator.prepare(model, optimizer, data.loader)
    batches_per_epoch = len(loader)
    micro_per_epoch = batches_per_epoch
    steps_per_epoch = max(1, micro_per_epoch // config.grad_accum)
    total_steps = config.steps or config.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(config.warmup_steps, total_steps, config.min_lr_ratio))
    accelerator.register_for_checkpointing(scheduler)

    ckpt_root = out / "checkpoints"
    step, micro = 0, 0
    if resume:
        latest = latest_checkpoint(ckpt_root)
        if latest is None:
            logger.warning("--resume: no complete checkpoint in %s; starting from scratch", ckpt_root)
        else:
            state = load_checkpoint(accelerator, latest)
            step, micro = state["step"], state["micro_step"]
            logger.info("resumed from %s (step %d)", latest, step)

    main = accelerator.is_main_process
    if main:
        config.save(out / RUN_CONFIG_FILE)
        (out / "data_specs.json").write_text(json.dumps([s.to_dict() for s in data.specs], indent=2))
        csv_file, csv_writer = _metrics_writer(out / "metrics.csv", step if resume else None)
        tb = _tensorboard(out)
    val_sets = [_val_batches(data, config, i) for i in range(len(data.datasets))] if main else []
    bar = tqdm(total=total_steps, initial=step, desc=task, unit="step", disable=not (main and progress),
               dynamic_ncols=True)
    model.train()
    loss_value, window_samples, window_start = float("nan"), 0, time.perf_counter()
    while step < total_steps:
        epoch = micro // micro_per_epoch
        loader.set_epoch(epoch)  # Accelerate's loader passes it on to the mixture sampler
        data.sampler.set_epoch(epoch)
        skip = micro % micro_per_epoch
        epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
        for batch in epoch_loader:
            history = _history_length(config, step)
            with accelerator.accumulate(model):
                loss = training_loss(model, batch, history, unroll=_unroll_steps(config, step))
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.grad_clip > 0:
                    accelerator.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            micro += 1
            window_samples += len(batch) * accelerator.num_processes
            if not accelerator.sync_gradients:
                continue
            scheduler.step()
            step += 1
            loss_value = float(accelerator.reduce(loss.detach(), reduction="mean"))
            elapsed = time.perf_counter() - window_start
            rate = window_samples / elapsed if elapsed > 0 else 0.0
            window_samples, window_start = 0, time.perf_counter()
            lr = scheduler.get_last_lr()[0]
            end_of_epoch = micro % micro_per_epoch == 0
            val_loss = None
            if end_of_epoch and main:
                val_loss = _validate(accelerator, model, val_sets)
                bar.write(f"epoch {micro // micro_per_epoch}: step {step}, train loss {loss_value:.4g}, "
                          f"val loss {val_loss:.4g}")
            if main:
                row = dict(step=step, epoch=micro / micro_per_epoch, loss=loss_value, lr=lr,
                           samples_per_s=rate, val_loss="" if val_loss is None else val_loss)
                csv_writer.writerow(row)
                csv_file.flush()
                if tb is not None:
                    tb.add_scalar("train/loss", loss_value, step)
                    if val_loss is not None:
                        tb.add_scalar("val/loss", val_loss, step)
                bar.set_postfix(loss=f"{loss_value:.4g}", lr=f"{lr:.2e}", samples_s=f"{rate:.1f}")
                bar.update(1)
            if step % config.checkpoint_every == 0 or step == total_steps:
                save_checkpoint(accelerator, ckpt_root, step,
                                {"step": step, "micro_step": micro, "total_steps": total_steps},
                                config.keep_checkpoints)
            if step >= total_steps:
                break
    bar.close()

    final = out / "final"
    per_dataset: dict[str, dict[str, float]] = {}
    accelerator.wait_for_everyone()
    if main:
        unwrapped = accelerator.unwrap_model(model)
        for dataset, batches in zip(data.datasets, val_sets):
            per_dataset[dataset.spec.name] = evaluate_batches(unwrapped, batches)
        unwrapped.save_pretrained(final, metadata={
            "train_config": config.to_dict(),
            "data_specs": [s.to_dict() for s in data.specs],
            "validation": per_dataset,
            "steps": step,
        })
        csv_file.close()
        if tb is not None:
            tb.close()
    accelerator.wait_for_everyone()
    result = TrainResult(checkpoint=final, output_dir=out, steps=step, final_loss=loss_value,
                         per_dataset=per_dataset, seconds=time.perf_counter() - start_time)
    if main:
        (out / "summary.json").write_text(json.dumps(
            {"checkpoint": str(final), "steps": step, "final_loss": loss_value, "seconds": result.seconds,
             "validation": per_dataset}, indent=2))
    accelerator.end_training()
    return result


def _history_length(config: TrainConfig, step: int) -> Optional[int]:
    """History length of the batch at `step`: 1 in curriculum stage 1, else the full history or,
    with `min_history`, a length drawn from min_history..history (the same on every process)."""
    if step < config.curriculum_steps:
        return 1
    if config.min_history is None or config.min_history == config.history:
        return None
    draw = random.Random(config.seed * 1_000_003 + step).randint(config.min_history, config.history)
    return draw


def _unroll_steps(config: TrainConfig, step: int) -> int:
    """Autoregressive steps of the batch at `step`: drawn from 1..unroll (the same on every process
    and on resume), so the model keeps its next-step accuracy while learning from its own rollouts."""
    if config.unroll == 1:
        return 1
    return random.Random(config.seed * 1_000_033 + 7 * step + 1).randint(1, config.unroll)


def _validate(accelerator: Accelerator, model: torch.nn.Module, val_sets: list[list]) -> float:
    unwrapped = accelerator.unwrap_model(model)
    losses = [evaluate_batches(unwrapped, batches)["val_loss"] for batches in val_sets]
    return sum(losses) / len(losses)


def _tensorboard(out: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))
