import pytest
import torch

from pde_data import DataError
from rollouts import plot_rollout
from tests.conftest import make_dataset

GRIDS = {1: (16,), 2: (6, 5), 3: (4, 6, 5)}
MAGIC = {".png": b"\x89PNG", ".gif": b"GIF8"}


def frames(n_dims, k=3):
    grid = GRIDS[n_dims]
    spec = make_dataset(n=1, t=2, grid=grid, fields=(("p", 1), ("v", 2))).spec
    canonical = (1,) * (3 - n_dims) + grid
    return spec, torch.randn(k, 2, 2, *canonical), torch.randn(k, 2, 2, *canonical)


@pytest.mark.parametrize("suffix", [".png", ".gif"])
@pytest.mark.parametrize("n_dims", [1, 2, 3])
def test_plots_are_written_and_not_empty(tmp_path, n_dims, suffix):
    spec, pred, true = frames(n_dims)
    path = plot_rollout(pred, true, tmp_path / f"r{suffix}", spec=spec)
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(MAGIC[suffix])
    assert [p.name for p in tmp_path.iterdir()] == [f"r{suffix}"]


def test_without_a_path_the_figure_is_returned_with_one_row_per_real_component():
    spec, pred, true = frames(2)
    fig = plot_rollout(pred[None], true[None], spec=spec, steps=[0])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:3] == ["p, step 1: truth", "p, step 1: prediction", "p, step 1: error"]
    assert len(titles) == 9  # p, v[0], v[1] x truth / prediction / error


def test_bad_plot_requests_are_refused(tmp_path):
    spec, pred, true = frames(1)
    with pytest.raises(DataError, match="unknown plot format"):
        plot_rollout(pred, true, tmp_path / "r.txt", spec=spec)
    with pytest.raises(DataError, match="steps"):
        plot_rollout(pred, true, tmp_path / "r.png", spec=spec, steps=[5])
