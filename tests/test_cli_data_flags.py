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
from morph.cli.options import BOUNDARY_HELP, FORMAT_HELP, OPTION_HELP
from pde_data.errors import FORMATS_PAGE
from tests.pde_data import fixtures as fx
from tests.rollouts.helpers import tiny_model

runner = CliRunner()

#: Every command that reads a dataset from a file.
DATA_COMMANDS = (["data", "inspect"], ["data", "convert"], ["pretrain"], ["finetune"], ["evaluate"], ["rollout"],
                 ["compare"])


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
    record = RunRecord(history=2, split_seed=0, data_specs=[{"boundary_conditions": ["periodic"]}])
    model.metadata = record.to_metadata()
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
          "--option", 'fields=["c"]', "--steps", "1", "--warmup", "1", "--horizon", "2", "--out", str(out), "--quiet"])
    assert json.loads((out / "train_config.json").read_text())["warmup_steps"] == 1
    record = json.loads((out / "finetune.json").read_text())["config"]
    assert record["options"] == {"fields": ["c"], "boundary_conditions": "wall"}
    (spec,) = json.loads((out / "data_specs.json").read_text())
    assert spec["boundary_conditions"] == ["wall"] and spec["assumed_boundaries"] == []
    assert spec["fields"] == [{"name": "c", "components": 1}]


def _command(path):
    import typer

    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def _flags(command):
    return {opt: param for param in command.params for opt in param.opts if opt.startswith("--")}


@pytest.mark.parametrize("command", DATA_COMMANDS, ids=" ".join)
def test_every_command_that_reads_data_has_the_same_data_flags_with_help(command):
    flags = _flags(_command(command))
    for flag, text in (("--format", FORMAT_HELP), ("--option", OPTION_HELP), ("--boundary", BOUNDARY_HELP)):
        assert flag in flags, f"morph {' '.join(command)} has no {flag}"
        assert flags[flag].help.startswith(text), f"morph {' '.join(command)} {flag}: {flags[flag].help!r}"
        assert flags[flag].multiple == (flag != "--format")


def test_epochs_batch_size_and_seed_have_help_wherever_they_are():
    def walk(command, path):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield path, command

    seen = 0
    for path, command in walk(_command([]), []):
        for flag, param in _flags(command).items():
            if flag in ("--epochs", "--batch-size", "--seed"):
                seen += 1
                assert param.help, f"morph {' '.join(path)} {flag} has no help"
    assert seen >= 6
    assert "--warmup" in _flags(_command(["finetune"]))


@pytest.fixture
def generic_nc(tmp_path):
    """A netCDF file whose time dim has a name the reader does not guess: `u (traj, step, x)`."""
    import numpy as np
    import xarray as xr

    values = np.random.default_rng(0).standard_normal((6, 8, 12)).astype(np.float32)
    path = tmp_path / "generic.nc"
    xr.Dataset({"u": (("traj", "step", "x"), values)}).to_netcdf(path, engine="h5netcdf")
    return path


def test_errors_of_the_data_layer_name_the_flags_the_user_typed(generic_nc, tmp_path, capsys):
    for args, said, unsaid in ((["data", "inspect", str(generic_nc)], "pass --option time_dim=...", "pass time_dim="),
                               (["data", "inspect", str(tmp_path)], "name one with --format ...", "format=")):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and said in err and unsaid not in err, err


def test_evaluate_and_rollout_take_the_reader_options_a_model_was_fine_tuned_with(generic_nc, periodic_checkpoint,
                                                                                   tmp_path, capsys):
    read = ["--option", "time_dim=step", "--boundary", "periodic"]
    main(["evaluate", "--checkpoint", periodic_checkpoint, "--data", str(generic_nc), *read, "--horizon", "2",
          "--quiet"])
    assert "| u | nRMSE |" in capsys.readouterr().out
    main(["rollout", "--checkpoint", periodic_checkpoint, "--data", str(generic_nc), *read, "--steps", "2",
          "--out", str(tmp_path / "r.nc")])
    assert "nRMSE step 1" in capsys.readouterr().out


def test_pretrain_reads_every_dataset_file_with_the_data_flags_and_writes_its_splits(single, tmp_path):
    out = tmp_path / "run"
    main(["pretrain", "--dataset", str(single), "--boundary", "wall", "--option", 'fields=["c"]',
          "--model", "dim=32", "--model", "depth=1", "--model", "heads=2", "--model", "mlp_dim=32",
          "--model", "heads_xa=2", "--steps", "1", "--batch-size", "2", "--warmup", "1", "--out", str(out), "--quiet"])
    (source,) = json.loads((out / "train_config.json").read_text())["datasets"]
    assert source["options"] == {"fields": ["c"], "boundary_conditions": "wall"}
    (spec,) = json.loads((out / "data_specs.json").read_text())
    assert spec["boundary_conditions"] == ["wall"] and spec["fields"] == [{"name": "c", "components": 1}]
    splits = json.loads((out / "splits.json").read_text())  # as a fine-tune writes it, per dataset
    parts = pde_data.split_trajectories(6, seed=0)
    assert splits["seed"] == 0 and len(splits["datasets"]) == 1
    written = splits["datasets"][0]
    assert (written["name"], written["source"], written["n_trajectories"]) == (spec["name"], str(single), 6)
    assert [written[k] for k in ("train", "val", "test")] == [parts[k].tolist() for k in ("train", "val", "test")]


def test_pretrain_data_flags_without_a_dataset_file_say_so(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--dataset", "burgers_1d", "--boundary", "wall", "--steps", "1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "say how to read the --dataset files, and none is given" in err


@pytest.mark.parametrize("library, cli", [
    ("pass time_dim=... (dims named time/t are found)", "pass --option time_dim=... (dims named time/t are found)"),
    ("name one with format=... (one of: store)", "name one with --format ... (one of: store)"),
    ('state them: boundary_conditions="x=wall" (one axis)', 'state them: --boundary "x=wall" (one axis)'),
    ("fields={'velocity': 2} cover 3 channels", "--option fields={'velocity': 2} cover 3 channels"),
    ("expected KEY=VALUE, e.g. --option 'fields={\"v\": 2}'", "expected KEY=VALUE, e.g. --option 'fields={\"v\": 2}'"),
    ("FieldSpec.name=3 and n_steps=4", "FieldSpec.name=3 and n_steps=4"),
])
def test_the_cli_says_the_data_layers_argument_names_as_its_flags(library, cli):
    from morph.cli.options import cli_words

    assert cli_words(library) == cli
