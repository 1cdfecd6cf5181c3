"""The registry of storage formats: each reader module registers a `Reader` on import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pde_data.dataset import PDEDataset

__all__ = ["READERS", "Reader", "register"]


@dataclass(frozen=True)
class Reader:
    """A storage format: `sniff(path) -> bool` and `open(path, **options) -> PDEDataset`.

    `remote`: the reader also reads fsspec URLs; its `sniff` and `open` then take a
    `remote=` keyword (a `pde_data.remote.RemoteConfig`).
    """

    name: str
    description: str
    sniff: Callable[..., bool]
    open: Callable[..., PDEDataset]
    remote: bool = False


#: Every storage format `pde_data.open` knows, by name (`format=`); each reader module registers itself.
READERS: dict[str, Reader] = {}


def register(reader: Reader) -> Reader:
    READERS[reader.name] = reader
    return reader
