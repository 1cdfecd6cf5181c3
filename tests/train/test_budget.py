"""`max_minutes`: the length is fitted to the steps that fit, the run ends with its checkpoint, and
a resumed run keeps the length and the time already spent."""

import json

import pytest
import torch

from morph.train import ConfigError, TrainConfig, train
from morph.train.budget import WallClockBudget
from tests.train.test_pretrain import read_losses, tiny_config


def test_the_budget_fits_the_length_after_calibration():
    budget = WallClockBudget(seconds=100, untimed_steps=2, calibration_steps=4, reserve=0.0, refit_at=())
    # 5 s for each of the first two steps (compiling), then 1 s per step
    times = {1: 5.0, 2: 10.0, **{s: 10.0 + (s - 2) for s in range(3, 40)}}
    fits = {s: budget.fit(s, times[s], total=1000) for s in range(1, 40)}
    assert [s for s, total in fits.items() if total is not None] == [6]
    assert fits[6] == 6 + (100 - 14)  # 86 more steps of 1 s fit in what is left
    assert not budget.exhausted(99.9) and budget.exhausted(100.0)


def test_the_budget_refits_at_its_marks_from_the_rate_since_calibration():
    budget = WallClockBudget(seconds=100, untimed_steps=1, calibration_steps=2, reserve=0.1, refit_at=(0.5,))
    assert budget.fit(1, 1.0, total=1000) is None  # untimed
    assert budget.fit(2, 2.0, total=1000) is None
    assert budget.fit(3, 3.0, total=1000) == 3 + 87  # 1 s a step; 90 s usable, 3 spent
    assert budget.fit(20, 49.0, total=1000) is None  # before the half-way mark
    assert budget.fit(21, 51.0, total=1000) == 21 + 15  # (51 - 1) s over 20 steps: 2.5 s a step; 39 s left


def test_a_length_that_ends_early_is_fitted_again_at_its_last_step():
    budget = WallClockBudget(seconds=100, untimed_steps=1, calibration_steps=1, reserve=0.0, refit_at=())
    budget.fit(1, 1.0, total=1000)
    assert budget.fit(2, 11.0, total=1000) == 2 + 8  # a slow first timed step: 10 s a step
    assert budget.fit(5, 14.0, total=10) is None
    assert budget.fit(10, 19.0, total=10) == 10 + 40  # 18 s over 9 steps: 2 s a step, 81 s left
    assert budget.fit(50, 99.5, total=50) == 50  # no time for another step: the run ends here


def test_a_resumed_budget_counts_the_time_already_spent():
    budget = WallClockBudget(seconds=60, untimed_steps=1, calibration_steps=1, reserve=0.0, refit_at=())
    assert budget.fit(101, 51.0, total=1000) is None
    assert budget.fit(102, 52.0, total=1000) == 102 + 8


@pytest.mark.parametrize("value", [0, -1, True, "ten", float("inf")])
def test_a_bad_max_minutes_is_named(tmp_path, value):
    with pytest.raises(ConfigError, match="max_minutes must be a number of minutes > 0"):
        TrainConfig.from_dict(tiny_config(tmp_path, max_minutes=value))


def test_a_run_with_a_budget_ends_in_time_with_its_checkpoint_and_resumes_to_the_same_length(tmp_path):
    config = TrainConfig.from_dict(tiny_config(tmp_path, steps=100_000, max_minutes=0.1, checkpoint_every=10_000,
                                               warmup_steps=1))
    result = train(config, progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert 3 <= result.steps < 100_000 and summary["steps"] == result.steps
    assert result.seconds < 6 + 30  # the budget, plus data generation and the final validation
    assert (result.checkpoint / "model.safetensors").is_file()
    assert sorted(read_losses(tmp_path / "run")) == list(range(1, result.steps + 1))
    state = json.loads(next((tmp_path / "run" / "checkpoints").glob("step_*/trainer_state.json")).read_text())
    assert state["total_steps"] == result.steps and 0 < state["elapsed_s"] <= 6 + 2  # at most one step over
    again = train(config, resume=True, progress=False)  # the budget was spent: nothing left to train
    assert again.steps == result.steps


def test_compile_with_bf16_on_the_cpu_is_refused_before_training(tmp_path):
    config = TrainConfig.from_dict(tiny_config(tmp_path, compile=True, mixed_precision="bf16"))
    with pytest.raises(ConfigError, match="compile with mixed_precision bf16.*set mixed_precision no"):
        train(config, progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_compiled_float32_run_trains_and_saves_a_plain_model(tmp_path):
    config = TrainConfig.from_dict(tiny_config(tmp_path, compile=True, mixed_precision="no", steps=3,
                                               datasets=[dict(source="burgers_1d", n_traj=6, steps=8,
                                                              resolution=32)]))
    result = train(config, progress=False)
    losses = read_losses(tmp_path / "run")
    assert sorted(losses) == [1, 2, 3] and all(v == v for v in losses.values())
    from morph import MORPH
    assert isinstance(MORPH.from_pretrained(result.checkpoint), MORPH)


def test_a_bf16_run_keeps_float32_weights_and_a_loss_close_to_float32(tmp_path):
    losses = {}
    for precision in ("no", "bf16"):
        config = TrainConfig.from_dict(tiny_config(tmp_path, mixed_precision=precision, steps=4,
                                                   output_dir=str(tmp_path / precision)))
        result = train(config, progress=False)
        losses[precision] = read_losses(tmp_path / precision)
        from safetensors.torch import load_file
        assert {t.dtype for t in load_file(result.checkpoint / "model.safetensors").values()} == {torch.float32}
    first = losses["no"][1], losses["bf16"][1]  # the same weights and batch at step 1
    assert abs(first[1] - first[0]) / first[0] < 0.05


def test_auto_precision_trains_the_baselines_in_float32(tmp_path, caplog):
    pytest.importorskip("monai")
    config = TrainConfig.from_dict(tiny_config(tmp_path, model={"arch": "unet", "features": 4}, steps=2,
                                               datasets=[dict(source="burgers_1d", n_traj=6, steps=8, resolution=32)]))
    with caplog.at_level("INFO", logger="morph.train.loop"):
        train(config, progress=False)
    assert "precision: float32 (mixed_precision auto)" in caplog.text
