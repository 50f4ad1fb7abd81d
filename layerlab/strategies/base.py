"""The one small interface every layering strategy implements.

A strategy turns **one image's** closure graph, plus shared context (a
popularity table), into an ordered list of :class:`Layer` objects under a
budget.  It never sees the other images of a set.

* :class:`Param` declares a parameter with its type, default and range, so that
  command-line ``--set key=value``, notebook widgets and sweeps are generated
  from the declaration rather than written by hand.
* :class:`Strategy` holds validated parameter values; ``group`` runs it.
  A configured strategy round-trips through JSON (``to_json``/``from_json``).
* :func:`check_layers` verifies the invariants every strategy must keep:
  every path in exactly one layer, at most ``budget`` layers, paths sorted.

Example:
    >>> from layerlab.strategies import get_strategy
    >>> from layerlab.graph import ClosureGraph
    >>> g = ClosureGraph.from_records([{"path": "/nix/store/a-x", "narSize": 5}])
    >>> s = get_strategy("single-layer")
    >>> [layer.paths for layer in s.group(g, budget=3)]
    [('/nix/store/a-x',)]
    >>> get_strategy("nixery", size_threshold=5).to_json()["params"]["size_threshold"]
    5
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

import orjson

from ..errors import ConfigError, StrategyError
from ..graph import ClosureGraph
from ..popularity import Popularity

__all__ = [
    "Layer",
    "Param",
    "Context",
    "Strategy",
    "check_layers",
    "layers_to_json",
    "make_layer",
    "layer_identity",
    "merge_rating",
    "DEFAULT_BUDGET",
]

DEFAULT_BUDGET = 94

_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Layer:
    """One layer of an image.

    Attributes:
        paths: the store paths in the layer, sorted.
        size: the sum of their ``narSize`` (``None`` when the graph lacks it).
        rating: the strategy's score for the layer (Nixery's merge rating);
            strategies without a score use 0.
        reason: why the layer exists: ``big``, ``popular``, ``big+popular``,
            ``dominator``, ``merged``, ``unreachable``, or a strategy's own word.
        root: the path the layer was started from, when there is one.
    """

    paths: tuple[str, ...]
    size: int | None
    rating: int | float = 0
    reason: str = ""
    root: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Nixery's ``layers.json`` entry: ``{"contents": [...], "mergeRating": n}``, ``n`` an integer (see :func:`merge_rating`)."""
        return {"contents": list(self.paths), "mergeRating": merge_rating(self.rating)}

    def __len__(self) -> int:
        return len(self.paths)


def make_layer(
    graph: ClosureGraph, indices: Iterable[int], *, rating: int | float = 0, reason: str = "", root: int | None = None
) -> Layer:
    """Build a :class:`Layer` from path indices of ``graph`` (sorted, sized)."""
    idx = sorted(indices)
    nar = graph.nar_size
    return Layer(
        paths=tuple(graph.paths[i] for i in idx),
        size=None if nar is None else sum(nar[i] for i in idx),
        rating=rating,
        reason=reason,
        root=None if root is None else graph.paths[root],
    )


def layer_identity(paths: Sequence[str]) -> str:
    """Nixery's layer identity: SHA-1 hex of the sorted paths joined by ``:``.

    Equal path sets have equal identities; reproducible tarballs make their
    digests equal too.

    Example:
        >>> import hashlib
        >>> layer_identity(["/s/b", "/s/a"]) == hashlib.sha1(b"/s/a:/s/b").hexdigest()
        True
    """
    return hashlib.sha1(":".join(sorted(paths)).encode(), usedforsecurity=False).hexdigest()


#: The largest ``mergeRating`` Nixery's ``uint64`` holds.
MAX_MERGE_RATING = 2**64 - 1


def merge_rating(rating: int | float) -> int:
    """A layer's rating as Nixery's ``mergeRating``, a ``uint64``: rounded to the
    nearest integer (halves to even), clamped to ``0 .. 2**64 - 1``; NaN is 0.

    Example:
        >>> merge_rating(12.5), merge_rating(7), merge_rating(-3.2), merge_rating(1e30) == MAX_MERGE_RATING
        (12, 7, 0, True)
    """
    if isinstance(rating, float):
        if math.isnan(rating):
            return 0
        if math.isinf(rating):
            return 0 if rating < 0 else MAX_MERGE_RATING
        rating = round(rating)
    return min(max(int(rating), 0), MAX_MERGE_RATING)


def layers_to_json(layers: Sequence[Layer]) -> bytes:
    """Serialise layers as Nixery's ``layers.json`` (compact, deterministic)."""
    return orjson.dumps([layer.to_json() for layer in layers])


@dataclass(frozen=True)
class Param:
    """A declared strategy parameter.

    Attributes:
        name: the key used in ``--set name=value`` and JSON.
        kind: ``int``, ``bytes`` (an int shown in bytes), ``float``, ``bool``,
            ``choice``, ``str`` or ``dict`` (a JSON object of str -> int).
        default: the value when not given.
        minimum, maximum: inclusive bounds for numbers (``None``: unbounded).
        choices: the allowed values of a ``choice``.
        log: suggest a logarithmic scale (widgets, sweeps).
        help: one line of documentation.
        optional: ``None`` is allowed (meaning "off").
    """

    name: str
    kind: str
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    log: bool = False
    optional: bool = False

    def coerce(self, value: Any, *, where: str = "") -> Any:
        """Validate ``value`` (a Python value or a command-line string) and return it typed.

        Raises:
            ConfigError: wrong type, out of range, or not one of ``choices``.

        Example:
            >>> Param("n", "bytes", 0, minimum=0).coerce("100M")
            100000000
        """
        src = where or self.name
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and self.optional):
            if self.optional:
                return None
            raise ConfigError(f"{self.name} needs a value", source=src)
        v: Any
        try:
            if self.kind in ("int", "bytes"):
                v = _parse_int(value, self.kind == "bytes")
            elif self.kind == "float":
                if isinstance(value, bool):
                    raise ValueError
                v = float(value)
                if math.isnan(v):
                    raise ValueError
            elif self.kind == "bool":
                if isinstance(value, bool):
                    v = value
                elif isinstance(value, str) and value.lower() in _BOOL_TRUE | _BOOL_FALSE:
                    v = value.lower() in _BOOL_TRUE
                else:
                    raise ValueError
            elif self.kind == "choice":
                v = value
                if v not in self.choices:
                    raise ConfigError(f"{self.name} must be one of {', '.join(map(str, self.choices))}, not {value!r}", source=src)
            elif self.kind == "str":
                if not isinstance(value, str):
                    raise ValueError
                v = value
            elif self.kind == "dict":
                if isinstance(value, str):
                    value = orjson.loads(value) if value.strip().startswith("{") else _parse_pairs(value)
                if not isinstance(value, Mapping):
                    raise ValueError
                pairs: dict[str, int] = {}
                for k, x in value.items():
                    if not isinstance(k, str) or isinstance(x, bool) or not isinstance(x, int):
                        raise ValueError
                    pairs[k] = x
                v = dict(sorted(pairs.items()))
            else:  # pragma: no cover - declaration error
                raise AssertionError(self.kind)
        except (ValueError, TypeError, orjson.JSONDecodeError):
            raise ConfigError(f"{self.name}={value!r} is not a valid {self.kind}", source=src) from None
        if self.kind in ("int", "bytes", "float"):
            if self.minimum is not None and v < self.minimum:
                raise ConfigError(f"{self.name}={v} is below the minimum {self.minimum:g}", source=src)
            if self.maximum is not None and v > self.maximum:
                raise ConfigError(f"{self.name}={v} is above the maximum {self.maximum:g}", source=src)
        return v

    def to_json(self) -> dict[str, Any]:
        """The declaration as JSON (for ``layerlab strategies --json`` and UIs)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "default": self.default,
            "help": self.help,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": list(self.choices),
            "log": self.log,
            "optional": self.optional,
        }


_SUFFIX = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def _parse_int(value: Any, allow_suffix: bool) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError
        return int(value)
    if isinstance(value, str):
        s = value.strip().lower().replace("_", "")
        if allow_suffix:
            s = s.removesuffix("b")
            for suf in sorted(_SUFFIX, key=len, reverse=True):
                if s.endswith(suf):
                    num = float(s[: -len(suf)])
                    return int(round(num * _SUFFIX[suf]))
        return int(s)
    raise ValueError


def _parse_pairs(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        k, sep, v = part.partition(":")
        if not sep:
            raise ValueError
        out[k.strip()] = int(v)
    return out


@dataclass(frozen=True)
class Context:
    """What a strategy may know beyond one image's graph.

    Attributes:
        popularity: the package-set popularity table, when there is one.
    """

    popularity: Popularity | None = None

    def require_popularity(self, who: str) -> Popularity:
        """Return the popularity table or raise a clear error naming ``who`` needs it."""
        if self.popularity is None:
            raise StrategyError(f"{who} needs popularity data (pass --popularity FILE)")
        return self.popularity


class Strategy(ABC):
    """A configured layering strategy.

    Subclasses declare ``name``, ``summary`` and ``params`` and implement
    :meth:`_group`.  Construct one with keyword parameter values (or use
    :func:`layerlab.strategies.get_strategy`); unknown or invalid values raise
    :class:`~layerlab.errors.ConfigError`.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    #: Preset name -> parameter values, registered as strategies of their own.
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = MappingProxyType({})
    #: Whether the strategy reads ``Context.popularity``.
    uses_popularity: ClassVar[bool] = False
    #: A promise that renaming paths (new hash, same name, size and references)
    #: renames them in the output and changes nothing else: same partition,
    #: same layer order.  The update figures of :mod:`layerlab.metrics.scorecard`
    #: then skip regrouping; tests hold every strategy that declares it to the
    #: promise on random graphs.  Tie-breaks by path break it.
    rename_invariant: ClassVar[bool] = False

    def __init__(self, **values: Any) -> None:
        declared = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(declared))
        if unknown:
            known = ", ".join(declared) or "none"
            raise ConfigError(f"unknown parameter {', '.join(unknown)} (known: {known})", source=f"strategy {self.name}")
        resolved = {}
        for p in self.params:
            resolved[p.name] = p.coerce(values[p.name], where=f"strategy {self.name}") if p.name in values else p.default
        self.values: Mapping[str, Any] = MappingProxyType(resolved)
        self._validate()

    def _validate(self) -> None:
        """Cross-parameter checks; raise ConfigError."""

    def __getattr__(self, item: str) -> Any:
        values = self.__dict__.get("values")
        if values is not None and item in values:
            return values[item]
        raise AttributeError(item)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.values.items() if v != self.param(k).default}
        args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Strategy) and type(self) is type(other) and dict(self.values) == dict(other.values)

    def __hash__(self) -> int:
        return hash((type(self).__name__, orjson.dumps(dict(self.values), option=orjson.OPT_SORT_KEYS)))

    @classmethod
    def param(cls, name: str) -> Param:
        """The declaration of parameter ``name``."""
        for p in cls.params:
            if p.name == name:
                return p
        raise ConfigError(f"unknown parameter {name}", source=f"strategy {cls.name}")

    def replace(self, **changes: Any) -> Strategy:
        """A copy with some parameters changed."""
        return type(self)(**{**self.values, **changes})

    def to_json(self) -> dict[str, Any]:
        """``{"strategy": name, "params": {...}}``, every parameter spelled out."""
        return {"strategy": self.name, "params": dict(self.values)}

    def group(self, graph: ClosureGraph, context: Context | None = None, budget: int = DEFAULT_BUDGET, *, check: bool = True) -> list[Layer]:
        """Group ``graph`` into at most ``budget`` layers.

        Args:
            graph: one image's closure graph.
            context: popularity and other global data.
            budget: the maximum number of layers (at least 1).
            check: verify the result with :func:`check_layers` (cheap; sweeps
                may turn it off).

        Raises:
            ConfigError: budget below 1 or not an integer.
            StrategyError: the graph lacks data the strategy needs.
        """
        if isinstance(budget, bool) or not isinstance(budget, int):
            raise ConfigError(f"budget must be an integer, not {budget!r}")
        if budget < 1:
            raise ConfigError(f"budget must be at least 1, not {budget}")
        if not graph.paths:
            return []
        layers = self._group(graph, context or Context(), budget)
        if check:
            check_layers(graph, layers, budget, who=self.name)
        return layers

    @abstractmethod
    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        """Compute the layers; ``graph`` is non-empty and ``budget >= 1``."""


def check_layers(graph: ClosureGraph, layers: Sequence[Layer], budget: int | None = None, *, who: str = "strategy") -> None:
    """Verify that ``layers`` partition ``graph``: every path exactly once, within budget.

    Raises:
        StrategyError: a path missing, duplicated or foreign, an empty layer,
            unsorted paths, or more layers than ``budget``.
    """
    if budget is not None and len(layers) > budget:
        raise StrategyError(f"{who} produced {len(layers)} layers for a budget of {budget}", source=graph.source)
    # Fast path, in C: the layers hold as many paths as the graph and their
    # union is the graph's path set (so no path twice), and each layer is
    # sorted (timsort checks an already sorted tuple in one pass).
    groups = [layer.paths for layer in layers]
    if (
        sum(map(len, groups)) == len(graph.paths)
        and graph.index.keys() == set().union(*groups)
        and all(g and g == tuple(sorted(g)) for g in groups)
    ):
        return
    _explain_bad_layers(graph, layers, who)


def _explain_bad_layers(graph: ClosureGraph, layers: Sequence[Layer], who: str) -> None:
    """Slow path of :func:`check_layers`: find the first problem and name it."""
    index = graph.index
    seen = bytearray(len(graph.paths))
    for layer in layers:
        if not layer.paths:
            raise StrategyError(f"{who} produced an empty layer", source=graph.source)
        if list(layer.paths) != sorted(layer.paths):
            raise StrategyError(f"{who} produced a layer whose paths are not sorted", source=graph.source)
        for p in layer.paths:
            i = index.get(p)
            if i is None:
                raise StrategyError(f"{who} put {p}, which is not in the graph, in a layer", source=graph.source)
            if seen[i]:
                raise StrategyError(f"{who} put {p} in two layers", source=graph.source)
            seen[i] = 1
    if not all(seen):
        missing = graph.paths[seen.index(0)]
        raise StrategyError(f"{who} left {missing} out of every layer", source=graph.source)
    # Nothing wrong after all (for example paths given as a list, not a tuple).


def params_from_strings(strategy_cls: type[Strategy], pairs: Iterable[str]) -> dict[str, Any]:
    """Turn ``["key=value", ...]`` (command-line ``--set``) into typed values.

    Raises:
        ConfigError: a pair without ``=`` or an invalid value.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"expected KEY=VALUE, got {pair!r}", source="--set")
        out[key.strip().replace("-", "_")] = strategy_cls.param(key.strip().replace("-", "_")).coerce(value.strip(), where="--set")
    return out


__all__ += ["params_from_strings"]
