"""The structure of DESIGN.md, checked on every import statement (at module level or inside a function):
pde_data <- morph <- adapters, rollouts, with no exemption (the commands of adapters and rollouts reach
the `morph` app through entry points, morph/cli/plugins.py); rollouts reaches the model through
morph.predict, never through morph.train; no module imports itself back through others (no import
circle anywhere); and the scripts beside the packages (benchmarks/, examples/) import no test module."""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pde_data", "morph", "adapters", "rollouts")
#: What each package may import of the others.
ALLOWED = {"pde_data": set(), "morph": {"pde_data"}, "adapters": {"morph", "pde_data"},
           "rollouts": {"morph", "pde_data"}}


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
        if not in_package(module, package):
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


#: The names a script can import a test module under: `tests...`, or the file's own name once the script
#: puts its folder on sys.path.
TEST_STEMS = {p.stem for p in (ROOT / "tests").rglob("*.py")} - {"__init__"}
SCRIPTS = sorted(p for folder in ("benchmarks", "examples") for pattern in ("*.py", "*.ipynb")
                 for p in (ROOT / folder).rglob(pattern) if ".ipynb_checkpoints" not in p.parts)
#: (script, function) where a benchmark may edit sys.path: the peer comparison imports the published
#: model from a lanl/MORPH checkout the user names, whose modules import each other as `src.utils...`.
SYS_PATH_EDITS_ALLOWED = {("benchmarks/model_throughput.py", "official_model")}


def script_source(path: Path) -> str:
    """A script's Python: a .py file's text, or a notebook's code cells without IPython's %magic and
    !shell lines."""
    if path.suffix != ".ipynb":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    lines = [line for cell in cells if cell["cell_type"] == "code"
             for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def imported_test_modules(path: Path) -> set[str]:
    """The test modules that the script `path` imports (a module beside it of the same name excepted)."""
    beside = {p.stem for p in path.parent.glob("*.py")}
    found = set()
    for node in ast.walk(ast.parse(script_source(path), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] == "tests"
                     or (name.split(".")[0] in TEST_STEMS and name.split(".")[0] not in beside))
    return found




@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_scripts_beside_the_packages_import_no_test_module(script):
    where = script.relative_to(ROOT).as_posix()
    wrong = imported_test_modules(script)
    assert not wrong, f"{where} imports test code {sorted(wrong)}: move what it needs into a package module"


def sys_path_edits(path: Path) -> set[str]:
    """The functions (or "<module>") of the script `path` that change sys.path: a call of one of its
    methods (insert, append, extend) or an assignment to it or a slice of it."""
    tree = ast.parse(script_source(path), str(path))
    found = set()

    def is_sys_path(node: ast.AST) -> bool:
        while isinstance(node, ast.Subscript):
            node = node.value
        return (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
                and node.value.id == "sys")

    def visit(node: ast.AST, where: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            where = node.name
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_sys_path(node.func.value):
            found.add(where)
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(is_sys_path(t) for t in targets):
                found.add(where)
        for child in ast.iter_child_nodes(node):
            visit(child, where)

    visit(tree, "<module>")
    return found


@pytest.mark.parametrize("script", [p for p in SCRIPTS if p.parent.name == "benchmarks"],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_benchmarks_are_a_package_that_edits_no_sys_path(script):
    where = script.relative_to(ROOT).as_posix()
    wrong = {f for f in sys_path_edits(script) if (where, f) not in SYS_PATH_EDITS_ALLOWED}
    assert not wrong, (f"{where} edits sys.path in {sorted(wrong)}: import the benchmarks' shared code as "
                       f"`benchmarks.common` (run the script as python -m benchmarks.NAME)")


def test_the_sys_path_finder_sees_calls_and_slice_assignments(tmp_path):
    script = tmp_path / "bench.py"
    script.write_text("import sys\nsys.path[:0] = ['x']\ndef f():\n    sys.path.insert(0, 'y')\n"
                      "def g():\n    print(sys.path)\n")
    assert sys_path_edits(script) == {"<module>", "f"}


def test_the_test_import_finder_sees_imports_through_sys_path_and_the_tests_package(tmp_path):
    script = tmp_path / "bench.py"
    script.write_text("import sys\nimport numpy\nsys.path.insert(0, 'tests/adapters')\n"
                      "from helpers import save_base\n"
                      "def f():\n    from tests.rollouts.helpers import tiny_model\n")
    assert imported_test_modules(script) == {"helpers", "tests.rollouts.helpers"}
    (tmp_path / "helpers.py").write_text("")  # a module of that name beside it is its own
    assert imported_test_modules(script) == {"tests.rollouts.helpers"}
