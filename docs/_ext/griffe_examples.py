"""A griffe extension for the API reference: ``Example:`` sections are examples.

The package's docstrings head their doctests ``Example:`` (singular).  Griffe's
Google-style parser knows only ``Examples:`` as an examples section and would
render the singular heading as an admonition of Markdown text, where doctest
lines such as ``x["a"]["b"]`` read as reference links.  This extension renames
the heading before the docstring is parsed.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


class ExampleSections(Extension):
    """Rename ``Example:`` headings to ``Examples:`` in every docstring."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _HEADING.sub(r"\1Examples:", obj.docstring.value)
