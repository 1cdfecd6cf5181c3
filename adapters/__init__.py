"""adapters: fine-tuning a pretrained MORPH on a new PDE (LoRA through peft, or full).

`add_lora` / `merge` / `save_adapter` / `load_adapter` (peft's adapter format,
with a reference to the base checkpoint), the fine-tuning levels of DESIGN.md
(`apply_level`), and `finetune`, what `morph finetune` calls.
"""

from adapters.finetune import FinetuneConfig, FinetuneResult, FinetuneTraining, finetune
from adapters.levels import LEVELS, apply_level, count_parameters
from adapters.lora import DEFAULT_TARGETS, add_lora, has_lora, load_adapter, merge, save_adapter

__all__ = ["DEFAULT_TARGETS", "LEVELS", "FinetuneConfig", "FinetuneResult", "FinetuneTraining", "add_lora", "apply_level",
           "count_parameters", "finetune", "has_lora", "load_adapter", "merge", "save_adapter"]
