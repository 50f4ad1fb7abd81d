"""Helpers shared by the sub-commands: strategy options, output writing."""

from __future__ import annotations

import argparse
import sys

from ..fileio import atomic_write

__all__ = [
    "add_strategy_options",
    "add_strategy_list_options",
    "configured_strategy",
    "configured_strategies",
    "int_list",
    "share_settings",
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


def add_strategy_list_options(p: argparse.ArgumentParser, *, spread: bool) -> None:
    """Repeatable ``--strategy``, ``--set`` and ``--popularity``, for commands that compare strategies.

    ``spread`` says what ``--set`` means with several strategies (see :func:`configured_strategies`).
    """
    p.add_argument(
        "--strategy",
        "-s",
        action="append",
        default=[],
        help="strategy name (repeatable; default: the default strategy, marked in `layerlab strategies`)",
    )
    p.add_argument(
        "--set",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="strategy parameter (repeatable; with several strategies, "
        + ("each strategy that declares it)" if spread else "give one --strategy)"),
    )
    p.add_argument("--popularity", "-p", metavar="FILE", help="Nixery popularity.json (default: the image set's own)")


def share_settings(names: list[str | None], specs: list[str], where: str) -> list[list[str]]:
    """Each strategy's share of ``KEY=...`` settings: those whose parameter it declares.

    One strategy takes every setting (its own error names a parameter it
    lacks), and so does every strategy a setting without ``KEY=`` (whose
    parser then says what is wrong with it); among several, a setting no
    strategy declares is an error.
    """
    from ..errors import ConfigError
    from ..strategies import DEFAULT_STRATEGY, strategy_class

    if len(names) == 1:
        return [list(specs)]
    declared = [{p.name for p in strategy_class(name or DEFAULT_STRATEGY)[0].params} for name in names]
    shares: list[list[str]] = [[] for _ in names]
    for spec in specs:
        key, sep, _ = spec.partition("=")
        key = key.strip().replace("-", "_")
        takers = [k for k, known in enumerate(declared) if key in known or not (sep and key)]
        if not takers:
            listed = ", ".join(name or DEFAULT_STRATEGY for name in names)
            raise ConfigError(f"unknown parameter {key}: none of {listed} declares it", source=where)
        for k in takers:
            shares[k].append(spec)
    return shares


def configured_strategies(args: argparse.Namespace, *, spread: bool) -> list:
    """The strategies of :func:`add_strategy_list_options` (the default strategy when none is named).

    With one strategy, ``--set`` configures it.  With several, ``spread``
    gives each strategy the ``--set`` pairs whose parameter it declares;
    without ``spread`` a ``--set`` is refused, since it would be unclear which
    strategy it configures.
    """
    from ..errors import ConfigError

    names: list[str | None] = list(args.strategy) or [None]
    if args.params and len(names) > 1 and not spread:
        raise ConfigError("--set applies to one strategy; give one --strategy", source="--set")
    return [configured_strategy(name, pairs) for name, pairs in zip(names, share_settings(names, args.params, "--set"))]


def int_list(text: str, where: str, what: str = "value") -> list[int]:
    """``"94,30,10"`` -> ``[94, 30, 10]``; a one-line error naming ``where`` otherwise."""
    from ..errors import ConfigError

    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"expected comma-separated integers, got {text!r}", source=where) from None
    if not values:
        raise ConfigError(f"expected at least one {what}", source=where)
    return values


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
