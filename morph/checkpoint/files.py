"""What a checkpoint is on disk, and the one place a checkpoint path is resolved.

A checkpoint directory holds either full weights

    config.json          the model config (MorphConfig fields)
    model.safetensors    the weights
    metadata.json        optional: the run record and anything else saved with the model

or a LoRA adapter (`adapter_config.json` + `adapter_model.safetensors` + the two
JSON files above, see `morph.checkpoint.adapter`) with a reference to its base.
`"starter"` names the model shipped inside the package (`morph/weights/starter/`),
and a training run directory (`morph pretrain/finetune --out DIR`) resolves to
the checkpoint in its `final/`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

from morph.checkpoint.errors import CheckpointError

__all__ = ["ADAPTER_CONFIG_FILE", "ADAPTER_WEIGHTS_FILE", "CHECKPOINT_FILES", "CONFIG_FILE", "GROWN_PARTS_FILE",
           "METADATA_FILE", "WEIGHTS_FILE", "CheckpointError", "CheckpointPath", "read_json", "read_weights", "resolve_checkpoint"]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "metadata.json"
#: Marks a LoRA adapter directory (peft's file names).
ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"
#: An adapter of a grown model: the parts the growth added to its base (`morph.growth.new_part_values`).
GROWN_PARTS_FILE = "grown_parts.safetensors"
#: Every file a checkpoint directory may hold, full or adapter.
CHECKPOINT_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE,
                    GROWN_PARTS_FILE)
#: Where a training run directory keeps its final model.
RUN_FINAL_DIR = "final"
PACKAGED_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
PACKAGED_NAMES = ("starter",)


@dataclass(frozen=True)
class CheckpointPath:
    """A resolved checkpoint.

    directory: the directory holding the files.
    kind: "full" (config + weights) or "adapter" (a LoRA adapter on a base).
    reference: how others refer to it: "starter" and a Hub id as given, else the absolute directory.
    """

    directory: Path
    kind: Literal["full", "adapter"]
    reference: str


def _is_checkpoint(directory: Path) -> bool:
    return (directory / CONFIG_FILE).is_file() or (directory / ADAPTER_CONFIG_FILE).is_file()


def resolve_checkpoint(path: Union[str, Path, CheckpointPath]) -> CheckpointPath:
    """Where `path` ("starter", a checkpoint directory, a run directory or a Hugging Face Hub id,
    see `morph.checkpoint.hub`) keeps its model, and whether it is full weights or an adapter.
    Raises `CheckpointError` when there is none."""
    if isinstance(path, CheckpointPath):
        return path
    if str(path) in PACKAGED_NAMES:
        directory = PACKAGED_WEIGHTS / str(path)
        if not (directory / CONFIG_FILE).is_file():
            raise CheckpointError(f"The {path!r} model is not shipped in this version of morph-pde yet "
                                  f"(looked in {directory}); pass the path of a checkpoint directory written "
                                  f"by save_pretrained instead")
        return CheckpointPath(directory, "full", str(path))
    directory = Path(path)
    reference = None
    if not directory.is_dir():
        from morph.checkpoint.hub import hub_snapshot, parse_hub_reference

        hub = parse_hub_reference(str(path))
        if hub is None:
            raise CheckpointError(f"No checkpoint directory at {directory}; pass a directory written by "
                                  f"MORPH.save_pretrained (holding {CONFIG_FILE} and {WEIGHTS_FILE}), a training "
                                  f"run directory, a Hugging Face Hub id (org/name[@revision][/subfolder]), "
                                  f"or 'starter'")
        directory, reference = hub_snapshot(hub), str(hub)
        if not _is_checkpoint(directory) and not _is_checkpoint(directory / RUN_FINAL_DIR):
            raise CheckpointError(f"Hub checkpoint {hub}: {directory} holds no {CONFIG_FILE} or "
                                  f"{ADAPTER_CONFIG_FILE}; name the subfolder that does (org/name/SUBFOLDER), or "
                                  f"for the published MORPH weights use `morph import-official --hub`")
    final = directory / RUN_FINAL_DIR
    if not _is_checkpoint(directory) and _is_checkpoint(final):
        directory = final
    kind = "adapter" if (directory / ADAPTER_CONFIG_FILE).is_file() else "full"
    return CheckpointPath(directory, kind, reference or str(directory.resolve()))


def read_weights(path: Path, fix: str) -> dict[str, Any]:
    """The tensors of the safetensors file `path`, on CPU; `CheckpointError` naming the file and
    `fix` (how to write it again) when it is missing or unreadable."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except FileNotFoundError:
        raise CheckpointError(f"Missing {path}; {fix}") from None
    except (SafetensorError, OSError, RuntimeError) as error:
        raise CheckpointError(f"Corrupt weights file {path} ({error}); {fix} or copy the file again") from error


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; `CheckpointError` naming the file if it is not valid JSON."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"Invalid {path}: {err}; fix the file or save the model again") from err
