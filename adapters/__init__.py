"""adapters: fine-tuning a pretrained MORPH on a new PDE (full or LoRA through peft).

Not built yet: see the fine-tuning issue.
"""
