"""The documentation holds together: every name of README's public API is on a page of the API
reference and has a docstring, README stays short, its links lead somewhere and its install and test
commands are the ones CI runs, and the example notebooks are saved with their outputs, small and
free of errors (the site renders them as saved). `mkdocs build --strict` checks the site's own links."""

import importlib.util
import json
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))
#: The most a saved notebook may weigh, outputs included.
NOTEBOOK_BYTES = 3 * 2**19


def _load_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _load_hooks()


def _fenced(text: str, language: str = "bash") -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def _section(text: str, heading: str) -> str:
    return text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_lists_the_public_api_one_module_a_line():
    api = hooks.public_api(README)
    assert ("pde_data", "open") in api and ("morph", "MORPH") in api and ("rollouts", "is_stable") in api
    assert len(api) == len(set(api)), "a name listed twice"


def test_every_public_name_of_readme_is_on_a_page_of_the_api_reference():
    assert hooks.undocumented_names(README) == []


def test_every_object_the_api_reference_renders_has_a_docstring():
    pytest.importorskip("griffe", reason="the docs extra is not installed")
    assert hooks.missing_docstrings(list(hooks.directives())) == []


def test_the_readme_is_at_most_150_lines():
    assert len(README.splitlines()) <= 150


def _slug(heading: str) -> str:
    """A heading's anchor as mkdocs makes it (Python-Markdown's toc slugify)."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())


def test_the_links_of_the_readme_lead_to_files_and_headings_that_exist():
    for target in re.findall(r"\]\(([^)\s]+)\)", README):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        assert (ROOT / path).exists(), f"README links to {target}, which does not exist"
        if anchor:
            text = "\n".join(re.sub(r"```.*?```", "", (ROOT / path).read_text(encoding="utf-8"), flags=re.DOTALL)
                             .splitlines())
            headings = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}
            assert anchor in headings, f"README links to {target}: no such heading in {path}"


def test_ci_installs_and_tests_with_the_commands_of_the_readme():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for heading in ("## Install", "## Run the tests"):
        (block,) = _fenced(_section(README, heading))
        for command in block.strip().splitlines():
            assert command in ci.splitlines(), f"README's {heading[3:]} command {command!r} is not what .ci/run runs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_an_example_notebook_is_saved_run_top_to_bottom_with_small_outputs(path):
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1)), (
        f"{path.name}: save it as one run from the top (python docs/run_notebooks.py {path.relative_to(ROOT)})")
    outputs = [o for c in cells for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert [o for o in outputs if any(kind.startswith("image/") for kind in o.get("data", {}))]
    assert path.stat().st_size <= NOTEBOOK_BYTES, f"{path.name}: {path.stat().st_size} bytes; keep its figures small"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_the_site_renders_each_example_notebook(path):
    page = ROOT / "docs" / "notebooks" / path.name
    assert page.resolve() == path.resolve(), f"docs/notebooks/{path.name} should link to examples/{path.name}"
    assert f"notebooks/{path.name}" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
