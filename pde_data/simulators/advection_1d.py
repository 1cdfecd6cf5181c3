"""Linear advection, diffusion and dispersion in 1D, periodic.

    u_t + a u_x = kappa u_xx + beta u_xxx          on x in [0, 1), periodic

Scheme: exact in Fourier space: each mode exp(i k x) is multiplied per frame
by exp((-i a k - kappa k^2 - i beta k^3) frame_dt), so frames are exact up to
round-off for any coefficients (kappa = beta = 0: pure translation at speed a).
The mean of u is conserved; with kappa = 0 so is int u^2 dx.

Initial conditions: a smooth random field of RMS 1 (Fourier modes 1..8,
amplitude ~ 1/k), plus a random mean in [-0.5, 0.5].

Parameters, per trajectory: speed a uniform in [-1, 1] (stable range [-4, 4]),
diffusivity kappa uniform in [0, 2e-3] (stable [0, 0.05]), dispersion beta
uniform in [-5e-5, 5e-5] (stable [-1e-3, 1e-3]); frame_dt 0.02 per dataset
([1e-3, 0.5]).

Output: field `u (N, T, 1, X)` at x_j = j / X; frames `frame_dt` apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter
from pde_data.simulators.registry import Simulator, register
from pde_data.simulators._spectral_box import box_dataset, integrate, start_box

__all__ = ["simulate"]

NAME = "advection_1d"
PHYSICS = (
    Parameter("speed", (-1.0, 1.0), stable=(-4.0, 4.0), description="a"),
    Parameter("diffusivity", (0.0, 2e-3), stable=(0.0, 0.05), description="kappa"),
    Parameter("dispersion", (-5e-5, 5e-5), stable=(-1e-3, 1e-3), description="beta"),
    Parameter("frame_dt", 0.02, stable=(1e-3, 0.5), per_trajectory=False, description="time between frames"),
)


def simulate(n_traj: int = 16, steps: int = 20, resolution: int = 128, seed: int = 0, *,
             speed: Any = None, diffusivity: Any = None, dispersion: Any = None,
             frame_dt: Any = None) -> PDEDataset:
    """`n_traj` trajectories of `steps` frames on `resolution` points; field `u (N, T, 1, X)`.
    Parameters: None (the default), a number (pinned) or a `(low, high)` range."""
    physics, box, rng = start_box(NAME, n_traj, steps, resolution, seed, PHYSICS, supported=("periodic",),
                                  boundary="periodic", n_space=1, length=1.0, speed=speed,
                                  diffusivity=diffusivity, dispersion=dispersion, frame_dt=frame_dt)
    mean = rng.uniform(-0.5, 0.5, size=(n_traj, 1))
    u0 = mean + box.random_field(rng, n_traj, lambda q: 1.0 / q, max_mode=8)
    a, kappa, beta = (np.reshape(physics[p], (-1, 1, 1)) for p in ("speed", "diffusivity", "dispersion"))
    (k,) = box.k
    linear = -1j * a * k - kappa * k**2 - 1j * beta * k**3  # u_hat_t = linear u_hat, (N, 1, X // 2 + 1)
    u = integrate(box, u0[:, None], linear, frame_dt=physics["frame_dt"], steps=steps, max_dt=np.inf, name=NAME)
    return box_dataset(NAME, box, {"u": u}, physics, equation="u_t + a u_x = kappa u_xx + beta u_xxx", seed=seed)


register(Simulator(NAME, "linear advection-diffusion-dispersion 1D, periodic, exact spectral (field u)", 1, 128,
                   run=simulate, physics=PHYSICS, fields=(("u", 1),)))
