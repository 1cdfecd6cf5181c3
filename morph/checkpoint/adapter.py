"""LoRA adapter checkpoints: peft's adapter directory format for MORPH; save, load, merge.

A fine-tuned adapter is stored without the base weights, with a reference to
the base checkpoint. The directory is peft's own format plus what a MORPH
needs to rebuild it:

    adapter_config.json        peft LoraConfig; base_model_name_or_path = the base
                               checkpoint ("starter" or an absolute path)
    adapter_model.safetensors  the LoRA matrices (and any modules_to_save), peft keys
    grown_parts.safetensors    only for a base grown to more fields or components during the
                               fine-tune (`morph.growth`): the rows and columns it added
    config.json                the MorphConfig of the base, checked on load
    metadata.json              model metadata + {"adapter": {"base": ..., "base_fingerprint": ...}}

An adapter whose config.json says the base grew (`grown_from` ends with the base's size) is
loaded onto the base grown the same way (`morph.growth.grow`), its grown parts filled in.
`MORPH.from_pretrained(DIR)` of such a directory loads the base, applies the
adapter (`apply_adapter`) and merges it (`merge`); `morph.checkpoint.load_adapter`
keeps it separate. This is a checkpoint format, so it lives with the others in
`morph`; creating adapters and fine-tuning is the `adapters` package
(`adapters.add_lora`), which re-exports the public functions. peft is imported
on first use (it takes seconds).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Optional, Union

import torch
from safetensors.torch import save_file
from torch import nn

from pde_data.files import atomic_directory

from morph.checkpoint.architectures import build_model
from morph.checkpoint.files import (ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, CONFIG_FILE, GROWN_PARTS_FILE,
                                    METADATA_FILE, CheckpointError, read_json, read_weights)
from morph.checkpoint.full import load_config, write_model_files
from morph.growth import fold_new_parts, grow, has_trained_parts, new_part_values, set_new_part_values

__all__ = ["ADAPTER_NAME", "adapter_base", "apply_adapter", "base_fingerprint", "has_lora", "merge",
           "save_adapter"]

logger = logging.getLogger(__name__)

#: The peft adapter name MORPH models use (one adapter per model).
ADAPTER_NAME = "default"
#: MorphConfig fields that may differ between an adapter's base and the base it is loaded onto.
_RUNTIME_FIELDS = ("dropout", "emb_dropout", "activation_checkpointing")
#: Wrapper names peft and `morph.growth.train_new_parts` put into parameter names; removed to get
#: the base model's names.
_WRAPPER_PARTS = (".base_layer", ".original_module", ".parametrizations", ".original")


def has_lora(model: nn.Module) -> bool:
    """True when `model` carries a peft adapter (see `add_lora`)."""
    return bool(getattr(model, "peft_config", None))


def merge(model: nn.Module) -> nn.Module:
    """A plain MORPH with the LoRA update folded into the base weights (W + alpha / r * B A)
    and trained modules_to_save in place of the originals. `model` itself is left as is;
    a model without an adapter is returned unchanged."""
    if not has_lora(model):
        return model
    work = copy.deepcopy(model)
    tuner_names = {name for name, module in work.named_modules() if hasattr(module, "base_layer")
                   or hasattr(module, "unload_and_optionally_merge_module")}
    for name in sorted(tuner_names, key=lambda n: n.count(".")):
        if any(name.startswith(outer + ".") for outer in tuner_names if outer != name):
            continue  # inside another wrapper: handled with it
        parent_name, _, child = name.rpartition(".")
        parent = work.get_submodule(parent_name) if parent_name else work
        module = getattr(parent, child)
        if hasattr(module, "unload_and_optionally_merge_module"):
            plain = module.unload_and_optionally_merge_module(merge=True, safe_merge=True, adapter_names=None)
        else:
            module.merge(safe_merge=True)
            plain = module.get_base_layer()
        setattr(parent, child, plain)
    fold_new_parts(work)
    merged = build_model(model.config)
    try:
        merged.load_state_dict(work.state_dict())
    except RuntimeError as err:
        raise ValueError(f"merging the adapter did not give a plain MORPH: {err}") from err
    merged.metadata, merged.source = dict(model.metadata), model.source
    return merged.train(model.training)


def _base_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The base model's tensors under their plain MORPH names (adapter tensors left out)."""
    state = {}
    for name, tensor in model.state_dict().items():
        if ".lora_" in name or ".modules_to_save." in name or name.endswith(".tail"):
            continue
        for part in _WRAPPER_PARTS:
            name = name.replace(part, "")
        state[name] = tensor
    return state


def base_fingerprint(model: nn.Module, samples: int = 256) -> str:
    """A short hash of the base weights of `model` (with or without an adapter): names,
    shapes and `samples` evenly spaced values of every tensor. Cheap at any model size."""
    digest = hashlib.sha256()
    for name, tensor in sorted(_base_state(model).items()):
        flat = tensor.detach().flatten()
        picked = flat[:: max(1, flat.numel() // samples)][:samples].to("cpu", torch.float32)
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
        digest.update(picked.numpy().tobytes())
    return digest.hexdigest()[:16]


def save_adapter(model: nn.Module, directory: Union[str, Path], metadata: Optional[dict[str, Any]] = None) -> Path:
    """Write the adapter of `model` to `directory` (peft's format, see the module docstring), atomically.

    metadata: JSON-serialisable extras (default `model.metadata`).
    """
    from peft import get_peft_model_state_dict

    if not has_lora(model):
        raise ValueError("save_adapter: this model carries no LoRA adapter; use model.save_pretrained "
                         "for full weights, or adapters.add_lora first")
    config = model.peft_config[ADAPTER_NAME]
    if not config.base_model_name_or_path:
        raise CheckpointError("save_adapter: the adapter does not know its base checkpoint; pass "
                              "base='starter' or the base's directory to adapters.add_lora (models from "
                              "MORPH.from_pretrained record it themselves)")
    directory = Path(directory)
    # save_embedding_layers=False: the "auto" setting would look the base up on the Hugging Face Hub.
    state = get_peft_model_state_dict(model, adapter_name=ADAPTER_NAME, save_embedding_layers=False)
    state = {name: tensor.detach().to("cpu").contiguous() for name, tensor in state.items()}
    metadata = dict(model.metadata if metadata is None else metadata)
    metadata["adapter"] = {"base": config.base_model_name_or_path, "base_fingerprint": base_fingerprint(model)}
    grown = new_part_values(model) if has_trained_parts(model) else {}
    with atomic_directory(directory) as staging:
        config.save_pretrained(str(staging))
        save_file(state, str(staging / ADAPTER_WEIGHTS_FILE), metadata={"format": "pt"})
        if grown:
            save_file(grown, str(staging / GROWN_PARTS_FILE), metadata={"format": "pt"})
        write_model_files(staging, model.config, metadata)
    size = sum(t.numel() * t.element_size() for t in [*state.values(), *grown.values()])
    logger.info("saved LoRA adapter (%.2f MB, base %s) to %s", size / 2 ** 20, config.base_model_name_or_path,
                directory)
    return directory


def adapter_base(directory: Path) -> str:
    """The base checkpoint an adapter directory names ("starter" or a path)."""
    config = _lora_config(directory)
    if not config.base_model_name_or_path:
        raise CheckpointError(f"{directory / ADAPTER_CONFIG_FILE} names no base checkpoint "
                              f"(base_model_name_or_path); pass base='starter' or the base's directory")
    return config.base_model_name_or_path


def _lora_config(directory: Path) -> Any:
    from peft import LoraConfig

    if not (directory / ADAPTER_CONFIG_FILE).is_file():
        raise CheckpointError(f"{directory} holds no {ADAPTER_CONFIG_FILE}; pass a directory written by "
                              f"adapters.save_adapter (or morph finetune --level 1|2)")
    try:
        return LoraConfig.from_pretrained(str(directory))
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        raise CheckpointError(f"Invalid {directory / ADAPTER_CONFIG_FILE}: {err}; re-save the adapter") from err


def apply_adapter(model: nn.Module, directory: Path, reference: str, check_base: bool = True) -> nn.Module:
    """Inject the adapter saved in `directory` into `model` (its base, loaded from `reference`),
    not merged; returns the model in eval mode with the adapter's metadata: `model` itself, or a
    grown copy when the adapter was trained on a grown base.

    check_base: refuse a base whose weights differ from those the adapter was trained on.
    """
    from peft import inject_adapter_in_model, set_peft_model_state_dict

    config = _lora_config(directory)
    metadata = read_json(directory / METADATA_FILE) if (directory / METADATA_FILE).is_file() else {}
    if (directory / CONFIG_FILE).is_file():
        expected = load_config(directory)
        model = _grow_like(model, expected, directory)
        _check_same_architecture(expected, model.config, directory, reference)
    recorded = metadata.get("adapter", {}).get("base_fingerprint")
    if check_base and recorded and recorded != base_fingerprint(model):
        raise CheckpointError(f"adapter {directory} was trained on other weights than those now at "
                              f"{reference!r} (fingerprint {recorded} != {base_fingerprint(model)}); load it "
                              f"onto the checkpoint it was trained from (base=...), or pass check_base=False")
    config.inference_mode = False
    config.base_model_name_or_path = reference
    state = read_weights(directory / ADAPTER_WEIGHTS_FILE, fix="re-save the adapter with adapters.save_adapter")
    try:
        inject_adapter_in_model(config, model, adapter_name=ADAPTER_NAME)
        result = set_peft_model_state_dict(model, state, adapter_name=ADAPTER_NAME)
    except (RuntimeError, ValueError) as err:
        raise CheckpointError(f"adapter {directory} does not fit its base {reference!r}: {err}") from err
    adapter_keys = {k for k in model.state_dict() if ".lora_" in k or ".modules_to_save." in k}
    missing = sorted(adapter_keys & set(result.missing_keys))
    if result.unexpected_keys or missing:
        raise CheckpointError(f"adapter {directory} does not fit its base {reference!r}: unexpected "
                              f"{sorted(result.unexpected_keys)[:5]}, missing {missing[:5]}; was it trained "
                              f"on another model?")
    if (directory / GROWN_PARTS_FILE).is_file():
        grown = read_weights(directory / GROWN_PARTS_FILE, fix="re-save the adapter with adapters.save_adapter")
        try:
            set_new_part_values(model, grown, where=str(directory / GROWN_PARTS_FILE))
        except ValueError as err:
            raise CheckpointError(f"adapter {directory} does not fit its base {reference!r}: {err}") from err
    model.metadata = {k: v for k, v in metadata.items() if k != "adapter"}
    return model.eval()


def _grow_like(model: nn.Module, expected: Any, directory: Path) -> nn.Module:
    """The base grown as the adapter's model was (its config's last `grown_from` entry is the base's
    size), else the base unchanged (any other difference is for `_check_same_architecture`)."""
    found = model.config
    grown_from = getattr(expected, "grown_from", ())
    if not grown_from or list(grown_from) != [*found.grown_from, (found.max_fields, found.max_components)]:
        return model
    grown = grow(model, expected.max_fields, expected.max_components)
    logger.info("adapter %s: base %s", directory, grown.growth)
    return grown


def _check_same_architecture(expected: Any, found: Any, directory: Path, reference: str) -> None:
    found_values = found.to_dict()
    diff = {name: (value, found_values.get(name)) for name, value in expected.to_dict().items()
            if name not in _RUNTIME_FIELDS and found_values.get(name) != value}
    if diff:
        listed = ", ".join(f"{k}: adapter {a!r} vs base {b!r}" for k, (a, b) in sorted(diff.items()))
        raise CheckpointError(f"adapter {directory} was trained on another architecture than the base "
                              f"{reference!r} ({listed}); load it onto the checkpoint it was trained from")
