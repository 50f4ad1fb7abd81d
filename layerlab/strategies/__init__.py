"""Layering strategies: one module per family, one small interface (:mod:`.base`).

Every strategy is registered here by name.  A *preset* (``nixery-2022``) is a
strategy name standing for a family plus parameter values.

Example:
    >>> sorted(available())[:3]  # doctest: +SKIP
    ['auto-layer', 'nix2container', 'nixery']
    >>> get_strategy("nixery-2022").popularity_threshold
    100
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .base import (
    DEFAULT_BUDGET,
    Context,
    Layer,
    LayerBatch,
    Param,
    Strategy,
    check_layers,
    layers_to_json,
    make_layer,
    param,
    params_from_strings,
)

__all__ = [
    "Context",
    "Layer",
    "LayerBatch",
    "Param",
    "param",
    "Strategy",
    "DEFAULT_BUDGET",
    "check_layers",
    "layers_to_json",
    "make_layer",
    "params_from_strings",
    "available",
    "get_strategy",
    "strategy_class",
    "strategy_from_json",
    "as_strategy",
    "as_strategies",
    "StrategySpec",
    "load_strategy_file",
    "read_strategy_config",
    "StrategyConfig",
    "strategy_file_json",
    "DEFAULT_STRATEGY",
    "strategy_label",
    "FAMILIES",
]

#: Every family: name -> (module of this package, class).  A module is
#: imported only when its strategy is asked for, so running one strategy
#: pays for no other's imports (numpy, rustworkx).
FAMILY_MODULES: Mapping[str, tuple[str, str]] = {
    "nixery": ("nixery", "Nixery"),
    "popularity-contest": ("popularity_contest", "PopularityContest"),
    "auto-layer": ("auto_layer", "AutoLayer"),
    "pipeline": ("pipeline", "Pipeline"),
    "nix2container": ("nix2container", "Nix2Container"),
    "per-path": ("baselines", "PerPath"),
    "single-layer": ("baselines", "SingleLayer"),
    "keystone": ("keystone", "Keystone"),
    "bedrock": ("bedrock", "Bedrock"),
}

#: Preset name -> its family; the values live on the family's class
#: (``Strategy.presets``, checked against this table by the tests).
PRESET_FAMILIES: Mapping[str, str] = {"nixery-2022": "nixery"}

#: What a caller may pass for one strategy: a configured one, a name (a preset's included) or its JSON.
StrategySpec = Strategy | str | Mapping[str, Any]

#: The strategy ``layerlab group`` uses when none is named.
DEFAULT_STRATEGY = "bedrock"

#: Classes importable from this package by name, each from its family's module.
_CLASSES = {cls: (module, cls) for module, cls in FAMILY_MODULES.values()}


def family(name: str) -> type[Strategy]:
    """The class of family ``name``, importing its module on first use.

    Example:
        >>> family("single-layer").__name__
        'SingleLayer'
    """
    module, cls = FAMILY_MODULES[name]
    found: type[Strategy] = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    return found


def __getattr__(name: str) -> Any:
    if name == "FAMILIES":  # every family, imported
        return {key: family(key) for key in FAMILY_MODULES}
    if name in _CLASSES:
        module, cls = _CLASSES[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def available() -> dict[str, tuple[type[Strategy], Mapping[str, Any]]]:
    """Every strategy name (families and presets) -> (class, preset values).

    Example:
        >>> cls, preset = available()["nixery-2022"]
        >>> cls.name, preset["popularity_threshold"]
        ('nixery', 100)
    """
    out: dict[str, tuple[type[Strategy], Mapping[str, Any]]] = {}
    for name in FAMILY_MODULES:
        cls = family(name)
        out[name] = (cls, {})
        for preset, values in cls.presets.items():
            out[preset] = (cls, values)
    return dict(sorted(out.items()))


def strategy_class(name: str) -> tuple[type[Strategy], Mapping[str, Any]]:
    """The class and preset values behind a strategy name.

    Raises:
        ConfigError: unknown name (the known ones are listed).

    Example:
        >>> strategy_class("auto-layer")[0].name
        'auto-layer'
        >>> strategy_class("nope")
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: --strategy: unknown strategy 'nope' (known: ...)
    """
    if not isinstance(name, str):
        raise ConfigError(f"a strategy name must be a string, not {name!r}", source="--strategy")
    if name in FAMILY_MODULES:
        return family(name), {}
    if name in PRESET_FAMILIES:
        return family(PRESET_FAMILIES[name]), family(PRESET_FAMILIES[name]).presets[name]
    known = sorted([*FAMILY_MODULES, *PRESET_FAMILIES])
    raise ConfigError(f"unknown strategy {name!r} (known: {', '.join(known)})", source="--strategy")


def get_strategy(name: str, **params: Any) -> Strategy:
    """A configured strategy: the preset's values, then ``params`` on top.

    Example:
        >>> get_strategy("nixery", budget_unused=1)
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: strategy nixery: unknown parameter budget_unused (known: size_threshold, ...)
    """
    cls, preset = strategy_class(name)
    return cls(**{**preset, **params})


def strategy_from_json(doc: Mapping[str, Any]) -> Strategy:
    """Inverse of :meth:`Strategy.to_json`: the class named in ``doc`` reads it (:meth:`Strategy.from_json`).

    A preset's name stands for its values, with ``params`` on top, as in :func:`get_strategy`.

    Example:
        >>> s = get_strategy("nixery-2022")
        >>> strategy_from_json(s.to_json()) == s
        True
        >>> strategy_from_json({"strategy": "nixery-2022"}) == s
        True
    """
    if not isinstance(doc, Mapping) or "strategy" not in doc:
        raise ConfigError('expected {"strategy": NAME, "params": {...}}')
    cls, _ = strategy_class(doc["strategy"])
    return cls.from_json(doc)


def as_strategy(spec: StrategySpec) -> Strategy:
    """A configured strategy from what callers pass for one: a strategy, a name, or its JSON.

    A name goes through :func:`get_strategy` (a preset's values included), a
    mapping through :func:`strategy_from_json`; a strategy is returned as it is.

    Raises:
        ConfigError: an unknown name, an invalid document, or another type.

    Example:
        >>> as_strategy("nixery-2022") == as_strategy({"strategy": "nixery-2022"}) == get_strategy("nixery-2022")
        True
        >>> as_strategy(3)
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: strategy: expected a strategy, a strategy name or its JSON, not int
    """
    if isinstance(spec, Strategy):
        return spec
    if isinstance(spec, str):
        return get_strategy(spec)
    if isinstance(spec, Mapping):
        return strategy_from_json(spec)
    raise ConfigError(f"expected a strategy, a strategy name or its JSON, not {type(spec).__name__}", source="strategy")


def as_strategies(specs: StrategySpec | Sequence[StrategySpec]) -> list[Strategy]:
    """:func:`as_strategy` of one strategy, or of each of several, as a list.

    Example:
        >>> [s.name for s in as_strategies("per-path")], [s.name for s in as_strategies(["nixery-2022", "auto-layer"])]
        (['per-path'], ['nixery', 'auto-layer'])
    """
    if isinstance(specs, (Strategy, str, Mapping)):
        return [as_strategy(specs)]
    return [as_strategy(s) for s in specs]


def strategy_file_json(strategy: Strategy, budget: int | None = None) -> bytes:
    """The configuration file :func:`load_strategy_file` reads: :meth:`Strategy.to_json` plus the budget.

    Keys are sorted and the text ends with a newline, so the same configuration gives the same bytes.

    Example:
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


def read_strategy_config(path: Any, *, default: str | None = None) -> StrategyConfig:
    """Read a configuration file: a JSON object, or TOML when the name ends in ``.toml``.

    The keys it reads are ``strategy`` (a name, or the object
    :meth:`Strategy.to_json` writes), ``params`` and ``budget``; a file that
    names no strategy configures ``default`` (an error when that is None).
    This is the one reader of saved configurations: :func:`load_strategy_file`
    (``layerlab group --config``) and the settings of ``layerlab serve`` use it.

    Raises:
        InputError: the file cannot be read, or is malformed JSON (TOML).
        ConfigError: not a strategy configuration, or an invalid one (the message names the file).

    Example:
        >>> import os, tempfile
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
    config = read_strategy_config(path)
    unknown = sorted(set(config.other) - set(other_keys))
    if unknown:
        known = ", ".join(sorted({"strategy", "params", "budget", *other_keys}))
        keys = "keys" if len(unknown) > 1 else "key"
        raise ConfigError(f"unknown {keys} {', '.join(unknown)} (known: {known})", source=str(path))
    return config.strategy, config.budget


def strategy_label(strategy: Strategy) -> str:
    """A short name for tables: the preset or family name, then the parameters that differ from it.

    Example:
        >>> strategy_label(get_strategy("nixery-2022")), strategy_label(get_strategy("keystone", alpha=0.5))
        ('nixery-2022', 'keystone alpha=0.5')
    """
    best = (strategy.name, {k: v for k, v in strategy.values.items() if v != type(strategy).param(k).default})
    for name, (cls, preset) in available().items():
        if cls is not type(strategy) or not preset:
            continue
        base = {p.name: preset.get(p.name, p.default) for p in cls.params}
        diff = {k: v for k, v in strategy.values.items() if v != base[k]}
        if len(diff) < len(best[1]):
            best = (name, diff)
    name, diff = best
    return " ".join([name, *(f"{k}={v}" for k, v in diff.items())])
