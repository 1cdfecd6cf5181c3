"""benchmarks/recipe_ablation.py at smoke size: each variant trains with its options on the corpus
stores of the ablation's simulators, the table has a row per variant, a finished variant is read back."""

import importlib.util
import json
import math
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "recipe_ablation.py"


def _load():
    spec = importlib.util.spec_from_file_location("recipe_ablation_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_two_variants_train_with_their_options_and_are_read_back(corpus, tmp_path, capsys):
    ablation = _load()
    argv = ["--corpus", str(corpus), "--work-dir", str(tmp_path / "work"), "--steps", "3", "--batch-size", "2",
            "--horizon", "2", "--variants", "all on", "history 2 only, all off", "--json", str(tmp_path / "ablation.json")]
    results = ablation.main(argv)
    assert list(results) == ["all on", "history 2 only, all off"]
    for name, result in results.items():
        config = json.loads((tmp_path / "work" / name.replace(" ", "_").replace(",", "") / "train_config.json")
                            .read_text())
        assert (config["unroll"], config["noise"], config["history"]) == (
            ablation.VARIANTS[name]["unroll"], ablation.VARIANTS[name]["noise"], ablation.VARIANTS[name]["history"])
        assert config["model"]["dim"] == 128 and config["steps"] == 3
        stores = {p.name for p in corpus.glob("*.zarr")}  # the corpus's stores, each its own row
        assert set(result["ratios"]) == stores and math.isfinite(result["geomean"])
        assert set(result["rollout_ratios"]) == set(result["ratios"]) and math.isfinite(result["rollout_geomean"])
    table = capsys.readouterr().out
    assert table.count("| all on |") == 1 and table.count("| history 2 only, all off |") == 1
    # read back, not trained again: the same figures
    again = ablation.main(argv)
    assert again == json.loads((tmp_path / "ablation.json").read_text())["results"] == results
