"""`morph rollout` knows which trajectories the model trained on: by default it rolls out a test trajectory, and a
trajectory of the training split is rolled out with a warning saying so."""

import logging

import pytest
import xarray as xr

import pde_data
from morph.checkpoint import RunRecord
from morph.cli import main
from tests.rollouts.helpers import tiny_model

SEED = 3


@pytest.fixture
def store(tmp_path):
    pde_data.convert(pde_data.generate("burgers_1d", n_traj=10, steps=6, resolution=16, seed=1), tmp_path / "b.zarr",
                     progress=False)
    return tmp_path / "b.zarr"


def _checkpoint(tmp_path, specs):
    model = tiny_model(max_ar=2)
    model.metadata = RunRecord(history=2, split_seed=SEED, data_specs=specs).to_metadata()
    return str(model.save_pretrained(tmp_path / "ckpt"))


def _rollout(checkpoint, store, out, *extra):
    main(["rollout", "--checkpoint", checkpoint, "--data", str(store), "--steps", "2", "--out", str(out), *extra])
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        return ds.attrs["trajectory"]


def test_by_default_a_test_trajectory_of_the_models_split_is_rolled_out(tmp_path, store, capsys):
    checkpoint = _checkpoint(tmp_path, [pde_data.open(store).spec.to_dict()])
    first_test = int(pde_data.split_trajectories(10, seed=SEED)["test"][0])
    assert _rollout(checkpoint, store, tmp_path / "r.nc") == first_test
    assert f"trajectory {first_test}: the first of the test split (split seed {SEED}" in capsys.readouterr().out


def test_a_training_trajectory_is_rolled_out_with_a_warning_saying_so(tmp_path, store, caplog):
    checkpoint = _checkpoint(tmp_path, [pde_data.open(store).spec.to_dict()])
    parts = pde_data.split_trajectories(10, seed=SEED)
    train, test = int(parts["train"][0]), int(parts["test"][0])
    with caplog.at_level(logging.WARNING):
        assert _rollout(checkpoint, store, tmp_path / "r.nc", "--traj", str(train)) == train
    assert f"--traj {train} is in the training split of the model" in caplog.text and f"--traj {test}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _rollout(checkpoint, store, tmp_path / "r.nc", "--traj", str(test))
    assert "training split" not in caplog.text


def test_data_the_model_never_trained_on_has_no_training_split(tmp_path, store, caplog):
    other = pde_data.generate("burgers_1d", n_traj=12, steps=6, resolution=16, seed=1).spec.to_dict()
    checkpoint = _checkpoint(tmp_path, [other])
    train = int(pde_data.split_trajectories(10, seed=SEED)["train"][0])
    with caplog.at_level(logging.WARNING):
        _rollout(checkpoint, store, tmp_path / "r.nc", "--traj", str(train))
    assert "training split" not in caplog.text
