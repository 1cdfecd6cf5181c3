"""The package picture of DESIGN.md: pde_data <- morph <- adapters, rollouts; only the CLI wires them all."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pde_data", "morph", "adapters", "rollouts")
#: What each package may import of the others.
ALLOWED = {"pde_data": set(), "morph": {"pde_data"}, "adapters": {"morph", "pde_data"},
           "rollouts": {"morph", "pde_data"}}
#: Modules that wire packages together, with what they may import beyond their package's allowance.
EXCEPTIONS = {
    "morph/cli.py": {"adapters", "rollouts"},  # the CLI registers every command
    "adapters/finetune.py": {"rollouts"},      # the closing table of a fine-tune is a rollouts.evaluate
}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages of ours that `path` imports, lazily or not."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_the_ones_below_it(package):
    wrong = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        allowed = ALLOWED[package] | {package} | EXCEPTIONS.get(relative, set())
        extra = imported_packages(path) - allowed
        if extra:
            wrong[relative] = sorted(extra)
    assert not wrong, f"imports against the package picture of DESIGN.md: {wrong}"
