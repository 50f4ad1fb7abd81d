"""The ``layerlab`` command line.

Each sub-command lives in a module of this package that defines
``register(subparsers)``; :data:`COMMANDS` maps every command to its module.
Only the module of the command being run is imported (all of them for
``layerlab --help``), so a command pays for no other command's imports.
Heavy libraries are imported inside the command functions so that start-up
stays fast (``layerlab group`` on a 63,000-path graph runs in about a second).

Every :class:`~layerlab.errors.LayerlabError` is printed as one line,
``layerlab: error: <file>: <problem>``, with exit status 2.  Ctrl-C, SIGTERM
and SIGHUP stop a command cleanly (temporary files removed, workers and child
commands stopped; :mod:`layerlab.procs`) with status 130, 143 and 129.
"""

from __future__ import annotations

import gc
import os
import sys

# Type checkers read the names below; at run time the collector is off before
# any import of weight (see main), so not even typing is imported here.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from collections.abc import Sequence

__all__ = ["main", "build_parser", "version", "COMMANDS"]

#: Sub-command -> the module that registers it, in the order ``layerlab --help`` lists them.
COMMANDS = {
    "group": "group",
    "info": "group",
    "strategies": "group",
    "build": "build",
    "serve": "serve",
    "workbench": "workbench",
    "report": "workbench",
    "plot": "workbench",
    "closure": "nix",
    "popcount": "nix",
    "pull": "metrics",
    "sweep": "metrics",
    "tune": "metrics",
    "score": "score",
}


def version() -> str:
    """The installed version of layerlab (``unknown`` when run from a tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("layerlab")
    except PackageNotFoundError:
        return "unknown"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: every sub-command, or only ``command``'s module when it is known."""
    import importlib

    from ._parser import Parser, VersionAction

    parser = Parser(
        prog="layerlab",
        description="Analyse, tune and build the layering of Nix closures into container images.",
    )
    parser.add_argument("--version", action=VersionAction, nargs=0, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"layerlab: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Called without ``argv`` (as the ``layerlab`` command is), ``main`` ends the
    process's work: what the command built is then frozen out of the cyclic
    collector (:func:`gc.freeze`), whose passes at interpreter exit would
    otherwise rescan all of it only to find nothing to collect; and Ctrl-C
    regains its default action, so an interrupt that comes while the
    interpreter shuts down ends the process quietly instead of printing a
    traceback from the shutdown machinery.
    """
    ending = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    # A short-lived process: the cyclic collector would only rescan what the
    # imports and the command build (large, acyclic graph structures); memory
    # is returned at exit anyway.  It is off before the command line's own
    # imports too, which are most of a small command's objects.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    import warnings

    from ..errors import LayerlabError
    from ..procs import Terminated, interrupt_on_signals

    try:
        parser = build_parser(argv[0] if argv else None)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        warnings.showwarning = _show_warning
        if args.command != "workbench":
            # numpy serves vector work here, never large matrix products: one BLAS
            # thread spares each process OpenBLAS's thread pool at import.  The
            # workbench's notebook kernels keep the machine's default.
            os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        with interrupt_on_signals():
            return int(args.func(args) or 0)
    except LayerlabError as err:
        print(f"layerlab: error: {err}", file=sys.stderr)
        return 2
    except Terminated as err:
        print(f"layerlab: stopped by {err}", file=sys.stderr)
        return 128 + err.signum
    except KeyboardInterrupt:
        print("layerlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        if ending:
            import signal

            signal.signal(signal.SIGINT, signal.SIG_DFL)
            # Frozen before the collector is back on: re-enabled first, it would
            # at once rescan everything made while it was off.
            gc.freeze()
        if gc_was_enabled:
            gc.enable()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
