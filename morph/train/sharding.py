"""Sharded training: FSDP2 (`torch.distributed.fsdp.fully_shard`) through Accelerate.

Parameters, gradients and optimiser state are split over the processes (full sharding); each
encoder block of MORPH is its own unit, gathered for its forward and backward and freed after.
Turned on by `fsdp: true` in the run's config (`morph pretrain --fsdp`) or by an `accelerate
launch` whose config says `distributed_type: FSDP` (examples/accelerate_fsdp.yaml), on GPUs
(NCCL) and on CPU processes (gloo) alike. Accelerate sets FSDP up on GPUs only; on CPU processes
`enable_fsdp` switches the state Accelerate built (gloo, MULTI_CPU) to FSDP, which FSDP2 runs.

What changes for the trainer (`morph.train.loop`): a forward is a collective, so validation runs
on every process; the final model is gathered into a full state dict (`full_model`) and saved in
the usual format (config.json + model.safetensors); the training state is Accelerate's (sharded
through torch.distributed.checkpoint under `SHARDED_STATE_DICT`, the default here, or full).
"""

from __future__ import annotations

import copy
import os
from typing import Any, Optional

import torch
from accelerate import Accelerator
from accelerate.state import PartialState
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

from morph.train.config import ConfigError, TrainConfig

__all__ = ["check_shardable", "complete_optimizer_state", "enable_fsdp", "fsdp_plugin", "full_model", "local_tensor", "meta_template",
           "sharding_name"]

#: The accelerate config users launch FSDP runs with (`accelerate launch --config_file ...`).
EXAMPLE_CONFIG = "examples/accelerate_fsdp.yaml"
#: The module class that is one FSDP unit of MORPH (wrapped by `transformer_based_wrap`).
UNIT_CLASSES = ("EncoderBlock",)


def _fsdp_launched() -> bool:
    """True under `accelerate launch` with FSDP (`--use_fsdp`, or `distributed_type: FSDP`)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def fsdp_plugin(config: TrainConfig) -> Optional[FullyShardedDataParallelPlugin]:
    """The FSDP2 plugin of a run that asks for sharding (`config.fsdp` or an FSDP launch), else None.

    Settings an accelerate config gives (`FSDP_*` variables) win; otherwise full sharding, a
    sharded training state and one unit per encoder block. FSDP1 is refused: it cannot start on
    CPU processes and the trainer runs FSDP2 everywhere."""
    if not (config.fsdp or _fsdp_launched()):
        return None
    env = os.environ if _fsdp_launched() else {}
    version = int(env.get("FSDP_VERSION", "2"))
    if version != 2:
        raise ConfigError(f"FSDP version {version} (fsdp_version in the accelerate config, or --fsdp_version): the "
                          f"trainer shards with FSDP2; set fsdp_version: 2 (as {EXAMPLE_CONFIG} does) or launch "
                          f"with --fsdp_version 2")
    wrap = env.get("FSDP_AUTO_WRAP_POLICY", "TRANSFORMER_BASED_WRAP").upper()
    return FullyShardedDataParallelPlugin(
        fsdp_version=2,
        reshard_after_forward=env.get("FSDP_RESHARD_AFTER_FORWARD", "true").lower() == "true",
        state_dict_type=env.get("FSDP_STATE_DICT_TYPE", "SHARDED_STATE_DICT"),
        auto_wrap_policy=wrap.lower(),
        transformer_cls_names_to_wrap=(env.get("FSDP_TRANSFORMER_CLS_TO_WRAP", ",".join(UNIT_CLASSES)).split(",")
                                       if wrap == "TRANSFORMER_BASED_WRAP" else None),
        cpu_ram_efficient_loading=False,
        sync_module_states=False,  # every process builds the same model from the run's seed
    )


def enable_fsdp(accelerator: Accelerator, plugin: FullyShardedDataParallelPlugin) -> None:
    """Make `accelerator`, built with `plugin` for several CPU processes (gloo), shard with FSDP2:
    Accelerate only switches GPU runs to FSDP, FSDP2 itself runs on the CPU. A no-op on GPUs
    (Accelerate did it) and in a single process (nothing to shard over)."""
    state = accelerator.state
    if state.distributed_type == DistributedType.MULTI_CPU:
        state.distributed_type = DistributedType.FSDP
        state.fsdp_plugin = plugin
        PartialState._shared_state["distributed_type"] = DistributedType.FSDP


def sharding_name(accelerator: Accelerator) -> str:
    """How the run's weights live on its processes: "fsdp" (sharded) or "replicated" (one process, DDP)."""
    return "fsdp" if accelerator.distributed_type == DistributedType.FSDP else "replicated"


def check_shardable(model: torch.nn.Module) -> None:
    """Refuse what FSDP2 does not train here: a model carrying a LoRA adapter (peft)."""
    if hasattr(model, "peft_config"):
        raise ConfigError("fine-tuning with LoRA (levels 1 and 2) under FSDP: the adapter's few weights gain "
                          "nothing from sharding and peft's adapter save needs the whole model; run LoRA with "
                          "data parallelism (accelerate launch --multi_gpu --num_processes N, no FSDP config), "
                          "or shard a full fine-tune (--level 3 or 4) with FSDP")


def complete_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Give every parameter of an AdamW `optimizer` its state now: zero moments at step 0, what
    AdamW itself creates at a parameter's first gradient, so its updates are unchanged. A sharded
    training state is saved and loaded per parameter, and a parameter no batch has used yet (the
    attention of an axis no dataset of the run has) would be missing from it and refuse to load."""
    inner = getattr(optimizer, "optimizer", optimizer)  # Accelerate's wrapper
    for group in inner.param_groups:
        for param in group["params"]:
            if param.requires_grad and not inner.state.get(param):
                inner.state[param] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(param),
                                      "exp_avg_sq": torch.zeros_like(param)}


def local_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """This process's shard of a sharded parameter (a DTensor); any other tensor as it is."""
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor


def full_model(accelerator: Accelerator, model: torch.nn.Module, template: torch.nn.Module) -> Optional[Any]:
    """The trained model whole, on the main process (None on the others): every process takes part
    in gathering its full state dict, which fills `template` (a copy of the model made before
    sharding, on the meta device). `model` itself, when it is not sharded."""
    if accelerator.distributed_type != DistributedType.FSDP:
        return accelerator.unwrap_model(model) if accelerator.is_main_process else None
    state = accelerator.get_state_dict(model)  # collective: the full tensors land on the main process
    if not accelerator.is_main_process:
        return None
    whole = copy.deepcopy(template)
    whole.load_state_dict(state, assign=True)
    return whole


def meta_template(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` without memory (meta device) that `full_model` fills with the trained weights."""
    return copy.deepcopy(model).to("meta")
