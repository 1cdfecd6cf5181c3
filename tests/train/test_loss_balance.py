"""Per-dataset loss balancing (`loss_balance: ema`): each dataset's loss over its own running average."""

import json
import shutil

import numpy as np
import pytest
import torch

from morph import MORPH
from morph.train import ConfigError, TrainConfig, train
from morph.train.balance import LossBalance
from morph.train.state import latest_training_state
from tests.conftest import TINY_MODEL

TINY = {"preset": "Ti", **TINY_MODEL, "max_ar": 2, "predict_delta": True, "dropout": 0.1}


def balanced_config(tmp_path, out="run", **kw) -> TrainConfig:
    """Two datasets, balanced; 12 steps, a checkpoint every 4. No gradient clipping: a clipped step
    has the clipped norm whatever the scale of its loss, which would hide the balancing."""
    cfg = dict(datasets=[dict(source="burgers_1d", n_traj=6, steps=8, resolution=32),
                         dict(source="shallow_water_2d", n_traj=6, steps=8, resolution=16)],
               model=TINY, history=2, batch_size=4, steps=12, checkpoint_every=4, keep_checkpoints=10,
               warmup_steps=2, output_dir=str(tmp_path / out), cache_dir=str(tmp_path / "cache"), val_windows=4,
               loss_balance="ema", grad_clip=0.0)
    cfg.update(kw)
    return TrainConfig.from_dict(cfg)


def logged_losses(run) -> list[float]:
    return [float(line.split(",")[2]) for line in (run / "metrics.csv").read_text().splitlines()[1:]]


def test_a_hard_and_an_easy_dataset_contribute_alike_once_balanced():
    rng = np.random.default_rng(0)
    balance = LossBalance(2, decay=0.9)
    contributions = {0: [], 1: []}
    for _ in range(200):
        dataset = int(rng.integers(2))
        loss = (1.0, 0.01)[dataset] * rng.uniform(0.8, 1.2)  # 100x apart, 20% batch-to-batch noise
        balance.update(dataset, loss)
        contributions[dataset].append(float(balance.balanced(torch.tensor(loss), dataset)))
    hard, easy = (np.mean(contributions[i][10:]) for i in (0, 1))
    assert 0.9 < hard < 1.1 and 0.9 < easy < 1.1 and 0.9 < hard / easy < 1.1  # raw: 100x
    assert balance.averages[0] == pytest.approx(1.0, rel=0.15)
    assert balance.averages[1] == pytest.approx(0.01, rel=0.15)


def test_the_average_is_an_exponential_one_that_starts_at_the_first_loss_and_carries_no_gradient():
    balance = LossBalance(3, decay=0.9)
    balance.update(1, 2.0)
    assert balance.averages == [None, 2.0, None]
    balance.update(1, 1.0)
    balance.update(1, float("nan"))  # left out
    assert balance.averages[1] == pytest.approx(0.9 * 2.0 + 0.1 * 1.0)
    w = torch.tensor(3.0, requires_grad=True)
    balance.balanced(w ** 2, 1).backward()
    assert float(w.grad) == pytest.approx(2 * 3.0 / 1.9)  # d(w² / a)/dw with a constant
    assert balance.balanced(torch.tensor(5.0), 0) == 5.0  # no average yet: the raw loss
    restored = LossBalance(3, decay=0.9)
    restored.load_state_dict(json.loads(json.dumps(balance.state_dict())))
    assert restored.averages == balance.averages
    with pytest.raises(ValueError, match="2 datasets saved, the run has 3"):
        restored.load_state_dict([1.0, 2.0])


@pytest.mark.parametrize("change, message", [
    (dict(loss_balance="mean"), "loss_balance must be one of 'none', 'ema' .*got 'mean'"),
    (dict(loss_balance=None), "loss_balance must be one of 'none', 'ema'"),
    (dict(loss_balance_decay=1.0), r"loss_balance_decay must be a number in \[0, 1\).*got 1.0"),
    (dict(loss_balance_decay="0.9"), r"loss_balance_decay must be a number in \[0, 1\)"),
])
def test_bad_loss_balance_settings_are_refused_with_the_choices_named(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        balanced_config(tmp_path, **change)


def test_loss_balance_is_off_by_default_and_may_not_change_on_resume(tmp_path):
    assert TrainConfig(datasets=["burgers_1d"], model=TINY, history=2).loss_balance == "none"
    saved = balanced_config(tmp_path, loss_balance="none")
    assert balanced_config(tmp_path).resume_conflicts(saved) == ["loss_balance: 'none' -> 'ema'"]


def final_averages(run) -> list[float]:
    return json.loads((latest_training_state(run / "checkpoints") / "trainer_state.json").read_text())["loss_averages"]


def test_a_balanced_run_resumed_from_a_checkpoint_equals_an_uninterrupted_one(tmp_path):
    straight = train(balanced_config(tmp_path, "a"), progress=False)
    averages, losses = final_averages(tmp_path / "a"), logged_losses(tmp_path / "a")
    # one average per dataset, each within the raw losses the run logged, and not alike
    assert len(averages) == 2 and all(min(losses) * (1 - 1e-6) <= a <= max(losses) * (1 + 1e-6) for a in averages)
    assert abs(np.log(averages[0] / averages[1])) > 0.05

    # the same run, interrupted after step 4: later checkpoints and the final model are gone
    train(balanced_config(tmp_path, "b"), progress=False)
    for later in ("step_00000008", "step_00000012"):
        shutil.rmtree(tmp_path / "b" / "checkpoints" / later)
    shutil.rmtree(tmp_path / "b" / "final")
    shutil.copytree(tmp_path / "b", tmp_path / "c")
    resumed = train(balanced_config(tmp_path, "b"), resume=True, progress=False)
    assert logged_losses(tmp_path / "b") == pytest.approx(losses, rel=1e-5, abs=1e-7)
    assert resumed.final_loss == pytest.approx(straight.final_loss, rel=1e-5)
    assert final_averages(tmp_path / "b") == pytest.approx(averages, rel=1e-6)
    a, b = MORPH.from_pretrained(tmp_path / "a" / "final"), MORPH.from_pretrained(tmp_path / "b" / "final")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)

    # the averages come back from the checkpoint: a resume that lost them starts them anew
    step4 = tmp_path / "c" / "checkpoints" / "step_00000004" / "trainer_state.json"
    step4.write_text(json.dumps({k: v for k, v in json.loads(step4.read_text()).items() if k != "loss_averages"}))
    train(balanced_config(tmp_path, "c"), resume=True, progress=False)
    assert final_averages(tmp_path / "c") != pytest.approx(averages, rel=1e-3)


def test_balancing_changes_what_a_mix_learns(tmp_path):
    balanced = train(balanced_config(tmp_path, "a", steps=6, checkpoint_every=100), progress=False)
    raw = train(balanced_config(tmp_path, "b", steps=6, checkpoint_every=100, loss_balance="none"), progress=False)
    # the logged loss is the raw one: the first step (same weights, same batch) logs the same; the
    # later ones follow other updates
    first_a, first_b = logged_losses(tmp_path / "a"), logged_losses(tmp_path / "b")
    assert first_a[0] == pytest.approx(first_b[0], rel=1e-6)
    assert first_a[1:] != pytest.approx(first_b[1:], rel=1e-4)
    assert balanced.per_dataset.keys() == raw.per_dataset.keys()
