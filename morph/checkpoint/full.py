"""Full-weight checkpoints: `config.json` + `model.safetensors` (+ `metadata.json`).

Written atomically (`pde_data.files.atomic_directory`): an interrupted save never
leaves a half-written checkpoint. Loaded on CPU whatever device saved them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Union

import torch
from safetensors.torch import save_file
from torch import nn

from pde_data.files import atomic_directory, json_text

from morph.checkpoint.architectures import build_model, config_from_dict
from morph.checkpoint.files import (CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE, CheckpointError, read_json,
                                    read_weights)

__all__ = ["load_config", "load_full", "save_full", "write_model_files"]

logger = logging.getLogger(__name__)


def write_model_files(staging: Path, config: Any, metadata: dict[str, Any]) -> None:
    """The config and metadata files every checkpoint directory holds."""
    (staging / CONFIG_FILE).write_text(json_text(config.to_dict()) + "\n")
    if metadata:  # strict JSON: a diverged validation figure is null, not a bare NaN
        (staging / METADATA_FILE).write_text(json_text(metadata) + "\n")


def save_full(model: nn.Module, directory: Union[str, Path], metadata: dict[str, Any]) -> Path:
    """Write the weights, config and `metadata` of `model` to `directory`, replacing it as a whole."""
    directory = Path(directory)
    try:
        with atomic_directory(directory) as staging:
            state = {name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()}
            save_file(state, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
            write_model_files(staging, model.config, metadata)
    except NotADirectoryError as err:
        raise CheckpointError(f"Cannot save a checkpoint to {directory}: {err}") from None
    logger.info("saved checkpoint to %s", directory)
    return directory


def load_config(directory: Union[str, Path]) -> Any:
    """The model config stored in `directory/config.json`."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"Missing {path}; a checkpoint directory needs {CONFIG_FILE} and {WEIGHTS_FILE} "
                              f"(write them with MORPH.save_pretrained)")
    try:
        return config_from_dict(read_json(path))
    except (ValueError, TypeError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"Invalid {path}: {error}; fix the file or re-save the model with "
                              f"MORPH.save_pretrained") from error


def load_full(directory: Path, **overrides: Any) -> nn.Module:
    """The model in the full-weight checkpoint `directory`, on CPU, with its metadata.

    overrides: config fields to change on load (e.g. dropout); the weights must still fit.
    """
    config = load_config(directory)
    if overrides:
        config = type(config).from_dict({**config.to_dict(), **overrides})
    weights = directory / WEIGHTS_FILE
    state = read_weights(weights, fix="re-save the model with MORPH.save_pretrained")
    model = build_model(config)
    _load_state(model, state, weights)
    metadata_path = directory / METADATA_FILE
    model.metadata = read_json(metadata_path) if metadata_path.is_file() else {}
    return model


def _load_state(model: nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """Copy `state` into `model`, refusing missing, unexpected or mis-shaped tensors by name."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [f"{name} {tuple(state[name].shape)} (config wants {tuple(tensor.shape)})"
                   for name, tensor in expected.items() if name in state and state[name].shape != tensor.shape]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:5])}" + (" ..." if len(unexpected) > 5 else ""))
    if wrong_shape:
        problems.append(f"wrong shape {'; '.join(wrong_shape[:5])}")
    if problems:
        raise CheckpointError(f"{source} does not match its {CONFIG_FILE}: {'; '.join(problems)}. Save config "
                              f"and weights together with MORPH.save_pretrained (for published MORPH weights "
                              f"use morph import-official)")
    model.load_state_dict(state)
