"""The run record: how a checkpoint's model was trained, saved with every checkpoint.

Everything that reads a checkpoint to evaluate, roll out or fine-tune it asks
`run_record(model)` for the history it was trained with, its split and its data,
instead of looking keys up in `model.metadata`. It is stored in `metadata.json`
under `"run"`, next to the full `"train_config"`; checkpoints written before the
record existed (the shipped starter among them) are read from their
`"train_config"`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from pde_data.windows import DEFAULT_FRACTIONS

__all__ = ["NORMALIZATION", "RunRecord", "run_record"]

#: How every model of this toolkit sees its input (`morph.predict`): RevIN statistics of the
#: history per sample and field, a vector or tensor field scaled by its magnitude.
NORMALIZATION = "revin-history"


@dataclass
class RunRecord:
    """How a model was trained.

    task: "pretrain" or "finetune".
    history: frames per input window the run trained with (k).
    split_seed, split_fractions: the trajectory split of its datasets
        (`pde_data.split_trajectories`); evaluating on "test" with them scores held-out trajectories.
    normalization: the input normalisation (`NORMALIZATION`).
    steps: optimiser steps taken.
    data_specs: the `DatasetSpec` dicts of the datasets it trained on.
    train_config: the full TrainConfig dict of the run.
    validation: per store of its mix, keyed by the store's label (a simulator's name or the store's file
        name; `morph.train.data.store_labels`), the next-step validation figures at the end of the run.
    """

    history: int
    task: str = "pretrain"
    split_seed: int = 0
    split_fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    normalization: str = NORMALIZATION
    steps: int = 0
    data_specs: list[dict[str, Any]] = field(default_factory=list)
    train_config: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)

    _IN_RUN = ("history", "task", "split_seed", "split_fractions", "normalization")

    @property
    def boundary_types(self) -> set[str]:
        """The boundary conditions any of its datasets had ("periodic", "wall", ...)."""
        return {bc for spec in self.data_specs for bc in spec.get("boundary_conditions", ())}

    def to_metadata(self) -> dict[str, Any]:
        """The `metadata.json` entries of this record."""
        return {"run": {name: getattr(self, name) for name in self._IN_RUN},
                "train_config": self.train_config, "data_specs": self.data_specs,
                "validation": self.validation, "steps": self.steps}

    @classmethod
    def from_metadata(cls, metadata: Any) -> Optional["RunRecord"]:
        """The record in a checkpoint's metadata, or None if it holds none (e.g. imported weights)."""
        if not isinstance(metadata, dict):
            return None
        run = metadata.get("run") if isinstance(metadata.get("run"), dict) else {}
        train = metadata.get("train_config") if isinstance(metadata.get("train_config"), dict) else {}
        history = run.get("history", train.get("history"))
        if not isinstance(history, int):
            return None
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in run.items() if k in known}
        values.setdefault("split_seed", train.get("split_seed", 0))
        if "split_fractions" in values:
            values["split_fractions"] = tuple(values["split_fractions"])
        return cls(**{**values, "history": history, "train_config": train,
                      "data_specs": list(metadata.get("data_specs") or []),
                      "validation": dict(metadata.get("validation") or {}),
                      "steps": int(metadata.get("steps") or 0)})


def run_record(model: Any) -> Optional[RunRecord]:
    """The run record of a loaded model (`model.metadata`), or None when it has none."""
    return RunRecord.from_metadata(getattr(getattr(model, "module", model), "metadata", None))
