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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:  # pragma: no cover
    from .config import StrategyConfig, load_strategy_file, read_strategy_config, strategy_file_json

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

#: Configuration files (:mod:`.config`), read and written by few commands: loaded when first asked for.
_CONFIG = ("StrategyConfig", "load_strategy_file", "read_strategy_config", "strategy_file_json")


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
    if name in _CONFIG:
        return getattr(importlib.import_module(f"{__name__}.config"), name)
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
