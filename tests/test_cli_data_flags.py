"""The data flags of every command that reads data, and what those commands say about the data they read."""

import pytest
from typer.testing import CliRunner

from morph.cli import app, main
from pde_data.errors import FORMATS_PAGE
from tests.pde_data import fixtures as fx

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
