"""rollouts.stress: the out-of-corpus stress set, its verdict, its report, and the benchmark's smoke run."""

import json
import math

import numpy as np
import pytest
import torch

from pde_data import DataError
from pde_data.simulators import SIMULATORS, check_parameters
from pde_data.simulators._parameters import resolve_boundaries
from pde_data.simulators.corpus import SCALES, plan_corpus
from rollouts import STRESS_CASES, StressReport, is_stable, score_stress_set, stress_cases
from rollouts.stress import STRESS_SEED, CaseScore
from tests.rollouts.helpers import persistence_model, tiny_model

PATCHES = 4  # the starter's patch size; MORPH's default is 8, a multiple of it


# --- the cases --------------------------------------------------------------------------------


def _settings(simulator, boundary, resolution, parameters):
    """(boundary per axis, resolution, {parameter: (low, high)}) of a run of `simulator`."""
    sim = SIMULATORS[simulator]
    kinds = resolve_boundaries(simulator, sim.boundaries, boundary, sim.n_spatial_dims)
    ranges = {}
    for p in sim.physics:
        value = parameters.get(p.name, p.default)
        ranges[p.name] = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    return kinds, resolution or sim.default_resolution, ranges


def pretraining_settings(simulator):
    """Every setting pretraining data of `simulator` was made at: each store the corpus plans at
    every scale, and `generate`'s defaults (the data of the first starter)."""
    plans = [p for scale in SCALES for p in plan_corpus(scale, only=[simulator])]
    found = [_settings(simulator, p.boundary, p.resolution, p.parameters) for p in plans]
    return found + [_settings(simulator, None, None, {})]


def _inside(case_range, corpus_range):
    return corpus_range[0] <= case_range[0] and case_range[1] <= corpus_range[1]


@pytest.mark.parametrize("case", STRESS_CASES, ids=lambda c: c.name)
def test_no_case_is_at_a_setting_any_pretraining_data_was_made_at(case):
    options = dict(case.options)
    kinds, resolution, ranges = _settings(case.simulator, options.pop("boundary", None),
                                          options.pop("resolution", None), options)
    for corpus_kinds, corpus_resolution, corpus_ranges in pretraining_settings(case.simulator):
        same = (kinds == corpus_kinds and resolution == corpus_resolution
                and all(_inside(ranges[name], corpus_ranges[name]) for name in ranges))
        assert not same, f"{case.name} is at a corpus setting: {kinds}, {resolution}, {corpus_ranges}"


@pytest.mark.parametrize("case", STRESS_CASES, ids=lambda c: c.name)
def test_every_case_is_within_the_range_its_solver_keeps_stable(case):
    check_parameters(case.simulator, {k: v for k, v in case.options.items() if k != "resolution"})


def test_the_set_covers_every_dimension_periodic_walls_per_axis_grids_off_the_patch_and_other_dt():
    assert 10 <= len(STRESS_CASES) <= 16
    assert len({c.name for c in STRESS_CASES}) == len(STRESS_CASES)
    assert {c.dims for c in STRESS_CASES} == {1, 2, 3}
    kinds = [resolve_boundaries(c.simulator, SIMULATORS[c.simulator].boundaries, c.options.get("boundary"),
                                c.dims) for c in STRESS_CASES]
    assert any(set(k) == {"periodic"} for k in kinds)
    assert any("periodic" not in k for k in kinds)  # walled on every axis
    assert sum(len(set(k)) > 1 for k in kinds) >= 3  # a different kind per axis
    assert sum(c.options.get("resolution", PATCHES) % PATCHES != 0 for c in STRESS_CASES) >= 4
    defaults = {c.name: next(p.default for p in SIMULATORS[c.simulator].physics if p.name == "frame_dt")
                for c in STRESS_CASES}
    assert sum("frame_dt" in c.options and c.options["frame_dt"] != defaults[c.name] for c in STRESS_CASES) >= 2


def test_the_held_out_cases_are_every_simulator_the_leave_family_out_base_never_saw():
    from benchmarks.transfer import FAMILIES, left_out

    held = {c.simulator for c in STRESS_CASES if c.held_out}
    assert set(FAMILIES) <= held == left_out()  # the tested families, and the relatives left out with them
    assert not any(c.simulator in held for c in STRESS_CASES if not c.held_out)


def test_cases_are_picked_by_name_or_simulator_and_an_unknown_name_is_refused():
    picked = stress_cases(["kdv_1d", "heat_1d neumann 90"])
    assert [c.name for c in picked] == ["heat_1d neumann 90", "kdv_1d 90"]  # in the set's order
    with pytest.raises(DataError, match=r"unknown \['heat_2d'\].*kdv_1d 90"):
        stress_cases(["heat_1d", "heat_2d"])


# --- the verdict ------------------------------------------------------------------------------


def test_a_model_below_persistence_at_the_last_step_is_stable_even_when_its_error_grows_faster():
    assert is_stable([0.1, 0.5, 1.0], [0.5, 1.0, 1.5])  # growth 10 against 3


def test_a_model_above_persistence_is_stable_when_its_error_grows_no_faster():
    assert is_stable([0.4, 0.6, 0.8], [0.1, 0.3, 0.5])  # growth 2 against 5
    assert is_stable([0.4, 0.8, 1.2], [0.1, 0.2, 0.3])  # growth 3 against 3: no faster


def test_a_model_above_persistence_whose_error_grows_faster_is_unstable():
    assert not is_stable([0.1, 0.5, 0.9], [0.2, 0.4, 0.6])  # 0.9 > 0.6, growth 9 against 3


def test_a_non_finite_rollout_makes_any_case_unstable():
    assert not is_stable([0.1, 0.2, 0.3], [0.5, 1.0, 1.5], non_finite=1)
    assert not is_stable([0.1, math.inf, math.inf], [0.5, 1.0, 1.5])
    assert not is_stable([0.1, math.nan, 0.2], [0.5, 1.0, 1.5])


def test_curves_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match=r"same length.*\(3,\) and \(2,\)"):
        is_stable([0.1, 0.2, 0.3], [0.1, 0.2])


def test_the_report_counts_stable_cases_and_its_json_holds_no_nan_or_inf():
    a, b, c = STRESS_CASES[:3]
    report = StressReport([CaseScore(a, [0.1, 0.2, 0.4], [0.2, 0.3, 0.5], windows=2),
                           CaseScore(b, [0.1, math.inf, math.inf], [0.2, 0.3, 0.5], windows=2, non_finite=1),
                           CaseScore(c, skipped="too many patches")], {"horizon": 3})
    assert report.n_stable == 1 and report.n_scored == 2
    assert report.headline() == "stable on 1 of 2 cases (1 the model cannot take)"
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    first, second, third = payload["scores"]
    assert first["stable"] is True and first["model"]["at_step"] == {"1": 0.1, "3": 0.4}
    assert first["model"]["growth"] == pytest.approx([1.0, 2.0, 4.0])
    assert first["persistence"]["growth"] == pytest.approx([1.0, 1.5, 2.5])
    assert second["stable"] is False and second["model"]["per_step"] == [0.1, None, None]
    assert second["model"]["mean"] is None and second["non_finite"] == 1
    assert third["stable"] is None and third["skipped"] == "too many patches" and "model" not in third
    table = report.table()
    assert f"| {a.name} | 1D |" in table and "| 0.1 / 0.2 | 0.4 / 0.5 | 4 / 2.5 | 0/2 | yes |" in table
    assert "| 1/2 | **no** |" in table and "skipped: too many patches" in table


# --- scoring a model --------------------------------------------------------------------------


def _persistence_nrmse(case, n_traj, history, horizon, index):
    """nRMSE per step of "the last history frame held", from the case's data, fields averaged."""
    data = case.generate(n_traj, history + horizon, STRESS_SEED + index)
    curves = []
    for name in data.spec.field_names:
        u = np.asarray(data.fields[name], dtype=np.float64)  # (N, T, C, *space)
        last, future = u[:, history - 1:history], u[:, history:]
        axes = tuple(range(2, u.ndim))
        ratio = np.sqrt(((future - last) ** 2).sum(axes) / (future ** 2).sum(axes))  # (N, K)
        curves.append(ratio.mean(0))
    return np.mean(curves, axis=0)


def test_persistence_is_scored_on_fresh_seeded_data_and_a_no_change_model_matches_it():
    cases = stress_cases(["heat_1d", "kdv_1d"])
    report = score_stress_set(persistence_model(), cases, horizon=3, n_traj=2)
    assert report.setup["history"] == 3 and report.setup["horizon"] == 3  # the tiny model's max_ar
    for score in report.scores:
        index = STRESS_CASES.index(score.case)
        expected = _persistence_nrmse(score.case, 2, 3, 3, index)
        np.testing.assert_allclose(score.persistence, expected, rtol=1e-5)
        np.testing.assert_allclose(score.model, score.persistence, rtol=1e-4)
        assert score.windows == 2 and score.non_finite == 0 and score.stable  # no faster than itself
    other = score_stress_set(tiny_model(seed=3), cases, horizon=3, n_traj=2)
    assert [s.persistence for s in other.scores] == [s.persistence for s in report.scores]  # the same data
    assert other.scores[0].model != report.scores[0].model


def test_an_exploding_model_is_flagged_non_finite_and_unstable():
    model = persistence_model()
    with torch.no_grad():
        model.decoder.linear.bias.fill_(1e6)  # an increment a million times the field's scale
    score = score_stress_set(model, stress_cases(["heat_1d"]), horizon=2, n_traj=2).scores[0]
    assert score.non_finite == 2 and score.stable is False
    assert math.isfinite(score.persistence[-1]) and score.model == [math.inf, math.inf]


def test_a_case_the_model_cannot_take_is_skipped_with_the_reason():
    report = score_stress_set(tiny_model(), stress_cases(["heat_3d"]), horizon=2, n_traj=1)
    (score,) = report.scores
    assert score.stable is None and "patches" in score.skipped and report.n_scored == 0


def test_horizon_and_trajectories_are_checked_by_name():
    with pytest.raises(DataError, match="horizon must be an int >= 1, got 0"):
        score_stress_set(tiny_model(), stress_cases(["heat_1d"]), horizon=0)
    with pytest.raises(DataError, match="n_traj must be an int >= 1, got 1.5"):
        score_stress_set(tiny_model(), stress_cases(["heat_1d"]), n_traj=1.5)


def test_the_benchmark_smoke_run_writes_the_table_and_strict_json(tmp_path, capsys):
    from benchmarks.stress_set import main

    tiny_model(seed=1).save_pretrained(tmp_path / "tiny")
    out, md = tmp_path / "stress.json", tmp_path / "stress.md"
    record = main(["--quick", "--checkpoint", str(tmp_path / "tiny"), "--cases", "heat_1d", "heat_3d",
                   "--json", str(out), "--markdown", str(md)])

    def refuse(constant):
        raise AssertionError(f"{constant} in the JSON")

    saved = json.loads(out.read_text(), parse_constant=refuse)
    report = saved["reports"][str(tmp_path / "tiny")]
    assert report["setup"]["horizon"] == 5 and report["setup"]["n_traj"] == 1
    assert [s["name"] for s in report["scores"]] == ["heat_1d neumann 90", "heat_3d mixed walls 18"]
    assert report["scored"] == 1 and report["scores"][1]["skipped"]
    assert len(report["scores"][0]["model"]["per_step"]) == 5
    assert saved["command"].startswith("python -m benchmarks.stress_set --quick") and saved["machine"]["cpu"]
    printed = capsys.readouterr().out
    assert "| heat_1d neumann 90 | 1D |" in printed and "stable on" in printed
    assert md.read_text().strip() == record["markdown"].strip()
