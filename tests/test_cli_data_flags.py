"""The data flags of every command that reads data, and what those commands say about the data they read."""

import json
import logging
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import pde_data
from morph.checkpoint import RunRecord
from morph.cli import app, main
from pde_data.errors import FORMATS_PAGE
from tests.pde_data import fixtures as fx
from tests.rollouts.helpers import tiny_model

runner = CliRunner()

#: Every command that reads a dataset from a file.
DATA_COMMANDS = (["data", "inspect"], ["data", "convert"], ["pretrain"], ["finetune"], ["evaluate"], ["rollout"])


@pytest.mark.parametrize("command", DATA_COMMANDS, ids=" ".join)
def test_the_help_of_every_command_that_reads_data_names_the_formats_page(command):
    shown = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert FORMATS_PAGE in shown.output


def test_an_unknown_reader_option_is_a_one_line_error_listing_the_valid_keys(tmp_path, capsys):
    path = tmp_path / "1D_Advection_Sols_beta0.4.hdf5"
    fx.write_pdebench_single(str(path))
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "inspect", str(path), "--option", "foo=1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "pdebench reader has no option foo" in err and "fields, include_force, check_finite" in err


@pytest.fixture
def single(tmp_path):
    """A PDEBench single-array file (which does not say its boundaries): 6 trajectories of 8 frames."""
    path = tmp_path / "1D_diffusion_Sols.hdf5"
    fx.write_pdebench_single(str(path), n=6, t=8)
    return path


@pytest.fixture
def periodic_checkpoint(tmp_path):
    """A tiny MORPH whose run record says it trained on periodic data only."""
    model = tiny_model(max_ar=2)
    model.metadata = RunRecord(history=2, split_seed=0, data_specs=[{"boundary_conditions": ["periodic"]}]).to_metadata()
    return str(model.save_pretrained(tmp_path / "ckpt"))


def test_inspect_says_which_boundary_was_assumed_and_how_to_state_it_in_flags(single):
    proc = subprocess.run([sys.executable, "-m", "morph", "data", "inspect", str(single)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "x: periodic (assumed)" in proc.stdout
    assert "boundaries x: periodic (assumed: the file does not say)" in proc.stderr
    assert '--boundary "wall"' in proc.stderr and '--boundary "x=wall"' in proc.stderr
    assert "boundary_conditions" not in proc.stderr


def test_boundary_flag_states_the_boundaries_for_inspect_and_convert(single, tmp_path, caplog):
    shown = runner.invoke(app, ["data", "inspect", str(single), "--boundary", "wall"])
    assert shown.exit_code == 0 and "boundaries   x: wall\n" in shown.output, shown.output
    out = tmp_path / "walled.zarr"
    done = runner.invoke(app, ["data", "convert", str(single), "--out", str(out), "--boundary", "x=wall"])
    assert done.exit_code == 0, done.output
    spec = pde_data.open(out).spec
    assert (spec.boundary_conditions, spec.assumed_boundaries) == (("wall",), ())


def test_a_wrong_boundary_flag_is_a_one_line_error_in_flags(single, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "inspect", str(single), "--boundary", "y=wall"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "--boundary 'y=wall' names axes ['y']; the data's axes are x" in err


@pytest.mark.parametrize("command", [["evaluate", "--horizon", "2", "--quiet"],
                                     ["rollout", "--steps", "2", "--out", "{tmp}/r.nc"]], ids=lambda c: c[0])
def test_evaluate_and_rollout_read_the_data_with_the_boundary_flag(single, periodic_checkpoint, tmp_path, caplog,
                                                                   command):
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in command]
    base = [*args[:1], "--checkpoint", periodic_checkpoint, "--data", str(single), *args[1:]]
    with caplog.at_level(logging.WARNING):
        main(base)
    assert "periodic (assumed" in caplog.text and "never trained on" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        main([*base, "--boundary", "wall"])
    assert "assumed" not in caplog.text and "has wall boundaries, which the model never trained on" in caplog.text


def test_finetune_reads_its_data_with_the_boundary_flag_and_records_it(single, periodic_checkpoint, tmp_path):
    out = tmp_path / "ft"
    main(["finetune", "--checkpoint", periodic_checkpoint, "--data", str(single), "--boundary", "wall",
          "--option", 'fields=["c"]', "--steps", "1", "--horizon", "2", "--out", str(out), "--quiet"])
    record = json.loads((out / "finetune.json").read_text())["config"]
    assert record["options"] == {"fields": ["c"], "boundary_conditions": "wall"}
    (spec,) = json.loads((out / "data_specs.json").read_text())
    assert spec["boundary_conditions"] == ["wall"] and spec["assumed_boundaries"] == []
    assert spec["fields"] == [{"name": "c", "components": 1}]
