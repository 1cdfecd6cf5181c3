"""Checkpoints: a directory with `config.json` + `model.safetensors` (+ `metadata.json`).

Written atomically: the files go to a temporary directory next to the target,
which then replaces it, so an interrupted save never leaves a half-written
checkpoint. Loaded on CPU whatever device saved them. `"starter"` names the
model shipped inside the package (`morph/weights/starter/`).

A directory may also hold a LoRA adapter (`adapter_config.json` +
`adapter_model.safetensors`, peft's format) with a reference to its base
checkpoint; `load_pretrained` then hands it to `morph.lora_checkpoint`, which
rebuilds base + adapter. A training run directory (`morph pretrain/finetune --out DIR`) loads
as the checkpoint in its `final/`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from pde_data.files import publish_modes

from morph.config import MorphConfig
from morph.model.morph import MORPH

__all__ = ["CheckpointError", "save_pretrained", "load_pretrained", "atomic_directory", "checkpoint_reference",
           "CONFIG_FILE", "WEIGHTS_FILE", "METADATA_FILE", "ADAPTER_CONFIG_FILE"]

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "metadata.json"
#: Marks a LoRA adapter directory (peft's file name); see `morph.lora_checkpoint`.
ADAPTER_CONFIG_FILE = "adapter_config.json"
#: Where a training run directory keeps its final model.
RUN_FINAL_DIR = "final"
PACKAGED_WEIGHTS = Path(__file__).parent / "weights"
PACKAGED_NAMES = ("starter",)


class CheckpointError(ValueError):
    """A checkpoint directory or file that cannot be read as a MORPH model."""


def save_pretrained(model: MORPH, directory: Union[str, Path],
                    metadata: Optional[dict[str, Any]] = None) -> Path:
    """Write `model` to `directory`: config.json, model.safetensors and, if any, metadata.json.

    metadata: JSON-serialisable extras saved next to the weights (for example
    normalisation statistics); defaults to `model.metadata`. An existing
    directory is replaced as a whole. A model carrying a LoRA adapter
    (`adapters.add_lora`) is saved as the adapter only, with a reference to its
    base (`morph.lora_checkpoint.save_adapter`).
    """
    if getattr(model, "peft_config", None):
        from morph.lora_checkpoint import save_adapter  # lazy: it imports this module

        return save_adapter(model, directory, metadata)
    directory = Path(directory)
    metadata = dict(model.metadata if metadata is None else metadata)
    with atomic_directory(directory) as staging:
        state = {name: tensor.detach().to("cpu").contiguous()
                 for name, tensor in model.state_dict().items()}
        save_file(state, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
        (staging / CONFIG_FILE).write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
        if metadata:
            (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    logger.info("saved MORPH checkpoint to %s", directory)
    return directory


@contextmanager
def atomic_directory(directory: Union[str, Path]) -> Iterator[Path]:
    """Yield an empty staging directory next to `directory`; when the block ends
    without error it replaces `directory` as a whole, else it is removed."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        yield staging
        publish_modes(staging)  # mkdtemp and safetensors make private files; a checkpoint is for sharing
        _replace_directory(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_directory(staging: Path, directory: Path) -> None:
    """Move `staging` to `directory`; a previous `directory` is moved aside, then removed."""
    if not directory.exists():
        os.rename(staging, directory)
        return
    if not directory.is_dir():
        raise CheckpointError(f"Cannot save a checkpoint to {directory}: it is a file; "
                              f"choose a directory path")
    old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
    os.replace(directory, old / directory.name)
    os.rename(staging, directory)
    shutil.rmtree(old, ignore_errors=True)


def resolve_checkpoint_dir(path: Union[str, Path]) -> Path:
    """A checkpoint directory: `path` itself, its `final/` for a training run
    directory, or the packaged weights for "starter"."""
    if str(path) in PACKAGED_NAMES:
        packaged = PACKAGED_WEIGHTS / str(path)
        if not (packaged / CONFIG_FILE).is_file():
            raise CheckpointError(f"The {path!r} model is not shipped in this version of "
                                  f"morph-pde yet (looked in {packaged}); pass the path of a "
                                  f"checkpoint directory written by save_pretrained instead")
        return packaged
    directory = Path(path)
    if not directory.is_dir():
        raise CheckpointError(f"No checkpoint directory at {directory}; pass a directory "
                              f"written by MORPH.save_pretrained (holding {CONFIG_FILE} and "
                              f"{WEIGHTS_FILE}), or 'starter'")
    final = directory / RUN_FINAL_DIR
    if not _is_checkpoint(directory) and _is_checkpoint(final):
        return final
    return directory


def _is_checkpoint(directory: Path) -> bool:
    return (directory / CONFIG_FILE).is_file() or (directory / ADAPTER_CONFIG_FILE).is_file()


def checkpoint_reference(path: Union[str, Path]) -> str:
    """How an adapter refers to its base: "starter" as is, else the absolute path of the checkpoint."""
    if str(path) in PACKAGED_NAMES:
        return str(path)
    return str(resolve_checkpoint_dir(path).resolve())


def load_config(directory: Union[str, Path]) -> MorphConfig:
    """The MorphConfig stored in `directory/config.json`."""
    path = Path(directory) / CONFIG_FILE
    try:
        return MorphConfig.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise CheckpointError(f"Missing {path}; a checkpoint directory needs {CONFIG_FILE} "
                              f"and {WEIGHTS_FILE} (write them with MORPH.save_pretrained)") from None
    except (json.JSONDecodeError, ValueError, TypeError) as error:
        raise CheckpointError(f"Invalid {path}: {error}; fix the file or re-save the model "
                              f"with MORPH.save_pretrained") from error


def load_pretrained(path: Union[str, Path], **overrides: Any) -> MORPH:
    """The MORPH model saved in `path` (or "starter"), on CPU, in eval mode.

    overrides: MorphConfig fields to change on load (e.g. dropout,
    activation_checkpointing); the weights must still fit.
    An adapter directory loads as its base with the adapter merged in
    (`morph.lora_checkpoint.load_adapter`, also `adapters.load_adapter`, keeps the
    adapter separate, for more training).
    `model.source` records where the model came from.
    """
    directory = resolve_checkpoint_dir(path)
    if (directory / ADAPTER_CONFIG_FILE).is_file():
        from morph.lora_checkpoint import load_adapter, merge  # lazy: it imports this module

        model = merge(load_adapter(directory, **overrides))
        model.source = checkpoint_reference(path)
        return model.eval()
    config = load_config(directory)
    if overrides:
        config = MorphConfig.from_dict({**config.to_dict(), **overrides})
    weights = directory / WEIGHTS_FILE
    try:
        state = load_file(str(weights), device="cpu")
    except FileNotFoundError:
        raise CheckpointError(f"Missing {weights}; re-save the model with "
                              f"MORPH.save_pretrained") from None
    except (SafetensorError, OSError, RuntimeError) as error:
        raise CheckpointError(f"Corrupt weights file {weights} ({error}); re-save the model "
                              f"with MORPH.save_pretrained or copy the file again") from error
    model = MORPH(config)
    _load_state(model, state, weights)
    metadata_path = directory / METADATA_FILE
    if metadata_path.is_file():
        try:
            model.metadata = json.loads(metadata_path.read_text())
        except json.JSONDecodeError as error:
            raise CheckpointError(f"Invalid {metadata_path}: {error}") from error
    model.source = checkpoint_reference(path)
    return model.eval()


def _load_state(model: MORPH, state: dict[str, torch.Tensor], source: Path) -> None:
    """Copy `state` into `model`, refusing missing, unexpected or mis-shaped tensors by name."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [f"{name} {tuple(state[name].shape)} (config wants {tuple(tensor.shape)})"
                   for name, tensor in expected.items()
                   if name in state and state[name].shape != tensor.shape]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:5])}"
                        + (" ..." if len(unexpected) > 5 else ""))
    if wrong_shape:
        problems.append(f"wrong shape {'; '.join(wrong_shape[:5])}")
    if problems:
        raise CheckpointError(f"{source} does not match its {CONFIG_FILE}: {'; '.join(problems)}. "
                              f"Save config and weights together with MORPH.save_pretrained "
                              f"(for published MORPH weights use morph import-official)")
    model.load_state_dict(state)
