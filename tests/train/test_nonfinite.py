"""Non-finite steps (`morph.train.guard`): a diverging learning rate or a NaN window stops the run
with `NonFiniteLossError` before the weights take it, or (nan_policy "skip") skips a bounded number
of such steps; no checkpoint ever holds a NaN, and every JSON record stays valid JSON."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

import pde_data
from morph.cli import main
from morph.train import ConfigError, NonFiniteLossError, TrainConfig, train
from morph.train.state import latest_training_state
from tests.conftest import launch_two_processes, two_cores
from tests.train.test_pretrain import tiny_config

N, T, X = 8, 8, 32


def nan_store(path: Path, trajectories: list[int], frame: int) -> Path:
    """A `.npy` of Burgers-like data `(N, T, X)` whose `frame` is NaN in `trajectories`."""
    x = np.linspace(0, 2 * np.pi, X, endpoint=False)
    data = np.stack([[np.sin(x + 0.3 * t + n) for t in range(T)] for n in range(N)]).astype(np.float32)
    data[trajectories, frame] = np.nan
    np.save(path, data)
    return path


def nan_source(path: Path) -> dict:
    return dict(source=str(path), options={"layout": "N T X", "dt": 0.1, "boundary_conditions": "periodic"})


def strict_json(path: Path):
    """The JSON in `path`, refusing the bare NaN / Infinity tokens Python's json would accept."""
    def refuse(token):
        raise ValueError(f"{path}: bare {token} is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def finite_weights(directory: Path) -> bool:
    tensors = [t for f in directory.rglob("*.safetensors") for t in load_file(str(f)).values()]
    return bool(tensors) and all(torch.isfinite(t).all() for t in tensors if t.is_floating_point())


def every_json_is_strict(run: Path) -> None:
    files = list(run.rglob("*.json"))
    assert files
    for path in files:
        strict_json(path)


def test_a_diverging_learning_rate_stops_the_run_before_any_nan_is_saved(tmp_path, capsys):
    """The issue's case through the CLI: --lr 1e4 --grad-clip 0 on a small Burgers store."""
    config = tmp_path / "blow.yaml"
    config.write_text(yaml.safe_dump(tiny_config(
        tmp_path, datasets=[dict(source="burgers_1d", n_traj=6, steps=8, resolution=32)], steps=20,
        checkpoint_every=1, keep_checkpoints=50, warmup_steps=1)))
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--config", str(config), "--lr", "1e4", "--grad-clip", "0", "--quiet"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 1 and "checkpoint:" not in out and "Traceback" not in err
    message = re.search(r"error: non-finite (loss|gradient norm) at step (\d+), batch of dataset burgers_1d", err)
    assert message, err
    step = int(message.group(2))
    assert "lower the learning rate (lr 10000" in err and "--grad-clip 1.0" in err and "--nan-policy skip" in err
    run = tmp_path / "run"
    latest = latest_training_state(run / "checkpoints")
    assert latest is not None and latest.name == f"step_{step - 1:08d}" and str(latest) in err
    assert all(finite_weights(ckpt) for ckpt in (run / "checkpoints").glob("step_*"))
    assert not (run / "final").exists() and not (run / "summary.json").exists()
    every_json_is_strict(run)


def test_a_nan_window_stops_the_run_naming_the_store_and_its_windows(tmp_path):
    bad = pde_data.split_trajectories(N)["train"][0]
    store = nan_store(tmp_path / "nan_frame.npy", [bad], frame=5)
    config = TrainConfig.from_dict(tiny_config(tmp_path, datasets=[nan_source(store)], steps=40, checkpoint_every=1,
                                               keep_checkpoints=100))
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step \d+, batch of dataset nan_frame\.npy; "
                                                 r"windows \(trajectory/start\): .*\b" + str(bad) + "/[345]"):
        train(config, progress=False)
    run = tmp_path / "run"
    assert not (run / "final").exists()
    assert all(finite_weights(ckpt) for ckpt in (run / "checkpoints").glob("step_*"))
    every_json_is_strict(run)


def test_skip_mode_skips_the_nan_steps_counts_them_and_saves_finite_weights(tmp_path):
    splits = pde_data.split_trajectories(N)
    store = nan_store(tmp_path / "nan_frame.npy", [splits["train"][0], splits["val"][0]], frame=5)
    config = TrainConfig.from_dict(tiny_config(tmp_path, datasets=[nan_source(store)], steps=24, checkpoint_every=6,
                                               nan_policy="skip", nan_max_skips=24))
    result = train(config, progress=False)
    run = tmp_path / "run"
    with (run / "metrics.csv").open() as f:
        nan_rows = [int(r["step"]) for r in csv.DictReader(f) if r["loss"] == "nan"]
    assert 0 < result.skipped_steps == len(nan_rows) < 24
    assert finite_weights(run / "final") and all(finite_weights(c) for c in (run / "checkpoints").glob("step_*"))
    summary = strict_json(run / "summary.json")
    assert summary["skipped_steps"] == result.skipped_steps
    # the NaN validation trajectory makes the validation loss NaN: null in the records, not a bare NaN
    assert summary["validation"]["nan_frame.npy"]["val_loss"] is None
    assert strict_json(run / "final" / "metadata.json")["validation"]["nan_frame.npy"]["val_loss"] is None
    every_json_is_strict(run)
    assert strict_json(latest_training_state(run / "checkpoints") / "trainer_state.json")["skipped_steps"] == \
        result.skipped_steps


def test_skip_mode_stops_past_its_cap_with_the_count_in_the_message(tmp_path):
    bad = list(pde_data.split_trajectories(N)["train"])
    store = nan_store(tmp_path / "all_bad.npy", bad, frame=T - 1)  # every last window: about 1 in 6 is NaN
    config = TrainConfig.from_dict(tiny_config(tmp_path, datasets=[nan_source(store)], steps=60,
                                               nan_policy="skip", nan_max_skips=2, checkpoint_every=100))
    with pytest.raises(NonFiniteLossError, match=r"after 2 skipped steps \(nan_max_skips 2\).*--nan-max-skips"):
        train(config, progress=False)
    assert not (tmp_path / "run" / "final").exists()


@pytest.mark.parametrize("change, message", [
    (dict(nan_policy="ignore"), "nan_policy must be one of 'stop', 'skip'"),
    (dict(nan_max_skips=-1), "nan_max_skips must be an int >= 0"),
])
def test_bad_nan_settings_are_refused_by_name(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(tiny_config(tmp_path, **change))


@two_cores
def test_two_processes_stop_together_when_only_one_sees_a_nan(tmp_path):
    """One NaN window in the whole training set lands in one process's batch: both processes must
    stop at that step (the flag is gathered), not one stop while the other waits on it forever."""
    bad = pde_data.split_trajectories(N)["train"][0]
    store = nan_store(tmp_path / "one_nan.npy", [bad], frame=T - 1)  # only the last window of one trajectory
    config = tmp_path / "one_nan.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tmp_path, datasets=[nan_source(store)], steps=60,
                                                 checkpoint_every=100, batch_size=2)))
    proc = launch_two_processes("pretrain", "--config", str(config), "--quiet")
    assert proc.returncode != 0
    steps = re.findall(r"error: non-finite loss at step (\d+), batch of dataset one_nan\.npy on process (\d)", proc.stderr)
    assert len(steps) == 2 and steps[0] == steps[1], proc.stderr[-3000:]  # both processes, the same step
    assert "windows (trajectory/start) on process" in proc.stderr
    assert not (tmp_path / "run" / "final").exists()
