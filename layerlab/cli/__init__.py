"""The ``layerlab`` command line.

Each sub-command lives in a module of this package that defines
``register(subparsers)``; :data:`COMMAND_MODULES` lists them in help order.
Heavy libraries are imported inside the command functions so that start-up
stays fast (``layerlab group`` on a 63,000-path graph runs in about a second).

Every :class:`~layerlab.errors.LayerlabError` is printed as one line,
``layerlab: error: <file>: <problem>``, with exit status 2.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
import warnings
from collections.abc import Sequence

from ..errors import LayerlabError

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

#: Sub-command modules, in the order ``layerlab --help`` lists them.
COMMAND_MODULES = ("group", "build", "workbench", "nix", "metrics")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="layerlab",
        description="Analyse, tune and build the layering of Nix closures into container images.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
    print(f"layerlab: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    warnings.showwarning = _show_warning
    # A short-lived process: the cyclic collector would only rescan the large,
    # acyclic graph structures; memory is returned at exit anyway.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return int(args.func(args) or 0)
    except LayerlabError as err:
        print(f"layerlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("layerlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        if gc_was_enabled:
            gc.enable()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
