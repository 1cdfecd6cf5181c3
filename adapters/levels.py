"""Fine-tuning levels (DESIGN.md): which parameters of a pretrained MORPH train.

    1  LoRA on the attention (q, k, v, o) and MLP (fc1, fc2) linears; the rest frozen
    2  level 1 + the norms, the embeddings (patch embedding with its field
       cross-attention, positional table) and the decoder, trained in full
    3  the encoder frozen; embeddings, positional table and decoder trained
    4  everything trained

Levels 1 and 2 save as an adapter with a reference to the base
(`adapters.save_adapter`; 1.3 MB for Ti at level 1), levels 3 and 4 as full weights.
A model grown to more fields or components (`morph.growth.grow`) trains its new rows and
columns at every level: levels 2-4 train the modules that hold them anyway, and level 1
adds them to the LoRA matrices (`morph.growth.train_new_parts`); the adapter saves them.
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

from torch import nn

from adapters.lora import add_lora, has_lora
from morph.growth import train_new_parts
from morph.model import MORPH

__all__ = ["LEVELS", "LEVEL2_MODULES", "apply_level", "count_parameters"]

logger = logging.getLogger(__name__)

#: The fine-tuning levels (`apply_level`, `morph finetune --level`): what each trains.
LEVELS: dict[int, str] = {
    1: "LoRA on attention and MLP linears",
    2: "LoRA + norms, embeddings and decoder",
    3: "encoder frozen, the rest trained",
    4: "full fine-tuning",
}

#: Modules level 2 trains in full next to the LoRA matrices (peft modules_to_save).
LEVEL2_MODULES: tuple[str, ...] = ("embedding", "positional", "decoder", "attn_norm", "mlp_norm")


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; peft's frozen copies of modules_to_save count once."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for name, p in model.named_parameters()
                if ".lora_" not in name and ".modules_to_save." not in name)
    return trainable, total


def apply_level(model: MORPH, level: int, rank: int = 8, alpha: Optional[float] = None, dropout: float = 0.0,
                targets: Optional[Sequence[str]] = None, base: Optional[str] = None) -> int:
    """Set up `model` (in place) for fine-tuning at `level` (1-4); returns the number of trainable
    parameters, which is also logged. rank, alpha, dropout, targets and base go to `add_lora`
    (levels 1 and 2 only)."""
    if level not in LEVELS:
        raise ValueError(f"fine-tuning level must be one of {', '.join(map(str, LEVELS))} "
                         f"({'; '.join(f'{k}: {v}' for k, v in LEVELS.items())}), got {level!r}")
    if has_lora(model):
        raise ValueError("this model already carries a LoRA adapter; fold it in first with adapters.merge(model)")
    if level in (1, 2):
        add_lora(model, rank=rank, alpha=alpha, dropout=dropout, targets=targets,
                 modules_to_save=LEVEL2_MODULES if level == 2 else None, base=base)
        if level == 1 and getattr(model, "growth", None) is not None:
            train_new_parts(model)
    else:
        for name, p in model.named_parameters():
            p.requires_grad_(level == 4 or not name.startswith("encoder."))
    trainable, total = count_parameters(model)
    logger.info("fine-tuning level %d (%s): %s of %s parameters trainable (%.2f%%)", level, LEVELS[level],
                f"{trainable:,}", f"{total:,}", 100 * trainable / max(total, 1))
    return trainable
