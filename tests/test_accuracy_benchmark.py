"""benchmarks/accuracy.py end to end at a tiny budget: the starter fine-tuned, and its zero-shot row."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_accuracy_table_has_the_pretrained_fine_tuned_and_zero_shot_rows_with_finite_scores(tmp_path):
    out = tmp_path / "accuracy"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "accuracy.py"), "--datasets", "burgers_1d",
                    "--archs", "pretrained", "--pretrained", "starter", "--seconds", "0.5", "--seeds", "1",
                    "--probe-steps", "3", "--n-traj", "6", "--frames", "13", "--cache-dir", str(tmp_path / "cache"),
                    "--out", str(out)],
                   check=True, capture_output=True, text=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    runs = {r["arch"]: r for r in json.loads((out / "accuracy.json").read_text())["runs"]}
    assert set(runs) == {"pretrained", "zero_shot"}
    starter_params = 7_066_968
    assert runs["pretrained"]["params"] == runs["zero_shot"]["params"] == starter_params
    assert runs["pretrained"]["steps"] >= 1 and runs["zero_shot"]["steps"] == 0
    for row in runs.values():
        assert row["windows"] >= 1
        for key in ("nrmse_1", "nrmse_h", "vrmse_1", "vrmse_h", "persistence_nrmse_1"):
            assert math.isfinite(row[key]), (row["arch"], key, row[key])
    table = (out / "accuracy.md").read_text()
    assert f"| burgers_1d | MORPH (pretrained + fine-tuned) | {starter_params:,} | 1 |" in table
    assert f"| burgers_1d | MORPH (pretrained, zero-shot) | {starter_params:,} | - | 0 |" in table
