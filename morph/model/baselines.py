"""Baselines behind MORPH's contract: an FNO (neuraloperator) and a U-Net (MONAI), per dataset.

    model = FNO(FNOConfig.for_data(spec, history=2, hidden_channels=32))
    model(x (B, t, F, C, D, H, W)) -> (B, F, C, D, H, W)

A baseline is built for one data shape: history t, fields F, components C and
the number of spatial axes (1D data lives in W, 2D in (H, W), 3D in (D, H, W)).
The history, fields and components are stacked as t * F * C input channels
("b t f c d h w -> b (t f c) d h w"), the output has F * C channels; any
resolution with that many spatial axes is accepted. Data of another shape is
refused with a `DataFitError` naming the expected and the received shape.

The configs carry the limits the inference path reads (`max_components`,
`max_fields`, `max_ar`: the built shape) and `check_fits`, like `MorphConfig`,
so `morph.predict`, the trainer, checkpoints and `rollouts` serve every
architecture alike. `to_dict` records `"arch"`, so a checkpoint rebuilds the
right class without a flag. The networks come from kept implementations,
imported when a model is built: `neuralop.models.FNO` and
`monai.networks.nets.BasicUNet` (`pip install 'morph-pde[baselines]'`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from pde_data import DatasetSpec

from morph.checkpoint.architectures import register_architecture
from morph.checkpoint.files import CheckpointError
from morph.checkpoint.pretrained import load_pretrained, save_pretrained
from morph.config import ConfigError, DataFitError, refuse_unknown_fields
from morph.model.morph import increment_scale

__all__ = ["BASELINES", "FNO", "FNOConfig", "UNet", "UNetConfig", "BaselineConfig"]

INSTALL_HINT = "pip install 'morph-pde[baselines]'"
#: The fields of a baseline config that say which data it is built for (the rest are sizes).
SHAPE_FIELDS = ("history", "fields", "components", "spatial_dims")


def _positive_int(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{owner}.{name} must be a positive int, got {value!r}")


def _data_shape(data: Union[DatasetSpec, Sequence[int]], history: Optional[int]) -> tuple[Optional[int], int, int, int]:
    """(history, fields, components, spatial axes) of a spec or of a shape `(B, t, F, C, D, H, W)`."""
    if isinstance(data, DatasetSpec):
        return history, len(data.fields), max(data.components), data.n_spatial_dims
    if len(data) != 7:
        raise DataFitError(f"expected an input shape (B, t, F, C, D, H, W), got {tuple(data)}")
    _, t, fields, components, d, h, _ = data
    return t, fields, components, 3 if d > 1 else 2 if h > 1 else 1


@dataclass
class BaselineConfig:
    """What every baseline config holds: the data shape it is built for, and the output mode.

    history: frames t of the input; fields, components: F and C of the data;
    spatial_dims: 1, 2 or 3. predict_delta, delta_scale: as in `MorphConfig` (the
    network predicts the increment over the last frame, scaled by the history's RMS increment);
    on by default, as in the model `morph pretrain` trains.
    """

    arch: ClassVar[str] = ""
    history: int = 1
    fields: int = 1
    components: int = 1
    spatial_dims: int = 2
    predict_delta: bool = True
    delta_scale: bool = True

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for f in dataclasses.fields(self):
            if f.type in ("int", int):
                _positive_int(owner, f.name, getattr(self, f.name))
        if self.spatial_dims not in (1, 2, 3):
            raise ConfigError(f"{owner}.spatial_dims must be 1, 2 or 3, got {self.spatial_dims!r}")
        for name in ("predict_delta", "delta_scale"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{owner}.{name} must be a bool, got {getattr(self, name)!r}")

    # The limits morph.predict, the trainer and rollouts read: a baseline's are its built shape.
    @property
    def max_ar(self) -> int:
        return self.history

    @property
    def max_fields(self) -> int:
        return self.fields

    @property
    def max_components(self) -> int:
        return self.components

    @property
    def in_channels(self) -> int:
        return self.history * self.fields * self.components

    @property
    def out_channels(self) -> int:
        return self.fields * self.components

    def shape_text(self) -> str:
        return (f"history {self.history}, {self.fields} field(s) of {self.components} component(s), "
                f"{self.spatial_dims}D")

    def check_fits(self, data: Union[DatasetSpec, Sequence[int]], history: Optional[int] = None,
                   where: Optional[str] = None) -> None:
        """Raise `DataFitError` unless `data` has exactly the shape this baseline was built for.

        data: a `DatasetSpec`, or an input shape `(B, t, F, C, D, H, W)` (its t is the history).
        history: frames the model will read; None skips that check for a spec.
        """
        if isinstance(data, DatasetSpec):
            where = where or data.source or data.name
        where = where or "input"
        t, fields, components, dims = _data_shape(data, history)
        got = dict(history=t, fields=fields, components=components, spatial_dims=dims)
        wrong = [f"{name} {value} (built for {getattr(self, name)})" for name, value in got.items()
                 if value is not None and value != getattr(self, name)]
        if wrong:
            raise DataFitError(f"{where}: a {self.arch} baseline is built for one data shape ({self.shape_text()}) "
                               f"and this data differs: {', '.join(wrong)}; train a baseline for this data "
                               f"(morph pretrain --arch {self.arch} --dataset ...) or give it data of its shape")

    @classmethod
    def for_data(cls, spec: DatasetSpec, history: int, **sizes: Any) -> "BaselineConfig":
        """The config for the data of `spec` read with `history` frames, with the given sizes."""
        shape = dict(history=history, fields=len(spec.fields), components=max(spec.components),
                     spatial_dims=spec.n_spatial_dims)
        clash = sorted(set(sizes) & set(shape))
        if clash:
            raise ConfigError(f"model: {', '.join(clash)} of a {cls.arch} baseline come from the data; "
                              f"remove them from the model settings")
        return cls.from_dict({**shape, **sizes})

    @classmethod
    def size_fields(cls) -> list[str]:
        """The settable sizes (everything but the data shape)."""
        return [f.name for f in dataclasses.fields(cls) if f.name not in SHAPE_FIELDS]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field, plus `"arch"` (which class a checkpoint rebuilds)."""
        return {"arch": self.arch, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "BaselineConfig":
        """The config from `to_dict()` output; unknown keys are refused by name."""
        values = dict(values)
        arch = values.pop("arch", cls.arch)
        if arch != cls.arch:
            raise ConfigError(f"{cls.__name__}: arch {arch!r} does not match; expected {cls.arch!r}")
        refuse_unknown_fields(cls, values)
        return cls(**values)


@dataclass
class FNOConfig(BaselineConfig):
    """An FNO (neuraloperator's `FNO`): `n_modes` Fourier modes kept per spatial axis,
    `hidden_channels` wide, `n_layers` Fourier layers."""

    arch: ClassVar[str] = "fno"
    hidden_channels: int = 32
    n_modes: int = 16
    n_layers: int = 4


@dataclass
class UNetConfig(BaselineConfig):
    """A U-Net (MONAI's `BasicUNet`: four 2x down- and up-samplings, skip connections,
    instance norm, LeakyReLU): `features` channels at the top level, doubling on the
    way down to 8 x features."""

    arch: ClassVar[str] = "unet"
    features: int = 32


def _missing(package: str, err: ImportError) -> ImportError:
    return ImportError(f"The FNO and U-Net baselines need {package}, which is not installed ({err}); "
                       f"install them with: {INSTALL_HINT}")


class _Baseline(nn.Module):
    """The shared contract: channel stacking, shape checks, increments, checkpoints."""

    config_class: ClassVar[type] = BaselineConfig

    def __init__(self, config: BaselineConfig) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise ConfigError(f"{type(self).__name__} takes a {self.config_class.__name__}, "
                              f"got {type(config).__name__}")
        self.config = config
        self.metadata: dict[str, Any] = {}
        # Where from_pretrained loaded it from (an absolute path); None for a new model.
        self.source: Optional[str] = None

    def network(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, t*F*C, *space) -> (B, F*C, *space)` on the spatial axes of the data."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x (B, t, F, C, D, H, W)` -> next frame `(B, F, C, D, H, W)`."""
        if not isinstance(x, torch.Tensor) or x.ndim != 7 or not x.is_floating_point():
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise DataFitError(f"{type(self).__name__} input x must be a float (B, t, F, C, D, H, W) tensor, "
                               f"got {shape}")
        self.config.check_fits(tuple(x.shape), where=f"{type(self).__name__} input of shape {tuple(x.shape)}")
        dims = self.config.spatial_dims
        channels = rearrange(x, "b t f c d h w -> b (t f c) d h w")
        if dims == 1:
            spatial = channels[:, :, 0, 0]  # (B, t*F*C, W)
        elif dims == 2:
            spatial = channels[:, :, 0]  # (B, t*F*C, H, W)
        elif dims == 3:
            spatial = channels  # (B, t*F*C, D, H, W)
        else:
            raise AssertionError(f"spatial_dims {dims}")  # validated by the config
        out = self.network(spatial)  # (B, F*C, *space)
        out = out.reshape(out.shape[0], out.shape[1], *x.shape[4:])  # (B, F*C, D, H, W)
        frame = rearrange(out, "b (f c) d h w -> b f c d h w", f=x.shape[2])
        if self.config.predict_delta:
            if self.config.delta_scale:
                frame = frame * increment_scale(x)[:, :, None, None, None, None]
            frame = x[:, -1] + frame
        return frame

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The tensors only: neuraloperator's models add their constructor arguments as a
        non-tensor "_metadata" entry, which safetensors (and Accelerate's state) cannot hold;
        the config rebuilds the model instead."""
        state = super().state_dict(*args, **kwargs)
        for key in [k for k, v in state.items() if not isinstance(v, torch.Tensor)]:
            del state[key]
        return state

    def save_pretrained(self, directory: Union[str, Path], metadata: Optional[dict[str, Any]] = None,
                        **hub: Any) -> Path:
        """Write `config.json` (with its `"arch"`) + `model.safetensors` (+ `metadata.json`) atomically;
        `push_to_hub="org/name"` uploads them to the Hugging Face Hub too (`morph.checkpoint.save_pretrained`)."""
        return save_pretrained(self, directory, metadata, **hub)

    @classmethod
    def from_pretrained(cls, directory: Union[str, Path], **overrides: Any) -> "_Baseline":
        """Load a `save_pretrained` directory or a run directory on CPU, in eval mode."""
        model = load_pretrained(directory, **overrides)
        if not isinstance(model, cls):
            raise CheckpointError(f"{directory} holds a {type(model).__name__}, not a {cls.__name__}; "
                                  f"load it with morph.checkpoint.load_pretrained")
        return model


class FNO(_Baseline):
    """neuraloperator's Fourier Neural Operator on the stacked history; see `FNOConfig`."""

    config_class = FNOConfig

    def __init__(self, config: FNOConfig) -> None:
        super().__init__(config)
        try:
            from neuralop.models import FNO as NeuralopFNO
        except ImportError as err:
            raise _missing("neuraloperator", err) from err
        self.fno = NeuralopFNO(n_modes=(config.n_modes,) * config.spatial_dims, in_channels=config.in_channels,
                               out_channels=config.out_channels, hidden_channels=config.hidden_channels,
                               n_layers=config.n_layers)

    def network(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, t*F*C, *space) -> (B, F*C, *space)`: neuraloperator's FNO."""
        return self.fno(x)


class UNet(_Baseline):
    """MONAI's BasicUNet on the stacked history; see `UNetConfig`. Each spatial axis is padded
    (replicating the edge) to a multiple of 16, at least 32, so four halvings leave at least
    two points for the instance norm; the padding is cropped from the output."""

    config_class = UNetConfig
    MULTIPLE, MINIMUM = 16, 32

    def __init__(self, config: UNetConfig) -> None:
        super().__init__(config)
        try:
            from monai.networks.nets import BasicUNet
        except ImportError as err:
            raise _missing("monai", err) from err
        f = config.features
        self.unet = BasicUNet(spatial_dims=config.spatial_dims, in_channels=config.in_channels,
                              out_channels=config.out_channels, features=(f, f, 2 * f, 4 * f, 8 * f, f))

    def network(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, t*F*C, *space) -> (B, F*C, *space)`: the BasicUNet on the padded grid, cropped back."""
        sizes = x.shape[2:]
        target = [max(self.MINIMUM, -(-s // self.MULTIPLE) * self.MULTIPLE) for s in sizes]
        pad = [p for s, t in zip(reversed(sizes), reversed(target)) for p in (0, t - s)]
        out = self.unet(F.pad(x, pad, mode="replicate") if any(pad) else x)
        return out[(..., *(slice(0, s) for s in sizes))]


#: arch name -> model class, for the trainer and the CLI.
BASELINES: dict[str, type] = {"fno": FNO, "unet": UNet}
for _name, _cls in BASELINES.items():
    register_architecture(_name, _cls)
