"""The `morph` app: every command registered in one place, and the entry point.

Each command module parses its options and calls one library function; the
libraries (torch, peft, xarray, ...) are imported when a command runs, so
`morph --help` stays fast. The commands of the packages above `morph`
(`morph finetune` of `adapters`, `morph rollout` and `morph evaluate` of
`rollouts`) come through the entry-point group of `morph.cli.plugins`: no
module of `morph` imports those packages.
"""

from __future__ import annotations

import logging
import platform
import sys
from typing import Callable, List, Optional

import typer

from morph.cli.data import data_app
from morph.cli.official import import_official_command
from morph.cli.plugins import COMMANDS_GROUP, PROVIDED_BY, MissingPlugin, load_group, reinstall_hint
from morph.cli.pretrain import pretrain_command
from morph.cli.push import push_command

__all__ = ["add_commands", "app", "main"]


def add_commands(app: typer.Typer, group: str = COMMANDS_GROUP) -> None:
    """The commands of the entry-point `group` added to `app`; one of `PROVIDED_BY` that the install
    lacks becomes a command that says how to get it back, instead of click's "No such command"."""
    found = load_group(group)
    for name in [*PROVIDED_BY, *(name for name in found if name not in PROVIDED_BY)]:
        if name in found:
            app.command(name)(found[name])
        else:
            app.command(name, help="(not installed: reinstall morph-pde, pip install -e .)",
                        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                        )(_missing_command(name, group))


def _missing_command(name: str, group: str) -> Callable[..., None]:
    def missing(args: Optional[List[str]] = typer.Argument(None, hidden=True)) -> None:
        raise MissingPlugin(f"morph {name} is provided by the {PROVIDED_BY[name]} package; " + reinstall_hint(group))

    return missing


app = typer.Typer(help="morph-pde: MORPH-style PDE foundation models.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
app.add_typer(data_app, name="data")
app.command("pretrain")(pretrain_command)
add_commands(app)
app.command("import-official")(import_official_command)
app.command("push")(push_command)


@app.command("env")
def env() -> None:
    """Versions of Python and the libraries, for bug reports."""
    from importlib import metadata

    typer.echo(f"python      {platform.python_version()} ({platform.platform()})")
    for dist in ("morph-pde", "torch", "numpy", "einops", "h5py", "xarray", "h5netcdf", "zarr",
                 "safetensors", "accelerate", "peft", "huggingface_hub", "the-well"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "not installed"
        typer.echo(f"{dist:<11} {version}")
    import torch

    typer.echo(f"devices     cpu ({torch.get_num_threads()} threads)"
               + (f", cuda x{torch.cuda.device_count()} ({torch.cuda.get_device_name(0)})"
                  if torch.cuda.is_available() else ""))


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the `morph` console script: clear messages for user errors."""
    from pde_data import DataError

    from morph.checkpoint import CheckpointError
    from morph.cli.options import CliFormatter, cli_words
    from morph.config import ConfigError

    handler = logging.StreamHandler()  # library log lines in the command line's words (cli_words)
    handler.setFormatter(CliFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    for noisy in ("accelerate", "torch.distributed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        app(args=argv, standalone_mode=False)
    except DataError as err:  # the data layer names its arguments: said as the flags that set them
        typer.echo(f"error: {cli_words(str(err))}", err=True)
        sys.exit(2)
    except (ConfigError, CheckpointError, MissingPlugin) as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except RuntimeError as err:  # a training run stopped by a NaN loss: the message says why and what to do
        from morph.train.guard import NonFiniteLossError

        if not isinstance(err, NonFiniteLossError):
            raise
        typer.echo(f"error: {err}", err=True)
        sys.exit(1)
    except (typer.Exit, SystemExit) as ex:
        raise ex
    except Exception as err:  # click usage errors carry their own exit code
        import click

        # recent typer (0.29 here) raises its own vendored click's exceptions (subclasses of TyperException)
        if isinstance(err, (click.ClickException, typer.TyperException)) and hasattr(err, "exit_code"):
            err.show()
            sys.exit(err.exit_code)
        raise
