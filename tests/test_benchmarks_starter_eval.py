"""benchmarks/starter_eval.py: models side by side on fresh corpus stores, at smoke size."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

from tests.conftest import tiny_model

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "starter_eval.py"


def _load():
    spec = importlib.util.spec_from_file_location("starter_eval_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_models_on_the_same_windows_and_a_store_one_cannot_take(tmp_path, capsys):
    one_field, three_fields = tmp_path / "one", tmp_path / "three"
    tiny_model(seed=0, max_fields=1).save_pretrained(one_field)
    tiny_model(seed=1, max_fields=3).save_pretrained(three_fields)
    out = tmp_path / "eval.json"
    result = _load().main(["--model", f"one={one_field}", "--model", f"three={three_fields}", "--scale", "tiny",
                           "--only", "heat_1d", "euler_2d", "--n-traj", "2", "--history", "2", "--horizon", "3",
                           "--json", str(out)])
    rows = result["rows"]
    assert sorted(rows) == ["euler_2d-open-r32", "euler_2d-reflective-r32", "heat_1d-dirichlet-r64"]
    heat = rows["heat_1d-dirichlet-r64"]
    assert heat["one"]["persistence_horizon"] == heat["three"]["persistence_horizon"]  # the same windows
    assert heat["one"]["horizon"] != heat["three"]["horizon"]  # different weights
    assert all(math.isfinite(v) for r in heat.values() for k, v in r.items() if isinstance(v, float))
    for r in heat.values():  # growth: the last step's error over the first's, beside persistence's
        assert len(r["per_step"]) == len(r["persistence_per_step"]) == 3
        assert math.isclose(r["growth"], r["per_step"][-1] / r["per_step"][0])
        assert math.isclose(r["persistence_growth"], r["persistence_per_step"][-1] / r["persistence_per_step"][0])
        assert r["stable"] == (r["per_step"][-1] < r["persistence_per_step"][-1]
                               or r["growth"] <= r["persistence_growth"])
    assert heat["one"]["windows"] == heat["three"]["windows"] > 0
    assert rows["euler_2d-open-r32"]["one"] is None and rows["euler_2d-open-r32"]["three"] is not None
    printed = capsys.readouterr().out
    assert "| euler_2d-open-r32 |" in printed and " - | - | - |" in printed
    assert "Over the 1 stores every model takes" in printed and "stable on" in printed
    assert json.loads(out.read_text())["rows"] == json.loads(json.dumps(rows))


def test_longer_trajectories_for_longer_rollouts(tmp_path):
    model = tmp_path / "m"
    tiny_model(seed=0, max_fields=1).save_pretrained(model)
    starter_eval = _load()
    result = starter_eval.main(["--model", f"m={model}", "--scale", "tiny", "--only", "heat_1d", "--n-traj", "1",
                                "--history", "2", "--horizon", "25", "--steps", "27"])
    (row,) = result["rows"].values()
    assert len(row["m"]["per_step"]) == 25  # the corpus's 20-step trajectories could not hold 25 steps
    with pytest.raises(SystemExit):
        starter_eval.main(["--model", f"m={model}", "--history", "2", "--horizon", "25", "--steps", "26"])
