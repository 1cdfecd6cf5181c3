"""`morph compare`: a MORPH run and a U-Net run scored on the same test windows of one file, beside persistence."""

import csv
import io
import json

import pytest

import pde_data
import rollouts
from morph.checkpoint import load_pretrained
from morph.cli import main
from tests.pde_data import fixtures as fx

TINY_MORPH = ["--model", "dim=32", "--model", "depth=1", "--model", "heads=2", "--model", "mlp_dim=32",
              "--model", "heads_xa=2", "--model", "max_ar=2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A PDEBench single-array file of 10 trajectories of 8 frames, a MORPH trained on it with history 2 (split
    seed 1) and a U-Net with history 1 (split seed 0), each in its run directory."""
    pytest.importorskip("monai")
    tmp = tmp_path_factory.mktemp("compare")
    path = tmp / "1D_diffusion_Sols.hdf5"
    fx.write_pdebench_single(str(path), n=10, t=8)
    common = ["--dataset", str(path), "--boundary", "wall", "--steps", "2", "--batch-size", "4", "--warmup", "1",
              "--quiet"]
    (tmp / "seed1.yaml").write_text("split_seed: 1\n")
    main(["pretrain", "--config", str(tmp / "seed1.yaml"), *common, *TINY_MORPH, "--history", "2",
          "--out", str(tmp / "morph")])
    main(["pretrain", *common, "--arch", "unet", "--model", "features=4", "--history", "1", "--out", str(tmp / "unet")])
    return path, tmp / "morph", tmp / "unet"


def test_compare_scores_a_morph_run_and_a_unet_on_the_runs_test_windows_beside_persistence(runs, tmp_path, capsys):
    path, morph_run, unet_run = runs
    out_json, out_csv = tmp_path / "compare.json", tmp_path / "compare.csv"
    main(["compare", "--checkpoint", f"morph={morph_run}", "--checkpoint", f"unet={unet_run}", "--data", str(path),
          "--boundary", "wall", "--horizon", "3", "--json", str(out_json), "--csv", str(out_csv), "--quiet"])
    printed = capsys.readouterr().out
    assert "| model | test nRMSE, 1 step | mean over 3 steps | at step 3 | growth | diverged |" in printed
    assert "| morph |" in printed and "| unet |" in printed and "| persistence |" in printed
    payload = json.loads(out_json.read_text())
    splits = json.loads((morph_run / "splits.json").read_text())["datasets"][0]
    setup = payload["setup"]
    # the windows of the first run's recorded test split, history 1: the U-Net reads 1 frame, and MORPH can
    assert setup["trajectories"] == splits["test"] and setup["split_seed"] == splits["seed"]
    assert setup["history"] == 1 and setup["horizon"] == 3 and setup["splits_file"] == str(morph_run / "splits.json")
    dataset = pde_data.open(str(path), boundary_conditions="wall")
    for label, run in (("morph", morph_run), ("unet", unet_run)):  # the numbers rollouts.evaluate gives
        alone = rollouts.evaluate(load_pretrained(run), dataset, history=1, horizon=3, split="test",
                                  split_seed=splits["seed"], precision="auto")
        curve = alone.summary()["mean"]["nrmse"]
        row = payload["rows"][label]
        assert row["step_1"] == pytest.approx(curve["step_1"], rel=1e-6)
        assert row["horizon"] == pytest.approx(curve["horizon"], rel=1e-6)
        assert row["growth"] == pytest.approx(curve["per_step"][-1] / curve["step_1"], rel=1e-6)
        assert payload["models"][label]["setup"]["trajectories"] == splits["test"]
    persistence = alone.summary("persistence")["mean"]["nrmse"]
    assert payload["rows"]["persistence"]["horizon"] == pytest.approx(persistence["horizon"], rel=1e-6)
    table = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert [r["model"] for r in table] == ["morph", "unet", "persistence"]
    assert float(table[1]["nrmse_mean"]) == pytest.approx(payload["rows"]["unet"]["horizon"], rel=1e-5)
    assert table[0]["diverged"] == "0" and table[0]["windows"] == str(payload["rows"]["morph"]["windows"])


def test_compare_warns_when_a_model_trained_on_the_scored_trajectories(runs, caplog, capsys):
    path, morph_run, unet_run = runs
    main(["compare", "--checkpoint", str(unet_run), "--data", str(path), "--boundary", "wall", "--split", "train",
          "--horizon", "2", "--quiet"])
    assert f"{unet_run} trained on 8 of the 8 trajectories scored (train split: 0, 1, 2, 3, 5, ...)" in caplog.text
    assert f"| {unet_run} |" in capsys.readouterr().out  # the row is the checkpoint as typed
    caplog.clear()  # the U-Net's test split (seed 0): MORPH (split seed 1) trained on some of it, or not
    main(["compare", "--checkpoint", str(unet_run), "--checkpoint", str(morph_run), "--data", str(path),
          "--boundary", "wall", "--horizon", "2", "--quiet"])
    test = pde_data.split_trajectories(10, seed=0)["test"].tolist()
    seen = sorted(set(test) & set(pde_data.split_trajectories(10, seed=1)["train"].tolist()))
    assert (f"{morph_run} trained on {len(seen)} of the {len(test)}" in caplog.text) == bool(seen)
    assert str(unet_run) + " trained on" not in caplog.text


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "a={morph}", "--checkpoint", "a={unet}"], "the row 'a' is taken"),
    (["--checkpoint", "{morph}", "--history", "2", "--checkpoint", "{unet}"],
     "--checkpoint {unet}: {path}: a unet baseline is built for one data shape"),
    (["--checkpoint", "{morph}", "--splits", "{tmp}"], "--splits {tmp}: no splits.json there"),
])
def test_compare_user_errors_name_the_flag_and_exit_2(runs, tmp_path, capsys, args, message):
    path, morph_run, unet_run = runs
    values = dict(morph=morph_run, unet=unet_run, tmp=tmp_path, path=path)
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", *(a.format(**values) for a in args), "--data", str(path), "--horizon", "2", "--quiet"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message.format(**values) in err and "Traceback" not in err


def test_compare_refuses_the_splits_of_a_run_on_other_data(runs, tmp_path, capsys):
    path, morph_run, _ = runs
    other = tmp_path / "1D_other_Sols.hdf5"
    fx.write_pdebench_single(str(other), n=7, t=8)
    with pytest.raises(SystemExit):
        main(["compare", "--checkpoint", str(morph_run), "--data", str(other), "--splits", str(morph_run),
              "--option", "fields=[\"u\"]", "--quiet"])
    err = capsys.readouterr().err
    assert f"--splits {morph_run}/splits.json: recorded for 10 trajectories and --data {other} has 7" in err
