"""Saving and loading any checkpoint: the one place that tells full weights from an adapter.

    save_pretrained(model, DIR)   full weights, or the adapter alone when the model carries one;
                                  push_to_hub="org/name" uploads them to the Hub too (`push.py`)
    load_pretrained(PATH)         "starter", a checkpoint or run directory; an adapter comes back merged
    load_adapter(DIR)             the base with the adapter applied, not merged (for more training)

`model.source` records where a loaded model came from ("starter" or an absolute path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from torch import nn

from morph.checkpoint.adapter import adapter_base, apply_adapter, has_lora, merge, save_adapter
from morph.checkpoint.files import CheckpointError, CheckpointPath, resolve_checkpoint
from morph.checkpoint.full import load_full, save_full
from morph.checkpoint.push import hub_target
from morph.checkpoint.push import push_to_hub as push

__all__ = ["checkpoint_reference", "load_adapter", "load_pretrained", "save_pretrained"]


def save_pretrained(model: nn.Module, directory: Union[str, Path], metadata: Optional[dict[str, Any]] = None, *,
                    push_to_hub: Optional[str] = None, private: Optional[bool] = None,
                    commit_message: Optional[str] = None, token: Optional[str] = None) -> Path:
    """Write `model` to `directory` atomically, replacing it as a whole.

    A model carrying a LoRA adapter (`adapters.add_lora`) is saved as the adapter
    only, with a reference to its base; any other as config + weights.
    metadata: JSON-serialisable extras saved next to the weights (the run record,
        normalisation statistics, ...); defaults to `model.metadata`.
    push_to_hub: a Hugging Face Hub id (`org/name[@branch][/folder]`) to upload the saved
        directory to, creating the repository if missing; it loads back by that id.
    private, commit_message, token: for the push (`morph.checkpoint.push_to_hub`).
    """
    target = hub_target(push_to_hub) if push_to_hub is not None else None  # a wrong id fails before saving
    metadata = dict(model.metadata if metadata is None else metadata)
    saved = save_adapter(model, directory, metadata) if has_lora(model) else save_full(model, directory, metadata)
    if target is not None:
        push(saved, str(target), private=private, commit_message=commit_message, token=token)
    return saved


def checkpoint_reference(path: Union[str, Path]) -> str:
    """How an adapter refers to its base: "starter" and a Hub id as is, else the checkpoint's absolute path."""
    return resolve_checkpoint(path).reference


def load_pretrained(path: Union[str, Path, CheckpointPath], **overrides: Any) -> nn.Module:
    """The model saved at `path` ("starter", a checkpoint directory, a run directory or a Hugging
    Face Hub id, `morph.checkpoint.hub`), on CPU, in eval mode. An adapter directory loads as its base with the adapter merged in.

    overrides: config fields to change on load (e.g. dropout, activation_checkpointing).
    """
    where = resolve_checkpoint(path)
    if where.kind == "adapter":
        model = merge(load_adapter(where, **overrides))
    else:
        model = load_full(where.directory, **overrides)
    model.source = where.reference
    return model.eval()


def load_adapter(directory: Union[str, Path, CheckpointPath], base: Optional[str] = None,
                 check_base: bool = True, **overrides: Any) -> nn.Module:
    """The base checkpoint with the adapter in `directory` applied (not merged), on CPU, in eval mode;
    its `source` is the base's.

    base: load onto this checkpoint instead of the one recorded in the adapter.
    check_base: refuse a base whose weights differ from those the adapter was trained on.
    overrides: config fields to change on load (e.g. dropout).
    """
    where = resolve_checkpoint(directory)
    if where.kind != "adapter":
        raise CheckpointError(f"{where.directory} holds no adapter; pass a directory written by "
                              f"adapters.save_adapter (or morph finetune --level 1|2)")
    reference = base or adapter_base(where.directory)
    if reference != "starter" and Path(reference).resolve() in (where.directory.resolve(),
                                                                where.directory.parent.resolve()):
        raise CheckpointError(f"adapter {where.directory} names itself as its base ({reference}); its base "
                              f"was overwritten, so fine-tune again into another directory")
    try:
        model = load_pretrained(reference, **overrides)
    except CheckpointError as err:
        raise CheckpointError(f"adapter {where.directory}: its base checkpoint {reference!r} cannot be loaded: "
                              f"{err}; pass base=... to load it onto another copy of that checkpoint") from err
    return apply_adapter(model, where.directory, model.source, check_base=check_base)
