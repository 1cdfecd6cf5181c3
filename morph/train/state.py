"""Training state: Accelerate state (model, optimiser, scheduler, RNG) saved atomically, found again on resume.

`<output_dir>/checkpoints/step_00000400/` holds Accelerate's state (model,
optimiser, scheduler, RNG of every process) and `trainer_state.json`. It is
written under a hidden temporary name and renamed when complete, so a run
killed mid-save never leaves a directory that looks like a checkpoint.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Optional

import torch
from accelerate import Accelerator

from pde_data.files import json_text, publish_directory

__all__ = ["latest_training_state", "load_training_state", "save_training_state"]

_NAME = re.compile(r"^step_(\d{8})$")
STATE_FILE = "trainer_state.json"


def latest_training_state(root: Path) -> Optional[Path]:
    """The complete checkpoint with the highest step under `root`, or None."""
    if not root.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if (m := _NAME.match(p.name)) and (p / STATE_FILE).is_file()]
    return max(found)[1] if found else None


def save_training_state(accelerator: Accelerator, root: Path, step: int, state: dict[str, Any],
                    keep: int) -> Path:
    """Save on all processes; the main process commits it by renaming, then prunes to `keep`."""
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp-step_{step:08d}"
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    # Accelerate keeps the RNG of the main process only; every process keeps its own here.
    torch.save(_rng_state(), tmp / f"rng_state_{accelerator.process_index}.pt")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / STATE_FILE).write_text(json_text(state))
        publish_directory(tmp, final)
        complete = sorted(p for p in root.iterdir() if _NAME.match(p.name))
        for old in complete[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_training_state(accelerator: Accelerator, checkpoint: Path) -> dict[str, Any]:
    """Restore model, optimiser, scheduler and this process's RNG; returns the trainer state."""
    accelerator.load_state(str(checkpoint))
    rng_file = checkpoint / f"rng_state_{accelerator.process_index}.pt"
    if rng_file.is_file():
        states = torch.load(rng_file, weights_only=True)
        torch.set_rng_state(states["cpu"])
        if "cuda" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["cuda"])
    return json.loads((checkpoint / STATE_FILE).read_text())


def _rng_state() -> dict[str, Any]:
    states: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states
