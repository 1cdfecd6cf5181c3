"""Incompressible Navier-Stokes in 2D, vorticity form, periodic, forced.

    w_t + div(u w) = nu lap(w) + f,     u = (psi_y, -psi_x),   -lap(psi) = w
                                        on (x, y) in [0, 2 pi)^2, periodic

with vorticity w = v_x - u_y and the constant forcing of the FNO benchmark
mapped to this box, f = 0.1 (sin(x + y) + cos(x + y)).

Scheme: Fourier pseudo-spectral; the flux div(u w) (equal to u . grad w since
div u = 0) is formed on the grid and dealiased with the 2/3 rule;
integrating-factor RK4 in time (viscosity exact; the advective step has
max|u| dt / dx <= 0.8, so |u . k| dt <= 0.8 sqrt(2) 2 pi / 3 = 2.37 for every
dealiased k, inside RK4's imaginary-axis bound 2 sqrt(2)). The mean vorticity
is conserved exactly; the velocity is divergence-free to round-off (spectral
derivatives of one stream function).

Initial conditions: a Gaussian random field with covariance (4 pi^2 |k|^2 + 49)^-2.5
(the FNO benchmark's (-lap + 49)^-2.5 on the unit square, in this box's
integer wavenumbers), RMS vorticity 1, modes |k_i| <= 12. Viscosity 2e-3
keeps the enstrophy spectrum decaying to ~1e-4 of its peak at the dealiasing
cutoff of a 64^2 grid (resolved; 1e-3 starts to pile up there).

Parameters: viscosity nu per trajectory, log-uniform in [1.6e-3, 2.5e-3] by
default (stable range [1e-3, 0.05]); frame_dt 0.5 per dataset ([0.05, 2]).

Output fields, in order: `velocity (N, T, 2, X, Y)` (u_x, u_y along the grid
axes x, y) and `vorticity (N, T, 1, X, Y)` at x_j = 2 pi j / X; frames
`frame_dt` apart, frame 0 the initial condition.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._common import (
    build_dataset, check_arguments, dealias_mask, frame_progress, integrating_factor_rk4_step,
    smooth_random_field, substep_count, wavenumbers,
)

__all__ = ["evolve", "fno_forcing", "simulate", "velocity_from_vorticity"]

NAME = "navier_stokes_2d"
DOMAIN_LENGTH = 2 * np.pi
CFL = 0.8
PHYSICS = (
    Parameter("viscosity", (1.6e-3, 2.5e-3), stable=(1e-3, 0.05), log=True, description="nu"),
    Parameter("frame_dt", 0.5, stable=(0.05, 2.0), per_trajectory=False, description="time between frames"),
)


def fno_forcing(resolution: int) -> np.ndarray:
    """`f (X, Y) = 0.1 (sin(x + y) + cos(x + y))` on the grid of [0, 2 pi)^2."""
    x = DOMAIN_LENGTH * np.arange(resolution) / resolution
    phase = x[:, None] + x[None, :]
    return 0.1 * (np.sin(phase) + np.cos(phase))


def _velocity_hat(vorticity_hat: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k_squared = kx**2 + ky**2
    stream_hat = vorticity_hat / np.where(k_squared == 0, 1.0, k_squared)  # the k = 0 mode of w is its mean
    stream_hat = np.where(k_squared == 0, 0.0, stream_hat)
    return 1j * ky * stream_hat, -1j * kx * stream_hat


def velocity_from_vorticity(vorticity: np.ndarray) -> np.ndarray:
    """`w (..., X, Y)` -> `u (..., 2, X, Y)` from the stream function, Nyquist modes dropped."""
    resolution = vorticity.shape[-1]
    kx, ky = wavenumbers(resolution, 2, DOMAIN_LENGTH)
    w_hat = np.fft.rfft2(vorticity) * dealias_mask(resolution, 2)
    u_hat, v_hat = _velocity_hat(w_hat, kx, ky)
    shape = (resolution, resolution)
    return np.stack([np.fft.irfft2(u_hat, s=shape), np.fft.irfft2(v_hat, s=shape)], axis=-3)


def evolve(vorticity0: np.ndarray, *, viscosity: float | np.ndarray, frame_dt: float, steps: int,
           forcing: Optional[np.ndarray] = None) -> np.ndarray:
    """Integrate from `w0 (N, X, Y)` on [0, 2 pi)^2 -> `w (N, T=steps, X, Y)` float64.

    `viscosity` is a number or one per trajectory `(N,)`; `forcing (X, Y)` is constant
    in time; None means unforced.
    """
    nu = np.reshape(viscosity, (-1, 1, 1))  # (N or 1, 1, 1)
    resolution = vorticity0.shape[-1]
    shape = (resolution, resolution)
    kx, ky = wavenumbers(resolution, 2, DOMAIN_LENGTH)
    keep = dealias_mask(resolution, 2)
    forcing_hat = 0.0 if forcing is None else np.fft.rfft2(forcing) * keep
    dx = DOMAIN_LENGTH / resolution

    def tendency(w_hat: np.ndarray) -> np.ndarray:
        u_hat, v_hat = _velocity_hat(w_hat, kx, ky)
        w, u, v = (np.fft.irfft2(a, s=shape) for a in (w_hat, u_hat, v_hat))
        flux_divergence = 1j * kx * np.fft.rfft2(u * w) + 1j * ky * np.fft.rfft2(v * w)
        return forcing_hat - keep * flux_divergence

    w_hat = np.fft.rfft2(np.asarray(vorticity0, dtype=np.float64)) * keep
    frames = [np.fft.irfft2(w_hat, s=shape)]
    for _ in frame_progress(NAME, steps - 1):
        u_hat, v_hat = _velocity_hat(w_hat, kx, ky)
        speed = np.sqrt(np.fft.irfft2(u_hat, s=shape) ** 2 + np.fft.irfft2(v_hat, s=shape) ** 2).max()
        n_sub = substep_count(frame_dt, CFL * dx / max(speed, 1e-6))
        dt = frame_dt / n_sub
        decay = np.exp(-nu * (kx**2 + ky**2) * dt / 2)
        for _ in range(n_sub):
            w_hat = integrating_factor_rk4_step(w_hat, tendency, decay, dt)
        frames.append(np.fft.irfft2(w_hat, s=shape))
    return np.stack(frames, axis=1)


def simulate(n_traj: int = 16, steps: int = 20, resolution: int = 64, seed: int = 0, *,
             viscosity: Any = None, frame_dt: Any = None) -> PDEDataset:
    """`n_traj` forced 2D turbulence trajectories of `steps` frames on a `resolution`^2 grid;
    fields `velocity (N, T, 2, X, Y)` and `vorticity (N, T, 1, X, Y)`. Parameters: None (the
    default), a number (pinned) or a `(low, high)` range (see `PHYSICS`)."""
    physics = check_arguments(NAME, n_traj, steps, resolution, seed, PHYSICS, viscosity=viscosity,
                              frame_dt=frame_dt)
    frame_dt = physics["frame_dt"]
    rng = np.random.default_rng(seed)
    w0 = smooth_random_field(rng, n_traj, resolution, 2,
                             lambda k: (4 * np.pi**2 * k**2 + 49.0) ** -1.25, max_mode=12)
    w = evolve(w0, viscosity=physics["viscosity"], frame_dt=frame_dt, steps=steps, forcing=fno_forcing(resolution))
    return build_dataset(
        NAME, {"velocity": velocity_from_vorticity(w), "vorticity": w[:, :, None]},
        spacing=(DOMAIN_LENGTH / resolution,) * 2, dt=frame_dt, boundary_conditions=("periodic",) * 2,
        attrs={"equation": "w_t + u . grad w = nu lap w + f", **physics.attrs(),
               "forcing": "0.1 (sin(x + y) + cos(x + y))", "domain": [[0.0, DOMAIN_LENGTH]] * 2,
               "seed": seed},
    )


register(Simulator(NAME, "incompressible Navier-Stokes 2D, forced, periodic, pseudo-spectral "
                         "(velocity, vorticity)", 2, 64, run=simulate, physics=PHYSICS,
                   fields=(("velocity", 2), ("vorticity", 1))))
