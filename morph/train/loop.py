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
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from torch.utils.data import DataLoader

from pde_data.files import atomic_file, write_json_atomic
from pde_data.progress import progress_bar

from morph.checkpoint import RunRecord, load_pretrained
from morph.checkpoint.architectures import build_model
from morph.growth import grow_to
from morph.precision import resolve_precision
from morph.train.balance import LossBalance
from morph.train.budget import WallClockBudget
from morph.train.config import RUN_CONFIG_FILE, ConfigError, TrainConfig
from morph.train.data import RunData, build_data, resolve_source
from morph.train.guard import StepGuard
from morph.train.objective import evaluate_batches, training_loss
from morph.train.schedule import history_length, lr_schedule, unroll_steps
from morph.train.sharding import (EXAMPLE_CONFIG, check_shardable, complete_optimizer_state, enable_fsdp,
                                  fsdp_plugin, full_model, meta_template, sharding_name)
from morph.train.state import STATE_FILE, latest_training_state, load_training_state, save_training_state

__all__ = ["TrainResult", "process_state", "train"]

logger = logging.getLogger(__name__)
#: Where each task's warmup is set (the warning about a warmup as long as the run names it).
WARMUP_HINT = {"pretrain": "morph pretrain --warmup N, or warmup_steps in its --config",
               "finetune": "train: {warmup_steps: N} in morph finetune --config"}

CSV_COLUMNS = ("step", "epoch", "loss", "lr", "samples_per_s", "val_loss")
#: Where a run directory keeps its training state (`morph.train.state`).
STATE_DIR = "checkpoints"


@dataclass
class TrainResult:
    """What a run produced: the final checkpoint and per-store validation figures.

    per_dataset: the next-step validation figures ("val_loss", "nrmse", "persistence_nrmse") of each
        store of the mix, keyed by its label (`morph.train.data.store_labels`: a simulator's name or
        the store's file name), so two stores of one simulator keep a row each.
    skipped_steps: optimiser steps skipped for a non-finite loss (`TrainConfig.nan_policy` "skip").
    """

    checkpoint: Path
    output_dir: Path
    steps: int
    final_loss: float
    per_dataset: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    skipped_steps: int = 0

    def table(self) -> str:
        """Markdown: the validation next-step nRMSE of each dataset, the model's beside persistence's."""
        lines = ["| dataset | val nRMSE (model) | val nRMSE (persistence) | model / persistence |",
                 "|---|---|---|---|"]
        for name, m in self.per_dataset.items():
            ratio = m["nrmse"] / m["persistence_nrmse"] if m["persistence_nrmse"] > 0 else float("nan")
            lines.append(f"| {name} | {m['nrmse']:.4f} | {m['persistence_nrmse']:.4f} | {ratio:.2f} |")
        return "\n".join(lines)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases, norms and the positional table."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay_name = "positional" in name or "norm" in name or "boundary_embedding" in name
        (no_decay if p.ndim < 2 or no_decay_name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _no_device() -> bool:
    """True without a GPU or MPS device: then several launched processes train on the CPU (gloo)."""
    return not (torch.cuda.is_available() or torch.backends.mps.is_available())


def process_state() -> PartialState:
    """Accelerate's state of this process (one process, or one of an `accelerate launch`), set up as
    the trainer's Accelerator sets it up, for work before training that the processes share, e.g.
    `process_state().main_process_first()` around writing a cache the others then read."""
    return PartialState(cpu=_no_device())


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
    """CSV of metrics, appended to row by row; on resume, rows after the resumed step are dropped
    first (the kept rows are rewritten atomically, so a kill then loses none)."""
    rows = []
    if resume_step is not None and path.exists():
        with path.open() as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
    with atomic_file(path) as tmp, tmp.open("w", newline="") as staged:
        writer = csv.DictWriter(staged, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    f = path.open("a", newline="")
    return f, csv.DictWriter(f, fieldnames=CSV_COLUMNS)


@dataclass
class _Run:
    """Everything the step loop and the finish share: built by `_setup`."""

    config: TrainConfig
    task: str
    out: Path
    accelerator: Accelerator
    data: RunData
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    loader: Any
    total_steps: int
    micro_per_epoch: int
    guard: StepGuard
    step: int = 0
    micro: int = 0
    loss: float = float("nan")
    val_sets: list = field(default_factory=list)
    balance: Optional[LossBalance] = None  # with loss_balance "ema"
    budget: Optional[WallClockBudget] = None  # with max_minutes
    spent: float = 0.0  # seconds the run's earlier sessions trained (resume)
    bar: Any = None  # the progress report, while the step loop runs
    template: Optional[torch.nn.Module] = None  # a sharded run's model shape (meta), on the main process

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def sharded(self) -> bool:
        """True under FSDP: the model's forward is a collective every process takes part in."""
        return sharding_name(self.accelerator) == "fsdp"


def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          model_factory: Optional[Callable[[], torch.nn.Module]] = None,
          task: str = "pretrain") -> TrainResult:
    """Train on the mix in `config`; returns the final checkpoint and validation figures.

    `task` names the run in the progress report, the log and the run record ("pretrain", "finetune").
    model_factory: builds the model (default: `config.init_checkpoint`, else a new MORPH).
    With `resume`, continues from the latest complete checkpoint in
    `config.output_dir` and reaches the same state as an uninterrupted run.
    A NaN or infinite loss stops the run with `NonFiniteLossError` (or is skipped: `config.nan_policy`).
    """
    start_time = time.perf_counter()
    run = _setup(config, resume, model_factory, task)
    with _Logs(run, resume) as logs:
        _step_loop(run, logs, progress)
        result = _finish(run, logs)
    result.seconds = time.perf_counter() - start_time
    if run.main:  # strict JSON: a NaN loss or figure is null
        write_json_atomic(run.out / "summary.json", {
            "checkpoint": str(result.checkpoint), "steps": result.steps, "final_loss": result.final_loss,
            "seconds": result.seconds, "skipped_steps": result.skipped_steps, "validation": result.per_dataset})
    run.accelerator.end_training()
    return result


def _setup(config: TrainConfig, resume: bool, model_factory: Optional[Callable[[], torch.nn.Module]],
           task: str) -> _Run:
    """Check the output directory (and a resumed run's settings), build Accelerate, data, model,
    optimiser and schedule, and restore the latest training state when resuming."""
    out = Path(config.output_dir)
    _check_output_dir(out)
    saved = TrainConfig.from_run(out) if resume else None
    conflicts = config.resume_conflicts(saved) if saved is not None else []
    if conflicts:
        raise ConfigError(f"--resume: {out} was trained with other settings ({'; '.join(conflicts)}); resume "
                          f"with the run's own settings (`morph {task} --resume --out {out}` alone reads them) "
                          f"or start a new run with another --out")
    no_device = _no_device()
    # Batches of 1D, 2D and 3D data use different attention axes: DDP must allow unused parameters.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    precision = resolve_precision(config.mixed_precision, "cpu" if no_device else "cuda", "mixed_precision")
    if config.mixed_precision == "auto" and config.arch != "morph":
        precision = "no"  # measured: the U-Net diverges under bf16 autocast where it trains in float32
    if config.compile and precision == "bf16" and no_device:
        raise ConfigError(f"compile with mixed_precision {config.mixed_precision} (bf16 on this CPU): torch.compile "
                          f"of MORPH under bfloat16 autocast does not build on the CPU (inductor's C++ code fails "
                          f"in torch {torch.__version__}); set mixed_precision no to compile in float32, or compile "
                          f"false (bfloat16 alone is the faster of the two here; docs/benchmarks/bf16-compile.md)")
    # Each run sets its own precision and compilation: Accelerate keeps them in a process-wide state that
    # refuses a change, so the last run's goes (its process group, in PartialState, stays).
    AcceleratorState._reset_state()
    fsdp = fsdp_plugin(config)
    accelerator = Accelerator(mixed_precision=precision, gradient_accumulation_steps=config.grad_accum,
                              cpu=no_device, kwargs_handlers=[ddp], fsdp_plugin=fsdp,
                              dynamo_backend="inductor" if config.compile else "no")
    if fsdp is not None:
        enable_fsdp(accelerator, fsdp)
    if accelerator.is_main_process:
        logger.info("precision: %s (mixed_precision %s)%s", {"no": "float32"}.get(precision, precision),
                    config.mixed_precision, ", torch.compile" if config.compile else "")
    set_seed(config.seed)
    with accelerator.main_process_first():
        initial = _initial_model(config) if model_factory is None and config.init_checkpoint else None
        # a baseline is built for the shape of the run's one dataset
        spec = None if config.arch == "morph" else resolve_source(config.datasets[0], config.cache).spec
        model_config = initial.config if initial is not None else config.model_config(spec)
        data = build_data(config, model_config, processes=accelerator.num_processes)
    if model_factory is not None:
        model = model_factory()
    else:
        model = initial if initial is not None else build_model(model_config)
    sharded = sharding_name(accelerator) == "fsdp"
    if sharded:
        check_shardable(model)
    # the main process of a sharded run keeps the model's shape (no memory) to gather the weights into at the end
    template = meta_template(model) if sharded and accelerator.is_main_process else None
    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr)
    model, optimizer, loader = accelerator.prepare(model, optimizer, data.loader)
    if sharded:
        complete_optimizer_state(optimizer)
    if accelerator.num_processes > 1:
        # The model was drawn alike on every process; from here each draws its own noise, patch-grid
        # shifts and dropout (seed + process index), reproducibly. The batches each process reads are
        # its own share of one seeded sequence (the mixture sampler, split by Accelerate's loader).
        set_seed(config.seed, device_specific=True)
    micro_per_epoch = len(loader)
    steps_per_epoch = max(1, micro_per_epoch // config.grad_accum)
    total_steps = config.steps or config.epochs * steps_per_epoch
    if config.warmup_steps >= total_steps and accelerator.is_main_process:
        reached = lr_schedule(config.warmup_steps, total_steps, 1.0)(total_steps - 1)
        logger.warning("warmup_steps %d >= the run's %d steps: the learning rate never reaches lr %g (it ends at "
                       "%.0f%% of it); give a warmup_steps below the steps (%s)", config.warmup_steps, total_steps,
                       config.lr, 100 * reached, WARMUP_HINT.get(task, "TrainConfig.warmup_steps"))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_schedule(config.warmup_steps, total_steps, config.min_lr_ratio))
    accelerator.register_for_checkpointing(scheduler)
    run = _Run(config=config, task=task, out=out, accelerator=accelerator, data=data, model=model,
               optimizer=optimizer, scheduler=scheduler, loader=loader, total_steps=total_steps,
               micro_per_epoch=micro_per_epoch, guard=StepGuard(config, data.labels, out / STATE_DIR, precision),
               template=template)
    if config.loss_balance == "ema":
        run.balance = LossBalance(len(data.datasets), config.loss_balance_decay)
    if resume:
        _check_same_data(out, data)
        latest = latest_training_state(out / STATE_DIR)
        if latest is None:
            logger.warning("--resume: no complete checkpoint in %s; starting from scratch", out / STATE_DIR)
        else:
            _check_same_sharding(latest, accelerator)
            state = load_training_state(accelerator, latest)
            run.step, run.micro = state["step"], state["micro_step"]
            if run.balance is not None and state.get("loss_averages") is not None:
                run.balance.load_state_dict(state["loss_averages"])
            run.spent = state.get("elapsed_s", 0.0)
            run.guard.skipped = state.get("skipped_steps", 0)
            if config.max_minutes is not None and state.get("total_steps"):
                _set_length(run, state["total_steps"])  # the length fitted to the budget so far
            logger.info("resumed from %s (step %d)", latest, run.step)
    if config.max_minutes is not None:
        run.budget = WallClockBudget(60 * config.max_minutes)
    if run.main:
        config.save(out / RUN_CONFIG_FILE)
        write_json_atomic(out / "data_specs.json", [s.to_dict() for s in data.specs])
    if run.main or run.sharded:  # a sharded model's forward needs every process
        run.val_sets = [_val_batches(data, config, i) for i in range(len(data.datasets))]
    return run


def _check_same_sharding(checkpoint: Path, accelerator: Accelerator) -> None:
    """Refuse to resume a training state saved with the other sharding (FSDP or replicated): its
    files do not load into this run's model."""
    saved = json.loads((checkpoint / STATE_FILE).read_text()).get("sharding", "replicated")
    now = sharding_name(accelerator)
    if saved != now:
        how = {"fsdp": f"with FSDP (accelerate launch --config_file {EXAMPLE_CONFIG}, or fsdp: true in the config)",
               "replicated": "without FSDP (accelerate launch --multi_gpu, or one process)"}
        raise ConfigError(f"--resume: the training state {checkpoint} was saved {how[saved]}, this run is "
                          f"{how[now]}; resume it {how[saved]}, or start a new run with another --out")


def _initial_model(config: TrainConfig) -> torch.nn.Module:
    """The `init_checkpoint` model, grown to the run's datasets when they have more fields or wider
    fields than it takes (`morph.growth.grow_to`)."""
    model = load_pretrained(config.init_checkpoint)
    grown = grow_to(model, [resolve_source(source, config.cache).spec for source in config.datasets])
    if grown is not model:
        logger.info("init_checkpoint %s: %s", config.init_checkpoint, grown.growth)
    return grown


#: What identifies a dataset's content in its spec (not where it is stored, nor its statistics).
_DATA_KEYS = ("name", "grid_shape", "fields", "n_trajectories", "n_steps", "dt", "boundary_conditions", "attrs")


def _check_same_data(out: Path, data: RunData) -> None:
    """Refuse to resume a run whose datasets now resolve to other data than it started with (e.g. a
    simulator whose defaults changed in a newer morph-pde): the run would silently switch data."""
    saved_path = out / "data_specs.json"
    if not saved_path.is_file():
        return
    saved = json.loads(saved_path.read_text())
    now = json.loads(json.dumps([s.to_dict() for s in data.specs]))
    differ = [f"{a.get('name')}: {key}" for a, b in zip(saved, now) for key in _DATA_KEYS if a.get(key) != b.get(key)]
    if len(saved) != len(now) or differ:
        raise ConfigError(f"--resume: the datasets of {out} now give other data than the run started with "
                          f"({'; '.join(differ[:4]) or f'{len(saved)} -> {len(now)} datasets'}); the built-in "
                          f"simulators may have changed since: start a new run with another --out")


class _Logs:
    """metrics.csv, TensorBoard (when installed) and the progress report of the main process."""

    def __init__(self, run: _Run, resume: bool) -> None:
        self.run, self.resume = run, resume

    def __enter__(self) -> "_Logs":
        run = self.run
        self.csv_file = self.writer = self.tb = None
        if run.main:
            self.csv_file, self.writer = _metrics_writer(run.out / "metrics.csv", run.step if self.resume else None)
            self.tb = _tensorboard(run.out)
        return self

    def bar(self, progress: bool) -> Any:
        run = self.run
        return progress_bar(total=run.total_steps, initial=run.step, desc=run.task, unit="step",
                            enabled=run.main and progress)

    def row(self, values: dict[str, Any]) -> None:
        if self.writer is None:
            return
        self.writer.writerow(values)
        self.csv_file.flush()
        if self.tb is not None:
            self.tb.add_scalar("train/loss", values["loss"], values["step"])
            if values["val_loss"] != "":
                self.tb.add_scalar("val/loss", values["val_loss"], values["step"])

    def __exit__(self, *exc: Any) -> None:
        if self.run.bar is not None:  # a run that stopped (a non-finite loss) ends its report too
            self.run.bar.close()
        if self.csv_file is not None:
            self.csv_file.close()
        if self.tb is not None:
            self.tb.close()


def _step_loop(run: _Run, logs: _Logs, progress: bool) -> None:
    """Optimiser steps until `run.total_steps`: losses, validation at each epoch end, metrics rows,
    progress and training-state checkpoints."""
    config, accelerator, model = run.config, run.accelerator, run.model
    bar = run.bar = logs.bar(progress)
    session_start = time.perf_counter()
    window_samples, window_start = 0, time.perf_counter()
    while run.step < run.total_steps:
        epoch = run.micro // run.micro_per_epoch
        run.loader.set_epoch(epoch)  # Accelerate's loader passes it on to the mixture sampler
        run.data.sampler.set_epoch(epoch)
        skip = run.micro % run.micro_per_epoch
        epoch_loader = accelerator.skip_first_batches(run.loader, skip) if skip else run.loader
        for batch in epoch_loader:
            with accelerator.accumulate(model):
                loss = training_loss(model, batch, history_length(config, run.step),
                                     unroll=unroll_steps(config, run.step), noise=config.noise,
                                     jitter=config.patch_jitter)
                accelerator.backward(loss if run.balance is None else _balanced(run, loss, batch))
                run.guard.observe(loss, batch)
                if accelerator.sync_gradients:
                    # the norm (clipped to grad_clip; 0: not clipped) shows the guard a non-finite gradient
                    norm = accelerator.clip_grad_norm_(model.parameters(), config.grad_clip or math.inf)
                    update, run.loss = run.guard.passes(accelerator, loss, norm, run.step + 1)
                    if update:  # else a step skipped under nan_policy "skip": no update, the schedule goes on
                        run.optimizer.step()
                    run.optimizer.zero_grad(set_to_none=True)
            run.micro += 1
            window_samples += len(batch) * accelerator.num_processes
            if not accelerator.sync_gradients:
                continue
            lr = run.scheduler.get_last_lr()[0]  # the rate this step used (logged beside its loss)
            with warnings.catch_warnings():  # a skipped first step (nan_policy "skip") moves the schedule on too
                warnings.filterwarnings("ignore", re.escape("Detected call of `lr_scheduler.step()`"), UserWarning)
                run.scheduler.step()
            run.step += 1
            elapsed = time.perf_counter() - window_start
            rate = window_samples / elapsed if elapsed > 0 else 0.0
            window_samples, window_start = 0, time.perf_counter()
            val_loss = None
            if run.micro % run.micro_per_epoch == 0 and (run.main or run.sharded):
                val_loss = _validate(accelerator, model, run.val_sets)
            if val_loss is not None and run.main:
                bar.write(f"epoch {run.micro // run.micro_per_epoch}: step {run.step}, train loss "
                          f"{run.loss:.4g}, val loss {val_loss:.4g}")
            if run.main:
                logs.row(dict(step=run.step, epoch=run.micro / run.micro_per_epoch, loss=run.loss, lr=lr,
                              samples_per_s=rate, val_loss="" if val_loss is None else val_loss))
                bar.set_postfix(loss=f"{run.loss:.4g}", lr=f"{lr:.2e}", samples_s=f"{rate:.1f}")
                bar.update(1)
            elapsed = run.spent + time.perf_counter() - session_start
            if run.budget is not None:
                elapsed = _fit_to_budget(run, elapsed)
            if run.step % config.checkpoint_every == 0 or run.step == run.total_steps:
                run.guard.check_weights(accelerator, model, run.step, f"the checkpoint of step {run.step}")
                state = {"step": run.step, "micro_step": run.micro, "total_steps": run.total_steps,
                         "elapsed_s": elapsed, "skipped_steps": run.guard.skipped,
                         "sharding": sharding_name(accelerator)}
                if run.balance is not None:
                    state["loss_averages"] = run.balance.state_dict()
                save_training_state(accelerator, run.out / STATE_DIR, run.step, state, config.keep_checkpoints)
            if run.step >= run.total_steps:
                break
    bar.close()


def _set_length(run: _Run, total: int) -> None:
    """Make the run `total` optimiser steps long: its cosine schedule and progress report follow."""
    run.total_steps = total
    schedule = lr_schedule(run.config.warmup_steps, total, run.config.min_lr_ratio)
    run.scheduler.lr_lambdas = [schedule] * len(run.scheduler.lr_lambdas)
    if run.bar is not None:
        run.bar.total = total


def _fit_to_budget(run: _Run, elapsed: float) -> float:
    """Fit the run's length to its wall-clock budget (`WallClockBudget`), or end it at this step
    once the budget is spent. Every process decides on the largest `elapsed` of them all, so they
    agree; returns that."""
    elapsed = float(run.accelerator.gather(torch.tensor([elapsed], device=run.accelerator.device)).max())
    total = run.budget.fit(run.step, elapsed, run.total_steps)
    if total is not None and total != run.total_steps:
        if run.main:
            logger.info("max_minutes %g: %d steps fit (%.1f min spent at step %d); the schedule now ends there",
                        run.config.max_minutes, total, elapsed / 60, run.step)
        _set_length(run, total)
    if run.budget.exhausted(elapsed) and run.step < run.total_steps:
        if run.main:
            logger.warning("max_minutes %g reached at step %d of %d: the run ends here", run.config.max_minutes,
                           run.step, run.total_steps)
        _set_length(run, run.step)
    return elapsed


def _balanced(run: _Run, loss: torch.Tensor, batch: Any) -> torch.Tensor:
    """`loss` of `batch` over the running average of its dataset's loss (`morph.train.balance`).
    The losses of this micro-step on every process are folded into the averages first, in process
    order, so every process keeps the same averages."""
    index = batch.extras["dataset_index"]
    mine = torch.tensor([[float(index), float(loss.detach())]], device=loss.device)  # (1, 2)
    for dataset, value in run.accelerator.gather(mine).tolist():  # (processes, 2)
        run.balance.update(int(dataset), value)
    return run.balance.balanced(loss, index)


def _finish(run: _Run, logs: _Logs) -> TrainResult:
    """Validate per dataset and save the final model with its run record."""
    final = run.out / "final"
    per_dataset: dict[str, dict[str, float]] = {}
    run.guard.check_weights(run.accelerator, run.model, run.step, f"the final model ({final})")
    run.accelerator.wait_for_everyone()
    if run.main or run.sharded:  # sharded: every process takes part in the forwards, the main one reports
        unwrapped = run.accelerator.unwrap_model(run.model)
        figures = {label: evaluate_batches(unwrapped, batches) for label, batches in zip(run.data.labels, run.val_sets)}
        per_dataset = figures if run.main else {}
    whole = full_model(run.accelerator, run.model, run.template)
    if run.main:
        record = RunRecord(history=run.config.history, task=run.task, split_seed=run.config.split_seed,
                           steps=run.step, data_specs=[s.to_dict() for s in run.data.specs],
                           train_config=run.config.to_dict(), validation=per_dataset)
        whole.save_pretrained(final, metadata=record.to_metadata())
    run.accelerator.wait_for_everyone()
    return TrainResult(checkpoint=final, output_dir=run.out, steps=run.step, final_loss=run.loss,
                       per_dataset=per_dataset, skipped_steps=run.guard.skipped)


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
