"""The argument parser classes of the command line: one-line errors, a help layout without :mod:`shutil`.

Example:
    >>> parser = Parser(prog="layerlab demo")
    >>> _ = parser.add_argument("--n", type=int)
    >>> parser.parse_args(["--n", "3"]).n
    3
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

__all__ = ["Parser", "Formatter", "VersionAction"]


class VersionAction(argparse.Action):
    """``--version``: the version is looked up only when asked for (start-up stays fast)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from . import version

        print(f"layerlab {version()}")
        parser.exit(0)


def _columns() -> int:
    """The terminal's width as :func:`shutil.get_terminal_size` finds it (``COLUMNS``, the terminal, else 80)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class Formatter(argparse.HelpFormatter):
    """argparse's help layout, measuring the terminal without importing :mod:`shutil`.

    argparse builds a formatter for every argument it declares, and the default
    one imports :mod:`shutil` (and through it the compression modules) for the
    width alone: a start-up cost of every command.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line with exit status 2, like every other error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        line = " ".join(f"{self.prog}: {message}".split())
        self.exit(2, f"layerlab: error: {line} (see {self.prog} --help)\n")
