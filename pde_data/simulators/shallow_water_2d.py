"""Shallow-water equations in 2D, periodic or in a basin with walls.

    h_t + div(h u)                         = 0
    (h u)_t + div(h u (x) u + g h^2 / 2 I) = 0       on [0, 1)^2

with height h and velocity u = (u_x, u_y).

Scheme: unsplit finite volume on cell centres; per axis, MUSCL reconstruction
of (h, u_x, u_y) with the minmod limiter and the HLL flux with wave-speed
bounds u_n -/+ sqrt(g h); SSP-RK2 (Heun) in time with the step chosen every
substep from dt (max(|u_x| + c) / dx + max(|u_y| + c) / dy) = 0.4, in float32
(twice as fast as float64; the scheme's own error is far larger). The update is
in flux form, so total mass sum(h) dx dy is conserved to round-off (and on a
periodic grid momentum too). Limited h stays between neighbours: h > 0.

Boundaries (`boundary=`, one kind or one per axis): "periodic" (the default)
or "reflective" walls (mirrored ghost cells with the normal velocity negated:
no mass crosses a wall).

Initial conditions: still water of depth 1 with 2-5 Gaussian bumps (height
0.1-0.5, width 0.04-0.1, random centres, periodic) plus a small smooth random
velocity (RMS 0.05 per component).

Parameters: gravity g per trajectory, log-uniform in [0.8, 1.25] by default
(stable range [0.25, 4]); frame_dt 0.05 per dataset ([0.005, 0.2]).

Output fields, in order: `height (N, T, 1, X, Y)`, `velocity (N, T, 2, X, Y)`
(components u_x, u_y along the grid axes x, y); frames `frame_dt` apart.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._common import (
    boundary_faces, build_dataset, check_arguments, frame_progress, hll_states, smooth_random_field,
)
from pde_data.simulators._parameters import resolve_boundaries, spec_boundaries

__all__ = ["evolve", "simulate"]

NAME = "shallow_water_2d"
CFL = 0.4
N_SPACE = 2
MAX_BUMPS = 5
BOUNDARIES = ("periodic", "reflective")
PHYSICS = (
    Parameter("gravity", (0.8, 1.25), stable=(0.25, 4.0), log=True, description="g"),
    Parameter("frame_dt", 0.05, stable=(5e-3, 0.2), per_trajectory=False, description="time between frames"),
)


def _conserved(primitive: np.ndarray) -> np.ndarray:
    """(h, u_x, u_y) -> (h, h u_x, h u_y), variables on axis 1."""
    return np.concatenate([primitive[:, :1], primitive[:, :1] * primitive[:, 1:]], axis=1)


def _primitive(conserved: np.ndarray) -> np.ndarray:
    return np.concatenate([conserved[:, :1], conserved[:, 1:] / conserved[:, :1]], axis=1)


def _axis_flux(primitive: np.ndarray, axis: int, gravity: np.ndarray, boundary: str) -> np.ndarray:
    """HLL flux through the faces -1/2 .. n - 1/2 along spatial `axis`: `(N, 3, X + 1, Y)` for axis 0."""

    def physics(state: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        conserved = _conserved(state)
        u_normal = state[:, 1 + axis]
        flux = conserved * u_normal[:, None]
        flux[:, 1 + axis] += 0.5 * gravity * state[:, 0] ** 2
        celerity = np.sqrt(gravity * state[:, 0])
        return conserved, flux, u_normal - celerity, u_normal + celerity

    return hll_states(*boundary_faces(primitive, 2 + axis, boundary, normal=1 + axis), physics)


def _tendency(conserved: np.ndarray, dx: float, gravity: np.ndarray, boundaries: Sequence[str]) -> np.ndarray:
    primitive = _primitive(conserved)
    total = np.zeros_like(conserved)
    for axis in range(N_SPACE):
        flux = _axis_flux(primitive, axis, gravity, boundaries[axis])
        total -= np.diff(flux, axis=2 + axis) / dx
    return total


def evolve(height: np.ndarray, velocity: np.ndarray, *, frame_dt: float, steps: int,
           gravity: float | np.ndarray = 1.0, boundary: Any = "periodic") -> tuple[np.ndarray, np.ndarray]:
    """Integrate from `height (N, X, X)`, `velocity (N, 2, X, X)` on [0, 1)^2 ->
    `height (N, T, X, X)`, `velocity (N, T, 2, X, X)`; `gravity` is a number or one per
    trajectory `(N,)`, `boundary` one kind or one per axis."""
    boundaries = resolve_boundaries(NAME, BOUNDARIES, boundary, N_SPACE)
    gravity = np.reshape(gravity, (-1, 1, 1)).astype(np.float32)  # (N or 1, 1, 1)
    dx = 1.0 / height.shape[-1]
    conserved = _conserved(np.concatenate([height[:, None], velocity], axis=1).astype(np.float32))
    frames = [_primitive(conserved)]
    for _ in frame_progress(NAME, steps - 1):
        elapsed = 0.0
        while elapsed < frame_dt * (1 - 1e-12):
            primitive = _primitive(conserved)
            celerity = np.sqrt(gravity * primitive[:, 0])
            rate = sum((np.abs(primitive[:, 1 + a]) + celerity).max() for a in range(N_SPACE)) / dx
            dt = min(float(CFL / rate), frame_dt - elapsed)  # a Python float: `elapsed` stays exact
            stage = conserved + dt * _tendency(conserved, dx, gravity, boundaries)
            conserved = 0.5 * (conserved + stage + dt * _tendency(stage, dx, gravity, boundaries))
            elapsed += dt
        frames.append(_primitive(conserved))
    primitive = np.stack(frames, axis=1)  # (N, T, 3, X, Y)
    return primitive[:, :, 0], primitive[:, :, 1:]


def simulate(n_traj: int = 16, steps: int = 20, resolution: int = 64, seed: int = 0, *,
             gravity: Any = None, frame_dt: Any = None, boundary: Any = "periodic") -> PDEDataset:
    """`n_traj` shallow-water trajectories of `steps` frames on a `resolution`^2 grid;
    fields `height (N, T, 1, X, Y)` and `velocity (N, T, 2, X, Y)`. Parameters: None (the
    default), a number (pinned) or a `(low, high)` range (see `PHYSICS`)."""
    physics = check_arguments(NAME, n_traj, steps, resolution, seed, PHYSICS, gravity=gravity,
                              frame_dt=frame_dt)
    boundaries = resolve_boundaries(NAME, BOUNDARIES, boundary, N_SPACE)
    frame_dt = physics["frame_dt"]
    rng = np.random.default_rng(seed)
    n_bumps = rng.integers(2, MAX_BUMPS + 1, size=(n_traj, 1))
    amplitude = rng.uniform(0.1, 0.5, size=(n_traj, MAX_BUMPS)) * (np.arange(MAX_BUMPS) < n_bumps)
    width = rng.uniform(0.04, 0.1, size=(n_traj, MAX_BUMPS))
    bump_x, bump_y = rng.uniform(0, 1, size=(N_SPACE, n_traj, MAX_BUMPS, 1))
    centres = (np.arange(resolution) + 0.5) / resolution
    dx_sq, dy_sq = (((centres - c + 0.5) % 1.0 - 0.5) ** 2 for c in (bump_x, bump_y))  # (N, B, X) periodic
    squared = dx_sq[..., :, None] + dy_sq[..., None, :]  # (N, B, X, Y)
    bumps = amplitude[..., None, None] * np.exp(-squared / (2 * width[..., None, None] ** 2))
    height = 1.0 + bumps.sum(axis=1)  # (N, X, Y)
    velocity = 0.05 * smooth_random_field(rng, n_traj * N_SPACE, resolution, N_SPACE,
                                          lambda k: k**-2.0, max_mode=4)
    velocity = velocity.reshape(n_traj, N_SPACE, resolution, resolution)
    h, u = evolve(height, velocity, frame_dt=frame_dt, steps=steps, gravity=physics["gravity"],
                  boundary=boundaries)
    return build_dataset(
        NAME, {"height": h[:, :, None], "velocity": u},
        spacing=(1.0 / resolution,) * N_SPACE, dt=frame_dt, boundary_conditions=spec_boundaries(boundaries),
        attrs={"equation": "shallow water", **physics.attrs(), "boundary": list(boundaries), "still_depth": 1.0,
               "domain": [[0.0, 1.0]] * N_SPACE, "flux": "HLL",
               "reconstruction": "MUSCL minmod (primitive)", "time_stepping": "SSP-RK2", "seed": seed},
    )


register(Simulator(NAME, "shallow water 2D, periodic or walls, HLL finite volume (height, velocity)", 2, 64,
                   run=simulate, physics=PHYSICS, boundaries=BOUNDARIES, fields=(("height", 1), ("velocity", 2))))
