"""`morph finetune`: a tiny run through the CLI, its output directory as a checkpoint, resume, errors."""

import csv
import json
import logging
import re
import shutil

import pytest
import torch

import adapters
from adapters import FinetuneConfig, finetune
from morph import MORPH
from morph.cli import main
from morph.train import ConfigError
from tests.adapters.helpers import save_base, save_dataset
from tests.conftest import TINY_MODEL, launch_two_processes, two_cores

TINY = {"preset": "Ti", **TINY_MODEL, "max_ar": 2}


def run_cli(*args: str) -> None:
    main(["finetune", *args, "--quiet"])


def exit_code(*args: str) -> int:
    with pytest.raises(SystemExit) as info:
        run_cli(*args)
    return info.value.code


def losses(run) -> dict[int, float]:
    with (run / "metrics.csv").open() as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}


@pytest.fixture
def base(tmp_path):
    return save_base(tmp_path / "base")


def test_a_tiny_lora_finetune_through_the_cli_leaves_a_checkpoint_that_evaluate_loads(tmp_path, base, capsys):
    data = save_dataset(tmp_path / "new.zarr", n=8)
    out = tmp_path / "ft"
    run_cli("--checkpoint", str(base), "--data", str(data), "--level", "1", "--rank", "2", "--steps", "4",
            "--batch-size", "4", "--n-traj", "3", "--history", "2", "--horizon", "2", "--out", str(out))
    printed = capsys.readouterr().out
    assert "fine-tuned (level 1)" in printed and "zero-shot" in printed and "persistence" in printed
    assert "trainable parameters" in printed and "mean over 2 steps" in printed
    assert sorted(p.name for p in (out / "final").iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "config.json", "metadata.json"]
    splits = json.loads((out / "splits.json").read_text())
    assert len(splits["train"]) == 3 and splits["n_trajectories"] == 8
    assert not set(splits["train"]) & set(splits["val"]) and not set(splits["train"]) & set(splits["test"])
    assert not set(splits["val"]) & set(splits["test"])
    assert json.loads((out / "train_config.json").read_text())["datasets"][0]["max_train_traj"] == 3
    test = json.loads((out / "test_metrics.json").read_text())
    assert set(test) == {"fine-tuned (level 1)", f"zero-shot ({base})"}

    model = MORPH.from_pretrained(out)  # the output directory itself
    assert type(model) is MORPH and not adapters.has_lora(model)
    x = torch.randn(1, 2, 2, 3, 1, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(model(x), MORPH.from_pretrained(out / "final")(x))
    main(["evaluate", "--checkpoint", str(out), "--data", str(data), "--horizon", "2", "--quiet"])
    assert "nRMSE" in capsys.readouterr().out

    # --resume --out alone continues with the fine-tune's own settings; --steps extends it (and the
    # warmup derived from the length: 0 steps at 4, 2 at 20)
    run_cli("--resume", "--out", str(out), "--steps", "20")
    assert sorted(losses(out)) == list(range(1, 21))
    assert "fine-tuned (level 1)" in capsys.readouterr().out
    assert exit_code("--resume", "--out", str(out), "--level", "2") == 2
    assert "other settings (level: 1 -> 2)" in capsys.readouterr().err
    assert exit_code("--data", str(data)) == 2
    assert "finetune: give --checkpoint (or a config file" in capsys.readouterr().err


def test_compare_scratch_trains_the_same_budget_from_random_weights_into_the_same_table(tmp_path, base, capsys):
    data = save_dataset(tmp_path / "new.zarr", n=8)
    out = tmp_path / "ft"
    run_cli("--checkpoint", str(base), "--data", str(data), "--level", "1", "--rank", "2", "--steps", "3",
            "--batch-size", "4", "--history", "2", "--horizon", "2", "--out", str(out), "--compare-scratch")
    printed = capsys.readouterr().out
    assert "fine-tuned (level 1)" in printed and "from scratch" in printed and "persistence" in printed
    scratch = out / "scratch"
    assert (scratch / "final" / "model.safetensors").is_file()  # full weights: every parameter trained
    assert sorted(losses(scratch)) == sorted(losses(out)) == [1, 2, 3]  # the same budget
    assert json.loads((scratch / "finetune.json").read_text())["config"]["from_scratch"] is True
    assert json.loads((scratch / "splits.json").read_text()) == json.loads((out / "splits.json").read_text())
    test = json.loads((out / "test_metrics.json").read_text())
    assert set(test) == {"fine-tuned (level 1)", "from scratch", f"zero-shot ({base})"}
    step_1 = {label: test[label]["model"]["mean"]["nrmse"]["step_1"] for label in test}
    assert step_1["from scratch"] != step_1["fine-tuned (level 1)"]
    assert test["from scratch"]["persistence"] == test["fine-tuned (level 1)"]["persistence"]  # the same windows
    assert exit_code("--checkpoint", str(base), "--data", str(data), "--from-scratch", "--compare-scratch",
                     "--out", str(tmp_path / "both")) == 2
    assert "drop --from-scratch" in capsys.readouterr().err


@pytest.mark.parametrize("grid, fields, flags, weights", [
    ((16,), (("u", 1),), ["--level", "2"], "adapter_model.safetensors"),          # 1D, one scalar field
    ((8, 5, 6), (("rho", 1), ("m", 3)), ["--level", "3"], "model.safetensors"),   # 3D, a 3-vector
    ((6, 5), (("a", 1), ("b", 1), ("c", 1)), ["--from-scratch"], "model.safetensors"),
])
def test_finetune_takes_dimensions_and_fields_the_base_never_saw(tmp_path, base, capsys, grid, fields, flags, weights):
    data = save_dataset(tmp_path / "new.zarr", n=5, t=5, grid=grid, fields=fields)
    out = tmp_path / "ft"
    run_cli("--checkpoint", str(base), "--data", str(data), "--steps", "2", "--batch-size", "2", "--out", str(out),
            *flags)
    assert (out / "final" / weights).is_file()
    printed = capsys.readouterr().out
    assert ("from scratch" if "--from-scratch" in flags else "fine-tuned") in printed
    assert MORPH.from_pretrained(out).config == MORPH.from_pretrained(base).config


def test_resume_continues_a_finetune_with_the_same_losses(tmp_path, base, caplog):
    data = save_dataset(tmp_path / "new.zarr")
    config = FinetuneConfig(checkpoint=str(base), data=str(data), output_dir=str(tmp_path / "ft"), level=2,
                            rank=2, horizon=1, train=dict(steps=6, checkpoint_every=3, keep_checkpoints=5,
                                                          batch_size=2))
    first = finetune(config, progress=False)
    straight = losses(first.output_dir)
    # As if killed after step 3: the step 6 checkpoint and the final model are gone.
    shutil.rmtree(first.output_dir / "checkpoints" / "step_00000006")
    shutil.rmtree(first.output_dir / "final")
    with caplog.at_level(logging.INFO, logger="morph.train.loop"):
        resumed = finetune(config, resume=True, progress=False)
    assert "(step 3)" in caplog.text
    assert losses(resumed.output_dir) == pytest.approx(straight, rel=1e-5)
    assert adapters.has_lora(adapters.load_adapter(resumed.output_dir / "final"))
    assert (resumed.label, resumed.history, resumed.horizon) == (first.label, first.history, first.horizon)

    other = FinetuneConfig(**{**config.to_dict(), "level": 1})
    with pytest.raises(ConfigError, match="other settings \\(level: 2 -> 1\\)"):
        finetune(other, resume=True, progress=False)


@pytest.mark.parametrize("fields, grid, extra, message", [
    # more fields or components grow the model (tests/morph/test_growth.py); too many patches do not
    ((("p", 1),), (40, 40), [], r"makes 100 patches of \(4, 4\), more than max_patches = 64"),
    ((("p", 1),), (6, 5), ["--history", "3"], r"history 3 is outside 1..2 \(max_ar = 2"),
    ((("p", 1),), (6, 5), ["--n-traj", "9"], "--n-traj 9: the training split .* has only 4"),
    ((("p", 1),), (6, 5), ["--horizon", "9"], "--horizon 9: trajectories of 7 frames"),
])
def test_a_dataset_that_does_not_fit_the_model_is_refused_before_training(tmp_path, base, capsys, fields, grid,
                                                                         extra, message):
    data = save_dataset(tmp_path / "new.zarr", fields=fields, grid=grid)
    out = tmp_path / "ft"
    assert exit_code("--checkpoint", str(base), "--data", str(data), "--out", str(out), *extra) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert re.search(message, err), err
    assert not (out / "checkpoints").exists()


def test_a_checkpoint_that_does_not_fit_is_refused_with_a_clear_error(tmp_path, base, capsys):
    data = save_dataset(tmp_path / "new.zarr")
    assert exit_code("--checkpoint", str(tmp_path / "missing"), "--data", str(data)) == 2
    assert "No checkpoint directory" in capsys.readouterr().err
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "dim": 48}))
    assert exit_code("--checkpoint", str(base), "--data", str(data)) == 2
    assert "does not match its config.json" in capsys.readouterr().err


def test_a_finetune_may_not_write_over_its_base(tmp_path, base, capsys):
    data = save_dataset(tmp_path / "new.zarr")
    assert exit_code("--checkpoint", str(base), "--data", str(data), "--out", str(base)) == 2
    assert "would overwrite" in capsys.readouterr().err
    assert (base / "model.safetensors").is_file()


def test_n_traj_keeps_the_first_trajectories_of_the_training_split_only(tmp_path):
    from morph.train import TrainConfig
    from morph.train.data import build_data
    from pde_data import split_trajectories

    data = save_dataset(tmp_path / "new.zarr", n=10)
    config = TrainConfig(datasets=[dict(source=str(data), max_train_traj=3)], model=dict(TINY), history=2,
                         steps=1, cache_dir=str(tmp_path / "cache"))
    run = build_data(config, config.morph_config())
    splits = split_trajectories(10, seed=config.split_seed)
    assert run.train[0].trajectories.tolist() == splits["train"][:3].tolist()
    assert run.val[0].trajectories.tolist() == splits["val"].tolist()
    with pytest.raises(ConfigError, match="max_train_traj must be a positive int"):
        TrainConfig(datasets=[dict(source=str(data), max_train_traj=0)])


def test_a_config_file_with_command_line_overrides(tmp_path, base, capsys):
    data = save_dataset(tmp_path / "new.zarr")
    config = tmp_path / "ft.yaml"
    config.write_text(f"checkpoint: {base}\ndata: {data}\nlevel: 3\nhorizon: 2\n"
                      f"train:\n  steps: 50\n  batch_size: 2\n  warmup_steps: 0\n")
    run_cli("--config", str(config), "--steps", "2", "--out", str(tmp_path / "ft"))
    saved = json.loads((tmp_path / "ft" / "train_config.json").read_text())
    assert (saved["steps"], saved["batch_size"], saved["warmup_steps"], saved["history"]) == (2, 2, 0, 2)
    assert json.loads((tmp_path / "ft" / "finetune.json").read_text())["level"] == 3
    assert "fine-tuned (level 3)" in capsys.readouterr().out


def test_a_finetune_redirected_to_a_file_logs_progress_lines_not_bar_frames(tmp_path, base):
    import subprocess
    import sys

    data = save_dataset(tmp_path / "new.zarr", n=8)
    log = tmp_path / "finetune.log"
    with log.open("w") as f:
        subprocess.run([sys.executable, "-m", "morph", "finetune", "--checkpoint", str(base), "--data", str(data),
                        "--level", "1", "--rank", "2", "--steps", "60", "--batch-size", "2", "--horizon", "2",
                        "--out", str(tmp_path / "ft")], stdout=f, stderr=subprocess.STDOUT, check=True,
                       cwd=tmp_path, timeout=300)
    text = log.read_text()
    assert "\r" not in text  # no bar frames
    progress = [line for line in text.splitlines() if "pde_data.progress: finetune:" in line]
    assert progress and "finetune: 60/60 step (100%)" in progress[-1]
    assert len(progress) <= 21 and len(text) < 20_000
    assert "fine-tuned (level 1)" in text


def test_a_diverging_finetune_stops_at_its_nan_cap_through_the_same_trainer(tmp_path, base, capsys):
    data = save_dataset(tmp_path / "new.zarr", n=8)
    out = tmp_path / "ft"
    assert exit_code("--checkpoint", str(base), "--data", str(data), "--level", "4", "--steps", "8", "--lr", "1e4",
                     "--batch-size", "4", "--history", "2", "--horizon", "2", "--out", str(out),
                     "--nan-policy", "skip", "--nan-max-skips", "1") == 1
    err = capsys.readouterr().err
    assert re.search(r"error: non-finite (loss|gradient norm) at step \d+ after 1 skipped steps \(nan_max_skips 1\), "
                     r"batch of dataset new\.zarr", err), err
    assert "Traceback" not in err and not (out / "final").exists()
    assert json.loads((out / "train_config.json").read_text())["nan_policy"] == "skip"



@two_cores
def test_two_processes_fine_tuning_on_a_simulator_generate_its_data_once(tmp_path, base):
    """`--data SIMULATOR` is generated into the cache by the main process while the other waits,
    then read by both: not written twice at once into the same store."""
    proc = launch_two_processes(
        "finetune", "--checkpoint", str(base), "--data", "burgers_1d", "--level", "1", "--rank", "2", "--steps", "2",
        "--batch-size", "2", "--history", "2", "--horizon", "2", "--cache", str(tmp_path / "cache"),
        "--out", str(tmp_path / "ft"), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("generating burgers_1d into") == 1, proc.stderr[-3000:]
    assert [p.name.split("-")[0] for p in (tmp_path / "cache" / "data").iterdir()] == ["burgers_1d"]
    assert (tmp_path / "ft" / "final" / "adapter_model.safetensors").is_file()
