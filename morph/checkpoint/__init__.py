"""Checkpoints: full weights, LoRA adapters and the published MORPH weights.

    files.py          the on-disk names; `resolve_checkpoint` ("starter", a directory, a run directory)
    full.py           config.json + model.safetensors (+ metadata.json)
    adapter.py        a LoRA adapter with a reference to its base (peft's format)
    pretrained.py     save_pretrained / load_pretrained / load_adapter: full or adapter, decided once
    record.py         RunRecord: how a checkpoint's model was trained (`run_record(model)`)
    architectures.py  the model classes a checkpoint can rebuild
    push.py           push_to_hub: a saved checkpoint uploaded to the Hugging Face Hub
    official.py       import of the published lanl/MORPH `.pth` files (`morph import-official`)
"""

from morph.checkpoint.adapter import base_fingerprint, has_lora, merge, save_adapter
from morph.checkpoint.files import CheckpointError, CheckpointPath, resolve_checkpoint
from morph.checkpoint.pretrained import checkpoint_reference, load_adapter, load_pretrained, save_pretrained
from morph.checkpoint.push import push_to_hub
from morph.checkpoint.record import RunRecord, run_record

__all__ = ["CheckpointError", "CheckpointPath", "RunRecord", "base_fingerprint", "checkpoint_reference",
           "has_lora", "load_adapter", "load_pretrained", "merge", "push_to_hub", "resolve_checkpoint",
           "run_record", "save_adapter", "save_pretrained"]
