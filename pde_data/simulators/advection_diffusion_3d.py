"""Passive scalar in a steady random divergence-free flow, 3D, periodic.

    c_t + div(u c) = kappa lap(c),      div u = 0,
                                        on (x, y, z) in [0, 2 pi)^3, periodic

(div(u c) = u . grad c because u is divergence-free).

Velocity: u = curl A of a random smooth vector potential A (Fourier modes
|k_i| <= 2, amplitude ~ 1/|k|^2), scaled to RMS speed 1 per trajectory and
constant in time. Taken as a spectral curl of band-limited A, u is exactly
divergence-free on the grid, to round-off.

Scheme: Fourier pseudo-spectral in flux form with 2/3-rule dealiasing of u c;
integrating-factor RK4 in time (diffusion exact; the advective step has
max|u| dt / dx <= 0.75, so |u . k| dt <= 0.75 sqrt(3) 2 pi / 3 = 2.72 for every
dealiased k, inside RK4's imaginary-axis bound 2 sqrt(2)). The k = 0 mode of
the flux divergence is exactly zero, so the mean of c is conserved exactly.
Diffusivity 0.05 keeps the scalar-variance spectrum ~3e-4 of its peak at the
dealiasing cutoff of a 32^3 grid (resolved).

Parameters: diffusivity kappa per trajectory, log-uniform in [0.04, 0.0625] by
default (stable range [0.02, 1]); frame_dt 0.1 per dataset ([0.01, 0.5]).

Initial concentration: c0 = exp(g / 2) with g a unit-variance Gaussian random
field (modes |k_i| <= 4, amplitude ~ 1/|k|^2): positive and smooth.

Output fields, in order: `concentration (N, T, 1, X, Y, Z)` and
`velocity (N, T, 3, X, Y, Z)` (u_x, u_y, u_z along the grid axes, the same at
every frame) at x_j = 2 pi j / X; frames `frame_dt` apart, frame 0 the initial
condition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._common import (
    build_dataset, check_arguments, dealias_mask, frame_progress, integrating_factor_rk4_step,
    smooth_random_field, substep_count, wavenumbers,
)

__all__ = ["evolve", "random_solenoidal_velocity", "simulate"]

NAME = "advection_diffusion_3d"
DOMAIN_LENGTH = 2 * np.pi
N_SPACE = 3
CFL = 0.75
SPACE_AXES = (-3, -2, -1)
PHYSICS = (
    Parameter("diffusivity", (0.04, 0.0625), stable=(0.02, 1.0), log=True, description="kappa"),
    Parameter("frame_dt", 0.1, stable=(0.01, 0.5), per_trajectory=False, description="time between frames"),
)


def random_solenoidal_velocity(rng: np.random.Generator, n: int, resolution: int) -> np.ndarray:
    """`u (n, 3, X, Y, Z)`: the curl of a random band-limited vector potential, RMS speed 1."""
    potential = smooth_random_field(rng, n * N_SPACE, resolution, N_SPACE, lambda k: k**-2.0, max_mode=2)
    potential_hat = np.fft.rfftn(potential.reshape(n, N_SPACE, *[resolution] * N_SPACE), axes=SPACE_AXES)
    k = wavenumbers(resolution, N_SPACE, DOMAIN_LENGTH)
    a = potential_hat
    curl_hat = [1j * (k[1] * a[:, 2] - k[2] * a[:, 1]),
                1j * (k[2] * a[:, 0] - k[0] * a[:, 2]),
                1j * (k[0] * a[:, 1] - k[1] * a[:, 0])]
    shape = [resolution] * N_SPACE
    velocity = np.stack([np.fft.irfftn(c, s=shape, axes=SPACE_AXES) for c in curl_hat], axis=1)
    rms_speed = np.sqrt((velocity**2).sum(axis=1).mean(axis=SPACE_AXES))  # (n,)
    return velocity / rms_speed[:, None, None, None, None]


def evolve(concentration0: np.ndarray, velocity: np.ndarray, *, diffusivity: float | np.ndarray,
           frame_dt: float, steps: int) -> np.ndarray:
    """Integrate from `c0 (N, X, Y, Z)` in the steady `u (N, 3, X, Y, Z)` -> `c (N, T=steps, X, Y, Z)`;
    `diffusivity` is a number or one per trajectory `(N,)`."""
    resolution = concentration0.shape[-1]
    shape = [resolution] * N_SPACE
    k = wavenumbers(resolution, N_SPACE, DOMAIN_LENGTH)
    keep = dealias_mask(resolution, N_SPACE)
    dx = DOMAIN_LENGTH / resolution
    minus_i_k = np.stack([-1j * keep * np.broadcast_to(k_i, keep.shape) for k_i in k])  # (3, X, Y, Z/2+1)

    def flux_divergence(c_hat: np.ndarray) -> np.ndarray:
        c = np.fft.irfftn(c_hat, s=shape, axes=SPACE_AXES)
        flux_hat = np.fft.rfftn(velocity * c[:, None], axes=SPACE_AXES)  # (N, 3, X, Y, Z/2+1)
        return minus_i_k[0] * flux_hat[:, 0] + minus_i_k[1] * flux_hat[:, 1] + minus_i_k[2] * flux_hat[:, 2]

    speed = max(np.sqrt((velocity**2).sum(axis=1)).max(), 1e-6)
    n_sub = substep_count(frame_dt, CFL * dx / speed)
    dt = frame_dt / n_sub
    decay = np.exp(-np.reshape(diffusivity, (-1, 1, 1, 1)) * (k[0] ** 2 + k[1] ** 2 + k[2] ** 2) * dt / 2)
    c_hat = np.fft.rfftn(np.asarray(concentration0, dtype=np.float64), axes=SPACE_AXES)
    frames = [np.fft.irfftn(c_hat, s=shape, axes=SPACE_AXES)]
    for _ in frame_progress(NAME, steps - 1):
        for _ in range(n_sub):
            c_hat = integrating_factor_rk4_step(c_hat, flux_divergence, decay, dt)
        frames.append(np.fft.irfftn(c_hat, s=shape, axes=SPACE_AXES))
    return np.stack(frames, axis=1)


def simulate(n_traj: int = 16, steps: int = 20, resolution: int = 32, seed: int = 0, *,
             diffusivity: Any = None, frame_dt: Any = None) -> PDEDataset:
    """`n_traj` passive-scalar trajectories of `steps` frames on a `resolution`^3 grid;
    fields `concentration (N, T, 1, X, Y, Z)` and `velocity (N, T, 3, X, Y, Z)`. Parameters:
    None (the default), a number (pinned) or a `(low, high)` range (see `PHYSICS`)."""
    physics = check_arguments(NAME, n_traj, steps, resolution, seed, PHYSICS, diffusivity=diffusivity,
                              frame_dt=frame_dt)
    frame_dt = physics["frame_dt"]
    rng = np.random.default_rng(seed)
    velocity = random_solenoidal_velocity(rng, n_traj, resolution)
    log_c0 = smooth_random_field(rng, n_traj, resolution, N_SPACE, lambda k: k**-2.0, max_mode=4)
    c = evolve(np.exp(0.5 * log_c0), velocity, diffusivity=physics["diffusivity"], frame_dt=frame_dt, steps=steps)
    velocity_frames = np.broadcast_to(velocity[:, None], (n_traj, steps, *velocity.shape[1:]))
    return build_dataset(
        NAME, {"concentration": c[:, :, None], "velocity": velocity_frames},
        spacing=(DOMAIN_LENGTH / resolution,) * N_SPACE, dt=frame_dt,
        boundary_conditions=("periodic",) * N_SPACE,
        attrs={"equation": "c_t + u . grad c = kappa lap c, div u = 0", **physics.attrs(),
               "velocity": "steady curl of a random potential, RMS speed 1",
               "domain": [[0.0, DOMAIN_LENGTH]] * N_SPACE, "seed": seed},
    )


register(Simulator(NAME, "passive scalar advection-diffusion 3D in a random divergence-free flow, "
                         "periodic, pseudo-spectral (concentration, velocity)", 3, 32, run=simulate,
                   physics=PHYSICS, fields=(("concentration", 1), ("velocity", 3))))
