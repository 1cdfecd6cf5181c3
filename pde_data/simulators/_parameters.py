"""Declared physical parameters and boundaries of the built-in simulators.

A simulator declares each physical parameter once, as a `Parameter`: the
range its trajectories draw from by default, the range the solver keeps stable
(finite and bounded over the default horizon at the default resolution), and
whether it is drawn per trajectory (viscosity, reaction rates, wave speed) or
fixed per dataset (frame_dt: one time step per store). A call may pass

- nothing: per-trajectory parameters are drawn from the default range (a
  degenerate range `(v, v)` pins them), dataset ones take their default value;
- a number: pinned, the same for every trajectory;
- a pair `(low, high)`: drawn per trajectory from that range.

Anything outside the stable range is a `DataError` naming it, before any work.
Draws come from their own random stream per parameter (`seed`, parameter
index), so initial conditions do not depend on them and pinning one parameter
leaves the draws of the others unchanged. `Draws.attrs()` records the values
in the spec: `attrs[name]` is the pinned value or the `[low, high]` range, and
`attrs["trajectory_parameters"][name]` the drawn value of every trajectory.

Boundaries: `resolve_boundaries` turns a `boundary=` argument (one kind for all
axes, or one per axis) into per-axis kinds; `spec_boundaries` maps the kinds
onto the spec's vocabulary (`pde_data.spec.BOUNDARY_CONDITIONS`): Neumann
(zero flux), Dirichlet (fixed value) and reflecting walls are all "wall".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union

import numpy as np

from pde_data.errors import DataError

__all__ = ["BOUNDARY_KINDS", "Draws", "Parameter", "check_values", "describe_parameters", "draw_parameters",
           "resolve_boundaries", "spec_boundaries"]

Range = tuple[float, float]
PARAMETER_STREAM = 0x5EED  # the random stream of parameter draws: (seed, PARAMETER_STREAM, index)
# boundary kind -> the spec's name for it
BOUNDARY_KINDS: dict[str, str] = {"periodic": "periodic", "neumann": "wall", "dirichlet": "wall",
                                  "reflective": "wall", "open": "open"}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)) \
        and math.isfinite(float(value))


@dataclass(frozen=True)
class Parameter:
    """One physical parameter: `default` (a number, or a range drawn per trajectory),
    `stable` (the closed range the solver keeps stable), `log` (draw log-uniformly),
    `per_trajectory` (False: one value per dataset, e.g. frame_dt)."""

    name: str
    default: Union[float, Range]
    stable: Range
    log: bool = False
    per_trajectory: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        assert self.stable[0] <= self.stable[1] and (not self.log or self.stable[0] > 0), self
        assert self.per_trajectory or _is_number(self.default), self
        self.check(self.default, "declared")

    def _range_text(self) -> str:
        return f"[{self.stable[0]:g}, {self.stable[1]:g}]"

    def check(self, value: Any, simulator: str) -> Union[float, Range]:
        """The value (a number) or range (a pair) of a call, checked against the stable range."""
        where = f"simulator {simulator!r}: {self.name}"
        pair = isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_number, value))
        if pair and self.per_trajectory:
            low, high = (float(v) for v in value)
            if low > high:
                raise DataError(f"{where}={list(value)} is not a range: low > high; give [low, high]")
        elif _is_number(value):
            low = high = float(value)
        else:
            allowed = "a number or a [low, high] range" if self.per_trajectory else "a number"
            raise DataError(f"{where} must be {allowed} within its stable range {self._range_text()}, "
                            f"got {value!r}")
        if low < self.stable[0] or high > self.stable[1]:
            raise DataError(f"{where}={value!r} is outside the range the solver keeps stable, "
                            f"{self._range_text()}")
        return (low, high) if pair else low

    def draw(self, value: Union[float, Range], rng: np.random.Generator, n: int) -> np.ndarray:
        """`(n,)` values: the number repeated, or uniform (log-uniform) draws in the range."""
        uniform = rng.random(n)  # drawn even when pinned: the stream is the same either way
        low, high = (value, value) if not isinstance(value, tuple) else value
        if low == high:
            return np.full(n, float(low))
        if self.log:
            return np.exp(np.log(low) + uniform * (np.log(high) - np.log(low)))
        return low + uniform * (high - low)


@dataclass
class Draws:
    """The parameters of one call: `values[name]` is `(N,)` for per-trajectory
    parameters, a float for dataset ones; `given[name]` the value or range asked for."""

    values: dict[str, Any]
    given: dict[str, Union[float, Range]]
    per_trajectory: tuple[str, ...]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def attrs(self) -> dict[str, Any]:
        """Spec attributes: each parameter's value or `[low, high]`, and the drawn values
        per trajectory under "trajectory_parameters"."""
        out: dict[str, Any] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.given.items()}
        out["trajectory_parameters"] = {k: [float(x) for x in self.values[k]] for k in self.per_trajectory}
        return out


def check_values(simulator: str, declared: Sequence[Parameter], given: Mapping[str, Any]) -> None:
    """Raise a `DataError` for any value of `given` outside its parameter's stable range
    (`None` means the default; names not declared are left to the caller)."""
    for p in declared:
        if given.get(p.name) is not None:
            p.check(given[p.name], simulator)


def draw_parameters(simulator: str, declared: Sequence[Parameter], n_traj: int, seed: int,
                    **given: Any) -> Draws:
    """Check and draw every declared parameter (`None` or absent: its default)."""
    values: dict[str, Any] = {}
    asked: dict[str, Union[float, Range]] = {}
    for index, p in enumerate(declared):
        value = p.default if given.get(p.name) is None else p.check(given[p.name], simulator)
        value = tuple(value) if isinstance(value, (tuple, list)) else float(value)
        if isinstance(value, tuple) and value[0] == value[1]:
            value = value[0]  # a degenerate range is a pinned value
        asked[p.name] = value
        if p.per_trajectory:
            rng = np.random.default_rng([int(seed), PARAMETER_STREAM, index])
            values[p.name] = p.draw(value, rng, n_traj)
        else:
            values[p.name] = value
    return Draws(values, asked, tuple(p.name for p in declared if p.per_trajectory))


def resolve_boundaries(simulator: str, supported: Sequence[str], boundary: Any,
                       n_axes: int) -> tuple[str, ...]:
    """`boundary` (one kind, or one per axis; None: the first supported) -> one kind per axis."""
    if boundary is None:
        boundary = supported[0]
    kinds = (boundary,) * n_axes if isinstance(boundary, str) else tuple(boundary)
    if len(kinds) != n_axes or any(k not in supported for k in kinds):
        raise DataError(f"simulator {simulator!r}: boundary={boundary!r} is not supported; give one of "
                        f"{', '.join(map(repr, supported))}, or a list of {n_axes} of them (one per axis)")
    return kinds


def spec_boundaries(kinds: Sequence[str]) -> tuple[str, ...]:
    """Per-axis kinds -> the spec's names ("periodic", "wall", "open")."""
    return tuple(BOUNDARY_KINDS[k] for k in kinds)


def describe_parameters(declared: Sequence[Parameter]) -> dict[str, Any]:
    """`{name: {"default": ..., "stable": [low, high], ...}}`: what a manifest or listing shows."""
    return {p.name: {"default": list(p.default) if isinstance(p.default, tuple) else p.default,
                     "stable": list(p.stable), "per_trajectory": p.per_trajectory,
                     "description": p.description} for p in declared}

