"""What a dataset holds: `DatasetSpec`, `FieldSpec`, `FieldStats`.

A spec is plain data with a JSON round trip; it travels with the canonical
store (zarr group attributes) and with checkpoints.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Mapping, Optional

from pde_data.errors import DataError

__all__ = ["BOUNDARY_CONDITIONS", "DatasetSpec", "FieldSpec", "FieldStats"]

BoundaryCondition = Literal["periodic", "wall", "open", "unknown"]
BOUNDARY_CONDITIONS: tuple[str, ...] = ("periodic", "wall", "open", "unknown")
#: The key of the time coordinate in `DatasetSpec.coordinates` (the spatial axes go by their names).
TIME = "time"


@dataclass(frozen=True)
class FieldSpec:
    """One physical field: a scalar (1 component), a vector (d) or a tensor (d*d)."""

    name: str
    components: int = 1

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise DataError(f"FieldSpec.name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.components, int) or self.components < 1:
            raise DataError(
                f"FieldSpec {self.name!r}: components must be a positive int, got {self.components!r}"
            )


@dataclass(frozen=True)
class FieldStats:
    """Dataset-level statistics of one field.

    `mean` has one entry per component; `std` is one number: the standard
    deviation for a scalar, the RMS magnitude of the deviation from the mean
    vector for a vector or tensor field (so directions are preserved when
    scaling by it).
    """

    mean: tuple[float, ...]
    std: float
    min: float
    max: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FieldStats":
        """Statistics from their JSON form (the `stats` of a saved `DatasetSpec`)."""
        return cls(mean=tuple(float(v) for v in d["mean"]), std=float(d["std"]),
                   min=float(d["min"]), max=float(d["max"]))


@dataclass
class DatasetSpec:
    """Everything about a dataset except its values.

    Arrays of field `f` have shape `(N, T, C_f, *grid_shape)`; the spatial
    axes map onto the canonical `(D, H, W)` from the right: 1D is W, 2D is
    (H, W), 3D is (D, H, W). `assumed_boundaries` names the axes whose boundary
    condition the reader assumed because the source does not say it (e.g. periodic
    for PDEBench's single-array files); `set_boundaries` states them.
    `coordinates` keeps the source's 1-D coordinates by axis name (one entry a cell) and
    under "time" (one entry a frame), where it has them; `coordinate_units` their units, where
    it says them. `axis_values` gives them, or spacing x index, or the index.
    """

    name: str
    grid_shape: tuple[int, ...]
    fields: tuple[FieldSpec, ...]
    n_trajectories: int
    n_steps: int
    dt: Optional[float] = None
    spacing: Optional[tuple[float, ...]] = None
    boundary_conditions: tuple[str, ...] = ()
    axis_names: tuple[str, ...] = ()
    source: Optional[str] = None
    format: Optional[str] = None
    stats: dict[str, FieldStats] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    assumed_boundaries: tuple[str, ...] = ()
    coordinates: dict[str, tuple[float, ...]] = field(default_factory=dict)
    coordinate_units: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.grid_shape = tuple(int(n) for n in self.grid_shape)
        self.fields = tuple(f if isinstance(f, FieldSpec) else FieldSpec(**f) for f in self.fields)
        where = f"dataset {self.name!r}"
        if not 1 <= len(self.grid_shape) <= 3:
            raise DataError(
                f"{where}: grid_shape {self.grid_shape} has {len(self.grid_shape)} spatial dims; "
                "1 to 3 are supported"
            )
        if any(n < 1 for n in self.grid_shape):
            raise DataError(f"{where}: grid_shape {self.grid_shape} has an empty axis")
        if not self.fields:
            raise DataError(f"{where}: no fields; give at least one FieldSpec")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise DataError(f"{where}: duplicate field names {names}")
        if self.n_trajectories < 1 or self.n_steps < 1:
            raise DataError(
                f"{where}: needs at least one trajectory and one time step, got "
                f"n_trajectories={self.n_trajectories}, n_steps={self.n_steps}"
            )
        d = len(self.grid_shape)
        if not self.boundary_conditions:
            self.boundary_conditions = ("unknown",) * d
        self.boundary_conditions = tuple(str(b).lower() for b in self.boundary_conditions)
        if len(self.boundary_conditions) != d:
            raise DataError(
                f"{where}: {len(self.boundary_conditions)} boundary conditions for {d} spatial axes"
            )
        for bc in self.boundary_conditions:
            if bc not in BOUNDARY_CONDITIONS:
                raise DataError(
                    f"{where}: unknown boundary condition {bc!r}; use one of {BOUNDARY_CONDITIONS}"
                )
        if not self.axis_names:
            self.axis_names = ("x", "y", "z")[:d]
        self.axis_names = tuple(self.axis_names)
        if len(self.axis_names) != d:
            raise DataError(f"{where}: {len(self.axis_names)} axis names for {d} spatial axes")
        self.assumed_boundaries = tuple(self.assumed_boundaries)
        if not set(self.assumed_boundaries) <= set(self.axis_names):
            raise DataError(f"{where}: assumed_boundaries {self.assumed_boundaries} are not among the axes "
                            f"{self.axis_names}")
        if self.spacing is not None:
            self.spacing = tuple(float(s) for s in self.spacing)
            if len(self.spacing) != d:
                raise DataError(f"{where}: {len(self.spacing)} grid spacings for {d} spatial axes")
        if self.dt is not None:
            self.dt = float(self.dt)
        sizes = {**dict(zip(self.axis_names, self.grid_shape)), TIME: self.n_steps}
        self.coordinates = {str(k): tuple(float(v) for v in values) for k, values in self.coordinates.items()}
        for axis, values in self.coordinates.items():
            if axis not in sizes:
                raise DataError(f"{where}: coordinates of {axis!r}, which is not an axis ({', '.join(sizes)})")
            if len(values) != sizes[axis]:
                raise DataError(f"{where}: {len(values)} coordinates for the {sizes[axis]} entries of {axis!r}")
        self.coordinate_units = {str(k): str(v) for k, v in self.coordinate_units.items() if k in sizes}
        self.stats = {k: v if isinstance(v, FieldStats) else FieldStats.from_dict(v)
                      for k, v in self.stats.items()}
        unknown = set(self.stats) - set(names)
        if unknown:
            raise DataError(f"{where}: statistics for unknown fields {sorted(unknown)}")

    def axis_values(self, axis: str) -> tuple[float, ...]:
        """The coordinate of a spatial axis (by name; one value a cell) or of "time" (one a frame): the
        source's, else spacing (dt) x index, else the index."""
        if axis in self.coordinates:
            return self.coordinates[axis]
        if axis == TIME:
            return tuple(float(i * (self.dt or 1.0)) for i in range(self.n_steps))
        if axis not in self.axis_names:
            raise DataError(f"dataset {self.name!r}: no axis {axis!r}; the axes are {', '.join(self.axis_names)}, "
                            f"and {TIME!r}")
        i = self.axis_names.index(axis)
        step = self.spacing[i] if self.spacing else 1.0
        return tuple(float(k * step) for k in range(self.grid_shape[i]))

    @property
    def n_spatial_dims(self) -> int:
        return len(self.grid_shape)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def components(self) -> list[int]:
        return [f.components for f in self.fields]

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain values, statistics included."""
        d = asdict(self)
        d["stats"] = {k: asdict(v) for k, v in self.stats.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DatasetSpec":
        """The spec `to_dict` gave (lists back to tuples)."""
        d = dict(d)
        d["fields"] = tuple(FieldSpec(**f) for f in d["fields"])
        for key in ("grid_shape", "spacing", "boundary_conditions", "axis_names", "assumed_boundaries"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)

    def to_json(self) -> str:
        """The spec as JSON (how a canonical store keeps it)."""
        return json.dumps(self.to_dict(), indent=2, default=_json_default)

    @classmethod
    def from_json(cls, text: str) -> "DatasetSpec":
        """The spec `to_json` gave."""
        return cls.from_dict(json.loads(text))

    def set_boundaries(self, value: Any) -> None:
        """State the boundary conditions (they are then no longer assumed): one kind for every axis
        (`"wall"`), one axis (`"x=wall"`), a list of kinds one per axis in order (`["periodic", "wall"]`)
        or of AXIS=KIND entries, or a mapping `{"x": "wall"}`; kinds are those of `BOUNDARY_CONDITIONS`.
        Axes not named keep theirs."""
        named = _boundary_entries(value, self.axis_names, self.source or self.name)
        self.boundary_conditions = tuple(named.get(a, b) for a, b in zip(self.axis_names, self.boundary_conditions))
        self.assumed_boundaries = tuple(a for a in self.assumed_boundaries if a not in named)

    def boundary_note(self, where: Optional[str] = None) -> Optional[str]:
        """What the boundary conditions rest on when the source does not say them all (the axes assumed
        or unknown), and how to state them, for the data at `where` (default: the source); None when the
        source says every one."""
        guessed = [f"{a}: {b}" + (" (assumed: the file does not say)" if a in self.assumed_boundaries else "")
                   for a, b in zip(self.axis_names, self.boundary_conditions)
                   if a in self.assumed_boundaries or b == "unknown"]
        if not guessed:
            return None
        example = self.axis_names[0]
        return (f"{where or self.source or self.name}: boundaries {', '.join(guessed)}. A model with boundary "
                "padding wraps periodic axes around and pads the others, unknown ones included, like walls. If the "
                "data's boundaries are other, state them: boundary_conditions=\"wall\" (every axis; or periodic, "
                f"open) or boundary_conditions=\"{example}=wall\" (one axis)")

    def describe(self) -> str:
        """A human-readable summary (what `morph data inspect` prints)."""
        lines = [
            f"dataset      {self.name}",
            f"source       {self.source or '-'} ({self.format or '-'})",
            f"trajectories {self.n_trajectories}",
            f"time steps   {self.n_steps}" + (f" (dt = {self.dt:g})" if self.dt is not None else ""),
            "grid         " + " x ".join(f"{a}={n}" for a, n in zip(self.axis_names, self.grid_shape))
            + (f" (spacing {', '.join(f'{s:g}' for s in self.spacing)})" if self.spacing else ""),
            *([f"coordinates " + ", ".join(f"{a} {v[0]:g}..{v[-1]:g}" + (f" {self.coordinate_units[a]}"
                                                                       if a in self.coordinate_units else "")
                                           for a, v in self.coordinates.items())] if self.coordinates else []),
            "boundaries   " + ", ".join(f"{a}: {b}" + (" (assumed)" if a in self.assumed_boundaries else "")
                                        for a, b in zip(self.axis_names, self.boundary_conditions)),
            "fields",
        ]
        for f in self.fields:
            kind = _kind(f.components, self.n_spatial_dims)
            line = f"  {f.name:<14} {kind:<7} {f.components} component{'s' if f.components > 1 else ''}"
            st = self.stats.get(f.name)
            if st is not None:
                mean = ", ".join(f"{m:.4g}" for m in st.mean)
                line += f"   mean [{mean}]  std {st.std:.4g}  min {st.min:.4g}  max {st.max:.4g}"
            lines.append(line)
        per_trajectory = self.attrs.get("trajectory_parameters")
        shown = {k: v for k, v in self.attrs.items() if k != "trajectory_parameters" or not isinstance(v, dict)}
        if shown:
            lines.append("attributes   " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        if isinstance(per_trajectory, dict) and per_trajectory:
            lines.append("per trajectory " + ", ".join(
                f"{k} {min(v):.4g}..{max(v):.4g} ({len(v)} values)" for k, v in per_trajectory.items() if v))
        return "\n".join(lines)


def _boundary_entries(value: Any, axes: tuple[str, ...], where: str) -> dict[str, str]:
    """`{axis: kind}` of a `set_boundaries` value, checked against the axes and the kinds."""
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, Mapping):
        items = [f"{k}={v}" for k, v in value.items()]
    elif isinstance(value, (list, tuple)) and value:
        items = [str(v) for v in value]
    else:
        raise DataError(f"{where}: boundary_conditions={value!r}; give a kind (\"wall\"), AXIS=KIND (\"x=wall\"), "
                        "a list of either, or a mapping {axis: kind}")
    named = ["=" in item for item in items]
    if all(named):
        entries = dict((k.strip(), v.strip()) for k, v in (item.split("=", 1) for item in items))
        unknown = [a for a in entries if a not in axes]
        if unknown:
            raise DataError(f"{where}: boundary_conditions={value!r} names axes {unknown}; the data's axes are "
                            f"{', '.join(axes)}")
    elif any(named):
        raise DataError(f"{where}: boundary_conditions={value!r} mixes kinds for every axis with AXIS=KIND "
                        "entries; give one kind, or AXIS=KIND for each axis to set")
    elif len(items) in (1, len(axes)):
        entries = dict(zip(axes, items * len(axes) if len(items) == 1 else items))
    else:
        raise DataError(f"{where}: boundary_conditions={value!r} gives {len(items)} kinds for {len(axes)} axes "
                        f"({', '.join(axes)}); give one kind for every axis, one per axis, or AXIS=KIND")
    entries = {a: k.lower() for a, k in entries.items()}
    bad = sorted({k for k in entries.values() if k not in BOUNDARY_CONDITIONS})
    if bad:
        raise DataError(f"{where}: boundary_conditions={value!r}: unknown kind {', '.join(bad)}; use one of "
                        f"{', '.join(BOUNDARY_CONDITIONS)}")
    return entries


def _kind(components: int, d: int) -> str:
    if components == 1:
        return "scalar"
    if components == d:
        return "vector"
    if components == d * d:
        return "tensor"
    return "multi"


def _json_default(obj: Any) -> Any:
    # numpy scalars in attrs
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

