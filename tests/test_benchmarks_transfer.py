"""benchmarks/transfer.py --quick: the leave-family-out benchmark end to end at smoke size
(a 2-simulator corpus, a few steps, tiny models; ~20 s on 2 CPU cores)."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("neuralop")  # the FNO baseline (morph-pde[baselines])
pytest.importorskip("monai")  # the U-Net baseline

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "transfer.py"


def _load():
    spec = importlib.util.spec_from_file_location("transfer_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_a_record_names_paths_in_the_repository_relative_to_it_and_others_as_given(tmp_path):
    transfer = _load()
    repository = SCRIPT.parent.parent
    assert transfer.recorded_path(repository / "examples" / "configs" / "recipe.yaml") == "examples/configs/recipe.yaml"
    assert transfer.recorded_path([repository / "morph" / "weights" / "starter", tmp_path / "w"]) == [
        "morph/weights/starter", str(tmp_path / "w")]
    assert transfer.recorded_path(3) == 3 and transfer.recorded_path("starter") == "starter"


def _finite_row(row):
    return all(math.isfinite(row[k]) for k in ("step_1", "horizon"))


def test_quick_run_has_every_row_finite_and_resumes(tmp_path, monkeypatch):
    transfer = _load()
    out = tmp_path / "transfer.json"
    argv = ["--quick", "--work-dir", str(tmp_path / "work"), "--json", str(out), "--scratch-shots", "6"]
    record = transfer.main(argv)
    saved = json.loads(out.read_text())
    assert saved["results"].keys() == transfer.FAMILIES.keys()
    for name, family in saved["results"].items():
        assert _finite_row(family["zero_shot"]["zero-shot"]) and _finite_row(family["zero_shot"]["persistence"])
        assert list(family["shots"]) == ["4", "6"]  # --quick: one shot count, one seed; 6 from --scratch-shots
        assert list(family["shots"]["6"]) == transfer.SCRATCH  # only the from-scratch models there
        for label in transfer.MODELS:
            summary = family["shots"]["4"][label]
            for key in ("step_1", "horizon"):
                assert {"mean", "std", "min", "max", "values"} <= summary[key].keys()
                assert math.isfinite(summary[key]["mean"]) and len(summary[key]["values"]) == 1
            run = family["runs"]["4"][label][0]
            assert run["steps"] == 3 and run["trainable_parameters"] > 0
            curve = run["test"]["per_step"]  # the error growth: last step over step 1, per seed
            assert summary["growth"]["values"] == [pytest.approx(curve[-1] / curve[0])]
        # LoRA trains fewer parameters than full fine-tuning of the same model
        runs = family["runs"]["4"]
        assert runs["LoRA (L1)"][0]["trainable_parameters"] < runs["full (L4)"][0]["trainable_parameters"]
        assert saved["table"].count(f"| {name} |") == 2 + len(transfer.MODELS) + len(transfer.SCRATCH)
        efficiency = saved["data_efficiency"][name]
        assert efficiency["shots"] == 4 and {efficiency[k]["reached_at"] for k in transfer.SCRATCH} <= {4, 6, None}
        for label in transfer.SCRATCH:  # "at the most measured" is the 6-trajectory run
            assert efficiency[label]["at_most_shots"] == family["shots"]["6"][label]["horizon"]["mean"]
    assert [t["of"] for t in saved["targets"]] == [4, 4, 4]
    assert all(isinstance(t["met"], bool) and t["needed"] == 3 for t in saved["targets"])
    assert saved["args"]["recipe"] == "examples/configs/recipe.yaml"  # in the repository: relative to it
    # held-out families are left out of the pretraining; their data seeds are not the corpus's
    pretrain = json.loads((tmp_path / "work" / "pretrain" / "train_config.json").read_text())
    assert all(Path(d["source"]).name.split("-")[0] in transfer.QUICK_CORPUS for d in pretrain["datasets"])
    corpus = json.loads((tmp_path / "work" / "corpus" / "corpus.json").read_text())
    assert max(s["seed"] for s in corpus["stores"].values()) < transfer.DATA_SEED
    # a second run, given the pretraining as --pretrained, reads every result back: the same figures
    again = transfer.main([*argv, "--pretrained", str(tmp_path / "work" / "pretrain")])
    assert again["results"] == record["results"] and again["pretrained"] == record["pretrained"]
    # another work directory given the first run's --json trains nothing, and reports the same figures
    other = tmp_path / "other"

    def not_again(*args, **kwargs):
        raise AssertionError("--reuse evaluated a model again")

    monkeypatch.setattr(transfer, "_scores", not_again)
    reused = transfer.main(["--quick", "--work-dir", str(other), "--scratch-shots", "6", "--pretrained",
                            str(tmp_path / "work" / "pretrain"), "--reuse", str(out)])
    for name, family in record["results"].items():
        assert {k: reused["results"][name][k] for k in ("zero_shot", "shots", "runs")} == \
            {k: family[k] for k in ("zero_shot", "shots", "runs")}
    assert not list((other / "runs").rglob("*.safetensors"))  # nothing trained: every result was taken
    assert len(list((other / "runs").rglob("result.json"))) == 4 * (1 + len(transfer.MODELS) + len(transfer.SCRATCH))


def test_an_interrupted_run_leaves_its_finished_trainings_for_reuse(tmp_path, monkeypatch):
    transfer = _load()
    out, real, calls = tmp_path / "part.json", transfer.train_one, []

    def interrupted_at_the_third(*args, **kwargs):
        calls.append(args[3])
        if len(calls) == 3:
            raise KeyboardInterrupt  # the session ends during the third model
        return real(*args, **kwargs)

    monkeypatch.setattr(transfer, "train_one", interrupted_at_the_third)
    argv = ["--quick", "--families", "kdv_1d", "--work-dir", str(tmp_path / "work")]
    with pytest.raises(KeyboardInterrupt):
        transfer.main([*argv, "--json", str(out)])
    part = json.loads(out.read_text())
    assert part["complete"] is False and list(part["results"]["kdv_1d"]["runs"]["4"]) == calls[:2]
    monkeypatch.setattr(transfer, "train_one", real)
    rest = transfer.main(["--quick", "--families", "kdv_1d", "--work-dir", str(tmp_path / "next"), "--reuse", str(out),
                          "--pretrained", str(tmp_path / "work" / "pretrain")])
    runs = rest["results"]["kdv_1d"]["runs"]["4"]
    assert list(runs) == list(transfer.MODELS) and rest["complete"] is True
    assert all(runs[label] == part["results"]["kdv_1d"]["runs"]["4"][label] for label in calls[:2])
    checkpoints = (tmp_path / "next" / "runs").rglob("config.json")  # runs/STORE/n4/MODEL/s0/...: those trained
    trained = {p.relative_to(tmp_path / "next" / "runs").parts[2] for p in checkpoints}
    assert trained == {label.split(" (")[0].replace(" ", "_") for label in list(transfer.MODELS)[2:]}


def test_too_many_shots_names_the_argument(tmp_path, capsys):
    transfer = _load()
    with pytest.raises(SystemExit):
        transfer.parse_args(["--work-dir", str(tmp_path), "--n-traj", "20", "--shots", "8", "32"])
    assert "--shots [8, 32]: each must be in 1..16" in capsys.readouterr().err


def test_reuse_refuses_a_missing_or_foreign_file(tmp_path, capsys):
    transfer = _load()
    with pytest.raises(SystemExit):
        transfer.parse_args(["--reuse", str(tmp_path / "nope.json")])
    assert "--reuse " + str(tmp_path / "nope.json") + ": no such file" in capsys.readouterr().err
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"steps": 3}')
    with pytest.raises(SystemExit):
        transfer.parse_args(["--reuse", str(foreign)])
    assert "foreign.json: not a record written by transfer.py --json (KeyError" in capsys.readouterr().err


@pytest.mark.parametrize("change, taken", [({}, True), ({"pretrained": "another-base"}, False),
                                           ({"shots": 32}, False), ({"train": {"steps": 100, "seed": 1}}, False),
                                           ({"data": {"name": "kdv_1d.zarr", "stats": {"u": ["0.1", "0.3"]}}}, False)])
def test_reuse_takes_a_result_only_when_every_setting_matches(tmp_path, change, taken):
    transfer = _load()
    settings = {"pretrained": "base-weights", "data": {"name": "kdv_1d.zarr", "stats": {"u": ["0.1", "0.2"]}},
                "how": {"level": 1}, "shots": 8, "train": {"steps": 100, "seed": 0}}
    earlier = {"test": {"horizon": 0.5}, "settings": settings}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "stale.bin").write_text("an interrupted training")
    got = transfer._done(tmp_path / "run", {**settings, **change}, {transfer._key(settings): earlier})
    assert (got == earlier) == taken
    if taken:  # written where a rerun reads it back, in place of what was there
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [transfer.RESULT]
        assert transfer._done(tmp_path / "run", settings) == earlier
    else:
        assert not (tmp_path / "run" / transfer.RESULT).exists()


def test_scratch_shots_must_lie_above_the_fine_tuned_ones(capsys):
    transfer = _load()
    with pytest.raises(SystemExit):
        transfer.parse_args(["--shots", "8", "32", "--scratch-shots", "16"])
    assert "--scratch-shots [16]: each must be above the largest --shots (32)" in capsys.readouterr().err


def test_zero_shot_only_trains_nothing_and_checks_the_first_target(tmp_path):
    transfer = _load()
    record = transfer.main(["--quick", "--work-dir", str(tmp_path / "work"), "--zero-shot-only",
                            "--families", "kdv_1d", "fitzhugh_nagumo_2d"])
    assert list(record["results"]) == ["kdv_1d", "fitzhugh_nagumo_2d"]
    for family in record["results"].values():
        assert family["shots"] == {} and _finite_row(family["zero_shot"]["zero-shot"])
    assert [t["target"] for t in record["targets"]] == ["zero-shot below persistence"]
    assert record["targets"][0]["of"] == 2 and record["data_efficiency"] == {}
    assert not list((tmp_path / "work" / "runs").glob("*/n*"))  # no training ran


def test_the_leave_out_starter_config_excludes_exactly_the_held_out_families():
    import yaml

    transfer = _load()
    config = yaml.safe_load((SCRIPT.parent.parent / "examples" / "configs" / "starter_leave_out.yaml").read_text())
    (source,) = config["datasets"]
    held = transfer.left_out()
    assert source["source"].startswith("corpus:") and sorted(source["exclude"]) == sorted(held)


LEAVE_OUT = SCRIPT.parent.parent / "examples" / "starter_leave_out_training"


def test_the_committed_leave_out_base_never_saw_a_held_out_family():
    """The base of the committed leave-family-out table was trained on every other simulator."""
    import pde_data
    from morph import MORPH
    from morph.checkpoint.record import run_record

    transfer = _load()
    model = MORPH.from_pretrained(LEAVE_OUT / "weights")
    trained_on = {spec["name"] for spec in run_record(model).data_specs}
    assert trained_on == set(pde_data.SIMULATORS) - transfer.left_out()
    assert (LEAVE_OUT / "weights" / "model.safetensors").stat().st_size <= 30 * 2 ** 20


@pytest.mark.parametrize("run_dir", [LEAVE_OUT, LEAVE_OUT.parent / "starter_leave_out_rollout_training"],
                         ids=["base", "rollout-stage"])
def test_the_committed_table_is_of_the_committed_base_and_reusable(run_dir):
    """RUN/transfer.json (the tables in docs/benchmarks/transfer.md) was made with the base committed
    beside it, holds every family, model, shot count and seed, and --reuse reads all of it back;
    its targets follow from its own figures."""
    transfer = _load()
    path = run_dir / "transfer.json"
    record = json.loads(path.read_text())
    assert record["complete"]
    assert record["pretrained"]["weights"] == transfer.base(run_dir / "weights")["weights"]
    seeds, n_trainings = record["args"]["seeds"], 0
    for family in record["results"].values():
        for per_model in family["runs"].values():
            assert per_model.keys() == transfer.MODELS.keys()
            assert all(len(runs) == seeds for runs in per_model.values())
            n_trainings += seeds * len(per_model)
    reused = transfer.load_reused([path])
    assert len(reused) == n_trainings + len(record["results"])  # every training and zero-shot row
    recomputed = transfer.targets(record["results"])
    assert [(t["passed"], t["met"]) for t in recomputed] == [(t["passed"], t["met"]) for t in record["targets"]]


@pytest.mark.parametrize("recorded_lr, taken", [(None, True), (1e-2, False)])
def test_a_fine_tune_is_reused_only_at_the_learning_rate_its_level_has_now(tmp_path, recorded_lr, taken):
    """A fine-tune's rate is a setting: a record from before it was one (the rate beside the
    result only) is taken when that rate is the level's default today."""
    from adapters.finetune import DEFAULT_LR

    transfer = _load()
    settings = {"pretrained": "base-weights", "data": {"name": "kdv_1d.zarr"}, "how": {"level": 4}, "shots": 8,
                "train": {"steps": 100, "seed": 0}}
    record = tmp_path / "old.json"
    run = {"test": {"horizon": 0.5}, "lr": recorded_lr or DEFAULT_LR[4], "settings": settings}
    record.write_text(json.dumps({"results": {"kdv_1d": {"zero_shot": {"settings": {"data": "x"}},
                                                         "runs": {"8": {"full (L4)": [run]}}}}}))
    now = {**settings, "lr": DEFAULT_LR[4]}
    got = transfer._done(tmp_path / "run", now, transfer.load_reused([record]))
    assert (got is not None) == taken
    if taken:  # saved with today's settings: a rerun in this directory reads it back
        assert transfer._done(tmp_path / "run", now)["test"] == {"horizon": 0.5}
