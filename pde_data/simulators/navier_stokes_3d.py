"""Incompressible Navier-Stokes in 3D, velocity form, periodic (decaying flow).

    u_t + (u . grad) u + grad p = nu lap(u),    div u = 0,    on [0, 2 pi)^3, periodic

Scheme: Fourier pseudo-spectral in rotational form, u_t = P(u x w) + nu lap u
with vorticity w = curl u and P the projection onto divergence-free fields
(P a = a - k (k . a) / |k|^2; the pressure and |u|^2 / 2 are gradients, which
P removes); u x w dealiased with the 2/3 rule. Integrating-factor RK4 in time
(viscosity exact), substeps chosen every frame so that max|u| dt / dx <= 0.75
(|u . k| dt <= 0.75 sqrt(3) 2 pi / 3 = 2.72 for every kept k, inside RK4's
imaginary-axis bound 2.83). The velocity stays divergence-free to round-off,
the mean velocity is conserved exactly, and the kinetic energy only decays
(the dealiased nonlinear term conserves it: (u x w) . u = 0).

Initial conditions: the curl of a random smooth vector potential (Fourier
modes |k_i| <= 2, amplitude ~ 1/|k|^2), RMS speed 1 (as advection_diffusion_3d).

Parameters: viscosity nu per trajectory, log-uniform in [0.02, 0.05] by
default (stable range [0.01, 0.5] on 16^3 points); frame_dt 0.2 per dataset
([0.01, 1]).

Output: field `velocity (N, T, 3, X, Y, Z)` (u_x, u_y, u_z along the grid
axes) at x_j = 2 pi j / X; frames `frame_dt` apart, frame 0 the initial condition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._common import dealias_mask
from pde_data.simulators._spectral_box import SpectralBox, box_dataset, integrate, speed_limit, start_box
from pde_data.simulators.advection_diffusion_3d import random_solenoidal_velocity

__all__ = ["evolve"]

NAME = "navier_stokes_3d"
N_SPACE = 3
CFL = 0.75
PHYSICS = (
    Parameter("viscosity", (0.02, 0.05), stable=(0.01, 0.5), log=True, description="nu"),
    Parameter("frame_dt", 0.2, stable=(0.01, 1.0), per_trajectory=False, description="time between frames"),
)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of `(N, 3, ...)` vector fields along axis 1."""
    return np.stack([a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1], a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
                     a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]], axis=1)


def evolve(box: SpectralBox, u0: np.ndarray, *, viscosity: float | np.ndarray, frame_dt: float,
           steps: int) -> np.ndarray:
    """Integrate from a divergence-free `u0 (N, 3, X, Y, Z)` -> `u (N, T=steps, 3, X, Y, Z)` float64;
    `viscosity` a number or `(N,)`."""
    keep = dealias_mask(box.resolution, N_SPACE)
    k = np.stack([np.broadcast_to(k_i, box.k2.shape) for k_i in box.k])[None]  # (1, 3, *spectral)
    k2 = np.where(box.k2 == 0, 1.0, box.k2)
    linear = -np.reshape(viscosity, (-1, 1, 1, 1, 1)) * box.k2  # (N or 1, 1, *spectral)

    def nonlinear(u_hat: np.ndarray) -> np.ndarray:
        u = box.backward(u_hat)
        vorticity = box.backward(_cross(1j * k, u_hat))
        lamb = keep * box.forward(_cross(u, vorticity))  # (N, 3, *spectral)
        return lamb - k * (k * lamb).sum(axis=1, keepdims=True) / k2

    return integrate(box, u0, linear, frame_dt=frame_dt, steps=steps, max_dt=speed_limit(CFL, box.spacing),
                     name=NAME, nonlinear=nonlinear)


def simulate(n_traj: int = 16, steps: int = 20, resolution: int = 16, seed: int = 0, *,
             viscosity: Any = None, frame_dt: Any = None) -> PDEDataset:
    """`n_traj` trajectories of `steps` frames on a `resolution`^3 grid; field `velocity (N, T, 3, X, Y, Z)`.
    Parameters: None (the default), a number (pinned) or a `(low, high)` range."""
    physics, box, rng = start_box(NAME, n_traj, steps, resolution, seed, PHYSICS, supported=("periodic",),
                                  boundary="periodic", n_space=N_SPACE, length=2 * np.pi, viscosity=viscosity,
                                  frame_dt=frame_dt)
    u0 = random_solenoidal_velocity(rng, n_traj, resolution)
    u = evolve(box, u0, viscosity=physics["viscosity"], frame_dt=physics["frame_dt"], steps=steps)
    return box_dataset(NAME, box, {"velocity": u}, physics, equation="u_t + (u . grad) u + grad p = nu lap u, "
                       "div u = 0", seed=seed)


register(Simulator(NAME, "incompressible Navier-Stokes 3D, decaying, periodic, pseudo-spectral (velocity)",
                   N_SPACE, 16, run=simulate, physics=PHYSICS, fields=(("velocity", 3),)))
