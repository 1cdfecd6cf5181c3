"""The model classes a checkpoint can rebuild, by name.

A model module registers its class (`register_architecture("morph", MORPH)`);
the class carries `config_class` (a dataclass with `from_dict` / `to_dict`) and
is built as `cls(config)`. Checkpoint code builds models through this registry,
so it never imports a model module (which would make an import circle with the
models' `save_pretrained` / `from_pretrained`). A `config.json` without an
`"arch"` key is a MORPH.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from morph.checkpoint.files import CheckpointError

__all__ = ["ARCHITECTURES", "DEFAULT_ARCH", "build_model", "config_from_dict", "register_architecture"]

#: name -> model class (with a `config_class` attribute).
ARCHITECTURES: dict[str, type] = {}
DEFAULT_ARCH = "morph"


def register_architecture(name: str, model_class: type) -> type:
    """Make `model_class` loadable from checkpoints whose config says `arch: name`."""
    if not hasattr(model_class, "config_class"):
        raise TypeError(f"register_architecture: {model_class.__name__} has no config_class attribute")
    ARCHITECTURES[name] = model_class
    return model_class


def _model_class(values: dict[str, Any]) -> type:
    arch = values.get("arch", DEFAULT_ARCH)
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"Unknown architecture {arch!r} in a checkpoint config; known: "
                              f"{', '.join(sorted(ARCHITECTURES)) or 'none (import morph first)'}")
    return ARCHITECTURES[arch]


def config_from_dict(values: dict[str, Any]) -> Any:
    """The config object of a `config.json` (an `"arch"` key chooses the class)."""
    cls = _model_class(values)
    return cls.config_class.from_dict({k: v for k, v in values.items() if k != "arch"})


def build_model(config: Any) -> nn.Module:
    """A new model of the class whose `config_class` made `config`."""
    for cls in ARCHITECTURES.values():
        if isinstance(config, cls.config_class):
            return cls(config)
    raise CheckpointError(f"No registered architecture takes a {type(config).__name__}")
