"""Gray-Scott reaction-diffusion in 2D: self-replicating spots, stripes and waves.

    u_t = D_u lap(u) - u v^2 + F (1 - u)
    v_t = D_v lap(v) + u v^2 - (F + k) v          on [0, 0.5]^2

(Pearson, Science 1993). Boundaries (`boundary=`, one kind or one per axis):
"periodic" (the default) or "neumann" (zero-flux walls).

Scheme: cosine / Fourier collocation (`_spectral_box`), integrating-factor RK4
(diffusion exact, reactions explicit) with substeps dt <= 1.5 / (max v^2 +
2 max |u v| + 0.2) (a bound on the reaction Jacobian; RK4 is stable up to
2.78 / dt), chosen every frame and at most 2.5 time units.

Initial conditions: the trivial state u = 1, v = 0 blended smoothly, where a
smooth random field g (Fourier modes |k_i| <= 6, unit variance) exceeds its
80th percentile q, into u = 0.5, v = 0.25 (weight (1 + tanh((g - q) / 0.2)) / 2:
patches of "seed"), plus 1% smooth noise, as in Pearson's runs.

Parameters, per trajectory: feed rate F uniform in [0.025, 0.055] and kill
rate k in [0.055, 0.065] by default (stable ranges [0, 0.1] each; different
(F, k) give spots, stripes, labyrinths, waves or decay), D_u log-uniform in
[1.5e-5, 2.5e-5] (stable [5e-6, 1e-4]) and the ratio D_v / D_u
(`diffusivity_ratio`) in [0.4, 0.6] (stable [0.25, 1]). frame_dt 25 per dataset
([1, 100]).

Output fields, in order: `u (N, T, 1, X, Y)` and `v (N, T, 1, X, Y)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._spectral_box import SpectralBox, box_dataset, reaction_diffusion, start_box

__all__ = ["evolve", "simulate"]

NAME = "gray_scott_2d"
N_SPACE = 2
DOMAIN_LENGTH = 0.5
BOUNDARIES = ("periodic", "neumann")
PHYSICS = (
    Parameter("feed", (0.025, 0.055), stable=(0.0, 0.1), description="F"),
    Parameter("kill", (0.055, 0.065), stable=(0.0, 0.1), description="k"),
    Parameter("diffusivity", (1.5e-5, 2.5e-5), stable=(5e-6, 1e-4), log=True, description="D_u"),
    Parameter("diffusivity_ratio", (0.4, 0.6), stable=(0.25, 1.0), description="D_v / D_u"),
    Parameter("frame_dt", 25.0, stable=(1.0, 100.0), per_trajectory=False, description="time between frames"),
)


def max_dt(state: np.ndarray) -> float:
    """The substep that keeps RK4 well inside its stability bound for the reactions, from `(N, 2, X, Y)`."""
    u, v = np.abs(state[:, 0]), np.abs(state[:, 1])
    return min(2.5, 1.5 / (float((v * v).max()) + 2 * float((u * v).max()) + 0.2))


def reaction(feed: np.ndarray, kill: np.ndarray):
    """The Gray-Scott rates of `(u, v)` stacked `(N, 2, X, Y)`; `feed`, `kill` `(N,)`."""
    f, k = (np.reshape(a, (-1, 1, 1)) for a in (feed, kill))

    def rates(state: np.ndarray) -> np.ndarray:
        u, v = state[:, 0], state[:, 1]
        uvv = u * v * v
        return np.stack([-uvv + f * (1 - u), uvv - (f + k) * v], axis=1)

    return rates


def evolve(box: SpectralBox, state: np.ndarray, *, feed: float | np.ndarray, kill: float | np.ndarray,
           diffusivity: float | np.ndarray, diffusivity_ratio: float | np.ndarray, frame_dt: float,
           steps: int) -> np.ndarray:
    """Integrate `(u, v)` stacked `(N, 2, X, Y)` -> `(N, T=steps, 2, X, Y)`; coefficients a number or `(N,)`."""
    d_u, ratio = np.broadcast_arrays(np.reshape(diffusivity, -1), np.reshape(diffusivity_ratio, -1))
    return reaction_diffusion(box, state, np.stack([d_u, d_u * ratio], axis=1), reaction(feed, kill),
                              frame_dt=frame_dt, steps=steps, max_dt=max_dt, name=NAME)


def simulate(n_traj: int = 16, steps: int = 20, resolution: int = 48, seed: int = 0, *,
             feed: Any = None, kill: Any = None, diffusivity: Any = None, diffusivity_ratio: Any = None,
             frame_dt: Any = None, boundary: Any = "periodic") -> PDEDataset:
    """`n_traj` Gray-Scott trajectories of `steps` frames on a `resolution`^2 grid; fields
    `u`, `v (N, T, 1, X, Y)`. Parameters: None (the default), a number or a `(low, high)` range."""
    physics, box, rng = start_box(NAME, n_traj, steps, resolution, seed, PHYSICS, supported=BOUNDARIES,
                                  boundary=boundary, n_space=N_SPACE, length=DOMAIN_LENGTH, feed=feed, kill=kill,
                                  diffusivity=diffusivity, diffusivity_ratio=diffusivity_ratio, frame_dt=frame_dt)
    pattern = box.random_field(rng, n_traj, lambda k: 1.0 / k, max_mode=6)
    threshold = np.quantile(pattern, 0.8, axis=(-2, -1), keepdims=True)
    seeded = 0.5 * (1 + np.tanh((pattern - threshold) / 0.2))  # (N, X, Y), smooth patches in [0, 1]
    noise = 0.01 * box.random_field(rng, 2 * n_traj, lambda k: 1.0 / k, max_mode=6).reshape(n_traj, 2, *seeded.shape[1:])
    state = np.stack([1.0 - 0.5 * seeded, 0.25 * seeded], axis=1) + noise
    uv = evolve(box, state, feed=physics["feed"], kill=physics["kill"], diffusivity=physics["diffusivity"],
                diffusivity_ratio=physics["diffusivity_ratio"], frame_dt=physics["frame_dt"], steps=steps)
    return box_dataset(NAME, box, {"u": uv[:, :, :1], "v": uv[:, :, 1:]}, physics, seed=seed,
                       equation="u_t = D_u lap u - u v^2 + F (1 - u), v_t = D_v lap v + u v^2 - (F + k) v")


register(Simulator(NAME, "Gray-Scott reaction-diffusion 2D, pattern formation, periodic or Neumann walls, "
                         "spectral IF-RK4 (u, v)", N_SPACE, 48, run=simulate, physics=PHYSICS,
                   boundaries=BOUNDARIES, fields=(("u", 1), ("v", 1))))
