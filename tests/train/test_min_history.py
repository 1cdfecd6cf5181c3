"""`min_history`: each step draws its history length from min_history..history, reproducibly."""

import pytest

from morph.train import TrainConfig
from morph.train.config import ConfigError
from morph.train.schedule import history_length


def test_lengths_cover_the_range_and_repeat_for_the_same_seed_and_step():
    config = TrainConfig(history=4, min_history=2, model={"preset": "Ti", "max_ar": 4})
    lengths = [history_length(config, step) for step in range(200)]
    assert set(lengths) == {2, 3, 4}
    assert lengths == [history_length(config, step) for step in range(200)]
    other = TrainConfig(history=4, min_history=2, seed=1, model={"preset": "Ti", "max_ar": 4})
    assert lengths != [history_length(other, step) for step in range(200)]


def test_curriculum_stage_one_and_the_default_use_history_one_and_full():
    config = TrainConfig(history=4, curriculum_steps=10, model={"preset": "Ti", "max_ar": 4})
    assert [history_length(config, s) for s in (0, 9, 10, 50)] == [1, 1, None, None]


@pytest.mark.parametrize("value", [0, 5, 2.5])
def test_bad_min_history_is_refused(value):
    with pytest.raises(ConfigError, match="min_history must be an int in 1..history"):
        TrainConfig(history=4, min_history=value, model={"preset": "Ti", "max_ar": 4})
