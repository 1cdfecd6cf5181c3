"""Compressible Euler equations in 1D: random Riemann problems.

    rho_t + (rho u)_x         = 0
    (rho u)_t + (rho u^2 + p)_x = 0        on x in [0, 1), ideal gas
    E_t + (u (E + p))_x       = 0          E = p / (gamma - 1) + rho u^2 / 2

Scheme: finite volume on cell centres x_j = (j + 1/2) / X; MUSCL reconstruction
of the primitive variables (rho, u, p) with the minmod limiter, HLL flux with
Davis wave-speed bounds, SSP-RK2 (Heun) in time with CFL 0.4 on the largest
|u| + c, recomputed every substep. The update is in flux form, so mass,
momentum and energy change only by the fluxes through the two ends. Limited
states lie between neighbouring cell values, which keeps density and pressure
positive. Boundaries (`boundary=`): transmissive "open" (zero-gradient ghost
cells; the default), "periodic", or "reflective" walls (mirrored ghost cells
with the velocity negated: no mass, momentum flux aside from pressure, or
energy crosses them, so total mass and energy are conserved exactly).

Initial conditions: a Riemann problem per trajectory, with left/right density
and pressure log-uniform in [0.1, 1], velocity uniform in [-0.5, 0.5] and the
interface uniform in [0.3, 0.7] (Sod's tube is one such problem).

Parameters: gamma per trajectory, uniform in [1.3, 1.5] by default (stable
range [1.1, 1.67]); frame_dt 0.01 per dataset ([0.001, 0.05]).

Output fields, in order: `density (N, T, 1, X)`, `pressure (N, T, 1, X)`,
`velocity (N, T, 1, X)`; frames `frame_dt` apart, frame 0 the initial state.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._common import boundary_faces, build_dataset, check_arguments, frame_progress, hll_flux
from pde_data.simulators._parameters import resolve_boundaries, spec_boundaries

__all__ = ["evolve", "simulate"]

NAME = "euler_1d"
CFL = 0.4
BOUNDARIES = ("open", "periodic", "reflective")
PHYSICS = (
    Parameter("gamma", (1.3, 1.5), stable=(1.1, 1.67), description="ratio of specific heats"),
    Parameter("frame_dt", 0.01, stable=(1e-3, 0.05), per_trajectory=False, description="time between frames"),
)


def _conserved(primitive: np.ndarray, gamma: float) -> np.ndarray:
    """(rho, u, p) -> (rho, rho u, E), variables on axis 1."""
    rho, u, p = primitive[:, 0], primitive[:, 1], primitive[:, 2]
    return np.stack([rho, rho * u, p / (gamma - 1) + 0.5 * rho * u**2], axis=1)


def _primitive(conserved: np.ndarray, gamma: float) -> np.ndarray:
    """(rho, rho u, E) -> (rho, u, p), variables on axis 1."""
    rho, momentum, energy = conserved[:, 0], conserved[:, 1], conserved[:, 2]
    u = momentum / rho
    return np.stack([rho, u, (gamma - 1) * (energy - 0.5 * momentum * u)], axis=1)


def _physical_flux(primitive: np.ndarray, conserved: np.ndarray) -> np.ndarray:
    u, p = primitive[:, 1], primitive[:, 2]
    return np.stack([conserved[:, 1], conserved[:, 1] * u + p, u * (conserved[:, 2] + p)], axis=1)


def _flux_divergence(conserved: np.ndarray, dx: float, gamma: float, boundary: str) -> np.ndarray:
    """-(F_{j+1/2} - F_{j-1/2}) / dx for conserved `(N, 3, X)`."""
    primitive = _primitive(conserved, gamma)
    left, right = boundary_faces(primitive, 2, boundary, normal=1)  # (N, 3, X + 1): faces -1/2 .. X - 1/2
    u_left, u_right = _conserved(left, gamma), _conserved(right, gamma)
    c_left = np.sqrt(gamma * left[:, 2] / left[:, 0])
    c_right = np.sqrt(gamma * right[:, 2] / right[:, 0])
    flux = hll_flux(u_left, u_right, _physical_flux(left, u_left), _physical_flux(right, u_right),
                    np.minimum(left[:, 1] - c_left, right[:, 1] - c_right),
                    np.maximum(left[:, 1] + c_left, right[:, 1] + c_right))
    return -(flux[..., 1:] - flux[..., :-1]) / dx


def evolve(density: np.ndarray, velocity: np.ndarray, pressure: np.ndarray, *, frame_dt: float,
           steps: int, gamma: float | np.ndarray = 1.4,
           boundary: Literal["open", "periodic", "reflective"] = "open") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrate from cell averages `(N, X)` of [0, 1) -> (density, velocity, pressure), each `(N, T, X)`;
    `gamma` is a number or one per trajectory `(N,)`."""
    (boundary,) = resolve_boundaries(NAME, BOUNDARIES, boundary, 1)
    gamma = np.reshape(gamma, (-1, 1))  # (N or 1, 1)
    dx = 1.0 / density.shape[-1]
    conserved = _conserved(np.stack([density, velocity, pressure], axis=1).astype(np.float64), gamma)
    frames = [_primitive(conserved, gamma)]
    for _ in frame_progress(NAME, steps - 1):
        elapsed = 0.0
        while elapsed < frame_dt * (1 - 1e-12):
            rho, u, p = np.moveaxis(_primitive(conserved, gamma), 1, 0)
            max_speed = (np.abs(u) + np.sqrt(gamma * p / rho)).max()
            dt = min(float(CFL * dx / max_speed), frame_dt - elapsed)
            stage = conserved + dt * _flux_divergence(conserved, dx, gamma, boundary)
            conserved = 0.5 * (conserved + stage + dt * _flux_divergence(stage, dx, gamma, boundary))
            elapsed += dt
        frames.append(_primitive(conserved, gamma))
    rho, u, p = np.moveaxis(np.stack(frames, axis=1), 2, 0)  # each (N, T, X)
    return rho, u, p


def simulate(n_traj: int = 16, steps: int = 20, resolution: int = 128, seed: int = 0, *,
             gamma: Any = None, frame_dt: Any = None, boundary: Any = "open") -> PDEDataset:
    """`n_traj` random Riemann problems of `steps` frames on `resolution` cells;
    fields `density`, `pressure`, `velocity`, each `(N, T, 1, X)`. Parameters: None (the
    default), a number (pinned) or a `(low, high)` range (see `PHYSICS`)."""
    physics = check_arguments(NAME, n_traj, steps, resolution, seed, PHYSICS, gamma=gamma, frame_dt=frame_dt)
    boundaries = resolve_boundaries(NAME, BOUNDARIES, boundary, 1)
    frame_dt = physics["frame_dt"]
    rng = np.random.default_rng(seed)
    log_lo, log_hi = np.log(0.1), np.log(1.0)
    rho_lr = np.exp(rng.uniform(log_lo, log_hi, size=(2, n_traj, 1)))
    p_lr = np.exp(rng.uniform(log_lo, log_hi, size=(2, n_traj, 1)))
    u_lr = rng.uniform(-0.5, 0.5, size=(2, n_traj, 1))
    interface = rng.uniform(0.3, 0.7, size=(n_traj, 1))
    is_left = (np.arange(resolution) + 0.5) / resolution < interface  # (N, X)
    rho, u, p = (np.where(is_left, q[0], q[1]) for q in (rho_lr, u_lr, p_lr))
    rho, u, p = evolve(rho, u, p, frame_dt=frame_dt, steps=steps, gamma=physics["gamma"],
                       boundary=boundaries[0])
    return build_dataset(
        NAME, {"density": rho[:, :, None], "pressure": p[:, :, None], "velocity": u[:, :, None]},
        spacing=(1.0 / resolution,), dt=frame_dt, boundary_conditions=spec_boundaries(boundaries),
        attrs={"equation": "compressible Euler, ideal gas", **physics.attrs(), "boundary": list(boundaries),
               "domain": [0.0, 1.0],
               "flux": "HLL", "reconstruction": "MUSCL minmod (primitive)", "time_stepping": "SSP-RK2",
               "seed": seed},
    )


register(Simulator(NAME, "compressible Euler 1D, random Riemann problems, HLL finite volume "
                         "(density, pressure, velocity)", 1, 128, run=simulate, physics=PHYSICS,
                   boundaries=BOUNDARIES, fields=(("density", 1), ("pressure", 1), ("velocity", 1))))
