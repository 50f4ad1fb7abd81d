"""Helpers shared by the sub-commands: strategy options, output writing."""

from __future__ import annotations

import argparse
import sys

from ..fileio import atomic_write

__all__ = ["add_strategy_options", "strategy_from_args", "write_output", "atomic_write"]


def add_strategy_options(p: argparse.ArgumentParser, *, default_strategy: str | None = None) -> None:
    """``--strategy``, ``--budget``, ``--set`` and ``--popularity``."""
    p.add_argument("--strategy", "-s", default=default_strategy, help="strategy name (see `layerlab strategies`)")
    p.add_argument("--budget", "-b", type=int, default=94, help="maximum number of layers (default 94)")
    p.add_argument("--set", dest="params", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter")
    p.add_argument("--popularity", "-p", metavar="FILE", help="Nixery popularity.json")


def strategy_from_args(args: argparse.Namespace):
    """The configured strategy and context from the common options."""
    from ..popularity import load_popularity
    from ..strategies import DEFAULT_STRATEGY, Context, params_from_strings, strategy_class

    name = args.strategy or DEFAULT_STRATEGY
    cls, preset = strategy_class(name)
    params = {**preset, **params_from_strings(cls, args.params)}
    strategy = cls(**params)
    pop = load_popularity(args.popularity) if args.popularity else None
    return strategy, Context(popularity=pop)


def write_output(data: bytes, out: str | None) -> None:
    """Write ``data`` to ``out`` atomically, or to stdout when ``out`` is None or ``-``."""
    if out is None or out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    atomic_write(out, data)
