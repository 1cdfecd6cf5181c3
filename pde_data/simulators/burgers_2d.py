"""Viscous Burgers equation in 2D with a vector velocity, periodic.

    u_t + (u . grad) u = nu lap(u)          u = (u_x, u_y), on [0, 1)^2, periodic

Scheme: Fourier pseudo-spectral (`_spectral_box`): the advection (u . grad) u
is formed on the grid from spectral derivatives and dealiased with the 2/3
rule; integrating-factor RK4 in time (viscosity exact), substeps chosen every
frame so that max|u| dt / dx <= 0.5 (|u| the speed).

Initial conditions: a potential flow u0 = grad(phi) of a smooth random phi
(Fourier modes |k_i| <= 4, amplitude ~ 1/|k|^3), scaled to RMS speed 0.5, plus
a random uniform drift (each component in [-0.25, 0.25]). The equation keeps a
potential flow potential (curl u = 0 for all time; with it (u . grad) u =
grad(|u|^2 / 2) and the mean velocity is conserved); fronts steepen into
viscous shocks along curves.

Parameters: viscosity nu per trajectory, log-uniform in [0.03, 0.06] by
default (stable range [0.015, 0.5] on 48^2 points; below it the shocks are
under-resolved); frame_dt 0.025 per dataset ([1e-3, 0.2]).

Output: field `velocity (N, T, 2, X, Y)` (u_x, u_y along the grid axes) at
x_j = j / X; frames `frame_dt` apart, frame 0 the initial condition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._common import dealias_mask
from pde_data.simulators._spectral_box import SpectralBox, box_dataset, integrate, speed_limit, start_box

__all__ = ["evolve"]

NAME = "burgers_2d"
N_SPACE = 2
CFL = 0.5
PHYSICS = (
    Parameter("viscosity", (0.03, 0.06), stable=(0.015, 0.5), log=True, description="nu"),
    Parameter("frame_dt", 0.025, stable=(1e-3, 0.2), per_trajectory=False, description="time between frames"),
)


def evolve(box: SpectralBox, u0: np.ndarray, *, viscosity: float | np.ndarray, frame_dt: float,
           steps: int) -> np.ndarray:
    """Integrate from `u0 (N, 2, X, Y)` -> `u (N, T=steps, 2, X, Y)` float64; `viscosity` a number or `(N,)`."""
    keep = dealias_mask(box.resolution, N_SPACE)
    linear = -np.reshape(viscosity, (-1, 1, 1, 1)) * box.k2  # (N or 1, 1, *spectral)

    def nonlinear(u_hat: np.ndarray) -> np.ndarray:
        u = box.backward(u_hat)  # (N, 2, X, Y)
        advection = sum(u[:, j : j + 1] * box.backward(1j * box.k[j] * u_hat) for j in range(N_SPACE))
        return -box.forward(advection) * keep

    return integrate(box, u0, linear, frame_dt=frame_dt, steps=steps, max_dt=speed_limit(CFL, box.spacing),
                     name=NAME, nonlinear=nonlinear)


def simulate(n_traj: int = 16, steps: int = 20, resolution: int = 48, seed: int = 0, *,
             viscosity: Any = None, frame_dt: Any = None) -> PDEDataset:
    """`n_traj` trajectories of `steps` frames on a `resolution`^2 grid; field `velocity (N, T, 2, X, Y)`.
    Parameters: None (the default), a number (pinned) or a `(low, high)` range."""
    physics, box, rng = start_box(NAME, n_traj, steps, resolution, seed, PHYSICS, supported=("periodic",),
                                  boundary="periodic", n_space=N_SPACE, length=1.0, viscosity=viscosity,
                                  frame_dt=frame_dt)
    phi_hat = box.forward(box.random_field(rng, n_traj, lambda q: q**-3.0, max_mode=4))
    u0 = np.stack([box.backward(1j * k * phi_hat) for k in box.k], axis=1)  # grad phi, (N, 2, X, Y)
    rms = np.sqrt((u0**2).sum(axis=1).mean(axis=(-2, -1)))[:, None, None, None]
    drift = rng.uniform(-0.25, 0.25, size=(n_traj, N_SPACE, 1, 1))
    u = evolve(box, 0.5 * u0 / rms + drift, viscosity=physics["viscosity"], frame_dt=physics["frame_dt"],
               steps=steps)
    return box_dataset(NAME, box, {"velocity": u}, physics, equation="u_t + (u . grad) u = nu lap u", seed=seed)


register(Simulator(NAME, "viscous Burgers 2D with a vector velocity, periodic, pseudo-spectral (velocity)",
                   N_SPACE, 48, run=simulate, physics=PHYSICS, fields=(("velocity", 2),)))
