"""Config files and overrides: the YAML a run is written in, `extends:`, `--set KEY=VALUE`.

A config file is a mapping of config keys (`TrainConfig`'s, or `FinetuneConfig`'s). With
`extends: PATH` (relative to the file) it names only what it changes: the file it extends is read
first (itself perhaps extending another) and this file's keys are laid over it by `merge_values`:
mappings key by key (`model`, `train`, `options`), everything else, lists included, replaced.
A `model` mapping that names a `preset` first drops the fields that preset sets (the sizes) from
the mapping it is laid over, so `preset: S` over a base's Ti sizes gives S's sizes.

`apply_settings(values, ["model.depth=6", "lr=3e-4"], TrainConfig)` lays `KEY=VALUE` overrides over
values the same way (dotted keys for nested mappings; values read as YAML, so `1e-3` is a number,
`true` a bool, `[a, b]` a list); an unknown key is a `ConfigError` naming it and the valid ones.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

import yaml

from morph.config import PRESETS, ConfigError

__all__ = ["EXTENDS", "apply_settings", "check_config_keys", "merge_values", "parse_value", "read_config_file"]

#: The key of a config file that names the file it extends (a path relative to it).
EXTENDS = "extends"


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 floats: `lr: 1e-3` is a number, not the string
    YAML 1.1 (PyYAML's default) makes of an exponent without a decimal point."""


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def parse_value(text: str) -> Any:
    """A value as a config file would read it (YAML: `3`, `1e-3`, `true`, `null`, `[a, b]`, else the text)."""
    try:
        return yaml.load(text, Loader=_ConfigLoader)
    except yaml.YAMLError:
        return text


def _read_one(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.load(path.read_text(), Loader=_ConfigLoader) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of config keys")
    return data


def read_config_file(path: Union[str, Path]) -> dict[str, Any]:
    """The mapping in a YAML (or JSON) config file, the file its `extends:` names (relative to it,
    and so on up the chain) merged under it; a ConfigError naming the file otherwise."""
    chain: list[Path] = []
    layers: list[dict[str, Any]] = []  # this file's keys first, then those of the file it extends, ...
    path = Path(path)
    while True:
        if path.resolve() in chain:
            raise ConfigError(f"{chain[0]}: extends: {' -> '.join(map(str, [*chain, path.resolve()]))} is a "
                              f"circle; one file of it must not extend another")
        chain.append(path.resolve())
        layers.append(_read_one(path))
        parent = layers[-1].pop(EXTENDS, None)
        if parent is None:
            break
        if not isinstance(parent, str) or not parent:
            raise ConfigError(f"{path}: extends must be the path of another config file (relative to this one), "
                              f"got {parent!r}")
        path = path.parent / parent
    values: dict[str, Any] = {}
    for layer in reversed(layers):
        values = merge_values(values, layer)
    return values


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` laid over `base`: a mapping merged into the mapping of the same key, recursively
    (a `model` mapping naming a preset first drops the fields of that preset from the base's), any
    other value (a list too) replacing the base's."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            inner = merged[key]
            if key == "model" and value.get("preset") in PRESETS:
                inner = {k: v for k, v in inner.items() if k != "preset" and k not in PRESETS[value["preset"]]}
            merged[key] = merge_values(inner, value)
        else:
            merged[key] = value
    return merged


def check_config_keys(values: Mapping[str, Any], cls: type, where: str) -> None:
    """ConfigError naming the keys of `values` that are not fields of the dataclass `cls`, and the allowed ones."""
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")


def apply_settings(values: Mapping[str, Any], settings: Optional[Iterable[str]], cls: type) -> dict[str, Any]:
    """`values` (a config of the dataclass `cls` as a mapping) with each `KEY=VALUE` of `settings`
    laid over it (`merge_values`); KEY is a field of `cls`, dotted for a key of a nested mapping
    (`model.depth`, the keys `cls.nested_keys` allows), VALUE is read as YAML (`parse_value`)."""
    merged = dict(values)
    for setting in settings or []:
        key, sep, text = setting.partition("=")
        if not sep or not key:
            raise ConfigError(f"setting {setting!r}: expected KEY=VALUE, e.g. lr=3e-4 or model.depth=6")
        path = key.split(".")
        _check_key(path, merged, cls)
        value: Any = parse_value(text)
        for name in reversed(path[1:]):
            value = {name: value}
        merged = merge_values(merged, {path[0]: value})
    return merged


def _check_key(path: list[str], values: Mapping[str, Any], cls: type) -> None:
    fields = {f.name for f in dataclasses.fields(cls)}
    if path[0] not in fields:
        raise ConfigError(f"{'.'.join(path)}: unknown key {path[0]!r}; valid keys: {', '.join(sorted(fields))}")
    if len(path) == 1:
        return
    nested: Optional[list[str]] = cls.nested_keys(path[0], values) if hasattr(cls, "nested_keys") else []
    if nested is None:  # a mapping of free keys (reader options)
        if len(path) > 2:
            raise ConfigError(f"{'.'.join(path)}: {path[0]} takes one level of keys ({path[0]}.KEY)")
        return
    if not nested:
        raise ConfigError(f"{'.'.join(path)}: {path[0]} is not a mapping of keys; set it whole ({path[0]}=VALUE)")
    if path[1] not in nested or len(path) > 2:
        raise ConfigError(f"{'.'.join(path)}: unknown key {'.'.join(path[1:])!r} of {path[0]}; valid keys: "
                          f"{', '.join(f'{path[0]}.{k}' for k in sorted(nested))}")
