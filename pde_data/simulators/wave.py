"""Wave equation in 2D and 3D, as the first-order system in u and u_t.

    u_tt = c^2 lap(u)      on [0, 1]^d, d = 2 (`wave_2d`) or 3 (`wave_3d`)

Boundaries (`boundary=`, one kind or one per axis): "dirichlet" (the default:
a clamped membrane, u = 0 at the walls), "neumann" (free edges, u_n = 0) or
"periodic".

Scheme: u and u_t are expanded in the sine / cosine / Fourier series of each
axis (`_spectral_box`); each mode is an undamped oscillator of frequency
w = c |k|, advanced exactly:
    u_hat   <- u_hat cos(w t) + u_t_hat sin(w t) / w
    u_t_hat <- -w u_hat sin(w t) + u_t_hat cos(w t).
So frames are exact up to round-off for any c and frame_dt, and the energy
E = 1/2 int (u_t^2 + c^2 |grad u|^2) dx is conserved.

Initial conditions: u0 a smooth random field of RMS 1 (Fourier modes
|k_i| <= 4, amplitude ~ 1/|k|^2, tapered to zero at Dirichlet walls), u_t0 = 0.

Parameters: wave speed c per trajectory, uniform in [0.5, 1.5] by default
(stable range [0.05, 4]); frame_dt per dataset: 0.02 in 2D, 0.025 in 3D
([1e-3, 1]).

Output fields, in order: `u (N, T, 1, *space)` and `u_t (N, T, 1, *space)`
at the grid points (cell centres along wall axes); frames `frame_dt` apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._common import frame_progress
from pde_data.simulators._spectral_box import BOX_BOUNDARIES, SpectralBox, box_dataset, start_box

__all__ = ["evolve"]

DOMAIN_LENGTH = 1.0
BOUNDARIES = ("dirichlet", "neumann", "periodic")
assert set(BOUNDARIES) == set(BOX_BOUNDARIES)


def evolve(box: SpectralBox, u0: np.ndarray, u_t0: np.ndarray, *, speed: float | np.ndarray, frame_dt: float,
           steps: int, name: str = "wave") -> tuple[np.ndarray, np.ndarray]:
    """Exact modal propagation from `u0`, `u_t0 (N, *space)` -> `u`, `u_t (N, T=steps, *space)` float64;
    `speed` is c, a number or one per trajectory `(N,)`."""
    omega = np.reshape(speed, (-1,) + (1,) * box.ndim) * np.sqrt(box.k2)  # (N or 1, *spectral)
    cos, sin = np.cos(omega * frame_dt), np.sin(omega * frame_dt)
    sin_over_omega = frame_dt * np.sinc(omega * frame_dt / np.pi)  # sin(w t) / w, t at w = 0
    u_hat, v_hat = box.forward(np.asarray(u0, np.float64)), box.forward(np.asarray(u_t0, np.float64))
    frames = [(box.backward(u_hat), box.backward(v_hat))]
    for _ in frame_progress(name, steps - 1):
        u_hat, v_hat = cos * u_hat + sin_over_omega * v_hat, -omega * sin * u_hat + cos * v_hat
        frames.append((box.backward(u_hat), box.backward(v_hat)))
    u, u_t = (np.stack(f, axis=1) for f in zip(*frames))
    return u, u_t


def _simulator(name: str, n_space: int, default_resolution: int, default_frame_dt: float) -> Simulator:
    physics_declared = (
        Parameter("speed", (0.5, 1.5), stable=(0.05, 4.0), description="wave speed c"),
        Parameter("frame_dt", default_frame_dt, stable=(1e-3, 1.0), per_trajectory=False,
                  description="time between frames"),
    )

    def simulate(n_traj: int = 16, steps: int = 20, resolution: int = default_resolution, seed: int = 0, *,
                 speed: Any = None, frame_dt: Any = None, boundary: Any = BOUNDARIES[0]) -> PDEDataset:
        """`n_traj` wave trajectories of `steps` frames on a `resolution`^d grid; fields
        `u`, `u_t (N, T, 1, *space)`. Parameters: None (the default), a number or a `(low, high)` range."""
        physics, box, rng = start_box(name, n_traj, steps, resolution, seed, physics_declared,
                                      supported=BOUNDARIES, boundary=boundary, n_space=n_space,
                                      length=DOMAIN_LENGTH, speed=speed, frame_dt=frame_dt)
        u0 = box.random_field(rng, n_traj, lambda k: k**-2.0, max_mode=4)
        u, u_t = evolve(box, u0, np.zeros_like(u0), speed=physics["speed"], frame_dt=physics["frame_dt"],
                        steps=steps, name=name)
        return box_dataset(name, box, {"u": u[:, :, None], "u_t": u_t[:, :, None]}, physics,
                           equation="u_tt = c^2 lap u", seed=seed)

    return register(Simulator(
        name, f"wave equation {n_space}D, clamped/free walls or periodic, exact spectral (u, u_t)",
        n_space, default_resolution, run=simulate, physics=physics_declared, boundaries=BOUNDARIES,
        fields=(("u", 1), ("u_t", 1))))


WAVE_2D = _simulator("wave_2d", 2, 64, 0.02)
WAVE_3D = _simulator("wave_3d", 3, 24, 0.025)
