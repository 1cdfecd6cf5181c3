"""Phase-field models in 2D: Allen-Cahn and Cahn-Hilliard.

    allen_cahn_2d:      u_t = eps^2 lap(u) + u - u^3              on [0, 1]^2
    cahn_hilliard_2d:   u_t = lap(u^3 - u - eps^2 lap(u))         on [0, 1]^2

Allen-Cahn separates a mixed state into domains u = +-1 joined by tanh
interfaces of width ~ sqrt(2) eps, which then shrink and straighten
(curvature-driven coarsening); Cahn-Hilliard does the same while conserving
the mass int u dx (spinodal decomposition). Both lower the Ginzburg-Landau
energy int (eps^2 |grad u|^2 / 2 + (u^2 - 1)^2 / 4) dx.

Boundaries (`boundary=`, one kind or one per axis): "periodic" (the default) or
"neumann" walls (u_n = 0; for Cahn-Hilliard also zero flux of the chemical
potential, so the mass stays exactly conserved). Both are cosine / Fourier
collocation (`_spectral_box`).

Schemes:
- Allen-Cahn: integrating-factor RK4 (diffusion exact, the cubic explicit),
  substeps <= 0.25 (the cubic's stiffest rate |1 - 3 u^2| is 2 on |u| <= 1,
  well inside RK4's bound 2.78 / dt); |u| never exceeds max(1, max |u0|).
- Cahn-Hilliard: the linearly stabilised semi-implicit Euler step (Eyre; Zhu
  et al. 1999)
      (1 + dt eps^2 |k|^4 + dt S |k|^2) u_hat' = (1 + dt S |k|^2) u_hat - dt |k|^2 f_hat(u),
  f(u) = u^3 - u, S = 1 (>= max f' / 2 on |u| <= 1: energy stable for any
  dt); substeps dt <= eps^2 / 2. The stabilisation slows a mode by about
  1 / (1 + dt S |k|^2): the fastest spinodal mode grows ~12% slower than the
  exact rate 1 / (4 eps^2). The k = 0 mode never changes: mass is conserved exactly.

Initial conditions: a random mean plus a smooth random field (amplitude ~ 1/|k|):
Allen-Cahn mean in [-0.2, 0.2], RMS 0.3, modes |k_i| <= 10; Cahn-Hilliard mean
in [-0.4, 0.4], RMS 0.05, modes |k_i| <= 16 (small noise around a mixed state).

Parameters: interface width eps per trajectory, log-uniform by default in
[0.02, 0.04] for Allen-Cahn (stable range [0.012, 0.1]: below it a 64^2 grid
no longer resolves the interface) and [0.02, 0.035] for Cahn-Hilliard (stable
[0.015, 0.08]); frame_dt per dataset 0.5 for Allen-Cahn ([0.01, 2]) and 0.004
for Cahn-Hilliard ([1e-4, 0.05]).

Output: field `u (N, T, 1, X, Y)`; frames `frame_dt` apart, frame 0 the initial condition.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._common import frame_progress, substep_count
from pde_data.simulators._spectral_box import SpectralBox, box_dataset, reaction_diffusion, start_box

__all__ = ["evolve_allen_cahn", "evolve_cahn_hilliard"]

N_SPACE = 2
DOMAIN_LENGTH = 1.0
BOUNDARIES = ("periodic", "neumann")
ALLEN_CAHN_MAX_DT = 0.25
STABILISER = 1.0  # S of the Cahn-Hilliard step


def evolve_allen_cahn(box: SpectralBox, u0: np.ndarray, *, epsilon: float | np.ndarray, frame_dt: float,
                      steps: int) -> np.ndarray:
    """Integrate Allen-Cahn from `u0 (N, X, Y)` -> `u (N, T=steps, X, Y)` float64; `epsilon` a number or `(N,)`."""
    diffusivity = np.reshape(epsilon, (-1, 1)) ** 2  # (N or 1, 1)
    u = reaction_diffusion(box, u0[:, None], diffusivity, lambda v: v - v**3, frame_dt=frame_dt, steps=steps,
                           max_dt=ALLEN_CAHN_MAX_DT, name="allen_cahn_2d")
    return u[:, :, 0]


def evolve_cahn_hilliard(box: SpectralBox, u0: np.ndarray, *, epsilon: float | np.ndarray, frame_dt: float,
                         steps: int) -> np.ndarray:
    """Integrate Cahn-Hilliard from `u0 (N, X, Y)` -> `u (N, T=steps, X, Y)` float64; `epsilon` a number or `(N,)`."""
    eps = np.reshape(epsilon, (-1,) + (1,) * box.ndim)  # (N or 1, 1, 1)
    n_sub = substep_count(frame_dt, float(np.min(eps)) ** 2 / 2)
    dt = frame_dt / n_sub
    k2 = box.k2
    implicit = 1 + dt * eps**2 * k2**2 + dt * STABILISER * k2  # (N or 1, *spectral)
    explicit = 1 + dt * STABILISER * k2
    u_hat = box.forward(np.asarray(u0, dtype=np.float64))
    frames = [box.backward(u_hat)]
    for _ in frame_progress("cahn_hilliard_2d", steps - 1):
        for _ in range(n_sub):
            u = box.backward(u_hat)
            u_hat = (explicit * u_hat - dt * k2 * box.forward(u**3 - u)) / implicit
        frames.append(box.backward(u_hat))
    return np.stack(frames, axis=1)


def _simulator(name: str, equation: str, evolve: Callable[..., np.ndarray], epsilon: Parameter,
               frame_dt: Parameter, mean: float, rms: float, max_mode: int) -> Simulator:
    physics_declared = (epsilon, frame_dt)

    def simulate(n_traj: int = 16, steps: int = 20, resolution: int = 64, seed: int = 0, *,
                 epsilon: Any = None, frame_dt: Any = None, boundary: Any = "periodic") -> PDEDataset:
        """`n_traj` trajectories of `steps` frames on a `resolution`^2 grid; field `u (N, T, 1, X, Y)`.
        Parameters: None (the default), a number (pinned) or a `(low, high)` range."""
        physics, box, rng = start_box(name, n_traj, steps, resolution, seed, physics_declared,
                                      supported=BOUNDARIES, boundary=boundary, n_space=N_SPACE,
                                      length=DOMAIN_LENGTH, epsilon=epsilon, frame_dt=frame_dt)
        u0 = rng.uniform(-mean, mean, size=(n_traj, 1, 1))
        u0 = u0 + rms * box.random_field(rng, n_traj, lambda k: 1.0 / k, max_mode=max_mode)
        u = evolve(box, u0, epsilon=physics["epsilon"], frame_dt=physics["frame_dt"], steps=steps)
        return box_dataset(name, box, {"u": u[:, :, None]}, physics, equation=equation, seed=seed)

    return register(Simulator(name, f"{equation}, phase field 2D, periodic or Neumann walls, spectral (field u)",
                              N_SPACE, 64, run=simulate, physics=physics_declared, boundaries=BOUNDARIES,
                              fields=(("u", 1),)))


def _frame_dt(default: float, stable: tuple[float, float]) -> Parameter:
    return Parameter("frame_dt", default, stable=stable, per_trajectory=False, description="time between frames")


ALLEN_CAHN = _simulator(
    "allen_cahn_2d", "Allen-Cahn u_t = eps^2 lap u + u - u^3", evolve_allen_cahn,
    Parameter("epsilon", (0.02, 0.04), stable=(0.012, 0.1), log=True, description="interface width"),
    _frame_dt(0.5, (0.01, 2.0)), mean=0.2, rms=0.3, max_mode=10)
CAHN_HILLIARD = _simulator(
    "cahn_hilliard_2d", "Cahn-Hilliard u_t = lap(u^3 - u - eps^2 lap u)", evolve_cahn_hilliard,
    Parameter("epsilon", (0.02, 0.035), stable=(0.015, 0.08), log=True, description="interface width"),
    _frame_dt(0.004, (1e-4, 0.05)), mean=0.4, rms=0.05, max_mode=16)
