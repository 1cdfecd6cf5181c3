"""The registry of storage formats: each reader module registers a `Reader` on import."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from pde_data.dataset import PDEDataset
from pde_data.errors import FORMATS_PAGE, DataError

__all__ = ["COMMON_OPTIONS", "READERS", "Reader", "register"]

#: Options `pde_data.open` takes for every reader (it applies them to what the reader opened).
COMMON_OPTIONS = ("boundary_conditions",)


@dataclass(frozen=True)
class Reader:
    """A storage format: `sniff(path) -> bool` and `open(path, **options) -> PDEDataset`.

    `remote`: the reader also reads fsspec URLs; its `sniff` and `open` then take a
    `remote=` keyword (a `pde_data.remote.RemoteConfig`). `options`: the keywords `open` takes
    besides the path and `remote` (None: read from its signature); what `check_options` accepts.
    """

    name: str
    description: str
    sniff: Callable[..., bool]
    open: Callable[..., PDEDataset]
    remote: bool = False
    options: Optional[tuple[str, ...]] = None

    @property
    def option_names(self) -> tuple[str, ...]:
        """The options this reader takes through `pde_data.open` (documented in docs/formats.md)."""
        own = self.options if self.options is not None else keyword_names(self.open, skip=1)
        return own + tuple(name for name in COMMON_OPTIONS if name not in own)

    def check_options(self, options: Mapping[str, Any], where: str) -> None:
        """A `DataError` naming the options of `options` this reader does not take, and those it does."""
        unknown = sorted(set(options) - set(self.option_names))
        if unknown:
            valid = ", ".join(self.option_names) or "none"
            raise DataError(f"{where}: the {self.name} reader has no option {', '.join(unknown)}; its options: "
                            f"{valid} (what each means: {FORMATS_PAGE})")


def keyword_names(function: Callable[..., Any], skip: int = 0,
                  exclude: tuple[str, ...] = ("remote",)) -> tuple[str, ...]:
    """The names of `function`'s parameters after the first `skip`, less `exclude` and any `*args` / `**kwargs`."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = list(inspect.signature(function).parameters.values())[skip:]
    return tuple(p.name for p in params if p.kind in kinds and p.name not in exclude)


#: Every storage format `pde_data.open` knows, by name (`format=`); each reader module registers itself.
READERS: dict[str, Reader] = {}


def register(reader: Reader) -> Reader:
    READERS[reader.name] = reader
    return reader
