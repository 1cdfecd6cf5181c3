"""A griffe extension (mkdocs.yml, mkdocstrings `extensions:`): the `#:` comment lines right above an
attribute are its docstring, the project's way of documenting constants (griffe itself reads only a
string literal under the assignment)."""

from __future__ import annotations

from typing import Any

import griffe


class HashColonComments(griffe.Extension):
    """Give an attribute without a docstring the `#:` comments directly above it."""

    def on_attribute_instance(self, *, node: Any, attr: griffe.Attribute, agent: Any, **kwargs: Any) -> None:
        if attr.docstring is not None or not attr.lineno or attr.filepath is None or isinstance(attr.filepath, list):
            return
        try:
            lines = attr.lines_collection[attr.filepath]
        except KeyError:
            return
        comment, row = [], attr.lineno - 2  # 0-based index of the line above the assignment
        while row >= 0 and lines[row].lstrip().startswith("#:"):
            comment.insert(0, lines[row].lstrip()[2:].strip())
            row -= 1
        if comment:
            attr.docstring = griffe.Docstring("\n".join(comment), lineno=row + 2, parent=attr)
