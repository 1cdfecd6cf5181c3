import json

import numpy as np
import torch
import pytest
import xarray as xr

import pde_data
from morph.cli import main
from tests.rollouts.helpers import tiny_model


@pytest.fixture
def checkpoint(tmp_path):
    model = tiny_model(max_ar=2)
    model.metadata = {"train_config": {"history": 2, "split_seed": 3}}
    return str(model.save_pretrained(tmp_path / "ckpt"))


@pytest.fixture
def store(tmp_path):
    data = pde_data.generate("shallow_water_2d", n_traj=4, steps=7, resolution=8, seed=1)
    pde_data.convert(data, tmp_path / "sw.zarr", progress=False)
    return str(tmp_path / "sw.zarr")


def test_morph_rollout_writes_truth_prediction_and_a_plot(tmp_path, checkpoint, store, capsys):
    out, plot = tmp_path / "r.nc", tmp_path / "r.gif"
    main(["rollout", "--checkpoint", checkpoint, "--data", store, "--steps", "3", "--traj", "2",
          "--out", str(out), "--plot", str(plot)])
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds.sizes["time"] == 3 and ds["velocity_pred"].dims == ("time", "velocity_component", "x", "y")
    truth = pde_data.open(store)[2, 2:5]["velocity"]
    np.testing.assert_allclose(ds["velocity_true"].values, truth)
    assert ds.attrs["trajectory"] == 2 and ds.attrs["history"] == 2
    ds.close()
    assert plot.read_bytes().startswith(b"GIF8")
    printed = capsys.readouterr().out
    assert "nRMSE step 1" in printed and "teacher forcing" not in printed
    main(["rollout", "--checkpoint", checkpoint, "--data", store, "--steps", "3", "--out", str(out),
          "--teacher-forcing"])
    assert "(teacher forcing: each step a one-step forecast from true frames)" in capsys.readouterr().out


def test_morph_evaluate_prints_a_table_and_writes_json(tmp_path, checkpoint, store, capsys):
    out = tmp_path / "m.json"
    main(["evaluate", "--checkpoint", checkpoint, "--data", store, "--horizon", "2", "--json", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert "| height | nRMSE |" in printed and "| mean | VRMSE |" in printed
    payload = json.loads(out.read_text())
    assert "model" in payload and "persistence" in payload
    assert payload["setup"]["split_seed"] == 3 and payload["setup"]["history"] == 2
    assert payload["setup"]["trajectories"] == pde_data.split_trajectories(4, seed=3)["test"].tolist()
    assert set(payload["model"]) == {"height", "velocity", "mean"}


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "{tmp}/nothing"], "No checkpoint directory"),
    (["--data", "{tmp}/missing.zarr"], "no such file"),
    (["--history", "3"], "history 3 is outside 1..2 (max_ar = 2 of the model)"),
    (["--steps", "9"], "{store}: trajectories have 7 frames; --start 0 + --history 2 + --steps 9 does not fit"),
    (["--traj", "7"], "--traj 7 out of range"),
])
def test_user_errors_exit_2_with_our_message(tmp_path, checkpoint, store, capsys, args, message):
    base = {"--checkpoint": checkpoint, "--data": store, "--steps": "2", "--out": str(tmp_path / "r.zarr")}
    for key, value in zip(args[::2], args[1::2]):
        base[key] = value.format(tmp=tmp_path)
    argv = ["rollout"] + [item for pair in base.items() for item in pair]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    message = message.format(store=store)
    assert exit_info.value.code == 2 and "error:" in err and message in err and "Traceback" not in err
    assert not (tmp_path / "r.zarr").exists()


def test_a_bad_output_suffix_is_a_usage_error(tmp_path, checkpoint, store):
    with pytest.raises(SystemExit) as exit_info:
        main(["rollout", "--checkpoint", checkpoint, "--data", store, "--steps", "2", "--out", str(tmp_path / "r.csv")])
    assert exit_info.value.code == 2


def test_a_diverging_rollout_exits_1_naming_the_step(tmp_path, store, capsys):
    model = tiny_model(max_ar=2, predict_delta=False)
    with torch.no_grad():
        model.decoder.linear.weight.zero_()
        model.decoder.linear.bias.fill_(1e6)  # every prediction is 1e6 standard deviations away
    path = str(model.save_pretrained(tmp_path / "exploding"))
    with pytest.raises(SystemExit) as exit_info:
        main(["rollout", "--checkpoint", path, "--data", store, "--steps", "3", "--out", str(tmp_path / "r.nc")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "rollout diverged at step 1" in err and "max_growth" in err
    assert not (tmp_path / "r.nc").exists()
