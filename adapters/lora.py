"""LoRA on MORPH through peft: add adapters, and the adapter checkpoints (re-exported).

`add_lora` injects peft LoRA layers in place (`peft.inject_adapter_in_model`),
so the model stays a `MORPH` with the same forward; by default on the q, k, v, o
linears of every axial attention and the fc1, fc2 linears of every MLP.
`save_adapter`, `load_adapter` and `merge` handle adapter directories (peft's
format with a reference to the base); they live with the other checkpoint
formats in `morph.checkpoint` and are re-exported here.
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

from torch import nn

from morph.checkpoint import base_fingerprint, has_lora, load_adapter, merge, save_adapter
from morph.checkpoint.adapter import ADAPTER_NAME
from morph.checkpoint.files import ADAPTER_WEIGHTS_FILE
from morph.model import MORPH

__all__ = ["DEFAULT_TARGETS", "ADAPTER_WEIGHTS_FILE", "add_lora", "merge", "save_adapter", "load_adapter",
           "has_lora", "check_targets", "base_fingerprint"]

logger = logging.getLogger(__name__)

#: Module names LoRA targets by default: attention q, k, v, o and MLP fc1, fc2 of every encoder block.
DEFAULT_TARGETS: tuple[str, ...] = ("q", "k", "v", "o", "fc1", "fc2")


def add_lora(model: MORPH, rank: int = 8, alpha: Optional[float] = 16, dropout: float = 0.0,
             targets: Optional[Sequence[str]] = None, modules_to_save: Optional[Sequence[str]] = None,
             base: Optional[str] = None) -> MORPH:
    """Inject LoRA layers into `model` in place and return it; only the adapter trains.

    rank, alpha, dropout: LoRA rank r, scale alpha (the update is alpha / r * B A;
        None means alpha = 2 r) and dropout on the LoRA input.
    targets: module names to adapt (peft suffix match), default `DEFAULT_TARGETS`.
    modules_to_save: further modules trained in full and saved with the adapter
        (peft's modules_to_save), e.g. ("decoder",).
    base: the checkpoint this model was loaded from ("starter" or a path), recorded
        so the adapter can be loaded onto it again; default `model.source`.
    The base weights are frozen; lora_B starts at zero, so the output is unchanged.
    """
    from peft import LoraConfig, inject_adapter_in_model

    if not isinstance(model, MORPH):
        raise TypeError(f"add_lora expects a MORPH model, got {type(model).__name__}")
    if has_lora(model):
        raise ValueError("this model already carries a LoRA adapter; fold it in first with "
                         "adapters.merge(model), then add a new one")
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"LoRA rank must be a positive int, got {rank!r}")
    alpha = 2 * rank if alpha is None else alpha
    if not alpha > 0:
        raise ValueError(f"LoRA alpha must be > 0, got {alpha!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"LoRA dropout must be in [0, 1), got {dropout!r}")
    targets = check_targets(model, targets)
    base = base if base is not None else model.source
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                        modules_to_save=list(modules_to_save) if modules_to_save else None,
                        base_model_name_or_path=None if base is None else str(base))
    inject_adapter_in_model(config, model, adapter_name=ADAPTER_NAME)
    logger.info("LoRA r=%d alpha=%g on %d linears (%s)%s", rank, alpha, _count_lora_layers(model),
                ", ".join(targets), f"; full training of {', '.join(modules_to_save)}" if modules_to_save else "")
    return model


def check_targets(model: nn.Module, targets: Optional[Sequence[str]]) -> list[str]:
    """`targets` (default `DEFAULT_TARGETS`) as a list; ValueError unless each names linear layers of `model`."""
    targets = list(DEFAULT_TARGETS if targets is None else targets)
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, nn.Linear)}
    unknown = sorted(set(targets) - names)
    if not targets or unknown:
        raise ValueError(f"LoRA targets {unknown or targets} name no linear layer of this model; "
                         f"choose from {sorted(names)}")
    return targets


def _count_lora_layers(model: nn.Module) -> int:
    from peft.tuners.lora import LoraLayer

    return sum(isinstance(m, LoraLayer) for m in model.modules())


