"""Built-in PDE simulators: the embedded default data, no downloads.

Each simulator is one module that registers a `Simulator`; `generate(name, ...)`
runs it and returns an in-memory `PDEDataset` with its spec and statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from pde_data.dataset import PDEDataset
from pde_data.errors import DataError

__all__ = ["SIMULATORS", "Simulator", "generate", "register"]


@dataclass(frozen=True)
class Simulator:
    """A seeded, vectorised solver with random initial conditions.

    `run(n_traj, steps, resolution, seed) -> PDEDataset` where `resolution` is
    the number of grid points per spatial axis.
    """

    name: str
    description: str
    n_spatial_dims: int
    default_resolution: int
    run: Callable[[int, int, int, int], PDEDataset]


SIMULATORS: dict[str, Simulator] = {}


def register(sim: Simulator) -> Simulator:
    SIMULATORS[sim.name] = sim
    return sim


def generate(name: str, n_traj: int = 16, steps: int = 20, resolution: Optional[int] = None,
             seed: int = 0) -> PDEDataset:
    """Simulate `n_traj` trajectories of `steps` frames with the simulator `name`."""
    if name not in SIMULATORS:
        raise DataError(f"unknown simulator {name!r}; available: {', '.join(sorted(SIMULATORS))}")
    for arg, value, low in (("n_traj", n_traj, 1), ("steps", steps, 2)):
        if not isinstance(value, int) or value < low:
            raise DataError(f"{arg} must be an int >= {low}, got {value!r}")
    sim = SIMULATORS[name]
    resolution = sim.default_resolution if resolution is None else resolution
    if not isinstance(resolution, int) or resolution < 8:
        raise DataError(f"resolution must be an int >= 8, got {resolution!r}")
    return sim.run(n_traj, steps, resolution, seed)


# Each import registers one simulator.
from pde_data.simulators import (  # noqa: E402,F401
    advection_diffusion_3d,
    burgers_1d,
    euler_1d,
    navier_stokes_2d,
    shallow_water_2d,
)
