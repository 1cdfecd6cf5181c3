import numpy as np
import pytest
import torch

from pde_data.dataset import PDEDataset
from pde_data.spec import DatasetSpec, FieldSpec


def make_dataset(n=4, t=7, grid=(6, 5), fields=(("p", 1), ("v", 2)), seed=0, name="toy", **spec_kw):
    """A small in-memory multi-field dataset with values that cannot be confused."""
    rng = np.random.default_rng(seed)
    arrays = {f: rng.standard_normal((n, t, c, *grid)).astype(np.float32) for f, c in fields}
    spec = DatasetSpec(name=name, grid_shape=grid, fields=[FieldSpec(f, c) for f, c in fields],
                       n_trajectories=n, n_steps=t, **spec_kw)
    return PDEDataset(spec, arrays)


@pytest.fixture
def toy_dataset():
    return make_dataset()


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    np.random.seed(0)
