"""The registry of built-in simulators: each simulator module registers a `Simulator` on import."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from pde_data.dataset import PDEDataset

__all__ = ["SIMULATORS", "Simulator", "register"]


@dataclass(frozen=True)
class Simulator:
    """A seeded, vectorised solver with random initial conditions.

    `run(n_traj, steps, resolution, seed, **parameters) -> PDEDataset` where
    `resolution` is the number of grid points per spatial axis and the
    keyword-only `parameters` are physical ones (viscosity, frame_dt, ...).
    """

    name: str
    description: str
    n_spatial_dims: int
    default_resolution: int
    run: Callable[..., PDEDataset]

    @property
    def parameters(self) -> dict[str, Any]:
        """The physical parameters `run` takes, with their defaults: `{"viscosity": 0.015, ...}`."""
        return {p.name: p.default for p in inspect.signature(self.run).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}


SIMULATORS: dict[str, Simulator] = {}


def register(sim: Simulator) -> Simulator:
    SIMULATORS[sim.name] = sim
    return sim
