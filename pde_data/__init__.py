"""pde_data: a shape-agnostic data layer for multi-field PDE trajectories.

Open PDEBench / The Well / netCDF / zarr / numpy data in place, or simulate
built-in PDEs, and get windows in the canonical layout `(B, T, F, C, D, H, W)`.
"""

from pde_data.dataset import LazyField, PDEDataset, compute_stats
from pde_data.errors import DataError
from pde_data.layout import LAYOUT, Batch
from pde_data.normalize import NormStats, fit_normalization
from pde_data.readers import READERS, convert, open
from pde_data.remote import RemoteConfig
from pde_data.simulators import SIMULATORS, generate
from pde_data.spec import DatasetSpec, FieldSpec, FieldStats
from pde_data.store import open_store
from pde_data.well_export import export_well
from pde_data.windows import MixtureBatchSampler, WindowDataset, collate, split_trajectories

__all__ = [
    "LAYOUT",
    "READERS",
    "SIMULATORS",
    "Batch",
    "DataError",
    "DatasetSpec",
    "FieldSpec",
    "FieldStats",
    "LazyField",
    "MixtureBatchSampler",
    "NormStats",
    "PDEDataset",
    "RemoteConfig",
    "WindowDataset",
    "collate",
    "compute_stats",
    "convert",
    "export_well",
    "fit_normalization",
    "generate",
    "open",
    "open_store",
    "split_trajectories",
]
