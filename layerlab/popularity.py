"""Package popularity: how many packages of a package set reference each package.

Nixery decides that a store path deserves a layer of its own when it is
popular, and scores layers by popularity when it has to merge them.  The data
is a JSON object ``{"<name>-<version>": count}`` keyed by the store path
without its ``/nix/store/<hash>-`` prefix (Nixery's ``popularity.json``).

Two refinements over the original look-up, both off by default so Nixery's
results are reproduced exactly:

* ``by_name``: when ``name-version`` is absent, fall back to the highest count
  of any version of the same name (``parseDrvName`` rules), so a version bump
  does not silently drop a popular package to popularity 1.
* ``forced``: glob patterns forced to a count, as later Nixery versions force
  ``nss-cacert*`` and ``iana-etc*`` to 500,000.

Example:
    >>> pop = Popularity({"glibc-2.32": 5000, "hello-2.10": 3})
    >>> pop.of("/nix/store/0c7c96gikmzv87i7lv3vq5s1cmfjd6zf-glibc-2.32")
    5000
    >>> pop.of("/nix/store/0c7c96gikmzv87i7lv3vq5s1cmfjd6zf-glibc-2.33")
    1
    >>> Popularity(pop.counts, by_name=True).of("/nix/store/0c7c96gikmzv87i7lv3vq5s1cmfjd6zf-glibc-2.33")
    5000
"""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import os
from collections import Counter
from collections.abc import ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import orjson

from .errors import InputError, PopularityError
from .fileio import read_bytes
from .graph import ClosureGraph, parse_name, store_name

try:
    from . import _popindex
except ImportError:  # built without a C compiler: every table is decoded whole
    _popindex = None  # type: ignore[assignment]

__all__ = ["Popularity", "load_popularity", "parse_popularity", "compute_popularity", "NIXERY_2022_FORCED"]

#: The popularity later Nixery versions force for certificate and service data.
NIXERY_2022_FORCED: Mapping[str, int] = MappingProxyType({"nss-cacert*": 500_000, "iana-etc*": 500_000})


class _IndexedCounts(Mapping[str, int]):
    """The counts of a popularity document, looked up in its bytes until something iterates them.

    A closure of a few hundred paths reads a few hundred of a table's tens of
    thousands of entries.  :func:`parse_popularity` has the compiled helper
    ``_popindex`` check the document and index where each key lies (see
    ``_popindex.c``); look-ups then cost no decoding.  Iterating (``items()``,
    ``values()``, ``dict(...)``) decodes the document once, into the dict a
    general decoding would have made; equality and pickling behave as that
    dict's.
    """

    __slots__ = ("_data", "_table", "_entries", "_decoded", "_lookup")

    def __init__(self, data: bytes, table: bytes, entries: int) -> None:
        self._data = data
        self._table = table
        self._entries = entries
        self._decoded: dict[str, int] | None = None
        self._lookup = _popindex.lookup

    @property
    def _dict(self) -> dict[str, int]:
        if self._decoded is None:
            self._decoded = orjson.loads(self._data)
        return self._decoded

    def lookup_many(self, names: Sequence[str], default: int) -> tuple[int, ...]:
        """Each name's count, ``default`` for a name the table does not hold.

        More names than the table has entries (a package universe) are looked
        up in the decoded dict, whose strings carry their hashes: past that
        point decoding once costs less than hashing every name.
        """
        if len(names) > self._entries:
            return tuple(map(self._dict.get, names, itertools.repeat(default)))
        return self._lookup(self._data, self._table, names, default)

    def get(self, key: object, default: Any = None) -> Any:
        if not isinstance(key, str):
            return default
        return self._lookup(self._data, self._table, (key,), default)[0]

    def __getitem__(self, key: str) -> int:
        found: int | None = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        return self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def keys(self) -> KeysView[str]:
        return self._dict.keys()

    def values(self) -> ValuesView[int]:
        return self._dict.values()

    def items(self) -> ItemsView[str, int]:
        return self._dict.items()

    def __repr__(self) -> str:
        return repr(self._dict)

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (self._dict,))


@dataclass(frozen=True, eq=False)
class Popularity:
    """A popularity table with Nixery's look-up rules.

    Attributes:
        counts: ``name-version`` -> count.
        by_name: fall back to the best count of any version of the same name.
        default: the popularity of a package absent from the table (Nixery: 1).
        forced: glob pattern on ``name-version`` -> count, checked first.
        source: where the table came from, for messages.
    """

    counts: Mapping[str, int]
    by_name: bool = False
    default: int = 1
    forced: Mapping[str, int] = field(default_factory=dict)
    source: str | None = None

    def __len__(self) -> int:
        return len(self.counts)

    @cached_property
    def _name_counts(self) -> dict[str, int]:
        best: dict[str, int] = {}
        for key, count in self.counts.items():
            pname = parse_name(key)[0]
            if count > best.get(pname, -1):
                best[pname] = count
        return best

    def of_name(self, name: str) -> int:
        """Popularity of a ``name-version`` string.

        Example:
            >>> Popularity({}, forced={"iana-etc*": 500000}).of_name("iana-etc-20190820")
            500000
        """
        for pattern, count in self.forced.items():
            if fnmatch.fnmatchcase(name, pattern):
                return count
        found = self.counts.get(name)
        if found is None and self.by_name:
            found = self._name_counts.get(parse_name(name)[0])
        return self.default if found is None else found

    def of(self, path: str) -> int:
        """Popularity of a store path (its ``name-version`` looked up).

        Example:
            >>> Popularity({"hello-2.10": 7}).of("/nix/store/aaaa-hello-2.10")
            7
        """
        return self.of_name(store_name(path))

    def for_graph(self, graph: ClosureGraph) -> tuple[int, ...]:
        """Popularity of every path of ``graph``, by index.

        Example:
            >>> from layerlab.graph import ClosureGraph
            >>> g = ClosureGraph.from_records([{"path": "/s/a-hello-2.10"}, {"path": "/s/b-glibc-2.32"}])
            >>> Popularity({"glibc-2.32": 900}).for_graph(g)
            (1, 900)
        """
        if not self.forced and not self.by_name:
            if type(self.counts) is _IndexedCounts:
                return self.counts.lookup_many(graph.names, self.default)
            return tuple(map(self.counts.get, graph.names, itertools.repeat(self.default)))
        return tuple(self.of_name(n) for n in graph.names)

    def threshold_at_percentile(self, q: float) -> int:
        """The smallest count that at most ``100 - q`` percent of entries reach.

        ``q=99`` gives the count only the top 1% of packages have, the rule of
        thumb behind Nixery's threshold of 1000.

        Example:
            >>> Popularity({str(i): i for i in range(1, 101)}).threshold_at_percentile(90)
            91
        """
        if not 0 <= q <= 100:
            raise PopularityError(f"percentile {q} is outside 0..100", source=self.source)
        values = sorted(self.counts.values())
        if not values:
            return self.default + 1
        k = int(len(values) * q / 100)
        if k >= len(values):
            return values[-1] + 1
        return values[k]

    def with_options(self, **changes: Any) -> Popularity:
        """A copy with some of ``by_name``, ``default``, ``forced`` changed.

        Example:
            >>> p = Popularity({"glibc-2.31": 900}).with_options(by_name=True)
            >>> p.of_name("glibc-2.32")
            900
        """
        return dataclasses.replace(self, **changes)

    def to_json(self) -> bytes:
        """The table as Nixery's ``popularity.json`` (keys sorted).

        Example:
            >>> Popularity({"b-1": 2, "a-1": 5}).to_json()
            b'{"a-1":5,"b-1":2}'
        """
        return orjson.dumps(dict(self.counts), option=orjson.OPT_SORT_KEYS)


def parse_popularity(data: bytes | str | Mapping[str, Any], *, source: str | None = None) -> Popularity:
    """Validate a popularity document.

    Raises:
        PopularityError: not an object, or a count that is not a non-negative integer.

    Example:
        >>> parse_popularity(b'{"hello-2.10": 4}').of_name("hello-2.10")
        4
        >>> parse_popularity(b'{"hello-2.10": -1}', source="pop.json")
        Traceback (most recent call last):
        ...
        layerlab.errors.PopularityError: pop.json: ...
    """
    if type(data) is bytes and _popindex is not None:
        found = _popindex.index(data)
        if found is not None:  # an object of plain names and counts, checked in C; decoded on demand
            return Popularity(_IndexedCounts(data, found[1], found[0]), source=source)
    if isinstance(data, (bytes, str)):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as err:
            raise InputError(f"malformed JSON: {err}", source=source) from None
    if not isinstance(data, Mapping):
        raise PopularityError(
            f"expected an object of name-version -> count, found {type(data).__name__}", source=source
        )
    values = data.values()
    if set(map(type, values)) <= {int} and min(values, default=0) >= 0:  # the usual case, checked in C
        return Popularity(data if type(data) is dict else dict(data), source=source)
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise PopularityError(f"popularity of {key!r} is {value!r}, expected an integer", source=source)
        if value < 0:
            raise PopularityError(f"popularity of {key!r} is negative ({value})", source=source)
    return Popularity(dict(data), source=source)


def load_popularity(path: str | os.PathLike[str]) -> Popularity:
    """Load Nixery's ``popularity.json``.

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "p.json")
        >>> _ = open(f, "w").write('{"a-1": 3}')
        >>> load_popularity(f).of_name("a-1")
        3
    """
    return parse_popularity(read_bytes(path), source=str(path))


def compute_popularity(graph: ClosureGraph, *, drop_ones: bool = False) -> Popularity:
    """Popularity from a package-set graph: how many paths directly reference each package.

    This is Nixery's ``popcount``: over every store path of the package set,
    count each ``name-version`` among its references (self-references
    excluded).  Nixery drops the entries counted once (``drop_ones``); they
    look up as the default popularity 1 anyway.  Transcribed from Nixery's
    ``popcount/popcount.go`` (commit ``89a03768cde7ba0dc85355c518dcd2e5f2a7b3c8``).

    Example:
        >>> g = ClosureGraph.from_records([
        ...     {"path": "/nix/store/a-x-1", "references": ["/nix/store/c-libc-2"]},
        ...     {"path": "/nix/store/b-y-1", "references": ["/nix/store/c-libc-2"]},
        ...     {"path": "/nix/store/c-libc-2", "references": []}])
        >>> dict(compute_popularity(g).counts)
        {'libc-2': 2}
    """
    names = graph.names
    counter: Counter[str] = Counter()
    for rs in graph.refs:
        for j in rs:
            counter[names[j]] += 1
    counts = {k: v for k, v in sorted(counter.items()) if not (drop_ones and v == 1)}
    return Popularity(counts, source=graph.source)
