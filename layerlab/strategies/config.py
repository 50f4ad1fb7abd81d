"""Strategy configuration files: what ``layerlab group --config``, the workbench and ``layerlab serve`` save and read.

A file names a strategy (or holds the object :meth:`~layerlab.strategies.Strategy.to_json`
writes), its parameters and a layer budget, as JSON or TOML.  The names are
importable from :mod:`layerlab.strategies` too, which loads this module on
first use: grouping with a named strategy never reads one.

Example:
    >>> import os, tempfile
    >>> f = os.path.join(tempfile.mkdtemp(), "c.json")
    >>> from layerlab.strategies import get_strategy
    >>> _ = open(f, "wb").write(strategy_file_json(get_strategy("per-path"), 5))
    >>> load_strategy_file(f)[1]
    5
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from . import strategy_from_json
from .base import Strategy

__all__ = ["StrategyConfig", "load_strategy_file", "read_strategy_config", "strategy_file_json"]


def strategy_file_json(strategy: Strategy, budget: int | None = None) -> bytes:
    """The configuration file :func:`load_strategy_file` reads: :meth:`Strategy.to_json` plus the budget.

    Keys are sorted and the text ends with a newline, so the same configuration gives the same bytes.

    Example:
        >>> from layerlab.strategies import get_strategy
        >>> strategy_file_json(get_strategy("auto-layer"), 30).decode().split()
        ['{', '"budget":', '30,', '"params":', '{},', '"strategy":', '"auto-layer"', '}']
    """
    import orjson

    doc = dict(strategy.to_json())
    if budget is not None:
        doc["budget"] = int(budget)
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


@dataclass(frozen=True)
class StrategyConfig:
    """What a configuration file says (see :func:`read_strategy_config`).

    Attributes:
        name: the strategy name as the file spells it (a preset's name stays one), or None.
        strategy: the configured strategy (the default one when the file names none).
        budget: the layer budget, or None.
        other: every other key, for the caller to judge.
    """

    name: str | None
    strategy: Strategy
    budget: int | None
    other: Mapping[str, Any]


def read_strategy_config(
    path: Any, *, default: str | None = None, known: Collection[str] | None = None, word: str = "key"
) -> StrategyConfig:
    """Read a configuration file: a JSON object, or TOML when the name ends in ``.toml``.

    The keys it reads are ``strategy`` (a name, or the object
    :meth:`Strategy.to_json` writes), ``params`` and ``budget``; a file that
    names no strategy configures ``default`` (an error when that is None).
    This is the one reader of saved configurations: :func:`load_strategy_file`
    (``layerlab group --config``) and the settings of ``layerlab serve`` use it.
    With ``known``, any other key outside ``known`` is an error that lists
    every key the file may hold (``word`` names them: ``key``, ``setting``),
    so a misspelt ``budget`` is never ignored; without, the other keys are
    returned for the caller to judge.

    Raises:
        InputError: the file cannot be read, or is malformed JSON (TOML).
        ConfigError: not a strategy configuration, or an invalid one (the message names the file).

    Example:
        >>> import os, tempfile
        >>> from layerlab.strategies import get_strategy
        >>> f = os.path.join(tempfile.mkdtemp(), "serve.toml")
        >>> text = 'strategy = "nixery-2022"\\nbudget = 9\\nport = 80\\n[params]\\nsize_threshold = "5M"\\n'
        >>> _ = open(f, "w").write(text)
        >>> c = read_strategy_config(f)
        >>> c.name, c.strategy == get_strategy("nixery-2022", size_threshold=5_000_000), c.budget, dict(c.other)
        ('nixery-2022', True, 9, {'port': 80})
    """
    from ..fileio import read_document

    where = str(path)
    doc = read_document(path)
    if not isinstance(doc, dict):
        raise ConfigError('expected a JSON object: {"strategy": NAME, "params": {...}}', source=where)
    other = dict(doc)
    name: Any = other.pop("strategy", None)
    params, budget = other.pop("params", None), other.pop("budget", None)
    if isinstance(name, Mapping):  # {"strategy": {"strategy": NAME, "params": {...}}, ...}
        if params is not None:
            raise ConfigError("give 'params' inside the strategy object or beside its name, not both", source=where)
        name, params = name.get("strategy"), name.get("params")
    if name is None and default is None:
        raise ConfigError('expected {"strategy": NAME, "params": {...}}', source=where)
    try:
        strategy = strategy_from_json({"strategy": default if name is None else name, "params": params})
    except ConfigError as err:
        message = err.message if err.source in (None, "--strategy") else str(err)
        raise ConfigError(message, source=where) from None
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise ConfigError(f"budget must be a positive integer, not {budget!r}", source=where)
    if known is not None:
        unknown = sorted(set(other) - set(known))
        if unknown:
            listed = ", ".join(sorted({"strategy", "params", "budget", *known}))
            words = word if len(unknown) == 1 else word + "s"
            raise ConfigError(f"unknown {words} {', '.join(unknown)} (known: {listed})", source=where)
    return StrategyConfig(name, strategy, budget, other)


def load_strategy_file(path: Any, *, other_keys: Collection[str] = ()) -> tuple[Strategy, int | None]:
    """Read a configuration file (``{"strategy": NAME, "params": {...}, "budget": N}``): the strategy and the budget.

    ``budget`` is optional (``None`` when absent).  ``layerlab group
    --config`` and the workbench's "save configuration" button use it; the
    file is read by :func:`read_strategy_config`, so a ``.toml`` file works too.
    Keys other than those three are errors (a misspelt ``budget`` must not
    be ignored), except ``other_keys``, which are read elsewhere: ``layerlab
    group --config`` accepts the settings of ``layerlab serve`` so that one
    file configures both.

    Raises:
        InputError: the file cannot be read or is malformed JSON.
        ConfigError: the document is not a strategy configuration, or has an
            unknown key (the message names the file).

    Example:
        >>> import os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "c.json")
        >>> from layerlab.strategies import get_strategy
        >>> _ = open(f, "wb").write(strategy_file_json(get_strategy("nixery-2022"), 20))
        >>> s, budget = load_strategy_file(f)
        >>> s == get_strategy("nixery-2022"), budget
        (True, 20)
        >>> _ = open(f, "w").write('{"strategy": "nixery", "budgett": 20}')
        >>> load_strategy_file(f)
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: ...c.json: unknown key budgett (known: budget, params, strategy)
    """
    config = read_strategy_config(path, known=other_keys)
    return config.strategy, config.budget
