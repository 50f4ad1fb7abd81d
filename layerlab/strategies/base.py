"""The one small interface every layering strategy implements.

A strategy turns **one image's** closure graph, plus shared context (a
popularity table), into an ordered list of :class:`Layer` objects under a
budget.  It never sees the other images of a set.

* :class:`Param` describes a parameter with its type, default and range, so
  that command-line ``--set key=value``, notebook widgets and sweeps are
  generated from the declaration rather than written by hand.
* :class:`Strategy` is a frozen dataclass whose fields, declared with
  :func:`param` (a field carrying its :class:`Param`), are its typed, validated
  parameters; ``group`` runs it.  A configured strategy round-trips through
  JSON (``to_json``/``from_json``).
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

import dataclasses
import math
from abc import ABC, ABCMeta, abstractmethod
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Self, TypeVar, cast

import orjson

from ..errors import ConfigError, StrategyError
from ..graph import BoundedCache, ClosureGraph
from ..popularity import Popularity

__all__ = [
    "Layer",
    "LayerBatch",
    "Param",
    "Context",
    "Strategy",
    "StrategyType",
    "param",
    "check_layers",
    "layers_to_json",
    "make_layer",
    "layer_identity",
    "merge_rating",
    "DEFAULT_BUDGET",
]

DEFAULT_BUDGET = 94

_T = TypeVar("_T")

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
        """Nixery's ``layers.json`` entry: ``{"contents": [...], "mergeRating": n}``, ``n`` a ``uint64``.

        See :func:`merge_rating`.

        Example:
            >>> Layer(("/s/a", "/s/b"), 30, rating=7.4).to_json()
            {'contents': ['/s/a', '/s/b'], 'mergeRating': 7}
        """
        return {"contents": list(self.paths), "mergeRating": merge_rating(self.rating)}

    def __len__(self) -> int:
        return len(self.paths)


def make_layer(
    graph: ClosureGraph, indices: Iterable[int], *, rating: int | float = 0, reason: str = "", root: int | None = None
) -> Layer:
    """Build a :class:`Layer` from path indices of ``graph`` (sorted, sized).

    Example:
        >>> g = ClosureGraph.from_records([{"path": "/s/a", "narSize": 1}, {"path": "/s/b", "narSize": 2}])
        >>> make_layer(g, [1, 0], reason="demo")
        Layer(paths=('/s/a', '/s/b'), size=3, rating=0, reason='demo', root=None)
    """
    idx = list(indices)
    nar = graph.nar_size
    size = None
    if len(idx) >= _LAYER_VECTORISE_FROM and len(graph.paths) >= _VECTORISE_FROM:
        # numpy sorts large index lists several times faster, and sums their sizes without a look at each path
        import numpy as np

        at = np.sort(np.array(idx, dtype=np.int64))
        idx = at.tolist()
        if graph.nar_bytes is not None:
            size = int(graph.nar_bytes[at].sum())
    else:
        idx.sort()
    if size is None and nar is not None:
        size = sum(map(nar.__getitem__, idx))
    return Layer(
        paths=tuple(map(graph.paths.__getitem__, idx)),
        size=size,
        rating=rating,
        reason=reason,
        root=None if root is None else graph.paths[root],
    )


def check_budget(budget: Any, source: str | None = None) -> int:
    """``budget`` if it is a layer budget (an integer of at least 1), else a :class:`ConfigError`.

    The one check of budgets: grouping, batches, sweeps and the scorecard use it.

    Example:
        >>> check_budget(30)
        30
        >>> check_budget(0, "sweep")
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: sweep: budget must be an integer of at least 1, not 0
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ConfigError(f"budget must be an integer of at least 1, not {budget!r}", source=source)
    return budget


def layer_identity(paths: Sequence[str]) -> str:
    """Nixery's layer identity: SHA-1 hex of the sorted paths joined by ``:``.

    Equal path sets have equal identities; reproducible tarballs make their
    digests equal too.

    Example:
        >>> import hashlib
        >>> layer_identity(["/s/b", "/s/a"]) == hashlib.sha1(b"/s/a:/s/b").hexdigest()
        True
    """
    import hashlib  # loads OpenSSL: only for the commands that need identities

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
    """Serialise layers as Nixery's ``layers.json`` (compact, deterministic).

    Example:
        >>> layers_to_json([Layer(("/s/a",), 1, rating=2)])
        b'[{"contents":["/s/a"],"mergeRating":2}]'
    """
    return orjson.dumps([layer.to_json() for layer in layers])


@dataclass(frozen=True)
class LayerBatch:
    """One graph's layerings for several budgets, as unions of shared groups.

    What :meth:`Strategy.group_batch` returns.  A strategy whose layerings for
    different budgets (or configurations) share most layers says so by
    returning the shared path sets once, in ``groups``; a caller that
    evaluates many layerings (a sweep) then works on each group once.

    Attributes:
        groups: path-index sets of the graph (sorted tuples).
        layerings: one per budget asked for, in that order; each layer, in
            output order, is a tuple of indices into ``groups`` whose union it
            is.
        key: a hashable identity of ``groups`` for this graph and context
            (two batches with equal keys have equal groups), or ``None``.

    Example:
        >>> b = LayerBatch(((0,), (1, 2)), [[(0, 1)], [(0,), (1,)]])
        >>> b.layer_indices(0), b.layer_indices(1)
        ([(0, 1, 2)], [(0,), (1, 2)])
    """

    groups: Sequence[tuple[int, ...]]
    layerings: Sequence[Sequence[tuple[int, ...]]]
    key: Hashable | None = None

    def layer_indices(self, n: int) -> list[tuple[int, ...]]:
        """The path indices of every layer of layering ``n`` (sorted).

        Example:
            >>> LayerBatch(((0,), (1,), (2,)), [[(0, 2), (1,)]]).layer_indices(0)
            [(0, 2), (1,)]
        """
        groups = self.groups
        return [
            groups[ms[0]] if len(ms) == 1 else tuple(sorted(i for m in ms for i in groups[m]))
            for ms in self.layerings[n]
        ]


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
                    raise ConfigError(
                        f"{self.name} must be one of {', '.join(map(str, self.choices))}, not {value!r}", source=src
                    )
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
        """The declaration as JSON (for ``layerlab strategies --json`` and UIs).

        Example:
            >>> Param("n", "int", 3, "a count", minimum=0).to_json()["minimum"]
            0
        """
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
        """Return the popularity table or raise a clear error naming ``who`` needs it.

        Example:
            >>> Context().require_popularity("nixery")
            Traceback (most recent call last):
            ...
            layerlab.errors.StrategyError: nixery needs popularity data (pass --popularity FILE)
        """
        if self.popularity is None:
            raise StrategyError(f"{who} needs popularity data (pass --popularity FILE)")
        return self.popularity


def param(
    kind: str,
    default: _T,
    help: str = "",
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Iterable[Any] = (),
    log: bool = False,
    optional: bool = False,
) -> _T:
    """Declare a strategy parameter: a dataclass field carrying its :class:`Param`.

    The field's name is the parameter's name; the arguments are those of
    :class:`Param` after ``name``.  A ``dict`` default is copied for every
    instance.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True, eq=False)
        ... class Demo(Strategy):
        ...     name = "demo"
        ...     alpha: float = param("float", 0.5, "a weight", minimum=0, maximum=1)
        ...     def _group(self, graph, context, budget):
        ...         return []
        >>> Demo(alpha="0.25").alpha, Demo.param("alpha").maximum
        (0.25, 1)
    """
    declared = Param("", kind, default, help, minimum, maximum, tuple(choices), log, optional)
    meta = {"param": declared}
    if isinstance(default, dict):
        frozen = dict(default)
        return cast(_T, field(default_factory=lambda: dict(frozen), metadata=meta))
    return cast(_T, field(default=default, metadata=meta))


class StrategyType(ABCMeta):
    """The metaclass of strategies: declared parameters and checked construction.

    ``cls.params`` lists the :class:`Param` of every field declared with
    :func:`param`, in field order, each named after its field.  Calling a
    strategy class with a keyword it does not declare raises
    :class:`~layerlab.errors.ConfigError` naming the known ones.

    Example:
        >>> from layerlab.strategies import Keystone
        >>> [p.name for p in Keystone.params]
        ['alpha', 'min_layer_size', 'attach_popularity', 'beta']
    """

    def __call__(cls, *args: Any, **values: Any) -> Any:
        declared = [p.name for p in cls.params]
        unknown = sorted(set(values) - set(declared))
        if unknown:
            known = ", ".join(declared) or "none"
            where = f"strategy {getattr(cls, 'name', '') or cls.__name__}"
            raise ConfigError(f"unknown parameter {', '.join(unknown)} (known: {known})", source=where)
        return super().__call__(*args, **values)

    @property
    def params(cls) -> tuple[Param, ...]:
        """The declared parameters, in field order."""
        cached: tuple[Param, ...] | None = cls.__dict__.get("_declared_params")
        if cached is None:
            if not dataclasses.is_dataclass(cls):
                return ()
            cached = tuple(
                dataclasses.replace(f.metadata["param"], name=f.name)
                for f in dataclasses.fields(cls)
                if "param" in f.metadata
            )
            type.__setattr__(cls, "_declared_params", cached)
        return cached


class _InstanceParams:
    """``strategy.params`` on an instance: the declared parameters of its class."""

    def __get__(self, obj: object, owner: type | None = None) -> tuple[Param, ...]:
        cls = owner if obj is None else type(obj)
        return StrategyType.params.__get__(cls)


class Strategy(ABC, metaclass=StrategyType):
    """A configured layering strategy.

    A subclass is a frozen dataclass (``@dataclass(frozen=True, eq=False)``)
    whose fields, declared with :func:`param`, are its parameters: typed
    attributes (``self.alpha``) from which ``--set``, widgets, sweep spaces
    and ``layerlab strategies`` are generated.  It sets ``name`` and
    ``summary`` and implements :meth:`_group`.  Values are coerced and
    validated on construction (``"100M"`` for a byte size); unknown or invalid
    values raise :class:`~layerlab.errors.ConfigError`.

    Example:
        >>> from layerlab.strategies import Nixery
        >>> s = Nixery(size_threshold="50M")
        >>> s.size_threshold, s.replace(merge_mode="resort").merge_mode
        (50000000, 'resort')
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
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
    #: The declared parameters (see :class:`StrategyType`), also on instances.
    params: ClassVar[_InstanceParams] = _InstanceParams()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "params" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__}: declare parameters as dataclass fields with param(...), not a params tuple"
            )

    def __post_init__(self) -> None:
        where = f"strategy {self.name}"
        for p in type(self).params:
            object.__setattr__(self, p.name, p.coerce(getattr(self, p.name), where=where))
        self._validate()

    def _validate(self) -> None:
        """Cross-parameter checks; raise ConfigError."""

    @property
    def values(self) -> Mapping[str, Any]:
        """Parameter name -> value, in declaration order.

        Example:
            >>> from layerlab.strategies import Keystone
            >>> dict(Keystone(alpha=0.5).values)["alpha"]
            0.5
        """
        return MappingProxyType({p.name: getattr(self, p.name) for p in type(self).params})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Strategy) and type(self) is type(other) and dict(self.values) == dict(other.values)

    def __hash__(self) -> int:
        return hash((type(self).__name__, orjson.dumps(dict(self.values), option=orjson.OPT_SORT_KEYS)))

    @classmethod
    def param(cls, name: str) -> Param:
        """The declaration of parameter ``name``.

        Example:
            >>> from layerlab.strategies import Nixery
            >>> Nixery.param("merge_mode").choices
            ('seed', 'resort')
        """
        for p in cls.params:
            if p.name == name:
                return p
        raise ConfigError(f"unknown parameter {name}", source=f"strategy {cls.name}")

    def replace(self, **changes: Any) -> Self:
        """A copy with some parameters changed (validated like the constructor).

        Example:
            >>> from layerlab.strategies import Keystone
            >>> Keystone().replace(beta=0).beta
            0.0
        """
        return type(self)(**{**self.values, **changes})

    def to_json(self) -> dict[str, Any]:
        """``{"strategy": name, "params": {...}}``, every parameter spelled out.

        Example:
            >>> from layerlab.strategies import Keystone
            >>> Keystone().to_json()["params"]["alpha"]
            0.1
        """
        return {"strategy": self.name, "params": dict(self.values)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`to_json` for this class (presets of the class accepted).

        Raises:
            ConfigError: not ``{"strategy": NAME, "params": {...}}``, a name of
                another class, or invalid parameters.

        Example:
            >>> from layerlab.strategies import Nixery
            >>> s = Nixery(merge_mode="resort")
            >>> Nixery.from_json(s.to_json()) == s
            True
        """
        if not isinstance(doc, Mapping) or "strategy" not in doc:
            raise ConfigError('expected {"strategy": NAME, "params": {...}}')
        name = doc["strategy"]
        if name != cls.name and name not in cls.presets:
            raise ConfigError(f"a {cls.name} strategy cannot be read from a {name!r} document", source="strategy")
        params = doc.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError("'params' must be an object", source=f"strategy {name}")
        return cls(**{**cls.presets.get(name, {}), **params})

    def group(
        self, graph: ClosureGraph, context: Context | None = None, budget: int = DEFAULT_BUDGET, *, check: bool = True
    ) -> list[Layer]:
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

        Example:
            >>> from layerlab.strategies import PerPath
            >>> g = ClosureGraph.from_records([{"path": "/s/a", "narSize": 1}, {"path": "/s/b", "narSize": 2}])
            >>> [layer.paths for layer in PerPath().group(g, budget=1)]
            [('/s/a', '/s/b')]
        """
        check_budget(budget)
        if not graph.paths:
            return []
        layers = self._group(graph, context or Context(), budget)
        if check:
            check_layers(graph, layers, budget, who=self.name)
        return layers

    def group_batch(
        self,
        graph: ClosureGraph,
        context: Context | None = None,
        budgets: Sequence[int] = (DEFAULT_BUDGET,),
        memo: BoundedCache[Any, Any] | None = None,
        *,
        check: bool = True,
    ) -> LayerBatch:
        """The layerings for several budgets at once, as :meth:`group` gives them.

        The batch hook: layering ``n`` of the result holds the same layers, in
        the same order, as ``group(graph, context, budgets[n])``.  A strategy
        may override :meth:`_group_batch` to share work between budgets and,
        through ``memo``, between calls; the default runs :meth:`_group` once
        per budget.  A subclass that overrides :meth:`_group` but inherits a
        parent's batch hook gets the default, so the hook never bypasses its
        grouping.  Sweeps call this hook.

        Args:
            graph: as for :meth:`group`.
            context: as for :meth:`group`.
            budgets: the budgets (each at least 1).
            memo: a cache the caller keeps for this graph and context across
                calls (for example with other configurations); the strategy
                chooses its keys, which must hold every parameter the value
                depends on.  ``None``: a fresh one.
            check: verify every layering with :func:`check_layers`.

        Example:
            >>> from layerlab.strategies import Nixery
            >>> g = ClosureGraph.from_records([{"path": "/s/a-a", "closureSize": 1},
            ...                               {"path": "/s/b-b", "closureSize": 2}])
            >>> b = Nixery().group_batch(g, budgets=[2, 1])
            >>> [b.layer_indices(n) for n in range(2)]
            [[(0,), (1,)], [(0, 1)]]
        """
        for budget in budgets:
            check_budget(budget)
        if not graph.paths:
            return LayerBatch((), [[] for _ in budgets])
        memo = memo if memo is not None else BoundedCache(64)
        if _defined_in(type(self), "_group_batch") is not Strategy and not issubclass(
            _defined_in(type(self), "_group_batch"), _defined_in(type(self), "_group")
        ):
            # A subclass overrode _group below the class whose batch hook it inherits:
            # that hook would not run the subclass's grouping, so use the default.
            batch = Strategy._group_batch(self, graph, context or Context(), list(budgets), memo)
        else:
            batch = self._group_batch(graph, context or Context(), list(budgets), memo)
        if check:
            for n, budget in enumerate(budgets):
                layers = [make_layer(graph, idx) for idx in batch.layer_indices(n)]
                check_layers(graph, layers, budget, who=self.name)
        return batch

    def _group_batch(
        self, graph: ClosureGraph, context: Context, budgets: list[int], memo: BoundedCache[Any, Any]
    ) -> LayerBatch:
        """The batch hook's default: :meth:`_group` per budget, equal layers shared.

        Override it to share work; ``graph`` is non-empty, every budget at
        least 1, and ``memo`` the caller's (or a fresh) cache for this graph
        and context.
        """
        index = graph.index
        groups: list[tuple[int, ...]] = []
        where: dict[tuple[int, ...], int] = {}
        layerings = []
        for budget in budgets:
            layering = []
            for layer in self._group(graph, context, budget):
                idx = tuple(sorted(index[p] for p in layer.paths))
                g = where.get(idx)
                if g is None:
                    g = where[idx] = len(groups)
                    groups.append(idx)
                layering.append((g,))
            layerings.append(layering)
        return LayerBatch(groups, layerings)

    @abstractmethod
    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        """Compute the layers; ``graph`` is non-empty and ``budget >= 1``."""


def _defined_in(cls: type, name: str) -> type:
    """The class of ``cls``'s method resolution order that defines ``name``."""
    return next(klass for klass in cls.__mro__ if name in vars(klass))


def check_layers(
    graph: ClosureGraph, layers: Sequence[Layer], budget: int | None = None, *, who: str = "strategy"
) -> None:
    """Verify that ``layers`` partition ``graph``: every path exactly once, within budget.

    Raises:
        StrategyError: a path missing, duplicated or foreign, an empty layer,
            unsorted paths, or more layers than ``budget``.

    Example:
        >>> g = ClosureGraph.from_records([{"path": "/s/a", "narSize": 1}, {"path": "/s/b", "narSize": 2}])
        >>> check_layers(g, [Layer(("/s/a", "/s/b"), 3)], budget=1)  # passes silently
        >>> check_layers(g, [Layer(("/s/a",), 1)], who="demo")
        Traceback (most recent call last):
        ...
        layerlab.errors.StrategyError: demo left /s/b out of every layer
    """
    if budget is not None and len(layers) > budget:
        raise StrategyError(f"{who} produced {len(layers)} layers for a budget of {budget}", source=graph.source)
    # Fast path, in C: the layers hold as many paths as the graph and their
    # union is the graph's path set (so no path twice), and each layer is
    # sorted (timsort checks an already sorted tuple in one pass).
    groups = [layer.paths for layer in layers]
    total = sum(map(len, groups))
    if total == len(graph.paths) >= _VECTORISE_FROM:
        if _partition_vectorised(graph, groups, total):
            return
    elif (
        total == len(graph.paths)
        and graph.index.keys() == set().union(*groups)
        and all(g and g == tuple(sorted(g)) for g in groups)
    ):
        return
    _explain_bad_layers(graph, layers, who)


#: From this many paths on, layers are checked with numpy.
_VECTORISE_FROM = 4096

#: From this many paths on, a layer of a graph of at least ``_VECTORISE_FROM`` paths is made with numpy.
_LAYER_VECTORISE_FROM = 512


def _partition_vectorised(graph: ClosureGraph, groups: Sequence[Sequence[str]], total: int) -> bool:
    """Whether ``groups`` (holding ``total`` paths, as many as the graph) are non-empty,
    sorted and hold every path of ``graph`` once: each path's index in one pass,
    then every index counted once and ascending inside each group."""
    import itertools

    import numpy as np

    try:
        where = np.fromiter(
            map(graph.index.__getitem__, itertools.chain.from_iterable(groups)), dtype=np.int64, count=total
        )
    except (KeyError, TypeError):
        return False
    sizes = np.fromiter(map(len, groups), dtype=np.int64, count=len(groups))
    if not sizes.all() or not (np.bincount(where, minlength=total) == 1).all():
        return False
    rising = np.diff(where) > 0  # graph paths are sorted: a sorted group has rising indices
    rising[np.cumsum(sizes)[:-1] - 1] = True  # from one group to the next anything goes
    return bool(rising.all())


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

    Example:
        >>> from layerlab.strategies import Nixery
        >>> params_from_strings(Nixery, ["size-threshold=50M", "merge_mode=resort"])
        {'size_threshold': 50000000, 'merge_mode': 'resort'}
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"expected KEY=VALUE, got {pair!r}", source="--set")
        out[key.strip().replace("-", "_")] = strategy_cls.param(key.strip().replace("-", "_")).coerce(
            value.strip(), where="--set"
        )
    return out


__all__ += ["params_from_strings", "check_budget"]
