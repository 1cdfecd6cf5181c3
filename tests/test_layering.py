"""The structure of DESIGN.md, checked on every import statement (at module level or inside a function):
pde_data <- morph <- adapters, rollouts; the CLI package (morph/cli/) is the only place that wires them
all; rollouts reaches the model through morph.predict, never through morph.train; and no module
imports itself back through others (no import circle anywhere)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pde_data", "morph", "adapters", "rollouts")
#: What each package may import of the others.
ALLOWED = {"pde_data": set(), "morph": {"pde_data"}, "adapters": {"morph", "pde_data"},
           "rollouts": {"morph", "pde_data"}}
#: The command line wires every package together: DESIGN.md's one place for it.
CLI = "morph.cli"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """Our modules that `path` imports, by any import statement: `from a.b import c` counts as
    a.b.c when that is a module, else as a.b."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module
                     for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] in PACKAGES)
    return found


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_the_ones_below_it(package):
    wrong = {}
    for module, imported in GRAPH.items():
        if not in_package(module, package) or in_package(module, CLI):
            continue
        allowed = ALLOWED[package] | {package}
        extra = sorted({name.split(".")[0] for name in imported} - allowed)
        if extra:
            wrong[module] = extra
    assert not wrong, f"imports against the package picture of DESIGN.md: {wrong}"


def test_rollouts_never_import_the_trainer():
    wrong = {module: sorted(n for n in imported if in_package(n, "morph.train"))
             for module, imported in GRAPH.items() if in_package(module, "rollouts")}
    assert not {m: n for m, n in wrong.items() if n}, wrong


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of `graph` as [a, b, ..., a], or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def test_no_module_imports_itself_back_through_others():
    assert find_cycle(GRAPH) == []


def test_the_circle_finder_finds_a_lazy_import_circle():
    # The shape the checkpoint code had before: a.checkpoint imports the model, whose method imports it back.
    assert find_cycle({"a.model": {"a.checkpoint"}, "a.checkpoint": {"a.model"}, "b": set()}) in (
        ["a.checkpoint", "a.model", "a.checkpoint"], ["a.model", "a.checkpoint", "a.model"])
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []
