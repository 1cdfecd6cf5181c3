"""The data flags of every command that reads data, and what those commands say about the data they read."""

import pytest
from typer.testing import CliRunner

from morph.cli import app
from pde_data.errors import FORMATS_PAGE

runner = CliRunner()

#: Every command that reads a dataset from a file.
DATA_COMMANDS = (["data", "inspect"], ["data", "convert"], ["pretrain"], ["finetune"], ["evaluate"], ["rollout"])


@pytest.mark.parametrize("command", DATA_COMMANDS, ids=" ".join)
def test_the_help_of_every_command_that_reads_data_names_the_formats_page(command):
    shown = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert FORMATS_PAGE in shown.output
