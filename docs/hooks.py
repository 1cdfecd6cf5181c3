"""Checks of the documentation site, run by `mkdocs build` (mkdocs.yml, `hooks:`) and by tests/test_docs.py.

The public API is the list in README's "Public API" section: one line a module,
``- `module`: `name`, `name`, ...``. Each name must be rendered on an API reference page
(a ``::: dotted.path`` line in docs/api/*.md that imports to the same object), and each rendered
object must have a docstring, as must every public method of a rendered class. What fails is
logged as a warning, so `mkdocs build --strict` fails on it.
"""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
API_PAGES = ROOT / "docs" / "api"

log = logging.getLogger("mkdocs.hooks.public_api")

_SECTION = "## Public API"
_ENTRY = re.compile(r"^- `(?P<module>[\w.]+)`: (?P<names>.*)$")
_DIRECTIVE = re.compile(r"^::: (?P<path>[\w.]+)\s*$", re.MULTILINE)


def public_api(readme: str) -> list[tuple[str, str]]:
    """(module, name) of every name README's "Public API" section lists, in order."""
    if _SECTION not in readme:
        raise ValueError(f"README has no {_SECTION!r} section")
    section = readme.split(_SECTION, 1)[1].split("\n## ", 1)[0]
    entries = re.sub(r"\n[ \t]+", " ", section)  # an entry's indented lines continue it
    found = []
    for line in entries.splitlines():
        match = _ENTRY.match(line)
        if match:
            found += [(match["module"], name) for name in re.findall(r"`([^`]+)`", match["names"])]
    return found


def directives(pages: Path = API_PAGES) -> dict[str, str]:
    """dotted path -> page name, for each `::: path` line of the API reference pages."""
    return {m["path"]: page.name for page in sorted(pages.glob("*.md"))
            for m in _DIRECTIVE.finditer(page.read_text(encoding="utf-8"))}


def resolve(path: str) -> Any:
    """The object a dotted path names: the longest importable module prefix, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(f"nothing importable in {path!r}")


def undocumented_names(readme: str, pages: Path = API_PAGES) -> list[str]:
    """The `module.name`s README lists that no API page renders (as that path or another path to
    the same object)."""
    rendered = [resolve(path) for path in directives(pages)]
    missing = []
    for module, name in public_api(readme):
        obj = getattr(importlib.import_module(module), name)
        if not any(obj is other for other in rendered):
            missing.append(f"{module}.{name}")
    return missing


def missing_docstrings(paths: list[str]) -> list[str]:
    """The rendered objects (and public methods of rendered classes) without a docstring, as griffe
    reads them for mkdocstrings (with the `#:` comments of docs/griffe_comments.py)."""
    import griffe

    comments = f"{ROOT / 'docs' / 'griffe_comments.py'}:HashColonComments"
    loader = griffe.GriffeLoader(search_paths=[str(ROOT)], extensions=griffe.load_extensions(comments))
    for package in sorted({path.split(".")[0] for path in paths}):
        loader.load(package)
    loader.resolve_aliases(implicit=False, external=False)
    missing = []
    for path in paths:
        target = loader.modules_collection[path]
        target = target.final_target if target.is_alias else target
        if not target.docstring:
            missing.append(path)
        if target.is_class:
            for name, member in target.members.items():
                member = member.final_target if member.is_alias else member
                if not name.startswith("_") and member.is_function and not member.docstring:
                    missing.append(f"{path}.{name}")
    return missing


def on_files(files: Any, config: Any) -> Any:
    """mkdocs hook: warn about public names the API pages leave out or leave undocumented."""
    for name in undocumented_names(README.read_text(encoding="utf-8")):
        log.warning("%s is in README's Public API but on no page of docs/api/ (add `::: %s`)", name, name)
    for name in missing_docstrings(list(directives())):
        log.warning("%s is rendered in the API reference but has no docstring", name)
    return files
