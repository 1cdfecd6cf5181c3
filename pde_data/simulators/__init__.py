"""Built-in PDE simulators: the embedded default data, no downloads.

Each simulator is one module that registers a `Simulator`; `generate(name, ...)`
runs it and returns an in-memory `PDEDataset` with its spec and statistics.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from pde_data.dataset import PDEDataset
from pde_data.errors import DataError
from pde_data.simulators.registry import SIMULATORS, Simulator, register

__all__ = ["SIMULATORS", "Simulator", "check_parameters", "generate", "register"]


def check_parameters(name: str, parameters: Mapping[str, Any]) -> None:
    """Raise a `DataError` unless `name` is a simulator and each key of `parameters` one of its
    physical parameters (not n_traj, steps, resolution or seed, which have arguments of their own)."""
    if name not in SIMULATORS:
        raise DataError(f"unknown simulator {name!r}; available: {', '.join(sorted(SIMULATORS))}")
    known = SIMULATORS[name].parameters
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        listed = ", ".join(f"{k}={v}" for k, v in known.items()) or "none"
        raise DataError(f"simulator {name!r} has no parameter {', '.join(map(repr, unknown))}; "
                        f"its parameters (with defaults): {listed} (n_traj, steps, resolution and seed "
                        "are arguments of their own)")


def generate(name: str, n_traj: int = 16, steps: int = 20, resolution: Optional[int] = None,
             seed: int = 0, **parameters: float) -> PDEDataset:
    """Simulate `n_traj` trajectories of `steps` frames with the simulator `name`.

    `parameters` override the simulator's physical parameters
    (`SIMULATORS[name].parameters` lists them with their defaults), e.g.
    `generate("burgers_1d", viscosity=0.005)`; they are recorded in `spec.attrs`.
    """
    check_parameters(name, parameters)
    for arg, value, low in (("n_traj", n_traj, 1), ("steps", steps, 2)):
        if not isinstance(value, int) or value < low:
            raise DataError(f"{arg} must be an int >= {low}, got {value!r}")
    sim = SIMULATORS[name]
    resolution = sim.default_resolution if resolution is None else resolution
    if not isinstance(resolution, int) or resolution < 8:
        raise DataError(f"resolution must be an int >= 8, got {resolution!r}")
    return sim.run(n_traj, steps, resolution, seed, **parameters)


# Each import registers one simulator.
from pde_data.simulators import (  # noqa: E402,F401
    advection_diffusion_3d,
    burgers_1d,
    euler_1d,
    navier_stokes_2d,
    shallow_water_2d,
)
