"""Korteweg-de Vries equation in 1D, periodic: solitons and dispersive waves.

    u_t + 6 u u_x + delta u_xxx = 0          on x in [0, 20), periodic

Scheme: Fourier pseudo-spectral (`_spectral_box`) in flux form,
(3 u^2)_x with 2/3-rule dealiasing; integrating-factor RK4 in time (the
dispersive term exact), substeps chosen every frame so that
6 max|u| k_max dt <= 2 (inside RK4's imaginary-axis bound 2.83). The k = 0
mode of the flux is exactly zero: the mass int u dx is conserved exactly; the
momentum int u^2 dx is conserved by the equation and to ~1e-6 by the scheme.

Initial conditions: 1 to 3 solitons u = (c / 2) sech^2(sqrt(c / delta) (x - x0) / 2)
(summed over periodic images) with speeds c uniform in [0.5, 2] at random
positions x0, plus a smooth random field of RMS 0.05 (Fourier modes 1..4,
amplitude ~ 1/k). Solitons travel at speed c, pass through each other with a
phase shift, and shed small dispersive wave trains.

Parameters: dispersion delta per trajectory, log-uniform in [0.5, 2] by
default (stable range [0.2, 4]); frame_dt 0.4 per dataset ([0.01, 2]).

Output: field `u (N, T, 1, X)` at x_j = 20 j / X; frames `frame_dt` apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._common import dealias_mask
from pde_data.simulators._spectral_box import SpectralBox, box_dataset, integrate, start_box

__all__ = ["evolve", "soliton"]

NAME = "kdv_1d"
DOMAIN_LENGTH = 20.0
MAX_SOLITONS = 3
PHYSICS = (
    Parameter("dispersion", (0.5, 2.0), stable=(0.2, 4.0), log=True, description="delta"),
    Parameter("frame_dt", 0.4, stable=(0.01, 2.0), per_trajectory=False, description="time between frames"),
)


def soliton(x: np.ndarray, speed: np.ndarray, centre: np.ndarray, dispersion: np.ndarray) -> np.ndarray:
    """`(c / 2) sech^2(sqrt(c / delta) (x - x0) / 2)`, summed over the periodic images of [0, 20)."""
    total = 0.0
    for image in (-DOMAIN_LENGTH, 0.0, DOMAIN_LENGTH):
        total = total + 0.5 * speed / np.cosh(0.5 * np.sqrt(speed / dispersion) * (x - centre + image)) ** 2
    return total


def evolve(box: SpectralBox, u0: np.ndarray, *, dispersion: float | np.ndarray, frame_dt: float,
           steps: int) -> np.ndarray:
    """Integrate from `u0 (N, X)` -> `u (N, T=steps, X)` float64; `dispersion` a number or `(N,)`."""
    (k,) = box.k  # (X // 2 + 1,)
    keep = dealias_mask(box.resolution, 1)
    linear = 1j * np.reshape(dispersion, (-1, 1, 1)) * k**3  # -delta (ik)^3, (N or 1, 1, X // 2 + 1)

    def nonlinear(u_hat: np.ndarray) -> np.ndarray:
        u = box.backward(u_hat)
        return -3j * k * keep * box.forward(u * u)

    def max_dt(u: np.ndarray) -> float:
        return 2.0 / (6 * max(float(np.abs(u).max()), 1e-6) * float(np.abs(k * keep).max()))

    u = integrate(box, u0[:, None], linear, frame_dt=frame_dt, steps=steps, max_dt=max_dt, name=NAME,
                  nonlinear=nonlinear)
    return u[:, :, 0]


def simulate(n_traj: int = 16, steps: int = 20, resolution: int = 128, seed: int = 0, *,
             dispersion: Any = None, frame_dt: Any = None) -> PDEDataset:
    """`n_traj` KdV trajectories of `steps` frames on `resolution` points; field `u (N, T, 1, X)`.
    Parameters: None (the default), a number (pinned) or a `(low, high)` range."""
    physics, box, rng = start_box(NAME, n_traj, steps, resolution, seed, PHYSICS, supported=("periodic",),
                                  boundary="periodic", n_space=1, length=DOMAIN_LENGTH, dispersion=dispersion,
                                  frame_dt=frame_dt)
    count = rng.integers(1, MAX_SOLITONS + 1, size=(n_traj, 1, 1))
    speed = rng.uniform(0.5, 2.0, size=(n_traj, MAX_SOLITONS, 1))
    centre = rng.uniform(0.0, DOMAIN_LENGTH, size=(n_traj, MAX_SOLITONS, 1))
    delta = physics["dispersion"][:, None, None]
    solitons = soliton(box.points(0), speed, centre, delta) * (np.arange(MAX_SOLITONS)[:, None] < count)
    u0 = solitons.sum(axis=1) + 0.05 * box.random_field(rng, n_traj, lambda q: 1.0 / q, max_mode=4)
    u = evolve(box, u0, dispersion=physics["dispersion"], frame_dt=physics["frame_dt"], steps=steps)
    return box_dataset(NAME, box, {"u": u[:, :, None]}, physics, equation="u_t + 6 u u_x + delta u_xxx = 0",
                       seed=seed)


register(Simulator(NAME, "Korteweg-de Vries 1D, solitons, periodic, pseudo-spectral IF-RK4 (field u)", 1, 128,
                   run=simulate, physics=PHYSICS, fields=(("u", 1),)))
