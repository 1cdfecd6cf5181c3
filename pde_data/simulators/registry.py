"""The registry of built-in simulators: each simulator module registers a `Simulator` on import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pde_data.dataset import PDEDataset
from pde_data.simulators._parameters import Parameter

__all__ = ["SIMULATORS", "Simulator", "register"]


@dataclass(frozen=True)
class Simulator:
    """A seeded, vectorised solver with random initial conditions.

    `run(n_traj, steps, resolution, seed, **parameters) -> PDEDataset` where
    `resolution` is the number of grid points per spatial axis and the
    keyword-only `parameters` are the physical ones declared in `physics`
    (viscosity, frame_dt, ...) and, where `boundaries` offers more than one
    kind, `boundary` (one kind for every axis or one per axis; the first is
    the default). `fields` names the output fields with their components.
    """

    name: str
    description: str
    n_spatial_dims: int
    default_resolution: int
    run: Callable[..., PDEDataset]
    physics: tuple[Parameter, ...] = ()
    boundaries: tuple[str, ...] = ("periodic",)
    fields: tuple[tuple[str, int], ...] = ()

    @property
    def parameters(self) -> dict[str, Any]:
        """The parameters `run` takes, with their defaults: a number, or the `(low, high)` range
        drawn per trajectory; e.g. `{"viscosity": (0.012, 0.02), "frame_dt": 0.02}`."""
        out: dict[str, Any] = {p.name: p.default for p in self.physics}
        if len(self.boundaries) > 1:
            out["boundary"] = self.boundaries[0]
        return out

    def describe(self) -> str:
        """Lines for a listing (`morph data list`): dims, default grid, fields, boundaries and
        each parameter's default (a value, or the range drawn per trajectory) and stable range."""

        def shown(value: Any) -> str:
            return f"[{value[0]:g}, {value[1]:g}]" if isinstance(value, tuple) else f"{value:g}"

        parameters = ", ".join(
            f"{p.name} {shown(p.default)}{' per trajectory' if p.per_trajectory else ''} (stable {shown(p.stable)})"
            for p in self.physics)
        boundaries = ", ".join(f"{b} (default)" if i == 0 and len(self.boundaries) > 1 else b
                               for i, b in enumerate(self.boundaries))
        return "\n".join([
            f"{self.name}: {self.n_spatial_dims}D, default resolution {self.default_resolution}; {self.description}",
            "  fields: " + ", ".join(f"{name} ({c})" for name, c in self.fields),
            "  boundaries: " + boundaries,
            "  parameters: " + parameters,
        ])


#: Every built-in simulator by name (`pde_data.generate`, `morph data list`); each module registers its own.
SIMULATORS: dict[str, Simulator] = {}


def register(sim: Simulator) -> Simulator:
    SIMULATORS[sim.name] = sim
    return sim
