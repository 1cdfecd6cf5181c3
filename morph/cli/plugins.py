"""Commands and steps that the packages above `morph` add to the CLI, found through entry points.

`adapters` and `rollouts` import `morph`, never the reverse; so the `morph` app cannot import
their commands. Each package names its own in pyproject.toml instead,

    [project.entry-points."morph.commands"]
    finetune = "adapters.cli:finetune_command"

and the app reads the group from the installed package metadata. An editable install reads
pyproject.toml when it is installed: a group added later appears after `pip install -e .` again.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

__all__ = ["COMMANDS_GROUP", "PROVIDED_BY", "MissingPlugin", "load_group", "reinstall_hint"]

#: The entry-point group of the commands that packages above `morph` add to the `morph` app.
COMMANDS_GROUP = "morph.commands"
#: The commands of that group and the package of each, named here only for the message an
#: install without them gives (tests check it against the installed group).
PROVIDED_BY: dict[str, str] = {"finetune": "adapters", "rollout": "rollouts", "evaluate": "rollouts",
                                 "compare": "rollouts"}


class MissingPlugin(RuntimeError):
    """A command or step whose package registers it through an entry point the install lacks."""


def reinstall_hint(group: str) -> str:
    return (f"the entry-point group {group!r} of this install lacks it (an editable install made before "
            "the group was added); reinstall morph-pde: pip install -e .")


def load_group(group: str) -> dict[str, Any]:
    """Every entry point of `group`, loaded, by name (in the order the metadata lists them); {} when
    the install has none."""
    return {point.name: point.load() for point in entry_points(group=group)}
