"""FitzHugh-Nagumo activator-inhibitor reaction-diffusion in 2D (the PDEBench
2D diffusion-reaction system, with randomised coefficients).

    u_t = D_u lap(u) + u - u^3 - k - v
    v_t = D_v lap(v) + u - v                      on [-1, 1]^2

Boundaries (`boundary=`, one kind or one per axis): "neumann" (the default:
zero-flux walls, as in PDEBench) or "periodic".

Scheme: cosine / Fourier collocation (`_spectral_box`), integrating-factor RK4
(diffusion exact, reactions explicit) with substeps dt <= 1.5 / (1 + 3 max u^2)
chosen every frame (the cubic's rate is |1 - 3 u^2|; RK4 is stable up to 2.78 / dt)
and at most 0.1.

Initial conditions: u and v independent smooth random fields of RMS 1 (Fourier
modes |k_i| <= 10, amplitude ~ 1/|k|): noise that organises into
activator-inhibitor patterns.

Parameters, per trajectory: D_u log-uniform in [5e-4, 2e-3] (stable
[1e-4, 1e-2]), D_v log-uniform in [2.5e-3, 1e-2] (stable [5e-4, 5e-2]), k
uniform in [0, 0.01] (stable [-0.1, 0.1]); frame_dt 0.25 per dataset
([0.01, 1]).

Output fields, in order: `activator (N, T, 1, X, Y)` (u) and `inhibitor (N, T, 1, X, Y)` (v).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._spectral_box import SpectralBox, box_dataset, reaction_diffusion, start_box

__all__ = ["evolve", "simulate"]

NAME = "fitzhugh_nagumo_2d"
N_SPACE = 2
DOMAIN_LENGTH = 2.0
BOUNDARIES = ("neumann", "periodic")
PHYSICS = (
    Parameter("diffusivity_u", (5e-4, 2e-3), stable=(1e-4, 1e-2), log=True, description="D_u"),
    Parameter("diffusivity_v", (2.5e-3, 1e-2), stable=(5e-4, 5e-2), log=True, description="D_v"),
    Parameter("k", (0.0, 0.01), stable=(-0.1, 0.1), description="activator threshold"),
    Parameter("frame_dt", 0.25, stable=(0.01, 1.0), per_trajectory=False, description="time between frames"),
)


def max_dt(state: np.ndarray) -> float:
    """The substep that keeps RK4 well inside its stability bound for the cubic, from `(N, 2, X, Y)`."""
    return min(0.1, 1.5 / (1 + 3 * float(np.abs(state[:, 0]).max()) ** 2))


def reaction(k: np.ndarray):
    """The FitzHugh-Nagumo rates of `(u, v)` stacked `(N, 2, X, Y)`; `k (N,)`."""
    threshold = np.reshape(k, (-1, 1, 1))

    def rates(state: np.ndarray) -> np.ndarray:
        u, v = state[:, 0], state[:, 1]
        return np.stack([u - u**3 - threshold - v, u - v], axis=1)

    return rates


def evolve(box: SpectralBox, state: np.ndarray, *, diffusivity_u: float | np.ndarray,
           diffusivity_v: float | np.ndarray, k: float | np.ndarray, frame_dt: float, steps: int) -> np.ndarray:
    """Integrate `(u, v)` stacked `(N, 2, X, Y)` -> `(N, T=steps, 2, X, Y)`; coefficients a number or `(N,)`."""
    d_u, d_v = np.broadcast_arrays(np.reshape(diffusivity_u, -1), np.reshape(diffusivity_v, -1))
    return reaction_diffusion(box, state, np.stack([d_u, d_v], axis=1), reaction(k), frame_dt=frame_dt,
                              steps=steps, max_dt=max_dt, name=NAME)


def simulate(n_traj: int = 16, steps: int = 20, resolution: int = 48, seed: int = 0, *,
             diffusivity_u: Any = None, diffusivity_v: Any = None, k: Any = None, frame_dt: Any = None,
             boundary: Any = "neumann") -> PDEDataset:
    """`n_traj` FitzHugh-Nagumo trajectories of `steps` frames on a `resolution`^2 grid; fields
    `activator`, `inhibitor (N, T, 1, X, Y)`. Parameters: None (the default), a number or a range."""
    physics, box, rng = start_box(NAME, n_traj, steps, resolution, seed, PHYSICS, supported=BOUNDARIES,
                                  boundary=boundary, n_space=N_SPACE, length=DOMAIN_LENGTH,
                                  diffusivity_u=diffusivity_u, diffusivity_v=diffusivity_v, k=k, frame_dt=frame_dt)
    state = box.random_field(rng, 2 * n_traj, lambda q: 1.0 / q, max_mode=10)
    state = state.reshape(n_traj, 2, resolution, resolution)
    uv = evolve(box, state, diffusivity_u=physics["diffusivity_u"], diffusivity_v=physics["diffusivity_v"],
                k=physics["k"], frame_dt=physics["frame_dt"], steps=steps)
    return box_dataset(NAME, box, {"activator": uv[:, :, :1], "inhibitor": uv[:, :, 1:]}, physics, seed=seed,
                       equation="u_t = D_u lap u + u - u^3 - k - v, v_t = D_v lap v + u - v", origin=-1.0)


register(Simulator(NAME, "FitzHugh-Nagumo reaction-diffusion 2D, Neumann walls or periodic, spectral IF-RK4 "
                         "(activator, inhibitor)", N_SPACE, 48, run=simulate, physics=PHYSICS,
                   boundaries=BOUNDARIES, fields=(("activator", 1), ("inhibitor", 1))))
