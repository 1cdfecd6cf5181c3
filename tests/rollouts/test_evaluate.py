import json
import math

import numpy as np
import pytest

import pde_data
from rollouts import evaluate
from tests.conftest import make_dataset
from tests.rollouts.helpers import ScriptedModel, persistence_model, tiny_model


def test_a_no_change_model_scores_exactly_like_the_persistence_baseline():
    data = make_dataset(n=5, t=8, grid=(6, 5))
    result = evaluate(persistence_model(), data, horizon=3, history=2, split="all")
    for metric, values in result.scores["model"].items():
        np.testing.assert_allclose(values, result.scores["persistence"][metric], rtol=1e-4, atol=1e-6)
    assert result.scores["model"]["nrmse"].shape == (3, 2)
    assert result.n_windows == 5 * 2  # (8 - 2 - 3) // 3 + 1 windows per trajectory


def test_the_test_split_holds_the_trajectories_training_held_out():
    data = make_dataset(n=10, t=6, grid=(16,), fields=(("u", 1),))
    result = evaluate(tiny_model(), data, horizon=2, history=2, split="test", split_seed=7)
    expected = pde_data.split_trajectories(10, seed=7)["test"]
    assert result.setup["trajectories"] == expected.tolist()
    assert result.n_windows == len(expected) * 2


def test_summary_json_and_table_keep_the_model_and_the_baseline_apart():
    data = make_dataset(n=4, t=7, grid=(6, 5))
    result = evaluate(tiny_model(), data, horizon=3, history=2, split="all")
    payload = json.loads(json.dumps(result.to_dict()))
    assert {"model", "persistence", "setup", "diverged"} <= set(payload)
    for source in ("model", "persistence"):
        assert set(payload[source]) == {"p", "v", "mean"}
        entry = payload[source]["mean"]["nrmse"]
        assert len(entry["per_step"]) == 3 and entry["step_1"] == entry["per_step"][0]
        assert entry["horizon"] == pytest.approx(np.mean(entry["per_step"]))
    table = result.table()
    assert "| p | nRMSE |" in table and "| mean | VRMSE |" in table and "persistence" in table


def test_diverged_windows_are_listed_with_their_step_and_score_inf():
    data = make_dataset(n=3, t=5, grid=(6, 5))
    model = ScriptedModel([[1.0, 1.0, 1.0], [1.0, float("nan"), 1.0], [1.0, 1.0, 1.0]])
    result = evaluate(model, data, horizon=3, history=2, split="all", batch_size=3)
    assert result.diverged == [{"traj": 1, "start": 0, "step": 2}]
    assert math.isinf(result.scores["model"]["nrmse"][1, 0]) and np.isfinite(result.scores["model"]["nrmse"][0]).all()
    assert result.to_dict()["model"]["mean"]["nrmse"]["horizon"] is None
    assert "1 of 3 windows diverged (first at step 2)" in result.table()


def test_a_horizon_longer_than_the_trajectories_is_refused():
    with pytest.raises(pde_data.DataError, match="lower --horizon"):
        evaluate(tiny_model(), make_dataset(n=3, t=5), horizon=4, history=2)
