"""Helpers shared by the sub-commands: strategy options, output writing."""

from __future__ import annotations

import argparse
import sys

from ..fileio import atomic_write

__all__ = [
    "add_strategy_options",
    "configured_strategy",
    "popularity_context",
    "strategy_from_args",
    "warn_without_popularity",
    "write_output",
    "atomic_write",
]


def add_strategy_options(p: argparse.ArgumentParser, *, default_strategy: str | None = None) -> None:
    """``--strategy``, ``--budget``, ``--set`` and ``--popularity``."""
    p.add_argument(
        "--strategy",
        "-s",
        default=default_strategy,
        help="strategy name (default: the default strategy, marked in `layerlab strategies`)",
    )
    p.add_argument("--budget", "-b", type=int, default=94, help="maximum number of layers (default 94)")
    p.add_argument("--set", dest="params", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter")
    p.add_argument("--popularity", "-p", metavar="FILE", help="Nixery popularity.json")


def configured_strategy(name: str | None, pairs: list[str]):
    """The strategy ``name`` (the default strategy when None) with its ``--set`` pairs applied.

    Without ``--strategy``, ``--set`` configures the default strategy; a
    parameter it does not declare is reported together with its name and the
    parameters it knows, so the mistake is plain.
    """
    from ..errors import ConfigError
    from ..strategies import DEFAULT_STRATEGY, get_strategy, params_from_strings, strategy_class

    chosen = name or DEFAULT_STRATEGY
    cls, _ = strategy_class(chosen)
    try:
        params = params_from_strings(cls, pairs)
    except ConfigError as err:
        if name is None and err.message.startswith("unknown parameter"):
            known = ", ".join(p.name for p in cls.params) or "none"
            raise ConfigError(
                f"{err.message}: {DEFAULT_STRATEGY} is the default strategy and knows {known}; "
                "choose another with --strategy NAME (see `layerlab strategies`)",
                source="--set",
            ) from None
        raise
    return get_strategy(chosen, **params)


def warn_without_popularity(strategy, popularity) -> None:
    """Warn when a strategy that reads a popularity table runs without one."""
    import warnings

    if popularity is None and getattr(strategy, "uses_popularity", False):
        warnings.warn(
            f"strategy {strategy.name} uses a popularity table and none was given (pass --popularity FILE); "
            "every package counts as unpopular",
            stacklevel=2,
        )


def popularity_context(args: argparse.Namespace):
    """The context from ``--popularity``: the table when one was given."""
    from ..popularity import load_popularity
    from ..strategies import Context

    return Context(popularity=load_popularity(args.popularity) if args.popularity else None)


def strategy_from_args(args: argparse.Namespace):
    """The configured strategy and context from the common options."""
    return configured_strategy(args.strategy, args.params), popularity_context(args)


def write_output(data: bytes, out: str | None) -> None:
    """Write ``data`` to ``out`` atomically, or to stdout when ``out`` is None or ``-``."""
    if out is None or out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    atomic_write(out, data)
