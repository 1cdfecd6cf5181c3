"""Heat (diffusion) equation in 1D and 3D, with walls or periodic.

    u_t = D lap(u)        on [0, 1]^d, d = 1 (`heat_1d`) or 3 (`heat_3d`)

Boundaries (`boundary=`, one kind or one per axis): "dirichlet" (the default:
fixed values, u = a + (b - a) x at Dirichlet walls when the x axis has them,
u = a when only other axes do), "neumann" (zero flux: the total heat
int u dx is conserved exactly) or "periodic".

Scheme: the solution v = u - (a + (b - a) x) (harmonic, so v obeys the same
equation with zero wall values) is expanded in the sine / cosine / Fourier
series of each axis (`_spectral_box`); every mode decays exactly as
exp(-D |k|^2 t), so frames are exact up to round-off for any D and frame_dt.

Initial conditions: the wall profile plus a unit-variance smooth random field
(Fourier modes |k_i| <= 8, amplitude ~ 1/|k|, tapered to zero at Dirichlet
walls).

Parameters, per trajectory: diffusivity D log-uniform in [0.005, 0.05] by
default (stable range [1e-4, 1]); wall values a (`left_value`, at x = 0) and
b (`right_value`, at x = 1) uniform in [-1, 1] (stable [-10, 10]; only
Dirichlet walls use them). frame_dt per dataset: 0.01 in 1D, 0.02 in 3D
([1e-4, 1]).

Output: field `u (N, T, 1, *space)` at the grid points (cell centres along
wall axes); frames `frame_dt` apart, frame 0 the initial condition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._spectral_box import BOX_BOUNDARIES, SpectralBox, box_dataset, integrate, start_box

__all__ = ["simulate", "wall_profile"]

DOMAIN_LENGTH = 1.0
BOUNDARIES = ("dirichlet", "neumann", "periodic")
assert set(BOUNDARIES) == set(BOX_BOUNDARIES)


def _physics(frame_dt: float) -> tuple[Parameter, ...]:
    return (
        Parameter("diffusivity", (0.005, 0.05), stable=(1e-4, 1.0), log=True, description="D"),
        Parameter("left_value", (-1.0, 1.0), stable=(-10.0, 10.0), description="u at Dirichlet walls, x = 0"),
        Parameter("right_value", (-1.0, 1.0), stable=(-10.0, 10.0), description="u at Dirichlet walls, x = 1"),
        Parameter("frame_dt", frame_dt, stable=(1e-4, 1.0), per_trajectory=False, description="time between frames"),
    )


def wall_profile(box: SpectralBox, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """`(N, *space)` harmonic offset holding the Dirichlet wall values: `a + (b - a) x` when the
    x axis has Dirichlet walls, `a` when only other axes do, 0 without Dirichlet walls."""
    n = len(left)
    shape = (n,) + (1,) * box.ndim
    if "dirichlet" not in box.boundaries:
        return np.zeros(shape)
    a = np.reshape(left, shape)
    if box.boundaries[0] != "dirichlet":
        return a
    x = box.points(0).reshape((1, -1) + (1,) * (box.ndim - 1)) / box.length
    return a + (np.reshape(right, shape) - a) * x


def _simulator(name: str, n_space: int, default_resolution: int, default_frame_dt: float) -> Simulator:
    physics_declared = _physics(default_frame_dt)

    def simulate(n_traj: int = 16, steps: int = 20, resolution: int = default_resolution, seed: int = 0, *,
                 diffusivity: Any = None, left_value: Any = None, right_value: Any = None,
                 frame_dt: Any = None, boundary: Any = BOUNDARIES[0]) -> PDEDataset:
        """`n_traj` heat trajectories of `steps` frames on a `resolution`^d grid; field `u (N, T, 1, *space)`.
        Parameters: None (the default), a number (pinned) or a `(low, high)` range."""
        physics, box, rng = start_box(name, n_traj, steps, resolution, seed, physics_declared,
                                      supported=BOUNDARIES, boundary=boundary, n_space=n_space,
                                      length=DOMAIN_LENGTH, diffusivity=diffusivity, left_value=left_value,
                                      right_value=right_value, frame_dt=frame_dt)
        offset = wall_profile(box, physics["left_value"], physics["right_value"])
        wiggle = box.random_field(rng, n_traj, lambda k: 1.0 / k, max_mode=8)
        decay = -np.reshape(physics["diffusivity"], (-1, 1) + (1,) * n_space) * box.k2  # (N, 1, *spectral)
        v = integrate(box, wiggle[:, None], decay, frame_dt=physics["frame_dt"], steps=steps, max_dt=np.inf,
                      name=name)
        u = v + offset[:, None, None]  # (N, T, 1, *space)
        return box_dataset(name, box, {"u": u}, physics, equation="u_t = D lap u", seed=seed)

    return register(Simulator(
        name, f"heat equation {n_space}D, Dirichlet/Neumann walls or periodic, exact spectral (field u)",
        n_space, default_resolution, run=simulate, physics=physics_declared, boundaries=BOUNDARIES,
        fields=(("u", 1),)))


HEAT_1D = _simulator("heat_1d", 1, 128, 0.01)
HEAT_3D = _simulator("heat_3d", 3, 24, 0.02)
simulate = HEAT_1D.run
