import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from morph.train import ConfigError, TrainConfig, train
from morph.train.state import latest_training_state
from tests.conftest import TINY_MODEL, launch_two_processes, two_cores

TINY = {"preset": "Ti", **TINY_MODEL, "max_ar": 2, "predict_delta": True, "dropout": 0.1}


def tiny_config(tmp_path: Path, **kw) -> dict:
    cfg = dict(
        datasets=[dict(source="burgers_1d", n_traj=6, steps=8, resolution=32),
                  dict(source="shallow_water_2d", n_traj=6, steps=8, resolution=16, weight=2.0)],
        model=TINY, history=2, batch_size=4, steps=12, epochs=None, checkpoint_every=4,
        keep_checkpoints=10, warmup_steps=2, output_dir=str(tmp_path / "run"),
        cache_dir=str(tmp_path / "cache"), val_windows=8,
    )
    cfg.update(kw)
    return cfg


def read_losses(run: Path) -> dict[int, float]:
    with (run / "metrics.csv").open() as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}


def morph_cli(*args: str, env_extra: dict | None = None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "morph", *args], env=env, capture_output=True, text=True,
                          timeout=300, **kw)


def test_tiny_pretrain_through_the_cli_writes_a_reproducible_run(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tmp_path)))
    proc = morph_cli("pretrain", "--config", str(config), "--quiet")
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run"
    assert "burgers_1d" in proc.stdout and "persistence" in proc.stdout
    assert f"checkpoint: {run / 'final'}" in proc.stdout
    saved = TrainConfig.from_dict(json.loads((run / "train_config.json").read_text()))
    assert saved.steps == 12 and saved.datasets[1].weight == 2.0
    specs = json.loads((run / "data_specs.json").read_text())
    assert [s["name"] for s in specs] == ["burgers_1d", "shallow_water_2d"]
    assert sorted(read_losses(run)) == list(range(1, 13))
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["validation"]) == {"burgers_1d", "shallow_water_2d"}
    from morph import MORPH

    model = MORPH.from_pretrained(run / "final")
    x = torch.randn(1, 2, 1, 1, 1, 1, 32)
    assert model(x).shape == (1, 1, 1, 1, 1, 32)
    # the data was generated once into the cache and is reused
    cached = sorted(p.name for p in (tmp_path / "cache" / "data").iterdir())
    assert [name.split("-p")[0] for name in cached] == ["burgers_1d-n6-t8-r32-s0", "shallow_water_2d-n6-t8-r16-s0"]
    # checkpoints are as readable as the umask allows (safetensors alone would write 0600)
    umask = os.umask(0)
    os.umask(umask)
    for path in [run / "final", *(run / "final").iterdir(), *latest_training_state(run / "checkpoints").iterdir()]:
        assert path.stat().st_mode & 0o777 == (0o777 if path.is_dir() else 0o666) & ~umask, path


@pytest.mark.parametrize("boundaries", [False, True])
def test_training_reduces_the_loss_below_persistence_on_a_simple_mix(tmp_path, boundaries):
    # boundaries: boundary padding and embedding, as the default pretraining has them
    cfg = TrainConfig.from_dict(tiny_config(
        tmp_path, datasets=[dict(source="burgers_1d", n_traj=16, steps=20, resolution=64)],
        steps=300, lr=2e-3, warmup_steps=10, batch_size=8, checkpoint_every=1000,
        model={**TINY, "dim": 48, "dropout": 0.0, "boundary_padding": boundaries,
               "boundary_embedding": boundaries}))
    result = train(cfg, progress=False)
    losses = read_losses(tmp_path / "run")
    first = sum(losses[s] for s in range(1, 11)) / 10
    last = sum(losses[s] for s in range(291, 301)) / 10
    assert last < 0.5 * first
    m = result.per_dataset["burgers_1d"]
    assert m["nrmse"] < m["persistence_nrmse"]


def test_resume_after_sigkill_reaches_the_same_losses(tmp_path):
    steps = 60
    base = dict(steps=steps, checkpoint_every=5, batch_size=8,
                datasets=[dict(source="shallow_water_2d", n_traj=6, steps=8, resolution=32)])
    straight = tmp_path / "straight.yaml"
    straight.write_text(yaml.safe_dump(tiny_config(tmp_path, output_dir=str(tmp_path / "a"), **base)))
    assert morph_cli("pretrain", "--config", str(straight), "--quiet").returncode == 0

    killed = tmp_path / "killed.yaml"
    killed.write_text(yaml.safe_dump(tiny_config(tmp_path, output_dir=str(tmp_path / "b"), **base)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "morph", "pretrain", "--config", str(killed), "--quiet"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while latest_training_state(tmp_path / "b" / "checkpoints") is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = latest_training_state(tmp_path / "b" / "checkpoints")
    assert killed_at is not None and not (tmp_path / "b" / "final").exists(), "the run finished before the kill"

    # a setting the run was not trained with is refused by name, before anything is touched
    refused = morph_cli("pretrain", "--resume", "--out", str(tmp_path / "b"), "--lr", "0.5", "--quiet")
    assert refused.returncode == 2 and "other settings (lr: 0.001 -> 0.5)" in refused.stderr
    assert "Traceback" not in refused.stderr
    # --resume with --out alone continues with the run's own settings (its train_config.json)
    resumed = morph_cli("pretrain", "--resume", "--out", str(tmp_path / "b"), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    a, b = read_losses(tmp_path / "a"), read_losses(tmp_path / "b")
    assert sorted(b) == list(range(1, steps + 1))
    for step in range(1, steps + 1):
        assert b[step] == pytest.approx(a[step], rel=1e-5, abs=1e-7), step


def test_a_half_written_checkpoint_is_never_the_latest(tmp_path):
    root = tmp_path / "checkpoints"
    (root / "step_00000010").mkdir(parents=True)
    (root / "step_00000010" / "trainer_state.json").write_text("{}")
    (root / ".tmp-step_00000020").mkdir()
    (root / "step_00000030").mkdir()  # no trainer_state.json: incomplete
    assert latest_training_state(root).name == "step_00000010"


@two_cores
def test_two_process_accelerate_launch_trains_on_separate_shards(tmp_path):
    config = tmp_path / "tiny.yaml"  # with loss balancing: its averages gather the losses of both processes
    config.write_text(yaml.safe_dump(tiny_config(tmp_path, steps=6, checkpoint_every=3, loss_balance="ema")))
    proc = launch_two_processes("pretrain", "--config", str(config), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    assert (run / "final" / "model.safetensors").is_file()
    assert sorted(read_losses(run)) == list(range(1, 7))
    ckpt = latest_training_state(run / "checkpoints")
    assert {p.name for p in ckpt.glob("rng_state_*.pt")} == {"rng_state_0.pt", "rng_state_1.pt"}
    averages = json.loads((ckpt / "trainer_state.json").read_text())["loss_averages"]
    assert len(averages) == 2 and all(a is not None and 0 < a < 10 for a in averages)


@pytest.mark.parametrize("change, message", [
    (dict(datasets=["no_such_pde"]), "neither a built-in simulator"),
    (dict(model={"preset": "Tx"}), "unknown preset 'Tx'"),
    (dict(model={"preset": "Ti", "width": 3}), "unknown keys \\['width'\\]"),
    (dict(learning_rate=1.0), "unknown keys \\['learning_rate'\\]"),
    (dict(history=3), "exceeds the model's max_ar 2"),
    (dict(batch_size=0), "batch_size must be a positive int"),
    (dict(unroll=0), "unroll must be a positive int"),
    (dict(unroll=7), "burgers_1d.*8 frames, too few for history 2 \\+ horizon 7"),
])
def test_bad_configs_are_refused_with_the_key_named(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        train(TrainConfig.from_dict(tiny_config(tmp_path, **change)), progress=False)


@pytest.mark.parametrize("source, resolution, limit, message", [
    ("advection_diffusion_3d", 8, {"max_components": 2}, "at most max_components = 2"),
    ("shallow_water_2d", 16, {"max_patches": 8}, r"grid \(16, 16\) makes 16 patches .* max_patches = 8"),
])
def test_datasets_that_do_not_fit_the_model_are_refused_before_training(tmp_path, source, resolution, limit,
                                                                         message):
    cfg = tiny_config(tmp_path, datasets=[dict(source=source, n_traj=3, steps=4, resolution=resolution)],
                      model={**TINY, **limit})
    with pytest.raises(ConfigError, match=message):
        train(TrainConfig.from_dict(cfg), progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_an_output_dir_that_cannot_be_created_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="cannot be created"):
        train(TrainConfig.from_dict(tiny_config(tmp_path, output_dir=str(blocker / "run"))), progress=False)


@pytest.mark.parametrize("warmup, warned", [(5, True), (3, True), (2, False)])
def test_a_warmup_as_long_as_the_run_is_warned_about(tmp_path, caplog, warmup, warned):
    config = TrainConfig.from_dict(tiny_config(tmp_path, steps=3, warmup_steps=warmup, checkpoint_every=3))
    with caplog.at_level("WARNING", logger="morph.train.loop"):
        train(config, progress=False)
    messages = [r.getMessage() for r in caplog.records if "warmup_steps" in r.getMessage()]
    assert bool(messages) == warned
    lrs = [float(row["lr"]) for row in csv.DictReader((tmp_path / "run" / "metrics.csv").open())]
    # metrics.csv logs the rate each step used: the linear warmup, then (warmup 2) the peak
    assert lrs == pytest.approx([config.lr * min(1.0, (step + 1) / (warmup + 1)) for step in range(3)])
    if warned:  # the learning rate stopped short of its peak, as the message says
        assert f"warmup_steps {warmup} >= the run's 3 steps" in messages[0] and "morph pretrain --warmup" in messages[0]
        assert f"ends at {100 * 3 / (warmup + 1):.0f}% of it" in messages[0]


def test_rollout_training_trains_on_the_drawn_step_and_logs_like_any_run(tmp_path, monkeypatch):
    import morph.train.loop
    import morph.train.schedule

    cfg = tiny_config(tmp_path, steps=6, unroll=3, checkpoint_every=100)
    draws = [morph.train.schedule.unroll_steps(TrainConfig.from_dict(cfg), step) for step in range(6)]
    assert draws[0] == 1 and max(draws) > 1  # the seed draws both kinds of step, next-step first
    result = train(TrainConfig.from_dict(cfg), progress=False)
    unrolled = read_losses(tmp_path / "run")
    assert sorted(unrolled) == [1, 2, 3, 4, 5, 6] and all(v == v for v in unrolled.values())  # not NaN
    assert set(result.per_dataset) == {"burgers_1d", "shallow_water_2d"}
    # The same run with the draw ignored (every step next-step): the same losses up to the first
    # drawn n > 1, another loss there.
    monkeypatch.setattr(morph.train.loop, "unroll_steps", lambda config, step: 1)
    train(TrainConfig.from_dict({**cfg, "output_dir": str(tmp_path / "ignored")}), progress=False)
    ignored = read_losses(tmp_path / "ignored")
    first = draws.index(next(n for n in draws if n > 1)) + 1  # the step (1-based) of the first unroll
    for step in range(1, first):
        assert unrolled[step] == pytest.approx(ignored[step], rel=1e-6)
    assert unrolled[first] != pytest.approx(ignored[first], rel=1e-3)


def test_unroll_lengths_are_drawn_from_one_to_n_the_same_on_every_run(tmp_path):
    from morph.train.schedule import unroll_steps

    cfg = TrainConfig.from_dict(tiny_config(tmp_path, unroll=3))
    draws = [unroll_steps(cfg, step) for step in range(300)]
    assert draws == [unroll_steps(cfg, step) for step in range(300)]
    assert set(draws) == {1, 2, 3} and min(draws.count(n) for n in (1, 2, 3)) > 60
    assert {unroll_steps(TrainConfig.from_dict(tiny_config(tmp_path)), step) for step in range(20)} == {1}


def test_resume_refuses_data_that_changed_since_the_run_started(tmp_path):
    train(TrainConfig.from_dict(tiny_config(tmp_path, steps=2, checkpoint_every=1)), progress=False)
    specs_path = tmp_path / "run" / "data_specs.json"
    specs = json.loads(specs_path.read_text())
    specs[0]["attrs"]["viscosity"] = 0.5  # as if an older simulator had made the data
    specs_path.write_text(json.dumps(specs))
    with pytest.raises(ConfigError, match="now give other data than the run started with .burgers_1d: attrs"):
        train(TrainConfig.from_dict(tiny_config(tmp_path, steps=4, checkpoint_every=1)), resume=True, progress=False)


def test_two_stores_of_one_simulator_keep_a_validation_row_each(tmp_path):
    import pde_data

    for part, seed in (("a", 0), ("b", 1)):  # one file name in two directories, as two corpora would have
        (tmp_path / part).mkdir()
        pde_data.convert(pde_data.generate("burgers_1d", n_traj=6, steps=8, resolution=32, seed=seed),
                         tmp_path / part / "burgers_1d-periodic-r32.zarr", progress=False)
    datasets = [str(tmp_path / "a" / "burgers_1d-periodic-r32.zarr"), str(tmp_path / "b" / "burgers_1d-periodic-r32.zarr"),
                dict(source="burgers_1d", n_traj=6, steps=8, resolution=32, seed=2)]
    result = train(TrainConfig.from_dict(tiny_config(tmp_path, datasets=datasets, steps=2, checkpoint_every=2)),
                   progress=False)
    labels = ["burgers_1d-periodic-r32.zarr", "burgers_1d-periodic-r32.zarr#2", "burgers_1d"]
    assert list(result.per_dataset) == labels
    assert result.per_dataset[labels[0]] != result.per_dataset[labels[1]]  # other data, other figures
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert list(summary["validation"]) == labels
    assert [row.split("|")[1].strip() for row in result.table().splitlines()[2:]] == labels
