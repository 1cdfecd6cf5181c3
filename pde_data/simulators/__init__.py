"""Built-in PDE simulators: the embedded default data, no downloads.

Each PDE family is one module that registers its `Simulator`s (one per
dimensionality where the code is generic in it, e.g. `heat` -> heat_1d, heat_3d);
`generate(name, ...)` runs one and returns an in-memory `PDEDataset` with its spec
and statistics. Physical parameters are declared (`Parameter`: default range,
stable range), drawn per trajectory and recorded in
`spec.attrs["trajectory_parameters"]`; `boundary=` picks periodic, wall or open
boundaries where a simulator has them. `corpus.build_corpus` writes them all.
docs/corpus.md lists the families.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from pde_data.dataset import PDEDataset
from pde_data.errors import DataError
from pde_data.simulators._parameters import Parameter, check_values, resolve_boundaries
from pde_data.simulators.registry import SIMULATORS, Simulator, register

__all__ = ["SIMULATORS", "Parameter", "Simulator", "check_parameters", "generate", "register"]


def check_parameters(name: str, parameters: Mapping[str, Any]) -> None:
    """Raise a `DataError` unless `name` is a simulator, each key of `parameters` one of its
    physical parameters (not n_traj, steps, resolution or seed, which have arguments of their own)
    and each value within the parameter's stable range (or a boundary the simulator supports)."""
    if name not in SIMULATORS:
        raise DataError(f"unknown simulator {name!r}; available: {', '.join(sorted(SIMULATORS))}")
    known = SIMULATORS[name].parameters
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        listed = ", ".join(f"{k}={v}" for k, v in known.items()) or "none"
        raise DataError(f"simulator {name!r} has no parameter {', '.join(map(repr, unknown))}; "
                        f"its parameters (with defaults): {listed} (n_traj, steps, resolution and seed "
                        "are arguments of their own)")
    sim = SIMULATORS[name]
    check_values(name, sim.physics, parameters)
    if "boundary" in parameters:
        resolve_boundaries(name, sim.boundaries, parameters["boundary"], sim.n_spatial_dims)


def generate(name: str, n_traj: int = 16, steps: int = 20, resolution: Optional[int] = None,
             seed: int = 0, **parameters: float) -> PDEDataset:
    """Simulate `n_traj` trajectories of `steps` frames with the simulator `name`.

    `parameters` override the simulator's physical parameters
    (`SIMULATORS[name].parameters` lists them with their defaults): a number pins
    one for every trajectory, `(low, high)` draws it per trajectory, e.g.
    `generate("burgers_1d", viscosity=0.005)` or `viscosity=(0.005, 0.05)`. They are
    recorded in `spec.attrs`: the value or range under the parameter's name, the
    value of each trajectory in `spec.attrs["trajectory_parameters"][name]`.
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


# Each import registers its simulators.
from pde_data.simulators import (  # noqa: E402,F401
    advection_1d,
    advection_diffusion_3d,
    burgers_1d,
    burgers_2d,
    euler_1d,
    euler_2d,
    fitzhugh_nagumo_2d,
    gray_scott_2d,
    heat,
    kdv_1d,
    navier_stokes_2d,
    navier_stokes_3d,
    phase_field,
    shallow_water_2d,
    wave,
)
