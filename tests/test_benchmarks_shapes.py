"""benchmarks/shapes.py --quick: MORPH shapes and a baseline trained for the same wall-clock budget,
scored on one held-out family, and read back when run again."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("monai")  # the U-Net baseline

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "shapes.py"


def test_quick_run_trains_each_shape_for_the_budget_and_reads_it_back(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("shapes_benchmark", SCRIPT)
    shapes = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = shapes
    spec.loader.exec_module(shapes)
    argv = ["--quick", "--work-dir", str(tmp_path / "work"), "--families", "kdv_1d",
            "--models", "MORPH p4 + refine", "U-Net", "--json", str(tmp_path / "shapes.json")]
    results = shapes.main(argv)
    runs = results["kdv_1d"]
    assert list(runs) == ["MORPH p4 + refine", "U-Net"]
    config = json.loads((tmp_path / "work" / "runs").glob("*/MORPH_p4__refine/s0/train_config.json")
                        .__next__().read_text())
    assert config["max_minutes"] == 0.05 and config["model"]["refine_channels"] == 16
    for label, (run,) in runs.items():
        assert run["steps"] >= 1 and math.isfinite(run["model"]["step_1"]) and math.isfinite(run["model"]["horizon"])
    assert "| kdv_1d | U-Net |" in capsys.readouterr().out
    assert shapes.main(argv) == results  # read back, not trained again
