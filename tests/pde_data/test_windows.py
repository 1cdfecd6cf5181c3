import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pde_data import DataError, MixtureBatchSampler, WindowDataset, collate, compute_stats, split_trajectories
from tests.conftest import make_dataset


def test_splits_are_by_trajectory_disjoint_complete_and_seeded():
    a = split_trajectories(20, seed=3)
    b = split_trajectories(20, seed=3)
    c = split_trajectories(20, seed=4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)
    joined = np.concatenate([a["train"], a["val"], a["test"]])
    assert sorted(joined.tolist()) == list(range(20))
    assert (len(a["train"]), len(a["val"]), len(a["test"])) == (16, 2, 2)


@pytest.mark.parametrize("n, expect", [(1, (1, 0, 0)), (2, (2, 0, 0)), (3, (1, 1, 1)), (16, (12, 2, 2))])
def test_small_datasets_keep_a_training_trajectory(n, expect):
    s = split_trajectories(n)
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == expect


def test_window_items_have_history_target_and_mask():
    ds = make_dataset(n=5, t=7, grid=(6, 5), fields=(("p", 1), ("v", 2)))
    win = WindowDataset(ds, history=3, split="all")
    assert len(win) == 5 * (7 - 3)
    item = win[6]  # trajectory 1, start 2
    assert item["traj"] == 1 and item["start"] == 2
    assert item["x"].shape == (3, 2, 2, 1, 6, 5) and item["y"].shape == (2, 2, 1, 6, 5)
    np.testing.assert_array_equal(item["x"][:, 1, :, 0].numpy(), ds.fields["v"][1, 2:5])
    np.testing.assert_array_equal(item["y"][0, 0, 0].numpy(), ds.fields["p"][1, 5, 0])
    assert item["mask"].tolist() == [[True, False], [True, True]]


def test_window_horizon_gives_future_frames_starting_with_target():
    ds = make_dataset(n=2, t=8, grid=(9,), fields=(("u", 1),))
    item = WindowDataset(ds, history=2, horizon=3, split="all")[0]
    assert item["y_future"].shape == (3, 1, 1, 1, 1, 9)
    assert torch.equal(item["y_future"][0], item["y"])


def test_window_splits_never_share_a_trajectory():
    ds = make_dataset(n=10, t=5)
    trajs = {s: {WindowDataset(ds, history=2, split=s, seed=7)[i]["traj"]
                 for i in range(len(WindowDataset(ds, history=2, split=s, seed=7)))}
             for s in ("train", "val", "test")}
    assert not (trajs["train"] & trajs["val"]) and not (trajs["train"] & trajs["test"])
    assert not (trajs["val"] & trajs["test"])
    assert WindowDataset(ds, history=2, split="val", seed=7).splits["val"].tolist() == sorted(trajs["val"])


def test_too_long_history_is_a_clear_error():
    with pytest.raises(DataError, match="too few for history 6"):
        WindowDataset(make_dataset(t=6), history=6)


def test_collate_pads_components_and_carries_dataset_stats():
    ds = make_dataset(n=3, t=5, fields=(("p", 1), ("v", 2)))
    ds.spec.stats = compute_stats(ds)
    win = WindowDataset(ds, history=2, split="all")
    batch = collate([win[0], win[2]], n_fields=3, n_components=3)
    assert batch.x.shape == (2, 2, 3, 3, 1, 6, 5) and batch.y.shape == (2, 3, 3, 1, 6, 5)
    assert batch.mask[0].tolist() == [[True, False, False], [True, True, False], [False] * 3]
    assert (batch.x[:, :, 2] == 0).all() and (batch.x[:, :, 0, 1:] == 0).all()
    assert batch.dataset_std[0, 2] == 1.0
    assert batch.dataset_std[0, 1] == pytest.approx(ds.spec.stats["v"].std)
    assert batch.traj.tolist() == [0, 0] and batch.start.tolist() == [0, 2]


def test_collate_refuses_items_from_two_datasets():
    a = WindowDataset(make_dataset(name="a"), history=2, split="all")
    b = WindowDataset(make_dataset(name="b"), history=2, split="all")
    with pytest.raises(DataError, match="one dataset"):
        collate([a[0], b[0]])


def test_mixture_sampler_draws_whole_batches_from_one_dataset_by_weight():
    one = WindowDataset(make_dataset(name="one", grid=(8,), fields=(("u", 1),)), history=2, split="all")
    two = WindowDataset(make_dataset(name="two", grid=(6, 5)), history=2, split="all")
    data, sampler = MixtureBatchSampler.concat([one, two], batch_size=[4, 2], weights=[3, 1],
                                               num_batches=400, seed=0)
    counts = {"one": 0, "two": 0}
    for idx in sampler:
        names = {("one" if i < len(one) else "two") for i in idx}
        assert len(names) == 1
        name = names.pop()
        assert len(idx) == (4 if name == "one" else 2)
        counts[name] += 1
    assert 0.68 < counts["one"] / 400 < 0.82
    assert list(sampler) == list(sampler)  # deterministic per epoch
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    loader = DataLoader(data, batch_sampler=sampler, collate_fn=collate)
    shapes = {tuple(b.x.shape) for _, b in zip(range(20), loader)}
    assert shapes == {(4, 2, 1, 1, 1, 1, 8), (2, 2, 2, 2, 1, 6, 5)}


def test_windows_load_in_worker_processes_from_a_store(tmp_path):
    import pde_data

    store = pde_data.convert(make_dataset(n=4, t=6), tmp_path / "s.zarr", progress=False)
    win = WindowDataset(store, history=2, split="all")
    loader = DataLoader(win, batch_size=4, num_workers=2, collate_fn=collate)
    batches = list(loader)
    assert sum(len(b) for b in batches) == len(win)
    torch.testing.assert_close(batches[0].x[1], win[1]["x"].unsqueeze(0)[0])
