"""The closure graph model: store paths, their sizes and their references.

A :class:`ClosureGraph` is an immutable, index-based view of a Nix runtime
closure.  Paths are kept **sorted by their string**, and every other field is
indexed by a path's position in :attr:`ClosureGraph.paths`.  Sorting makes
every algorithm built on top deterministic whatever order the input file
listed the paths in, and integer indices keep the hot loops of the
strategies cheap (a 63,000-path graph groups in well under a second).

Self-references (Nix lists each path among its own references) are dropped;
duplicate references are folded.  Cycles are allowed: the Debian-derived data
has small ones (``libc6 <-> libgcc-s1``), and Nix itself can produce them
between the outputs of one derivation.

Sizes:

* ``nar_size`` is a path's own size (``narSize``), or ``None`` for the whole
  graph when the input did not carry it for every path.
* ``closure_size`` is the size of a path plus everything it references
  transitively, each path counted once (``closureSize``).  When the input lacks
  it but has ``narSize`` it is computed; a graph with neither has ``None``.

Loaders for the file formats live in :mod:`layerlab.sources.files`; this module
only holds the model and the algorithms on it.

Example:
    >>> g = ClosureGraph.from_records(
    ...     [{"path": "/nix/store/aaa-hello-2.10", "narSize": 10,
    ...       "references": ["/nix/store/aaa-hello-2.10", "/nix/store/bbb-glibc-2.32"]},
    ...      {"path": "/nix/store/bbb-glibc-2.32", "narSize": 30, "references": []}])
    >>> g.paths
    ('/nix/store/aaa-hello-2.10', '/nix/store/bbb-glibc-2.32')
    >>> g.closure_size, [g.paths[r] for r in g.roots]
    ((40, 30), ['/nix/store/aaa-hello-2.10'])
"""

from __future__ import annotations

import itertools
import re
import sys
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter, methodcaller
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, cast

from .errors import GraphError

if TYPE_CHECKING:  # pragma: no cover
    import networkx

__all__ = [
    "ClosureGraph",
    "GraphMemo",
    "BoundedCache",
    "Condensation",
    "condensation",
    "store_name",
    "parse_name",
    "DEFAULT_STORE_DIR",
    "reference_arrays",
    "ReferenceIndices",
]

DEFAULT_STORE_DIR = "/nix/store"

_SIZE_BLOCK = 8192  # closure bit-set columns per pass when computing closureSize
_SIZE_ROWS = 4096  # rows weighed per numpy call

_NAMES = re.compile(r"(?m)^(?:[^\n]*/)?(?:[0-9a-z]+-)?([^\n]*)$")
_VERSION_START = re.compile(r"-(?=[0-9])")


def store_name(path: str) -> str:
    """Return a store path's name: its base name without the hash.

    This is the key Nixery's popularity tables use (``name-version``).

    Example:
        >>> store_name("/nix/store/0c7c96gikmzv87i7lv3vq5s1cmfjd6zf-openssl-1.1.1c")
        'openssl-1.1.1c'
        >>> store_name("/nix/store/aaaa-A")
        'A'
    """
    base = path[path.rfind("/") + 1 :]
    k = base.find("-")
    if k > 0:
        h = base[:k]
        if h.isascii() and h.isalnum() and (h.islower() or h.isdigit()):
            return base[k + 1 :]
    return base


def _standard_names(paths: Sequence[str]) -> tuple[str, ...] | None:
    """:func:`store_name` of every path of a sorted sequence when all are
    ``DIR/HASH-NAME`` in one directory with 32-character hashes (as Nix makes
    them), by slicing at a fixed place; ``None`` otherwise.

    Example:
        >>> _standard_names(["/nix/store/0c7c96gikmzv87i7lv3vq5s1cmfjd6zf-openssl-1.1.1c"])
        ('openssl-1.1.1c',)
        >>> _standard_names(["/nix/store/aaaa-A"]) is None
        True
    """
    if not paths:
        return ()
    k = paths[0].rfind("/") + 1  # where the hash starts
    if not paths[-1].startswith(paths[0][:k]):  # the paths are sorted: all between share the prefix
        return None
    try:
        dashes = "".join(map(itemgetter(k + 32), paths))
        hashes = "".join(map(itemgetter(slice(k, k + 32)), paths)).encode("ascii")
    except (IndexError, UnicodeEncodeError):
        return None
    if dashes != "-" * len(paths) or hashes.translate(None, _HASH_CHARACTERS):
        return None
    names = tuple(map(itemgetter(slice(k + 33, None)), paths))
    return None if "/" in "".join(names) else names


#: The characters of a store path's hash, as :func:`store_name` recognises it.
_HASH_CHARACTERS = b"0123456789abcdefghijklmnopqrstuvwxyz"


def parse_name(name: str) -> tuple[str, str]:
    """Split ``name-version`` the way ``builtins.parseDrvName`` does.

    The version starts at the first ``-`` followed by a digit.

    Example:
        >>> parse_name("libc6-2.36-9+deb12u14")
        ('libc6', '2.36-9+deb12u14')
        >>> parse_name("iana-etc")
        ('iana-etc', '')
    """
    m = _VERSION_START.search(name)
    if m is None:
        return name, ""
    return name[: m.start()], name[m.end() :]


def _sorted_unique(values: Any) -> Any:
    """The distinct values of an integer array, ascending: a sort and a mask.

    ``numpy.unique`` gives the same, but through a hash table that is many
    times slower than sorting on large integer arrays.

    Example:
        >>> import numpy as np
        >>> _sorted_unique(np.array([3, 1, 3, 2])).tolist()
        [1, 2, 3]
    """
    import numpy as np

    out = np.sort(np.asarray(values).ravel())
    if len(out) > 1:
        out = out[np.concatenate(([True], out[1:] != out[:-1]))]
    return out


def _check_size(value: Any, key: str, path: str, source: str | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GraphError(f"{key} of {path} is {value!r}, expected a non-negative integer", source=source)
    return value


def _field(recs: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    """Every record's ``key`` (``None`` where absent), in one C-level pass."""
    return list(map(methodcaller("get", key), recs))


def _plain_sizes(values: Sequence[Any]) -> bool:
    """Whether every value is ``None`` or a non-negative ``int`` (checked in C)."""
    types = set(map(type, values))
    if types <= {int}:
        return not values or min(values) >= 0
    if types <= {int, type(None)}:
        present = [v for v in values if v is not None]
        return not present or min(present) >= 0
    return False


def _normalised(
    path: str, refs: Any, nar: Any, closure: Any, nar_hash: Any, store_dir: str | None, source: str | None
) -> tuple:
    """One record's data as compared between two listings of the same path."""
    refs = refs or ()
    if not isinstance(refs, (list, tuple)) or not all(isinstance(r, str) for r in refs):
        raise GraphError(f"references of {path} must be a list of strings", source=source)
    if store_dir is not None:
        refs = [r if "/" in r else f"{store_dir}/{r}" for r in refs]
    return (nar, closure, tuple(sorted(set(refs))), nar_hash)


#: From this many paths on, references are resolved with numpy.
_VECTORISE_FROM = 4096


def _path_order(paths: list[str]) -> list[int]:
    """The positions of ``paths`` in sorted order.

    Large sets of store paths (one directory, ASCII, at least 16 characters
    after it) are sorted in numpy by those 16 characters read as two
    big-endian words, which orders them as the strings when no two share
    them; otherwise, and for small sets, by the strings.

    Example:
        >>> _path_order(["/s/b", "/s/a", "/s/c"])
        [1, 0, 2]
    """
    n = len(paths)
    if n >= _VECTORISE_FROM:
        import numpy as np

        k = paths[0].rfind("/") + 1  # the directory's length
        joined = "".join(paths)
        lengths = np.fromiter(map(len, paths), dtype=np.int64, count=n)
        if joined.isascii() and lengths.min() >= k + 16:
            data = joined.encode("ascii")
            starts = np.zeros(n, dtype=np.int64)
            np.cumsum(lengths[:-1], out=starts[1:])
            words = np.ndarray((len(data) - 7,), dtype=">u8", buffer=data, strides=(1,))
            # Every path starts with the first one's directory: compared 8 characters at a time.
            same_dir = k < 8 or all(
                bool((words[starts + at] == words[at]).all()) for at in {*range(0, k - 7, 8), k - 8}
            )
            if same_dir and (k >= 8 or all(map(str.startswith, paths, itertools.repeat(paths[0][:k])))):
                high = words[starts + k].astype(np.uint64)
                order = np.argsort(high)
                tied = high[order[1:]] == high[order[:-1]]
                if tied.any():  # rare: 8 characters of 32 random ones seldom repeat
                    low = words[starts + k + 8].astype(np.uint64)
                    order = np.lexsort((low, high))
                    tied = (high[order[1:]] == high[order[:-1]]) & (low[order[1:]] == low[order[:-1]])
                if not tied.any():  # no ties: the string order
                    result: list[int] = order.tolist()
                    return result
    return sorted(range(n), key=paths.__getitem__)


@dataclass(frozen=True, eq=False)
class ReferenceIndices:
    """A references column already resolved: each reference as the position,
    in the path column, of the path it names.

    A decoder that has matched every reference to a listed path exactly hands
    this to :meth:`ClosureGraph.from_columns` in place of lists of strings; the
    graph is the one :meth:`lists` would give.

    Attributes:
        counts: each record's number of references (a numpy integer array).
        targets: record after record, each reference's position in the path
            column (a numpy integer array of ``counts.sum()`` entries).

    Example:
        >>> import numpy as np
        >>> ReferenceIndices(np.array([0, 2]), np.array([1, 0])).lists(["/s/a", "/s/b"])
        [None, ['/s/b', '/s/a']]
    """

    counts: Any
    targets: Any

    def __len__(self) -> int:
        return len(self.counts)

    def lists(self, paths: Sequence[str]) -> list[list[str] | None]:
        """Each record's references as a list of the path strings (``None`` for none).

        Example:
            >>> import numpy as np
            >>> ReferenceIndices(np.array([1]), np.array([0])).lists(["/s/a"])
            [['/s/a']]
        """
        import numpy as np

        named = list(map(paths.__getitem__, self.targets.tolist()))
        bounds = [0, *np.cumsum(self.counts).tolist()]
        return [named[a:b] or None for a, b in zip(bounds[:-1], bounds[1:])]


def _resolve_all_references(
    paths: Sequence[str],
    listed: Sequence[Any],
    order: Sequence[int],
    index: Mapping[str, int],
    store_dir: str | None,
    source: str | None,
    *,
    resolved: ReferenceIndices | None = None,
) -> tuple[list[tuple[int, ...]] | None, Any]:
    """Every path's references as sorted, de-duplicated index tuples, self excluded.

    ``listed`` holds each record's ``references`` in the order the input
    listed the records, ``order[i]`` the listing position of ``paths[i]``.
    Returns the tuples in path order on small graphs, and on large graphs
    instead every reference ``i -> j`` as a sorted numpy array of keys
    ``i * n + j`` (the tuples are made from them when first asked for).

    On large graphs all look-ups happen in one C-level pass over ``listed``
    (the parser allocated the reference strings in that order, so reading
    them goes through memory once instead of jumping about) and the sorting
    in numpy.  Errors are found in path order.  ``resolved``, the same
    references already matched to listing positions (``listed`` is then
    ``resolved`` itself), spares the look-ups.
    """
    n = len(paths)
    if n < _VECTORISE_FROM:
        # Small graphs: a plain loop, and numpy is not even imported.
        out = []
        lookup = index.__getitem__
        for i, k in enumerate(order):
            refs = listed[k] or ()
            try:
                found = set(map(lookup, refs))
            except (KeyError, TypeError):
                found = _resolve_references(paths[i], refs, index, store_dir, source)
            found.discard(i)
            out.append(tuple(sorted(found)))
        return out, None
    import numpy as np

    rows = np.empty(n, dtype=np.int64)
    rows[np.asarray(order, dtype=np.int64)] = np.arange(n, dtype=np.int64)  # each listing's path index
    if resolved is not None:
        src = np.repeat(rows, np.asarray(resolved.counts, dtype=np.int64))
        dst = rows[np.asarray(resolved.targets, dtype=np.int64)]
    else:
        src, dst = _looked_up(paths, listed, order, rows, index, store_dir, source)
    keep = src != dst
    key = src[keep]
    key *= n
    key += dst[keep]
    del src, dst, keep
    key.sort()  # by (src, dst)
    if len(key) > 1:
        key = key[np.concatenate(([True], key[1:] != key[:-1]))]  # duplicates gone
    return None, key


def _looked_up(
    paths: Sequence[str],
    listed: Sequence[Any],
    order: Sequence[int],
    rows: Any,
    index: Mapping[str, int],
    store_dir: str | None,
    source: str | None,
) -> tuple[Any, Any]:
    """Every reference of ``listed`` as numpy arrays of path indices ``(src, dst)``."""
    import numpy as np

    n = len(paths)
    try:
        # A null "references" fails len() here and takes the careful path below.
        lengths = np.fromiter(map(len, listed), dtype=np.int64, count=n)
        dst = np.fromiter(
            map(index.__getitem__, itertools.chain.from_iterable(listed)), dtype=np.int64, count=int(lengths.sum())
        )
        src = np.repeat(rows, lengths)
    except (KeyError, TypeError):
        resolved = [_resolve_references(p, listed[k] or (), index, store_dir, source) for p, k in zip(paths, order)]
        lengths = np.fromiter(map(len, resolved), dtype=np.int64, count=n)
        dst = np.fromiter(itertools.chain.from_iterable(resolved), dtype=np.int64, count=int(lengths.sum()))
        src = np.repeat(np.arange(n, dtype=np.int64), lengths)
    return src, dst


def _csr_tuples(key: Any, n: int) -> list[tuple[int, ...]]:
    """Edge keys ``i * n + j``, sorted, as each node's tuple of targets.

    Example:
        >>> import numpy as np
        >>> _csr_tuples(np.array([1, 2, 5]), 3)
        [(1, 2), (2,), ()]
    """
    import numpy as np

    targets = (key % n).tolist()
    bounds = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(key // n, minlength=n), out=bounds[1:])
    offsets = bounds.tolist()
    return list(map(tuple, map(targets.__getitem__, map(slice, offsets[:-1], offsets[1:]))))


def _checked_paths(records: Sequence[Any], source: str | None) -> NoReturn:
    """Slow path: find the first record without a usable ``path`` and say so."""
    for rec in records:
        if not isinstance(rec, Mapping):
            raise GraphError(f"graph entry {rec!r:.60} is not an object", source=source)
        path = rec.get("path")
        if type(path) is not str or not path:
            raise GraphError(f"graph entry {dict(rec)!r:.80} has no 'path' string", source=source)
    raise GraphError("malformed graph entries", source=source)  # pragma: no cover


def _first_listings(columns: Sequence[list[Any]], store_dir: str | None, source: str | None) -> list[list[Any]]:
    """Slow path: a path is listed more than once; accept it only when the data agree.

    ``columns`` are the path, references, narSize, closureSize and narHash
    columns; the result keeps each path's first listing.
    """
    first: dict[str, int] = {}
    keep = []
    for k, path in enumerate(columns[0]):
        old = first.get(path)
        if old is not None:
            _, refs, nar, closure, nar_hash = columns
            if _normalised(path, refs[old], nar[old], closure[old], nar_hash[old], store_dir, source) != _normalised(
                path, refs[k], nar[k], closure[k], nar_hash[k], store_dir, source
            ):
                raise GraphError(f"path {path} is listed twice with different data", source=source)
            continue
        first[path] = k
        keep.append(k)
    return [[c[k] for k in keep] for c in columns]


def _resolve_references(
    path: str, refs: Any, index: Mapping[str, int], store_dir: str | None, source: str | None
) -> set[int]:
    """The slow path of reference resolution: base names (newer ``nix path-info``)
    and precise errors."""
    if not isinstance(refs, (list, tuple)):
        raise GraphError(
            f"references of {path} must be a list of store paths, not {type(refs).__name__}", source=source
        )
    out = set()
    for r in refs:
        if type(r) is not str:
            raise GraphError(f"references of {path} contain {r!r:.60}, expected a store path string", source=source)
        j = index.get(r)
        if j is None and store_dir is not None and "/" not in r:
            j = index.get(f"{store_dir}/{r}")
        if j is None:
            raise GraphError(f"{path} references {r}, which is not in the graph", source=source)
        out.add(j)
    return out


_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class BoundedCache(Generic[_K, _V]):
    """A mapping that keeps at most ``maxsize`` entries, dropping the least recently used.

    Example:
        >>> c: BoundedCache[str, int] = BoundedCache(2)
        >>> c["a"], c["b"] = 1, 2
        >>> c.get("a"), c.get("zz")
        (1, None)
        >>> c["c"] = 3  # "b" is the least recently used
        >>> sorted(c.keys())
        ['a', 'c']
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}")
        self.maxsize = maxsize
        self._data: OrderedDict[_K, _V] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, key: _K) -> _V:
        value = self._data[key]
        self._data.move_to_end(key)
        return value

    def __setitem__(self, key: _K, value: _V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def get(self, key: _K, default: _V | None = None) -> _V | None:
        """The value of ``key``, or ``default`` (the entry counts as used).

        Example:
            >>> c: BoundedCache[str, int] = BoundedCache(1)
            >>> c["a"] = 1
            >>> c.get("a"), c.get("b", 0)
            (1, 0)
        """
        if key in self._data:
            return self[key]
        return default

    def keys(self) -> list[_K]:
        """The keys, least recently used first.

        Example:
            >>> c: BoundedCache[str, int] = BoundedCache(3)
            >>> c["a"], c["b"] = 1, 2
            >>> _ = c["a"]  # "a" becomes the most recently used
            >>> c.keys()
            ['b', 'a']
        """
        return list(self._data)

    def compute(self, key: _K, make: Callable[[], _V]) -> _V:
        """The value of ``key``, stored from ``make()`` on a miss.

        Example:
            >>> c: BoundedCache[int, str] = BoundedCache(4)
            >>> c.compute(1, lambda: "one"), c.compute(1, lambda: "uno")
            ('one', 'one')
        """
        if key in self._data:
            return self[key]
        value = make()
        self[key] = value
        return value


class GraphMemo:
    """Named, bounded caches of values derived from one graph alone.

    Modules above the graph (strategies, image sets) keep results that depend
    only on the graph here, so that a graph reused across many calls (a sweep)
    computes them once.  Each name gets its own :class:`BoundedCache` of at
    most ``maxsize`` entries, so memory stays bounded however many calls
    share the graph.  The memo is never part of the graph's equality, and a
    pickled graph (sent to a worker process) travels without it.

    Example:
        >>> m = GraphMemo(maxsize=100)
        >>> m.value("digest", lambda: "abc"), m.value("digest", lambda: "other")
        ('abc', 'abc')
        >>> m.cache("facts")[(1, 2)] = 3
        >>> m.cache("facts").get((1, 2)), m.names()
        (3, ['digest', 'facts'])
    """

    def __init__(self, maxsize: int = 65536) -> None:
        self.maxsize = maxsize
        self._caches: dict[str, BoundedCache[Any, Any]] = {}

    def cache(self, name: str, maxsize: int | None = None) -> BoundedCache[Any, Any]:
        """The cache called ``name``, created empty on first use with at most
        ``maxsize`` entries (default: the memo's ``maxsize``).

        Example:
            >>> m = GraphMemo()
            >>> m.cache("splits", maxsize=8).maxsize, m.cache("splits") is m.cache("splits")
            (8, True)
        """
        c = self._caches.get(name)
        if c is None:
            c = self._caches[name] = BoundedCache(maxsize or self.maxsize)
        return c

    def __reduce__(self) -> tuple[type[GraphMemo], tuple[int]]:
        # A memo is a cache: a pickled graph (sent to a worker) travels without it.
        return (GraphMemo, (self.maxsize,))

    def value(self, name: str, compute: Callable[[], _V]) -> _V:
        """A single value stored under ``name``: ``compute()`` on first use.

        Example:
            >>> GraphMemo().value("digest", lambda: "abc")
            'abc'
        """
        result: _V = self.cache(name).compute(None, compute)
        return result

    def names(self) -> list[str]:
        """The names of the caches in use, sorted.

        Example:
            >>> m = GraphMemo()
            >>> _ = m.cache("b"), m.cache("a")
            >>> m.names()
            ['a', 'b']
        """
        return sorted(self._caches)

    def clear(self) -> None:
        """Drop every cached value.

        Example:
            >>> m = GraphMemo()
            >>> m.cache("a")[1] = 2
            >>> m.clear(); m.names()
            []
        """
        self._caches.clear()


@dataclass(frozen=True, eq=False)
class ClosureGraph:
    """An immutable closure graph; see the module documentation.

    Build one with :meth:`from_records` (validating) or with the constructor
    (trusted, for code that already holds consistent indices).

    Attributes:
        paths: store paths, sorted.
        refs: for each path, the sorted indices of the paths it references
            (self-reference excluded); a large graph built by
            :meth:`from_columns` makes them from :attr:`edge_arrays` when
            first read.
        nar_size: each path's own size, or ``None`` when unknown.
        closure_size: each path's closure size, or ``None`` when unknown.
        roots: sorted indices of the root paths (what the image asked for).
        roots_given: whether the input named the roots (otherwise they are the
            paths that nothing references, plus one path per unreferenced cycle).
        nar_hash: each path's ``narHash`` when the input had it.
        name: a short label (the image name), used in tables and plots.
        source: the file the graph came from, used in error messages.
        memo: values other modules derive from the graph alone (see
            :class:`GraphMemo`); never part of equality.
    """

    paths: tuple[str, ...]
    refs: tuple[tuple[int, ...], ...]
    nar_size: tuple[int, ...] | None
    closure_size: tuple[int, ...] | None
    roots: tuple[int, ...]
    roots_given: bool = True
    nar_hash: tuple[str | None, ...] | None = None
    name: str = ""
    source: str | None = None
    memo: GraphMemo = field(default_factory=lambda: GraphMemo(), init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, Any]],
        roots: Sequence[str] | None = None,
        *,
        name: str = "",
        source: str | None = None,
        store_dir: str | None = None,
    ) -> ClosureGraph:
        """Build and validate a graph from ``{"path", "narSize", "closureSize", "references"}`` records.

        Args:
            records: one mapping per path; ``narSize``, ``closureSize`` and
                ``narHash`` are optional, ``references`` defaults to none.
            roots: the root paths; when ``None`` the roots are derived (paths no
                other path references, plus the smallest path of every cycle
                that nothing outside it references).
            name: a label for the graph.
            source: the file name, quoted in every error.
            store_dir: when given, references without a ``/`` are taken as base
                names inside this directory (newer ``nix path-info`` output).

        Raises:
            GraphError: a path listed twice with different data, a reference or
                root to an absent path, a malformed record or size, a path
                holding NUL or a line break (no file system or tar name can).

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/nix/store/a-x", "closureSize": 5}])
            >>> g.closure_size, g.nar_size
            ((5,), None)
        """
        records = records if isinstance(records, list) else list(records)
        try:
            listed_paths = list(map(itemgetter("path"), records))
            if not set(map(type, listed_paths)) <= {str} or not all(listed_paths):
                raise TypeError
        except (KeyError, TypeError, IndexError):
            _checked_paths(records, source)
        return cls.from_columns(
            listed_paths,
            _field(records, "references"),
            _field(records, "narSize"),
            _field(records, "closureSize"),
            _field(records, "narHash"),
            roots,
            name=name,
            source=source,
            store_dir=store_dir,
        )

    @classmethod
    def from_columns(
        cls,
        paths: Sequence[str],
        references: Sequence[Any] | ReferenceIndices,
        nar_size: Sequence[Any] | None = None,
        closure_size: Sequence[Any] | None = None,
        nar_hash: Sequence[Any] | None = None,
        roots: Sequence[str] | None = None,
        *,
        name: str = "",
        source: str | None = None,
        store_dir: str | None = None,
    ) -> ClosureGraph:
        """Build and validate a graph from its records taken apart field by field.

        Entry ``k`` of every column belongs to the ``k``-th record as the input
        listed it: its path, its references (a list of store paths, or
        ``None`` for none), its ``narSize``, ``closureSize`` and ``narHash``
        (``None`` where absent; a column of ``None`` may be given as ``None``).
        The references may also come resolved (:class:`ReferenceIndices`).
        The graph and the errors are those of :meth:`from_records` on the same
        records; a decoder that yields columns skips building a mapping per
        record.

        Raises:
            GraphError: as :meth:`from_records`; a path that is not a
                non-empty string.

        Example:
            >>> g = ClosureGraph.from_columns(["/s/b-b", "/s/a-a"], [None, ["/s/b-b"]], [2, 1])
            >>> g.paths, g.refs, g.closure_size
            (('/s/a-a', '/s/b-b'), ((1,), ()), (3, 2))
        """
        listed = paths if isinstance(paths, list) else list(paths)
        n = len(listed)
        if not set(map(type, listed)) <= {str} or not all(listed):
            bad = next(p for p in listed if type(p) is not str or not p)
            raise GraphError(f"path {bad!r:.80} is not a non-empty string", source=source)
        empty = [None] * n
        resolved = references if isinstance(references, ReferenceIndices) else None
        columns: list[Any] = [
            listed,
            *(
                empty if c is None else c if isinstance(c, (list, ReferenceIndices)) else list(c)
                for c in (references, nar_size, closure_size, nar_hash)
            ),
        ]
        if any(len(c) != n for c in columns):
            raise GraphError("columns of different lengths", source=source)
        # One sort of the path strings gives both the path order and each
        # record's row in it.
        order = _path_order(listed)
        pick = itemgetter(*order) if n > 1 else (lambda seq: tuple(seq))
        sorted_paths = tuple(pick(listed))
        if resolved is not None and (n < _VECTORISE_FROM or len(resolved.targets) != int(resolved.counts.sum())):
            columns[1] = resolved.lists(listed)  # small: the general way
            resolved = None
        if n > 1 and any(map(str.__eq__, sorted_paths, itertools.islice(sorted_paths, 1, None))):
            if resolved is not None:
                columns[1] = resolved.lists(listed)
            # A path listed more than once: accepted when the data agree.
            once = _first_listings(columns, store_dir, source)
            return cls.from_columns(
                once[0], once[1], once[2], once[3], once[4], roots, name=name, source=source, store_dir=store_dir
            )
        joined = "\n".join(sorted_paths)  # one C-level scan for the characters no store path holds
        if "\0" in joined or "\r" in joined or joined.count("\n") != max(n - 1, 0):
            bad = next(p for p in sorted_paths if "\0" in p or "\n" in p or "\r" in p)
            raise GraphError(f"path {bad!r:.80} holds a NUL or line-break character", source=source)
        if n >= _VECTORISE_FROM:
            # The same strings again, laid out in memory in path order: every later
            # pass over the paths then reads memory in order instead of jumping about.
            sorted_paths = tuple(joined.split("\n"))
        del joined
        index = dict(zip(sorted_paths, range(n)))
        ref_lists, edge_keys = _resolve_all_references(
            sorted_paths, columns[1], order, index, store_dir, source, resolved=resolved
        )
        nar_list: list[Any] = list(pick(columns[2])) if nar_size is not None else empty
        closure_list: list[Any] = list(pick(columns[3])) if closure_size is not None else empty
        hash_list: list[Any] = list(pick(columns[4])) if nar_hash is not None else empty
        for key, values in (("narSize", nar_list), ("closureSize", closure_list)):
            if not _plain_sizes(values):
                for p, v in zip(sorted_paths, values):
                    _check_size(v, key, p, source)
        if not set(map(type, hash_list)) <= {str, type(None)}:
            hash_list = [h if type(h) is str else None for h in hash_list]
        nar = tuple(nar_list) if None not in nar_list else None
        closure = tuple(closure_list) if None not in closure_list else None
        hashes = tuple(hash_list) if any(hash_list) else None

        edges = None
        if edge_keys is not None:
            src = edge_keys // max(n, 1)
            edges = (src, edge_keys - src * n)
            del edge_keys
        root_idx: list[int]
        roots_given = roots is not None
        if roots is not None:
            root_idx = []
            for r in roots:
                if not isinstance(r, str):
                    raise GraphError(f"root {r!r} is not a store path string", source=source)
                j = index.get(r)
                if j is None:
                    raise GraphError(f"root {r} is not in the graph", source=source)
                root_idx.append(j)
            root_idx = sorted(set(root_idx))
        else:
            root_idx = _derived_roots(n, ref_lists, edges)

        graph = cls(
            paths=sorted_paths,
            refs=cast(tuple[tuple[int, ...], ...], _FROM_EDGES if ref_lists is None else tuple(ref_lists)),
            nar_size=nar,
            closure_size=closure,
            roots=tuple(root_idx),
            roots_given=roots_given,
            nar_hash=hashes,
            name=name,
            source=source,
        )
        graph.__dict__["index"] = index  # already built: seed the cached properties
        if edges is not None:
            graph.__dict__["edge_arrays"] = edges
        if closure is None and nar is not None:
            object.__setattr__(graph, "closure_size", graph._computed_closure_sizes())
        return graph

    # ------------------------------------------------------------- accessors
    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        label = self.name or self.source or ""
        return f"<ClosureGraph {label!s} paths={len(self.paths)} edges={self.edge_count} roots={len(self.roots)}>"

    @cached_property
    def index(self) -> dict[str, int]:
        """Map from store path to its index."""
        return {p: i for i, p in enumerate(self.paths)}

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Each path's ``name-version`` (the store path without its hash)."""
        standard = _standard_names(self.paths)
        if standard is not None:
            return standard
        joined = "\n".join(self.paths)
        if joined.count("\n") != max(len(self.paths) - 1, 0):
            return tuple(store_name(p) for p in self.paths)
        # One pass of the regex engine over all paths; same rule as store_name.
        return tuple(_NAMES.findall(joined))

    @cached_property
    def edge_count(self) -> int:
        """Number of references, self-references excluded."""
        if "_refs" not in self.__dict__:
            return len(self.edge_arrays[0])
        return sum(map(len, self.refs))

    @cached_property
    def nar_bytes(self) -> Any:
        """Each path's ``narSize`` as a numpy ``int64`` array, or ``None`` when
        the graph has no ``narSize`` or their sum reaches ``2**63`` (so that the
        sum over any set of paths fits).

        Example:
            >>> ClosureGraph.from_records([{"path": "/s/a", "narSize": 3}, {"path": "/s/b", "narSize": 4}]).nar_bytes
            array([3, 4])
        """
        nar = self.nar_size
        if nar is None or sum(nar) >= 2**63:
            return None
        import numpy as np

        return np.fromiter(nar, dtype=np.int64, count=len(nar))

    @cached_property
    def edge_arrays(self) -> tuple[Any, Any]:
        """Every reference ``i -> j`` as two numpy integer arrays ``(src, dst)``, ordered by ``(i, j)``.

        Large graphs get them from :meth:`from_records` for free; the
        algorithms on large graphs share them.

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/s/a", "references": ["/s/b"]}, {"path": "/s/b"}])
            >>> [a.tolist() for a in g.edge_arrays]
            [[0], [1]]
        """
        return reference_arrays(self.refs)

    @cached_property
    def _edges_by_target(self) -> Any:
        """The positions of :attr:`edge_arrays` ordered by target (within a target in no set order)."""
        import numpy as np

        return np.argsort(self.edge_arrays[1])

    @cached_property
    def referrers(self) -> tuple[tuple[int, ...], ...]:
        """For each path, the sorted indices of the paths that reference it."""
        n = len(self.paths)
        if n >= _VECTORISE_FROM:
            import numpy as np

            src, dst = self.edge_arrays
            order = np.argsort(dst * n + src)  # by target, sources ascending (keys are distinct)
            sources = src[order].tolist()
            bounds = np.searchsorted(dst[order], np.arange(n + 1)).tolist()
            return tuple([tuple(sources[a:b]) for a, b in zip(bounds, bounds[1:])])
        back: list[list[int]] = [[] for _ in self.paths]
        for i, rs in enumerate(self.refs):
            for j in rs:
                back[j].append(i)
        return tuple(tuple(b) for b in back)

    @property
    def total_nar_size(self) -> int:
        """Sum of ``narSize`` over all paths.

        Raises:
            GraphError: when the graph has no ``narSize``.
        """
        return sum(self.require_nar_size("the total size"))

    def require_nar_size(self, who: str) -> tuple[int, ...]:
        """Return ``nar_size`` or raise a clear error naming ``who`` needs it.

        Example:
            >>> ClosureGraph.from_records([{"path": "/s/a", "narSize": 3}]).require_nar_size("a demo")
            (3,)
            >>> ClosureGraph.from_records([{"path": "/s/a"}], source="g.json").require_nar_size("a demo")
            Traceback (most recent call last):
            ...
            layerlab.errors.GraphError: g.json: a demo needs narSize for every path, and this graph has none
        """
        if self.nar_size is None:
            raise GraphError(f"{who} needs narSize for every path, and this graph has none", source=self.source)
        return self.nar_size

    def require_closure_size(self, who: str) -> tuple[int, ...]:
        """Return ``closure_size`` or raise a clear error naming ``who`` needs it.

        Example:
            >>> ClosureGraph.from_records([{"path": "/s/a", "narSize": 3}]).require_closure_size("a demo")
            (3,)
        """
        if self.closure_size is None:
            raise GraphError(f"{who} needs closureSize or narSize, and this graph has neither", source=self.source)
        return self.closure_size

    # ------------------------------------------------------------ algorithms
    @cached_property
    def sccs(self) -> tuple[tuple[int, ...], ...]:
        """Strongly connected components, each sorted, in reverse topological
        order (a component comes after every component it references... i.e.
        dependencies first)."""
        return _tarjan(self.refs)

    @cached_property
    def cycles(self) -> tuple[tuple[int, ...], ...]:
        """The components with more than one path (dependency cycles), each
        sorted, ordered by their smallest path.

        Large graphs find them without a search of the whole graph
        (:func:`_cycles_by_peeling`).

        Example:
            >>> ClosureGraph.from_records([{"path": "/s/a", "references": ["/s/b"]},
            ...                            {"path": "/s/b", "references": ["/s/a"]}]).cycles
            ((0, 1),)
        """
        if len(self.paths) >= _VECTORISE_FROM and "sccs" not in self.__dict__:
            return _cycles_by_peeling(None, self.edge_arrays, n=len(self.paths))
        return tuple(sorted(c for c in self.sccs if len(c) > 1))

    @cached_property
    def closure_bits(self) -> tuple[int, ...]:
        """Each path's closure (itself included) as a bit set in a Python int.

        Bit ``j`` of ``closure_bits[i]`` is set when path ``j`` is in the closure
        of path ``i``.  Computed once over the strongly connected components,
        so cycles are handled and every path is counted once.
        """
        return _bits_over_components(self.sccs, self.refs)

    @cached_property
    def ancestor_bits(self) -> tuple[int, ...]:
        """For each path, the bit set of the paths that reach it (itself included):
        :attr:`closure_bits` with the references reversed.

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/s/a-a", "references": ["/s/b-b"]}, {"path": "/s/b-b"}])
            >>> g.closure_bits, g.ancestor_bits
            ((3, 2), (1, 3))
        """
        return _bits_over_components(tuple(reversed(self.sccs)), self.referrers)

    def ancestor_counts(self, targets: Iterable[int]) -> list[int]:
        """For each of ``targets``, how many paths reach it (itself included):
        the population count of its :attr:`ancestor_bits`, without the bit sets.

        Small graphs (fewer than ``_VECTORISE_FROM`` paths) use the bit sets,
        whose quadratic size is bounded there; larger ones
        :func:`_reach_sums`, in memory linear in the graph.

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/s/a-a", "references": ["/s/b-b"]}, {"path": "/s/b-b"}])
            >>> g.ancestor_counts([0, 1])
            [1, 2]
        """
        targets = list(targets)
        if len(self.paths) < _VECTORISE_FROM:
            bits = _bits_over_components(tuple(reversed(self.sccs)), self.referrers)
            return [bits[t].bit_count() for t in targets]
        return _plan_sums(self._ancestor_plan(), targets, (1,) * len(self.paths))

    def _ancestor_plan(self) -> _ReachPlan:
        """The prepared ancestor search, kept in the graph's memo.

        Tarjan's order keeps a batch of targets close together, but its
        search costs more than it saves unless the components are known already.
        """
        tarjan = "sccs" in self.__dict__
        result: _ReachPlan = self.memo.value(
            f"reach plan upward, {'tarjan' if tarjan else 'path'} order", lambda: self._plan(tarjan)
        )
        return result

    def _plan(self, tarjan: bool) -> _ReachPlan:
        """The ancestor search of :meth:`ancestor_counts` prepared, components in Tarjan's or in path order."""
        import numpy as np

        n = len(self.paths)
        if tarjan:
            return _reach_plan(
                _component_numbers(n, self.sccs), len(self.sccs), self.edge_arrays, True, self._edges_by_target
            )
        first = np.arange(n, dtype=np.int64)
        for comp in self.cycles:
            first[list(comp)] = comp[0]
        number = np.cumsum(first == np.arange(n)) - 1  # components numbered by their smallest path
        count = int(number[-1]) + 1 if n else 0
        return _reach_plan(number[first], count, self.edge_arrays, True, self._edges_by_target)

    def ancestor_count_bounds(self) -> list[int]:
        """For each path, an upper bound of :meth:`ancestor_counts`: its component's
        size plus the bounds of the components that reference it, at most the
        number of paths.

        A path reached along several routes is counted once per route, so the
        bound is exact on trees and loose where routes join; it costs a few
        passes over the references, against a search per path for the counts.
        Callers that need exact counts for the paths that matter (the largest
        values, say) rule out the others with it.

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/s/a", "references": ["/s/b", "/s/c"]},
            ...     {"path": "/s/b", "references": ["/s/d"]}, {"path": "/s/c", "references": ["/s/d"]},
            ...     {"path": "/s/d"}, {"path": "/s/e"}])
            >>> g.ancestor_count_bounds(), g.ancestor_counts(range(5))
            ([1, 2, 2, 5, 1], [1, 2, 2, 4, 1])
        """
        n = len(self.paths)
        if n < _VECTORISE_FROM:
            comps = self.sccs
            comp_of = [0] * n
            for k, comp in enumerate(comps):
                for i in comp:
                    comp_of[i] = k
            bound = [0] * len(comps)
            for k in range(len(comps) - 1, -1, -1):  # users before what they use
                above = {comp_of[r] for i in comps[k] for r in self.referrers[i]} - {k}
                bound[k] = min(n, len(comps[k]) + sum(bound[c] for c in above))
            return [bound[comp_of[i]] for i in range(n)]
        import numpy as np

        plan = self._ancestor_plan()
        upper = np.bincount(plan.comp_of, minlength=plan.m).astype(np.float64)  # each component's size
        by_height = np.argsort(plan.height, kind="stable")[::-1]
        levels = np.split(by_height, np.flatnonzero(np.diff(plan.height[by_height])) + 1)
        for group in levels:  # a component's referrers sit higher: their bounds are complete
            to, sizes = _gather(plan.step_ptr, plan.step, group)
            if len(to):
                summed = np.bincount(np.repeat(np.arange(len(group)), sizes), weights=upper[to], minlength=len(group))
                upper[group] = np.minimum(upper[group] + summed, n)
        result: list[int] = upper[plan.comp_of].astype(np.int64).tolist()
        return result

    def closure_of(self, indices: Iterable[int], *, reverse: bool = False) -> list[int]:
        """Sorted indices of everything reachable from ``indices`` (included).

        With ``reverse=True``, of everything that reaches them: the paths that
        depend on ``indices``, directly or not.

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/s/a-a", "references": ["/s/b-b"]},
            ...                                {"path": "/s/b-b", "references": []}])
            >>> g.closure_of([0]), g.closure_of([1], reverse=True)
            ([0, 1], [0, 1])
        """
        step = self.referrers if reverse else self.refs
        seen = set(indices)
        stack = list(seen)
        push = stack.append
        add = seen.add
        while stack:
            for j in step[stack.pop()]:
                if j not in seen:
                    add(j)
                    push(j)
        return sorted(seen)  # time follows the closure, not the graph

    @cached_property
    def reachable(self) -> tuple[int, ...]:
        """Sorted indices of the paths reachable from the roots (on large
        graphs by a level-by-level search in numpy)."""
        n = len(self.paths)
        if n < _VECTORISE_FROM:
            return tuple(self.closure_of(self.roots))
        import numpy as np

        src, dst = self.edge_arrays
        ptr = np.concatenate(([0], np.cumsum(np.bincount(src, minlength=n))))
        seen = np.zeros(n, dtype=bool)
        frontier = _sorted_unique(np.asarray(self.roots, dtype=np.int64))
        seen[frontier] = True
        while len(frontier):
            nxt, _ = _gather(ptr, dst, frontier)
            nxt = _sorted_unique(nxt[~seen[nxt]])
            seen[nxt] = True
            frontier = nxt
        return tuple(np.flatnonzero(seen).tolist())

    @cached_property
    def unreachable(self) -> tuple[int, ...]:
        """Sorted indices of the paths no root reaches (Nixery drops these)."""
        if len(self.reachable) == len(self.paths):
            return ()
        mark = bytearray(len(self.paths))
        for i in self.reachable:
            mark[i] = 1
        return tuple(i for i, m in enumerate(mark) if not m)

    def _computed_closure_sizes(self) -> tuple[int, ...]:
        """``closureSize`` of every path from ``narSize``.

        Closures are bit sets built once over the strongly connected
        components (dependencies first), for a block of at most
        ``_SIZE_BLOCK`` paths at a time so memory stays near
        ``n * _SIZE_BLOCK / 8`` bytes.  Each bit set is weighed exactly: in
        numpy through a table of byte values (``table[v, b]`` = the
        ``narSize`` sum of the bits ``v`` of byte ``b``) when the graph is large
        or numpy is loaded anyway, else by a C-level ``compress`` over the
        bit string.  That costs time quadratic in the graph; large graphs whose
        sizes add up below ``2**53`` take :func:`_reach_sums` instead, whose
        time follows the closures.
        """
        nar = self.require_nar_size("computing closureSize")
        n = len(self.paths)
        if n >= _VECTORISE_FROM and sum(nar) < 2**53:
            return tuple(_reach_sums(self.refs, self.sccs, range(n), nar, upward=False, edges=self.edge_arrays))
        refs = self.refs
        comps = self.sccs
        sizes = [0] * n
        use_numpy = n >= _VECTORISE_FROM or "numpy" in sys.modules
        for lo in range(0, n, _SIZE_BLOCK):
            hi = min(n, lo + _SIZE_BLOCK)
            bits = [0] * n
            for comp in comps:
                acc = 0
                for i in comp:
                    if lo <= i < hi:
                        acc |= 1 << (i - lo)
                for i in comp:
                    for j in refs[i]:
                        acc |= bits[j]
                for i in comp:
                    bits[i] = acc
            if use_numpy:
                _add_weighed_numpy(sizes, bits, nar[lo:hi])
            else:
                block = nar[lo:hi]
                for k, x in enumerate(bits):
                    sizes[k] += sum(itertools.compress(block, bin(x)[:1:-1].encode().translate(_BINARY_DIGITS)))
        return tuple(sizes)

    def summary(self) -> dict[str, Any]:
        """A short description: paths, edges, roots, bytes, cycles.

        Example:
            >>> ClosureGraph.from_records([{"path": "/nix/store/a-x", "narSize": 5}]).summary()["bytes"]
            5
        """
        return {
            "name": self.name,
            "paths": len(self.paths),
            "edges": self.edge_count,
            "roots": len(self.roots),
            "roots_given": self.roots_given,
            "bytes": sum(self.nar_size) if self.nar_size is not None else None,
            "cycles": len(self.cycles),
            "paths_in_cycles": sum(len(c) for c in self.cycles),
            "unreachable": len(self.unreachable),
        }

    def _repr_html_(self) -> str:
        """A compact HTML card for notebooks: counts, bytes, roots and the largest closures.

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/nix/store/a-x-1", "narSize": 5}], name="x")
            >>> "<b>x</b>" in g._repr_html_() and "x-1" in g._repr_html_()
            True
        """
        import html

        from .units import format_bytes

        s = self.summary()
        size = "unknown" if s["bytes"] is None else format_bytes(s["bytes"])
        facts = [
            f"{s['paths']:,} paths",
            f"{s['edges']:,} references",
            f"{size}",
            f"{s['roots']:,} roots" + ("" if s["roots_given"] else " (derived)"),
        ]
        if s["cycles"]:
            facts.append(f"{s['cycles']} cycles ({s['paths_in_cycles']} paths)")
        if s["unreachable"]:
            facts.append(f"{s['unreachable']} unreachable")
        roots = ", ".join(html.escape(self.names[r]) for r in self.roots[:4]) + (" …" if len(self.roots) > 4 else "")
        sizes = self.closure_size or self.nar_size
        top = ""
        if sizes is not None and self.paths:
            order = sorted(range(len(self.paths)), key=lambda i: (-sizes[i], i))[:5]
            largest = (f"{html.escape(self.names[i])} ({format_bytes(sizes[i])})" for i in order)
            top = "<br>largest closures: " + ", ".join(largest)
        title = html.escape(self.name or self.source or "closure graph")
        return (
            f'<div class="ll-graph" style="font-size:13px"><b>{title}</b>: {", ".join(facts)}'
            f"<br>roots: {roots}{top}</div>"
        )

    def to_networkx(self) -> networkx.DiGraph:
        """Return a ``networkx.DiGraph`` with one node per store path.

        Node attributes: ``name``, ``narSize``, ``closureSize``, ``root``.  An
        edge ``a -> b`` means ``a`` references ``b``.

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/nix/store/a-x", "narSize": 5}])
            >>> g.to_networkx().nodes["/nix/store/a-x"]["narSize"]
            5
        """
        import networkx as nx

        g = nx.DiGraph(name=self.name)
        roots = set(self.roots)
        for i, p in enumerate(self.paths):
            g.add_node(
                p,
                name=store_name(p),
                narSize=None if self.nar_size is None else self.nar_size[i],
                closureSize=None if self.closure_size is None else self.closure_size[i],
                root=i in roots,
            )
        g.add_edges_from((self.paths[i], self.paths[j]) for i, rs in enumerate(self.refs) for j in rs)
        return g

    def to_records(self) -> list[dict[str, Any]]:
        """The graph as Nix's list layout (self-references restored), for writing back out.

        Example:
            >>> g = ClosureGraph.from_records(
            ...     [{"path": "/s/a", "narSize": 1, "references": ["/s/b"]}, {"path": "/s/b", "narSize": 2}]
            ... )
            >>> g.to_records()[0]
            {'path': '/s/a', 'narSize': 1, 'closureSize': 3, 'references': ['/s/a', '/s/b']}
        """
        out = []
        for i, p in enumerate(self.paths):
            rec: dict[str, Any] = {"path": p}
            if self.nar_size is not None:
                rec["narSize"] = self.nar_size[i]
            if self.closure_size is not None:
                rec["closureSize"] = self.closure_size[i]
            if self.nar_hash is not None and self.nar_hash[i]:
                rec["narHash"] = self.nar_hash[i]
            rec["references"] = sorted([p, *(self.paths[j] for j in self.refs[i])])
            out.append(rec)
        return out

    def to_export_json(self) -> dict[str, Any]:
        """The graph in Nix's structured-attrs exportReferencesGraph layout.

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/s/a", "narSize": 1}])
            >>> g.to_export_json()["exportReferencesGraph"]
            {'graph': ['/s/a']}
        """
        return {
            "exportReferencesGraph": {"graph": [self.paths[r] for r in self.roots]},
            "graph": self.to_records(),
        }

    def relabel(self, renaming: Mapping[str, str]) -> ClosureGraph:
        """The same graph with some paths renamed (``old -> new``): same sizes and references.

        Paths are re-sorted, so indices change; a renamed path loses its
        ``narHash``.  Derived roots are derived again (the smallest path of an
        unreferenced cycle may change); given roots are renamed.  The result is
        the graph :meth:`from_records` builds from the renamed records.

        Raises:
            GraphError: a renamed path is not in the graph, or two paths get one name.

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/s/a-a", "narSize": 1, "references": ["/s/b-b"]},
            ...                                {"path": "/s/b-b", "narSize": 2}])
            >>> h = g.relabel({"/s/a-a": "/s/z-a"})
            >>> h.paths, h.refs, h.nar_size, [h.paths[r] for r in h.roots]
            (('/s/b-b', '/s/z-a'), ((), (0,)), (2, 1), ['/s/z-a'])
        """
        index = self.index
        for old in renaming:
            if old not in index:
                raise GraphError(f"cannot rename {old}: it is not in the graph", source=self.source)
        new_paths = [renaming.get(p, p) for p in self.paths]
        n = len(new_paths)
        order = sorted(range(n), key=new_paths.__getitem__)
        pos = [0] * n
        for k, old_i in enumerate(order):
            pos[old_i] = k
        paths = tuple(new_paths[i] for i in order)
        if len(set(paths)) != n:
            raise GraphError("renaming gives two paths the same name", source=self.source)
        refs = tuple(tuple(sorted(pos[j] for j in self.refs[i])) for i in order)
        nar = None if self.nar_size is None else tuple(self.nar_size[i] for i in order)
        closure = None if self.closure_size is None else tuple(self.closure_size[i] for i in order)
        hashes = None
        if self.nar_hash is not None:
            kept = [None if self.paths[i] in renaming else self.nar_hash[i] for i in order]
            hashes = tuple(kept) if any(kept) else None
        roots = sorted(pos[r] for r in self.roots) if self.roots_given else _derived_roots(n, refs)
        graph = ClosureGraph(
            paths=paths,
            refs=refs,
            nar_size=nar,
            closure_size=closure,
            roots=tuple(roots),
            roots_given=self.roots_given,
            nar_hash=hashes,
            name=self.name,
            source=self.source,
        )
        graph.__dict__["index"] = {p: i for i, p in enumerate(paths)}
        return graph

    def subgraph(self, keep: Iterable[int], *, name: str | None = None) -> ClosureGraph:
        """The graph restricted to the paths ``keep`` (edges to dropped paths dropped).

        The roots are the kept roots plus kept paths whose referrers were all
        dropped.  Sizes are carried over (``closure_size`` recomputed when
        ``nar_size`` is known).

        Example:
            >>> g = ClosureGraph.from_records(
            ...     [{"path": "/s/a", "narSize": 1, "references": ["/s/b"]}, {"path": "/s/b", "narSize": 2}]
            ... )
            >>> h = g.subgraph([1])
            >>> h.paths, h.closure_size
            (('/s/b',), (2,))
        """
        keep_sorted = sorted(set(keep))
        new_index = {old: new for new, old in enumerate(keep_sorted)}
        recs = []
        for old in keep_sorted:
            recs.append(
                {
                    "path": self.paths[old],
                    "narSize": None if self.nar_size is None else self.nar_size[old],
                    "references": [self.paths[j] for j in self.refs[old] if j in new_index],
                }
            )
        g = ClosureGraph.from_records(recs, None, name=self.name if name is None else name, source=self.source)
        return g


class _References:
    """:attr:`ClosureGraph.refs`: the tuples given, or, on a graph that
    :meth:`ClosureGraph.from_columns` built from its edge arrays, the tuples made
    from those when first asked for (many algorithms on large graphs never need
    them).  Installed on the class after the dataclass made its constructor.
    """

    def __get__(self, graph: ClosureGraph | None, owner: type | None = None) -> Any:
        if graph is None:
            raise AttributeError("refs")  # a field without a default
        state = graph.__dict__
        refs = state.get("_refs")
        if refs is None:
            src, dst = state["edge_arrays"]
            refs = state["_refs"] = tuple(_csr_tuples(src * len(graph.paths) + dst, len(graph.paths)))
        return refs

    def __set__(self, graph: ClosureGraph, value: Any) -> None:
        if value is not _FROM_EDGES:
            graph.__dict__["_refs"] = value


#: The ``refs`` that :meth:`ClosureGraph.from_columns` passes for tuples made later from the edge arrays.
_FROM_EDGES = object()
setattr(ClosureGraph, "refs", _References())  # noqa: B010 - keeps the dataclass field as declared for type checkers


#: ``bin()`` digits as bytes 0 and 1, for ``itertools.compress``.
_BINARY_DIGITS = bytes.maketrans(b"01", b"\x00\x01")


def _add_weighed_numpy(sizes: list[int], bits: Sequence[int], weights: Sequence[int]) -> None:
    """Add to ``sizes[k]`` the sum of ``weights[j]`` over the set bits ``j`` of ``bits[k]``."""
    import numpy as np

    nbytes = (len(weights) + 7) // 8
    # Row sums stay below 2**63 in int64 unless a single weight is huge.
    column = np.zeros(nbytes * 8, dtype=object if max(weights) >= 2**50 else np.int64)
    column[: len(weights)] = weights
    byte_bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(column.dtype)
    table = byte_bits @ column.reshape(nbytes, 8).T  # table[v, b]: weight of the bits v of byte b
    byte_pos = np.arange(nbytes)
    for r0 in range(0, len(bits), _SIZE_ROWS):
        rows = bits[r0 : r0 + _SIZE_ROWS]
        packed = np.frombuffer(b"".join([x.to_bytes(nbytes, "little") for x in rows]), np.uint8)
        part = table[packed.reshape(len(rows), nbytes), byte_pos].sum(axis=1).tolist()
        for k, v in enumerate(part, r0):
            sizes[k] += v


@dataclass(frozen=True)
class Condensation:
    """The component DAG of a graph.

    Attributes:
        comps: the components, each a sorted tuple of path indices, in
            topological order (a component before every component it
            references: users first).
        comp_of: the component number of each path.
        succ: for each component, the sorted distinct components it references.
        pred: for each component, the sorted distinct components referencing it.
    """

    comps: tuple[tuple[int, ...], ...]
    comp_of: tuple[int, ...]
    succ: tuple[tuple[int, ...], ...]
    pred: tuple[tuple[int, ...], ...]

    @property
    def sources(self) -> list[int]:
        """The smallest path of every component nothing outside it references, sorted."""
        return sorted(comp[0] for comp, pred in zip(self.comps, self.pred) if not pred)


def condensation(n: int, refs: Sequence[Sequence[int]], sccs: Sequence[Sequence[int]] | None = None) -> Condensation:
    """Collapse the strongly connected components of a graph of ``n`` nodes.

    ``sccs`` are the components dependencies first, as :attr:`ClosureGraph.sccs`
    gives them; they are computed when not given.

    Example:
        >>> c = condensation(3, [(1,), (0, 2), ()])
        >>> c.comps, c.succ, c.sources
        (((0, 1), (2,)), ((1,), ()), [0])
    """
    comps = tuple(tuple(c) for c in reversed(_tarjan(refs) if sccs is None else sccs))
    comp_of = [0] * n
    for k, comp in enumerate(comps):
        for i in comp:
            comp_of[i] = k
    succ: list[set[int]] = [set() for _ in comps]
    pred: list[set[int]] = [set() for _ in comps]
    for i in range(n):
        ci = comp_of[i]
        for j in refs[i]:
            cj = comp_of[j]
            if cj != ci:
                succ[ci].add(cj)
                pred[cj].add(ci)
    return Condensation(
        comps=comps,
        comp_of=tuple(comp_of),
        succ=tuple(tuple(sorted(x)) for x in succ),
        pred=tuple(tuple(sorted(x)) for x in pred),
    )


def _derived_roots(n: int, refs: Sequence[Sequence[int]] | None, edges: tuple[Any, Any] | None = None) -> list[int]:
    """Roots when the input names none: the smallest path of every strongly
    connected component that nothing outside it references.  For acyclic
    graphs these are exactly the unreferenced paths; a cycle that nothing
    references contributes one path, so no path is left unreachable.

    Large graphs take the unreferenced paths in numpy and look at the
    cycles (:func:`_cycles_by_peeling`) alone.

    Example:
        >>> _derived_roots(4, [(1,), (2,), (1,), ()]), _derived_roots(3, [(1,), (0,), ()])
        ([0, 3], [0, 2])
    """
    if n < _VECTORISE_FROM and refs is not None:
        return condensation(n, refs).sources
    import numpy as np

    src, dst = edges if edges is not None else reference_arrays(refs or ())
    referenced = np.zeros(n, dtype=bool)
    referenced[dst] = True
    roots = np.flatnonzero(~referenced).tolist()
    cycles = _cycles_by_peeling(refs, (src, dst), n=n)
    if cycles:
        cycle_of = np.full(n, -1, dtype=np.int64)
        for k, comp in enumerate(cycles):
            cycle_of[list(comp)] = k
        into = (cycle_of[dst] >= 0) & (cycle_of[src] != cycle_of[dst])  # from outside into a cycle
        entered = set(_sorted_unique(cycle_of[dst[into]]).tolist())
        roots += [comp[0] for k, comp in enumerate(cycles) if k not in entered]
    return sorted(roots)


def _bits_over_components(comps: Sequence[Sequence[int]], step: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """Reachability bit sets along ``step``, given the components in an order
    where every component comes after the components ``step`` leads to."""
    bits = [0] * len(step)
    for comp in comps:
        acc = 0
        for i in comp:
            acc |= 1 << i
        for i in comp:
            for j in step[i]:
                acc |= bits[j]
        for i in comp:
            bits[i] = acc
    return tuple(bits)


#: Targets summed together by :func:`_reach_sums` (64 per word).
_COUNT_WORDS = 4


def _gather(indptr: Any, items: Any, rows: Any) -> tuple[Any, Any]:
    """The concatenated CSR rows ``rows`` of ``(indptr, items)`` and each row's length."""
    import numpy as np

    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    total = int(lengths.sum())
    if not total:
        return items[:0], lengths
    shift = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return items[shift + np.arange(total)], lengths


def reference_arrays(refs: Sequence[Sequence[int]]) -> tuple[Any, Any]:
    """Every reference ``i -> j`` as numpy arrays ``(src, dst)``, ordered by ``i``
    (a graph keeps its own as :attr:`ClosureGraph.edge_arrays`).

    Example:
        >>> [a.tolist() for a in reference_arrays([(1, 2), (), (0,)])]
        [[0, 0, 2], [1, 2, 0]]
    """
    import numpy as np

    n = len(refs)
    lengths = np.fromiter(map(len, refs), dtype=np.int64, count=n)
    dst = np.fromiter(itertools.chain.from_iterable(refs), dtype=np.int64, count=int(lengths.sum()))
    return np.repeat(np.arange(n, dtype=np.int64), lengths), dst


def _csr(keys: Any, values: Any, m: int) -> tuple[Any, Any]:
    """``values`` grouped by ``keys`` (``0 <= key < m``) as a CSR table."""
    import numpy as np

    order = np.argsort(keys, kind="stable")  # fast on keys nearly in order already
    return np.searchsorted(keys[order], np.arange(m + 1)), values[order]


def _cycles_by_peeling(
    refs: Sequence[Sequence[int]] | None,
    edges: tuple[Any, Any] | None = None,
    *,
    n: int | None = None,
) -> tuple[tuple[int, ...], ...]:
    """The strongly connected components of more than one node, each sorted,
    ordered by their smallest node.

    Nodes that nothing references or that reference nothing (among the nodes
    left) lie on no cycle; they are peeled off level by level in numpy, and
    Tarjan's algorithm runs on the small core that remains.  The first pass
    peels from the unreferenced nodes down, along the references alone (the
    edges come ordered by their source, so no table by target is needed); it
    leaves what some cycle reaches, which in a closure is little.  A second
    pass peels that rest from both ends.  ``edges`` (and ``n``, the number of
    nodes) may stand in for ``refs``.  Peeling is the trimming step of
    McLendon, Hendrickson, Plimpton and Rauchwerger, "Finding strongly
    connected components in distributed graphs", J. Parallel Distrib. Comput.
    65 (2005); R. Tarjan, "Depth-first search and linear graph algorithms",
    SIAM J. Comput. 1 (1972).

    Example:
        >>> _cycles_by_peeling([(1,), (0, 2), (), (4,), (3,)])
        ((0, 1), (3, 4))
    """
    import numpy as np

    n = len(refs or ()) if n is None else n
    src, dst = edges if edges is not None else reference_arrays(refs or ())
    left = np.flatnonzero(_unpeeled_from_sources(src, dst, n))
    if not len(left):
        return ()
    if len(left) < n:  # the rest as a graph of its own, its nodes numbered in the same order
        local = np.full(n, -1, dtype=np.int64)
        local[left] = np.arange(len(left), dtype=np.int64)
        inner = (local[src] >= 0) & (local[dst] >= 0)
        src, dst = local[src[inner]], local[dst[inner]]  # still ordered by source
    m = len(left)
    alive = _unpeeled_from_both_ends(src, dst, m)
    core_nodes = np.flatnonzero(alive)
    if not len(core_nodes):
        return ()
    local = np.cumsum(alive) - 1  # a core node's number in the core
    inner = alive[src] & alive[dst]
    core_refs = _csr_tuples(local[src[inner]] * len(core_nodes) + local[dst[inner]], len(core_nodes))
    core = left[core_nodes].tolist()
    found = [tuple(core[k] for k in comp) for comp in _tarjan(core_refs) if len(comp) > 1]
    return tuple(sorted(found))


def _unpeeled_from_sources(src: Any, dst: Any, n: int) -> Any:
    """Which of ``n`` nodes stay when nodes that no remaining node references are
    removed until none is left: those some cycle reaches (a boolean array).

    ``src`` must be ascending.  A level whose nodes reach few edges updates the
    counts of those edges alone, so the long tail of small levels costs little.
    """
    import numpy as np

    out_ptr = np.searchsorted(src, np.arange(n + 1))
    indeg = np.bincount(dst, minlength=n)
    alive = np.ones(n, dtype=bool)
    frontier = np.flatnonzero(indeg == 0)
    small = max(n // 64, 64)
    while len(frontier):
        alive[frontier] = False
        down, _ = _gather(out_ptr, dst, frontier)
        if len(down) > small:
            indeg -= np.bincount(down, minlength=n)
        else:
            np.subtract.at(indeg, down, 1)
        frontier = _sorted_unique(down[indeg[down] == 0])
    return alive


def _unpeeled_from_both_ends(src: Any, dst: Any, n: int) -> Any:
    """Which of ``n`` nodes stay when nodes without a referrer or without a
    reference among those left are removed until none is left (a boolean array).

    ``src`` must be ascending.
    """
    import numpy as np

    out_ptr, out_items = np.searchsorted(src, np.arange(n + 1)), dst
    in_ptr, in_items = _csr(dst, src, n)
    indeg = np.diff(in_ptr)
    outdeg = np.diff(out_ptr)
    alive = np.ones(n, dtype=bool)
    frontier = np.flatnonzero((indeg == 0) | (outdeg == 0))
    while len(frontier):
        alive[frontier] = False
        down, _ = _gather(out_ptr, out_items, frontier)
        up, _ = _gather(in_ptr, in_items, frontier)
        indeg = indeg - np.bincount(down, minlength=n)
        outdeg = outdeg - np.bincount(up, minlength=n)
        touched = _sorted_unique(np.concatenate((down, up)))
        touched = touched[alive[touched]]
        frontier = touched[(indeg[touched] == 0) | (outdeg[touched] == 0)]
    return alive


def _reach_sums(
    refs: Sequence[Sequence[int]],
    sccs: Sequence[Sequence[int]],
    targets: Sequence[int],
    weights: Sequence[int],
    *,
    upward: bool,
    words: int = 0,
    edges: tuple[Any, Any] | None = None,
) -> list[int]:
    """For each target, the sum of ``weights`` over the nodes that reach it
    (``upward``: its ancestors) or that it reaches (its closure), itself included.

    Bit-parallel reachability on the component DAG, in the spirit of the
    word-parallel transitive closure of Purdom (BIT 10, 1970), restricted to
    what each batch of targets needs:

    1. the components (``sccs``, in an order where neighbours share
       closures, such as Tarjan's), the DAG's edges as a CSR table in the
       direction of the search, and each component's *level* (longest chain
       of search steps leading to it), peeled;
    2. targets grouped by the weakly connected part they lie in once the
       components where every search ends are set aside (an ancestor that
       nothing references joins nothing), then in the order of ``sccs``, so
       that a batch of ``64 * words`` targets (default ``_COUNT_WORDS``)
       reaches overlapping nodes;
    3. per batch: the *active* components (those the batch reaches) by a
       breadth-first search; each active component's bit mask of batch
       targets, by levels, pushed along the DAG with ``bitwise_or.at``
       (only edges among active components are touched); and each bit's
       weighted sum through one ``bincount`` per mask byte.

    Memory is linear in the graph (one mask row per component); time is
    linear in the sum, over batches, of the edges among the nodes a batch
    reaches: on a closure made of ``k`` independent parts it grows linearly
    with ``k``.  Weight sums must stay below ``2**53`` (they are summed in
    floating point).

    Example:
        >>> refs = [(1,), (0, 2), ()]
        >>> _reach_sums(refs, _tarjan(refs), [0, 1, 2], [1, 1, 1], upward=True)
        [2, 2, 3]
        >>> _reach_sums(refs, _tarjan(refs), [0, 1, 2], [1, 10, 100], upward=False)
        [111, 111, 100]
    """

    if not len(targets):
        return []
    plan = _reach_plan(_component_numbers(len(refs), sccs), len(sccs), edges or reference_arrays(refs), upward)
    return _plan_sums(plan, targets, weights, words)


def _component_numbers(n: int, comps: Sequence[Sequence[int]]) -> Any:
    """Each node's component number, components numbered in the order given, as a numpy array."""
    import numpy as np

    comp_len = np.fromiter(map(len, comps), dtype=np.int64, count=len(comps))
    comp_of = np.empty(n, dtype=np.int64)
    members = np.fromiter(itertools.chain.from_iterable(comps), dtype=np.int64, count=n)
    comp_of[members] = np.repeat(np.arange(len(comps)), comp_len)
    return comp_of


@dataclass(frozen=True)
class _ReachPlan:
    """What :func:`_plan_sums` needs of a graph and a direction, prepared once
    (see :func:`_reach_sums`)."""

    m: int
    comp_of: Any
    step_ptr: Any
    step: Any
    height: Any
    part: Any  # the weakly connected part of each component, first those the search goes on from


def _reach_plan(comp_of: Any, m: int, edges: tuple[Any, Any], upward: bool, by_target: Any = None) -> _ReachPlan:
    """Steps 1 and 2 of :func:`_reach_sums` for components numbered ``comp_of`` (``0 <= k < m``).

    ``by_target``, the edges' positions ordered by target, puts the edges of an
    upward search nearly in the order of their start (all of it when components
    are numbered in path order), which makes grouping them by start cheap.
    """
    import numpy as np

    src, dst = edges
    if upward and by_target is not None:
        src, dst = src[by_target], dst[by_target]
    # Edges run from a component to the ones its search steps to, each once.
    a, b = (comp_of[dst], comp_of[src]) if upward else (comp_of[src], comp_of[dst])
    keep = a != b
    pair = _sorted_unique(a[keep] * m + b[keep])
    a, b = pair // max(m, 1), pair % max(m, 1)
    # Weakly connected parts without the far end (components the search
    # leaves from nowhere, such as the paths nothing references for ancestors).
    onward = np.bincount(a, minlength=m) > 0
    inner = onward[b]
    x, y = a[inner], b[inner]
    label = np.arange(m)
    while len(x):
        new = label.copy()
        np.minimum.at(new, x, label[y])
        np.minimum.at(new, y, label[x])
        new = new[new]
        if np.array_equal(new, label):
            break
        label = new
    # Levels: peel the components every step into which is placed.
    step_ptr, step = np.searchsorted(a, np.arange(m + 1)), b  # where the search goes from each component
    height = np.zeros(m, dtype=np.int64)
    left = np.bincount(b, minlength=m)
    frontier = np.flatnonzero(left == 0)
    level = 0
    while len(frontier):
        height[frontier] = level
        nxt, _ = _gather(step_ptr, step, frontier)
        if not len(nxt):
            break
        left = left - np.bincount(nxt, minlength=m)
        nxt = _sorted_unique(nxt)
        frontier = nxt[left[nxt] == 0]
        level += 1
    # Batches take their targets part by part, so that a batch's targets reach overlapping nodes.
    return _ReachPlan(m, comp_of, step_ptr, step, height, label + m * onward)


def _plan_sums(plan: _ReachPlan, targets: Sequence[int], weights: Sequence[int], words: int = 0) -> list[int]:
    """Step 3 of :func:`_reach_sums`."""
    import numpy as np

    if not len(targets):
        return []
    m, comp_of, step_ptr, step, height = plan.m, plan.comp_of, plan.step_ptr, plan.step, plan.height
    comp_weight = np.bincount(comp_of, weights=np.asarray(weights, dtype=np.float64), minlength=m)
    target_comps = comp_of[np.asarray(targets, dtype=np.int64)]
    wanted = _sorted_unique(target_comps)
    wanted = wanted[np.lexsort((wanted, plan.part[wanted]))]

    words = words or _COUNT_WORDS
    width = 64 * words
    mask = np.zeros((m, words), dtype="<u8")
    stamp = np.full(m, -1, dtype=np.int64)
    slot = np.zeros(m, dtype=np.int64)
    bit_table = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(np.float64)
    sums = np.zeros(m, dtype=np.int64)
    for batch_no, lo in enumerate(range(0, len(wanted), width)):
        batch = wanted[lo : lo + width]
        k = np.arange(len(batch))
        mask[batch, k // 64] = np.left_shift(np.uint64(1), (k % 64).astype(np.uint64))
        stamp[batch] = batch_no
        found = [batch]
        frontier = batch
        while len(frontier):
            nxt, _ = _gather(step_ptr, step, frontier)
            nxt = nxt[stamp[nxt] != batch_no]
            slot[nxt] = np.arange(len(nxt))
            nxt = nxt[slot[nxt] == np.arange(len(nxt))]  # each component once, without sorting
            stamp[nxt] = batch_no
            found.append(nxt)
            frontier = nxt
        active = np.concatenate(found)
        active = active[np.argsort(height[active])]
        bounds = np.flatnonzero(np.diff(height[active])) + 1
        for group in np.split(active, bounds):  # levels ascending: a group's masks are complete
            to, sizes = _gather(step_ptr, step, group)  # every such component is active
            if len(to):
                np.bitwise_or.at(mask, to, np.repeat(mask[group], sizes, axis=0))
        columns = mask[active].view(np.uint8)
        nbytes = columns.shape[1]
        keys = (columns + np.arange(0, 256 * nbytes, 256, dtype=np.int64)).ravel()  # (byte position, value)
        per_byte = np.bincount(keys, weights=np.repeat(comp_weight[active], nbytes), minlength=256 * nbytes)
        found_sums = (per_byte.reshape(nbytes, 256) @ bit_table).reshape(-1)[: len(batch)]  # bit 8 * byte + b
        sums[batch] = np.rint(found_sums).astype(np.int64)
        mask[active] = 0
    return sums[target_comps].tolist()


def _tarjan(refs: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """Iterative Tarjan: strongly connected components in reverse topological
    order (every component after the components it references).

    The depth-first search starts from the paths in index order and follows
    references in the order given, so the output is a fixed function of the
    graph.  A node's ``index`` is its visit number, or ``n + 2`` once its
    component is complete; that one list stands in for the usual on-stack
    flags, since a finished node can never lower a ``low`` link.

    Example:
        >>> _tarjan([(1,), (0, 2), ()])
        ((2,), (0, 1))
    """
    n = len(refs)
    index = [0] * n  # 0: not visited yet
    low = [0] * n
    finished = n + 2
    stack: list[int] = []
    out: list[tuple[int, ...]] = []
    counter = 1
    for start in range(n):
        if index[start]:
            continue
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        work = [(start, iter(refs[start]))]
        while work:
            v, todo = work[-1]
            for w in todo:
                iw = index[w]
                if not iw:  # descend; the rest of v's references wait in its iterator
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    work.append((w, iter(refs[w])))
                    break
                if iw < low[v]:
                    low[v] = iw
            else:
                work.pop()
                lv = low[v]
                if lv == index[v]:  # v roots a component: the stack down to v
                    if stack[-1] == v:
                        stack.pop()
                        index[v] = finished
                        out.append((v,))
                    else:
                        pos = len(stack) - 1
                        while stack[pos] != v:
                            pos -= 1
                        comp = stack[pos:]
                        del stack[pos:]
                        for w in comp:
                            index[w] = finished
                        comp.sort()
                        out.append(tuple(comp))
                elif lv < low[work[-1][0]]:
                    low[work[-1][0]] = lv
    return tuple(out)
