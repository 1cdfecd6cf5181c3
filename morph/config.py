"""`MorphConfig`: every size and limit of a MORPH model, validated, saved as JSON.

The presets match the published MORPH checkpoints (arXiv 2509.21670):

    name  filters  dim   heads  depth  mlp_dim   max_ar  pos_mode
    Ti    8        256   4      4      1024      1       slice
    S     8        512   8      4      2048      1       slice
    M     8        768   12     8      3072      1       slice
    L     8        1024  16     16     4096      16      bilinear
    XL    64       1536  24     16     8192      1       slice

all with patch_size 8, heads_xa 32, max_fields 3, max_components 3 and
max_patches 4096. `MorphConfig.from_preset("Ti", max_ar=4)` overrides any field.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence, Union, get_args

from pde_data import DataError, DatasetSpec

__all__ = ["ConfigError", "DataFitError", "MorphConfig", "PRESETS", "PosMode", "WallPadding"]

PosMode = Literal["slice", "bilinear"]
WallPadding = Literal["zero", "replicate"]

#: The published MORPH sizes: preset name -> the MorphConfig fields it sets (`MorphConfig.from_preset`).
PRESETS: dict[str, dict[str, Any]] = {
    "Ti": dict(filters=8, dim=256, heads=4, depth=4, mlp_dim=1024),
    "S": dict(filters=8, dim=512, heads=8, depth=4, mlp_dim=2048),
    "M": dict(filters=8, dim=768, heads=12, depth=8, mlp_dim=3072),
    "L": dict(filters=8, dim=1024, heads=16, depth=16, mlp_dim=4096, max_ar=16, pos_mode="bilinear"),
    "XL": dict(filters=64, dim=1536, heads=24, depth=16, mlp_dim=8192),
}

#: Width of the 1x1x1 component projection that starts the convolution stack.
COMPONENT_CHANNELS = 8


class ConfigError(ValueError):
    """A bad model or training configuration: names the key, the value and what is allowed."""


class DataFitError(DataError, ConfigError):
    """Data that does not fit a model (too many fields or components, too long a history, too
    many patches); both a `DataError` and a `ConfigError`, so either handler reports it."""


def refuse_unknown_fields(cls: type, values: dict[str, Any]) -> None:
    """`ConfigError` naming the keys of `values` that are not fields of the dataclass `cls`, and the
    allowed ones (what every model config's `from_dict` checks first)."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"Unknown {cls.__name__} field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")


@dataclass
class MorphConfig:
    """Sizes and limits of a MORPH model.

    filters: channels after the convolution stack (8, 16, 32, ...: a multiple of 8).
    dim, heads, depth, mlp_dim: transformer width, heads, blocks, MLP hidden width.
    patch_size: patch edge on every spatial axis longer than 1.
    max_fields, max_components: the largest F and C the model accepts.
    max_patches: rows of the positional table; the largest token grid (per time slot).
    max_ar: the longest history t (rows of the positional table in time).
    heads_xa: heads of the field cross-attention.
    dropout: attention-probability and MLP dropout; emb_dropout: token dropout
        after the positional embedding.
    pos_mode: "slice" takes the first t time rows and interpolates linearly over
        the patch index; "bilinear" resamples (max_ar, max_patches) -> (t, n) with
        antialias (the published L checkpoint).
    predict_delta: the model predicts x_next - x_last, and forward returns
        x_last + that (off for the published weights).
    delta_scale: with predict_delta and a history of t >= 2 frames, the predicted
        increment is multiplied by the RMS increment of the history (per sample
        and field), so the network works at unit scale whatever the time step;
        with t = 1 the scale is 1.
    activation_checkpointing: recompute each encoder block in the backward pass.
    boundary_padding: pad by the boundary condition of each axis (the batch's `boundaries`):
        wrap around periodic axes, in the component convolutions and when the grid is padded
        to a patch multiple; pad other axes as `wall_padding` says ("zero" or "replicate").
        Off: zeros everywhere, as the published weights were trained.
    boundary_embedding: add a learned vector per axis and boundary type to every token.
    refine_channels: 0 (the published model), or the hidden channels of a convolutional head that
        refines the un-patchified frame across patch edges (`morph.model.refine`; for small grids,
        where patches are few and large).
    grown_from: the (max_fields, max_components) of each earlier size of a model grown to more
        fields or components (`morph.growth.grow`), oldest first; the decoder keeps the output rows
        of those slots where they were and gives the new slots rows of their own. () for a model
        built at its size.
    Both boundary switches are off for imported official weights (`morph import-official` stays exact) and on
    in the default pretraining (`morph.train.config.DEFAULT_MODEL`).
    """

    filters: int = 8
    dim: int = 256
    heads: int = 4
    depth: int = 4
    mlp_dim: int = 1024
    patch_size: int = 8
    max_fields: int = 3
    max_components: int = 3
    max_patches: int = 4096
    max_ar: int = 1
    heads_xa: int = 32
    dropout: float = 0.1
    emb_dropout: float = 0.1
    pos_mode: PosMode = "slice"
    predict_delta: bool = False
    delta_scale: bool = True
    activation_checkpointing: bool = False
    boundary_padding: bool = False
    wall_padding: WallPadding = "zero"
    boundary_embedding: bool = False
    refine_channels: int = 0
    grown_from: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        self.grown_from = self._check_grown_from(self.grown_from)
        for name in ("filters", "dim", "heads", "depth", "mlp_dim", "patch_size", "max_fields",
                     "max_components", "max_patches", "max_ar", "heads_xa"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MorphConfig.{name} must be a positive int, got {value!r}")
        if isinstance(self.refine_channels, bool) or not isinstance(self.refine_channels, int) \
                or self.refine_channels < 0:
            raise ValueError(f"MorphConfig.refine_channels must be an int >= 0 (0 = no refinement head), "
                             f"got {self.refine_channels!r}")
        if self.filters % COMPONENT_CHANNELS:
            raise ValueError(f"MorphConfig.filters must be a multiple of {COMPONENT_CHANNELS} "
                             f"(8, 16, 32, ...), got {self.filters}")
        for name in ("heads", "heads_xa"):
            if self.dim % getattr(self, name):
                raise ValueError(f"MorphConfig.dim ({self.dim}) must be divisible by "
                                 f"{name} ({getattr(self, name)})")
        for name in ("dropout", "emb_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"MorphConfig.{name} must be a float in [0, 1), got {value!r}")
        if self.pos_mode not in get_args(PosMode):
            raise ValueError(f"MorphConfig.pos_mode must be one of {', '.join(get_args(PosMode))}; "
                             f"got {self.pos_mode!r}")
        if self.wall_padding not in get_args(WallPadding):
            raise ValueError(f"MorphConfig.wall_padding must be one of {', '.join(get_args(WallPadding))}; "
                             f"got {self.wall_padding!r}")
        for name in ("predict_delta", "delta_scale", "activation_checkpointing", "boundary_padding",
                     "boundary_embedding"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"MorphConfig.{name} must be a bool, got {getattr(self, name)!r}")

    def _check_grown_from(self, value: Any) -> tuple[tuple[int, int], ...]:
        try:
            sizes = tuple((int(f), int(c)) for f, c in value)
        except (TypeError, ValueError):
            raise ValueError(f"MorphConfig.grown_from must be a list of [max_fields, max_components] pairs, "
                             f"got {value!r}") from None
        chain = [*sizes, (self.max_fields, self.max_components)]
        for (f0, c0), (f1, c1) in zip(chain, chain[1:]):
            if min(f0, c0) < 1 or f1 < f0 or c1 < c0 or (f1, c1) == (f0, c0):
                raise ValueError(f"MorphConfig.grown_from must list earlier, smaller sizes: "
                                 f"{list(map(list, sizes))} then max_fields={self.max_fields}, "
                                 f"max_components={self.max_components}")
        return sizes

    def patch_shape(self, grid: Sequence[int]) -> tuple[int, ...]:
        """Patch edge per spatial axis of `grid`: patch_size, or 1 on axes of length 1."""
        return tuple(1 if size == 1 else self.patch_size for size in grid)

    def n_patches(self, grid: Sequence[int]) -> int:
        """Tokens per time slot for a spatial `grid` (padded up to whole patches)."""
        return math.prod(-(-size // p) for size, p in zip(grid, self.patch_shape(grid)))

    def check_fits(self, data: Union[DatasetSpec, Sequence[int]], history: Optional[int] = None,
                   where: Optional[str] = None) -> None:
        """Raise `DataFitError` naming the value, the limit and the fix unless `data` fits this model.

        data: a `DatasetSpec`, or an input shape `(B, t, F, C, D, H, W)` (its t is the history).
        history: frames the model will read (checked against max_ar); None skips the check
            for a spec.
        where: what to name in the message (default: the spec's source or name, else "input").
        Checked: history against max_ar, fields against max_fields, components against
        max_components and the patch grid against max_patches.
        """
        if isinstance(data, DatasetSpec):
            where = where or data.source or data.name
            fields, components, grid = len(data.fields), max(data.components), tuple(data.grid_shape)
            widest = max(data.fields, key=lambda f: f.components).name
            names = f" ({', '.join(data.field_names)})"
        else:
            _, history, fields, components, *grid = data
            where, widest, names = where or "input", None, ""
        if history is not None and not 1 <= history <= self.max_ar:
            raise DataFitError(f"{where}: history {history} is outside 1..{self.max_ar} (max_ar = {self.max_ar} "
                               f"of the model); use --history {self.max_ar} or less")
        if fields > self.max_fields:
            raise DataFitError(f"{where} has {fields} fields{names} but the model takes at most max_fields = "
                               f"{self.max_fields}; keep at most {self.max_fields} fields (a reader option such "
                               f"as --option 'fields=...', or convert a subset), or fine-tune the model on "
                               f"this data (morph finetune grows it to more fields; morph.growth.grow_to in "
                               f"Python)")
        if components > self.max_components:
            which = f"field {widest!r}" if widest else "a field"
            raise DataFitError(f"{where}: {which} has {components} components but the model takes at most "
                               f"max_components = {self.max_components}; split it into fields of at most "
                               f"{self.max_components} components, or fine-tune the model on this data (morph "
                               f"finetune grows it to wider fields; morph.growth.grow_to in Python)")
        n = self.n_patches(grid)
        if n > self.max_patches:
            raise DataFitError(f"{where}: the grid {tuple(grid)} makes {n} patches of "
                               f"{self.patch_shape(grid)}, more than max_patches = {self.max_patches} of the "
                               f"model; coarsen the data")

    @property
    def max_patch_volume(self) -> int:
        """Voxels in the largest patch: patch_size**3."""
        return self.patch_size ** 3

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "MorphConfig":
        """The preset `name` (Ti, S, M, L, XL) with `overrides` applied."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; available: {', '.join(PRESETS)}")
        return cls.from_dict({**PRESETS[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (JSON's lists where the config holds tuples)."""
        return {**dataclasses.asdict(self), "grown_from": [list(size) for size in self.grown_from]}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "MorphConfig":
        """The config from `to_dict()` output; unknown keys are refused by name."""
        refuse_unknown_fields(cls, values)
        return cls(**values)
