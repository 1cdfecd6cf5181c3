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


def _module_level(tree: ast.Module) -> list[ast.AST]:
    """The statements that run on import: all but the bodies of functions (lazy imports)."""
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        found.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return found


def imports_of(path: Path, on_import_only: bool = False) -> set[str]:
    """Our modules that `path` imports: `from a.b import c` counts as a.b.c when that is a module,
    else as a.b. Every import statement, lazy ones inside functions included, unless
    `on_import_only` (those that run when the module is imported)."""
    found = set()
    tree = ast.parse(path.read_text(), str(path))
    for node in (_module_level(tree) if on_import_only else ast.walk(tree)):
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
ON_IMPORT = {name: imports_of(path, on_import_only=True) - {name} for name, path in MODULES.items()}


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


def loaded_with(module: str) -> set[str]:
    """Every module of ours that importing `module` runs: its imports, theirs, and the `__init__`
    of every package on the way (Python runs `a/__init__.py` before `a.b`)."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for found in [*(".".join(parts[:i]) for i in range(1, len(parts))), name]:
            if found in MODULES and found not in seen:
                seen.add(found)
                todo.extend(ON_IMPORT[found])
    return seen


def test_rollouts_never_load_the_trainer():
    wrong = {module: sorted(n for n in loaded_with(module) if in_package(n, "morph.train"))
             for module in GRAPH if in_package(module, "rollouts")}
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
