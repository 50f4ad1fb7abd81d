"""nixpkgs dockerTools' auto-layer (the current default of ``streamLayeredImage``).

Transcribed from nixpkgs' ``pkgs/build-support/docker/auto-layer.py`` (commit
``7b8db30a23ff8ec2af77fe1137cb5a74a4c0b8f1``).

**Algorithm.**  Every path carries a *label*: the set of *primary* paths that
use it.  All labels start empty.  Repeatedly take the largest remaining path by
``narSize`` (ties: the larger path string first) as a new primary ``P``:

1. ``P``'s label becomes ``{P}``;
2. for every dependency ``d`` of ``P`` (its closure without ``P``): remove from
   ``d``'s label the primaries that use ``P`` (they now reach ``d`` through
   ``P``), then add ``P`` unless the label still holds a primary that is itself
   a dependency of ``P``.

Each distinct label is a layer.  When adding a primary would make more than
``budget`` distinct labels, stop and keep the previous labels.  Layers are
ordered by *layer closure size* (the ``narSize`` sum over everything the
layer's paths reference, themselves included), ties by the layer's first path,
so each layer comes after the layers it depends on.

**Speed.**  nixpkgs searches the graph for each candidate's dependencies and
users, copies the label of every path and counts the distinct labels for every
candidate.  Here the closure of a candidate is searched once and kept as a
bit set on the graph, only for the candidates the run reaches (a few more
than the budget), so time and memory grow linearly with the graph: on graphs
under 4,096 paths by one depth-first search that computes the closures of all
it passes while it returns (:class:`_ClosureSearch`), on larger ones per
candidate (:meth:`ClosureGraph.closure_of`).  Labels are small bit sets of
primary ordinals, and the state is the list of layers (label -> bit set of
members) rather than a label per path: a candidate costs a few big-integer
operations per existing layer, whatever the size of its closure.  Which
earlier primaries reach a candidate, and which it reaches, are single-byte
tests on the primaries' closures kept as bytes.  A layer labelled by one
primary that it holds reaches exactly that primary's closure, so only the
other layers need a union of closures.  Small graphs run in plain Python
(numpy's import alone would cost more than the whole run); large ones take
layer membership, own sizes and closure sizes from numpy passes over the
packed member and reach bit sets.  ``benchmarks/bench_auto_layer.py`` checks
the output against a direct transcription of nixpkgs' algorithm and times
both, from a freshly loaded graph and from one grouped before (figures:
``docs/benchmarks.md``).

**Cycles.**  The algorithm only asks "is ``d`` in ``P``'s closure" and "does
``u`` reach ``P``"; both are defined on cyclic graphs (a member of a cycle is
both a dependency and a user of the other members), so cycles need no special
rule and the output equals nixpkgs' on the same input.

**Budget.**  ``budget`` is the number of layers for store paths; dockerTools
passes ``maxLayers - 1`` (the customisation layer takes one slot).  Excluded
paths (nixpkgs' ``excludePaths``) are not supported: every path gets a layer.

Example:
    >>> from layerlab.graph import ClosureGraph
    >>> g = ClosureGraph.from_records([
    ...     {"path": "/s/a-app", "narSize": 50, "references": ["/s/c-libc"]},
    ...     {"path": "/s/b-tool", "narSize": 40, "references": ["/s/c-libc"]},
    ...     {"path": "/s/c-libc", "narSize": 30, "references": []}])
    >>> [l.paths for l in AutoLayer().group(g, budget=3)]
    [('/s/c-libc',), ('/s/b-tool',), ('/s/a-app',)]
    >>> [l.paths for l in AutoLayer().group(g, budget=2)]
    [('/s/b-tool',), ('/s/a-app', '/s/c-libc')]
"""

from __future__ import annotations

import _thread
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import compress
from operator import itemgetter, or_
from typing import TYPE_CHECKING

from ..graph import ClosureGraph
from .base import Context, Layer, Strategy

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["AutoLayer", "auto_layer_split", "auto_layer_groups"]

#: Below this many paths everything runs in plain Python (numpy is not even
#: imported: on small graphs its import would cost more than the whole run).
_SMALL = 4096

#: ``bin()`` digits to the bytes 0 and 1, for :func:`itertools.compress`.
_DIGITS = bytes.maketrans(b"01", b"\x00\x01")


def _candidate_order(nar: Sequence[int]) -> list[int]:
    """Path indices by descending ``narSize``, ties by descending index:
    nixpkgs sorts ascending (stably, on the sorted paths) and pops from the end."""
    n = len(nar)
    if n < _SMALL:
        # A stable sort keeps equal sizes in the order given, here descending indices.
        return sorted(range(n - 1, -1, -1), key=nar.__getitem__, reverse=True)
    import numpy as np

    return np.argsort(np.fromiter(nar, np.int64, n), kind="stable")[::-1].tolist()


def _packed(bitsets: list[int], nbytes: int) -> np.ndarray:
    """Python-int bit sets as the rows of a ``(len, nbytes)`` uint8 array.

    Bit ``j`` of row ``r`` is bit ``j % 8`` of byte ``j // 8``.
    """
    import numpy as np

    raw = b"".join([x.to_bytes(nbytes, "little") for x in bitsets])
    return np.frombuffer(raw, np.uint8).reshape(len(bitsets), nbytes)


def _bit_set(indices: list[int], n: int) -> int:
    """The Python-int bit set of ``indices`` (all below ``n``)."""
    import numpy as np

    mark = np.zeros(n, dtype=np.uint8)
    mark[indices] = 1
    return int.from_bytes(np.packbits(mark, bitorder="little").tobytes(), "little")


def _members(bits: int) -> list[int]:
    """The set bits of ``bits``, ascending.

    Example:
        >>> _members(0b101001)
        [0, 3, 5]
    """
    digits = bin(bits)[:1:-1]  # bit i is digit i
    if bits.bit_count() * 20 > len(digits):  # dense: one C-level pass over the digits
        return list(compress(range(len(digits)), digits.encode().translate(_DIGITS)))
    out = []
    find = digits.find
    i = find("1")
    while i >= 0:
        out.append(i)
        i = find("1", i + 1)
    return out


def _weight(bits: int, nar: Sequence[int], planes: Sequence[int] | None = None) -> int:
    """The ``narSize`` sum over the set bits of ``bits``.

    A few bits are looked up one by one; many, through ``planes``
    (:func:`_planes`) when given, a population count per bit of the sizes.

    Example:
        >>> _weight(0b101, (10, 20, 30)), _weight(0b101, (10, 20, 30), _planes((10, 20, 30)))
        (40, 40)
    """
    if bits.bit_count() <= 24:
        return sum(map(nar.__getitem__, _members(bits)))
    if planes is not None:
        return sum([(bits & plane).bit_count() << b for b, plane in enumerate(planes)])
    return sum(compress(nar, bin(bits)[:1:-1].encode().translate(_DIGITS)))


#: For each bit ``j`` of a byte, the byte values as ``bin()`` digits of that bit.
_BIT_DIGITS = tuple(bytes(0x31 if v >> j & 1 else 0x30 for v in range(256)) for j in range(8))


def _planes(nar: Sequence[int]) -> tuple[int, ...] | None:
    """The bit planes of the sizes: plane ``b`` is the bit set of the paths
    whose ``narSize`` has bit ``b`` set (None for sizes beyond 64 bits).

    Built in C-level passes over the sizes as 64-bit words: byte ``b // 8`` of
    every word, its bit ``b % 8`` as a binary digit, read as one integer.

    Example:
        >>> _planes((1, 2, 3))
        (5, 6)
    """
    from array import array

    try:
        words = array("Q", nar)
    except OverflowError:
        return None
    if sys.byteorder == "big":
        words.byteswap()
    raw = words.tobytes()
    top = max(nar, default=0).bit_length()
    return tuple(int(raw[b >> 3 :: 8].translate(_BIT_DIGITS[b & 7])[::-1], 2) for b in range(top))


class _ClosureSearch:
    """Each path's closure as a bit set, searched on first use and kept.

    One depth-first search (Tarjan's, as in :func:`layerlab.graph._tarjan`)
    per path asked for that is not known yet, over the paths no earlier search
    reached: each component's closure is its members' bits and the closures
    its references lead to, gathered while the search returns, so a path's
    references are read once over all calls.  auto-layer asks for a few more
    paths than its budget, whose closures usually cover part of the graph
    only.

    Example:
        >>> down = _ClosureSearch([(1,), (0, 2), ()])  # 0 <-> 1 -> 2
        >>> down(2), down(0), down(1)
        (4, 7, 7)
    """

    __slots__ = ("refs", "bits", "index", "low", "acc", "counter", "lock")

    def __init__(self, refs: Sequence[Sequence[int]]) -> None:
        n = len(refs)
        self.refs = refs
        self.lock = _thread.allocate_lock()  # a graph shared by threads (a sweep) searches one at a time
        self.bits = [0] * n  # 0 until known (a closure holds its own path)
        self.index = [0] * n  # 0: not reached, -1: closure known, else the visit number
        self.low = [0] * n
        self.acc = [0] * n  # what a path on the search stack has gathered so far
        self.counter = 1

    def __call__(self, p: int) -> int:
        bits = self.bits[p]  # set once, when final
        if not bits:
            with self.lock:
                if not self.bits[p]:
                    self._search(p)
            bits = self.bits[p]
        return bits

    def _search(self, start: int) -> None:
        refs, bits, index, low, acc = self.refs, self.bits, self.index, self.low, self.acc
        if not refs[start]:
            bits[start] = 1 << start
            index[start] = -1
            return
        counter = self.counter
        index[start] = low[start] = counter
        counter += 1
        acc[start] = 1 << start
        stack = [start]
        work = [(start, iter(refs[start]))]
        while work:
            v, todo = work[-1]
            a = acc[v]
            lv = low[v]
            for w in todo:
                iw = index[w]
                if iw < 0:  # closure known
                    a |= bits[w]
                elif not iw:
                    rw = refs[w]
                    if not rw:  # no references: its closure is itself
                        index[w] = -1
                        bits[w] = b = 1 << w
                        a |= b
                        continue
                    acc[v] = a  # descend; the rest of v's references wait in its iterator
                    low[v] = lv
                    index[w] = low[w] = counter
                    counter += 1
                    acc[w] = 1 << w
                    stack.append(w)
                    work.append((w, iter(rw)))
                    break
                elif iw < lv:  # on the stack: same component
                    lv = iw
            else:
                work.pop()
                if lv == index[v]:  # v roots a component: the stack down to v
                    if stack[-1] == v:
                        stack.pop()
                    else:
                        pos = len(stack) - 1
                        while stack[pos] != v:
                            pos -= 1
                        for w in stack[pos:]:
                            index[w] = -1
                            bits[w] = a
                        del stack[pos:]
                    index[v] = -1
                    bits[v] = a
                    if work:
                        acc[work[-1][0]] |= a
                else:  # inside a component rooted further up: hand it all to the parent
                    u = work[-1][0]
                    acc[u] |= a
                    if lv < low[u]:
                        low[u] = lv
        self.counter = counter


def _closures(graph: ClosureGraph) -> Callable[[int], int]:
    """Each path's closure as a bit set, on demand.

    Bit sets the graph holds already (:attr:`ClosureGraph.closure_bits`) are
    used as they are.  Otherwise a small graph searches closures on first use
    (:class:`_ClosureSearch`, kept on the graph), and a large one searches a
    path's closure on first use and keeps the most recent ones on the graph,
    so memory stays linear in the graph.
    """
    if "closure_bits" in graph.__dict__:
        return graph.closure_bits.__getitem__
    n = len(graph.paths)
    if n < _SMALL:
        search: _ClosureSearch = graph.memo.value("auto-layer closure search", lambda: _ClosureSearch(graph.refs))
        return search
    memo = graph.memo.cache("auto-layer closure bit sets", maxsize=512)  # a run needs a few more than its budget

    def closure(p: int) -> int:
        bits = memo.get(p)
        if bits is None:
            bits = memo[p] = _bit_set(graph.closure_of([p]), n)
        return bits

    return closure


def _split(down: Callable[[int], int], order: list[int], n: int, limit: int) -> tuple[dict[int, int], list[int]]:
    """The algorithm proper: ``({label: members}, primaries)`` with labels as
    bit sets of primary ordinals (positions in ``primaries``)."""
    nbytes = (n + 7) // 8
    groups: dict[int, int] = {0: (1 << n) - 1}  # label -> members
    primaries: list[int] = []
    closure_bytes: list[bytes] = []  # each primary's closure, for cheap bit tests
    positions: list[tuple[int, int]] = []  # each primary's (byte, bit mask)
    for k, p in enumerate(order):
        pbit = 1 << p
        kbit = 1 << k
        down_p = down(p)
        deps = down_p ^ pbit  # a closure holds its own path
        trial = groups.copy()
        if not deps:  # a leaf: only p leaves its layer, for a layer of its own
            for label, members in groups.items():
                if members & pbit:
                    if members == pbit:
                        del trial[label]
                    else:
                        trial[label] = members ^ pbit
                    break
            trial[kbit] = pbit
        else:
            keep = -1  # the primaries that do not reach p
            dep_prims = 0  # the primaries p reaches
            p_at, p_mask = p >> 3, 1 << (p & 7)
            bit = 1
            for closure in closure_bytes:
                if closure[p_at] & p_mask:
                    keep ^= bit
                bit <<= 1
            deps_bytes = deps.to_bytes(nbytes, "little")
            bit = 1
            for q_at, q_mask in positions:
                if deps_bytes[q_at] & q_mask:
                    dep_prims |= bit
                bit <<= 1
            # Only layers holding p or a dependency of p change; the rest are copied.
            mask = deps | pbit
            for label, members in groups.items():
                hit = members & mask
                if not hit:
                    continue
                rest = trial[label] ^ hit
                if rest:
                    trial[label] = rest
                else:
                    del trial[label]
                moved = hit & deps
                if moved:
                    new = label & keep
                    if not new & dep_prims:
                        new |= kbit
                    trial[new] = trial.get(new, 0) | moved
            trial[kbit] = trial.get(kbit, 0) | pbit
        if len(trial) > limit:
            break
        groups = trial
        primaries.append(p)
        closure_bytes.append(down_p.to_bytes(nbytes, "little"))
        positions.append((p >> 3, 1 << (p & 7)))
    return groups, primaries


def auto_layer_split(graph: ClosureGraph, limit: int) -> dict[int, int]:
    """The layers when the algorithm stops at ``limit`` distinct labels, as
    ``{label: members}``: both bit sets, a label of primary path indices and
    the members' path indices.

    Rather than a label per path, the state is the list of layers (label ->
    members), so a candidate primary costs a few bit operations per existing
    layer instead of work per dependency.  While running, labels are small
    bit sets of primaries numbered in the order they were chosen.

    Example:
        >>> from layerlab.graph import ClosureGraph
        >>> g = ClosureGraph.from_records([{"path": "/s/a", "narSize": 2, "references": ["/s/b"]},
        ...                                {"path": "/s/b", "narSize": 1}])
        >>> auto_layer_split(g, 1), auto_layer_split(g, 2)
        ({1: 3}, {1: 1, 2: 2})
    """
    nar = graph.require_nar_size("auto-layer")
    groups, primaries = _split(_closures(graph), _candidate_order(nar), len(nar), limit)
    out = {}
    for label, members in groups.items():
        path_label = 0
        o = 0
        while label:
            if label & 1:
                path_label |= 1 << primaries[o]
            label >>= 1
            o += 1
        out[path_label] = members
    return out


def _facts(
    graph: ClosureGraph, nar: Sequence[int], down: Callable[[int], int], sets: list[int], held: list[int | None]
) -> list[tuple[tuple[int, ...], int, int]]:
    """``(members, narSize sum, narSize sum of their closure)`` of each path set, in plain Python.

    ``held[j]`` is a path of set ``j`` whose closure holds the whole set
    (the primary of a layer labelled by it alone), or None.  Then the set
    reaches exactly that closure, and a one-path set its path's.  Otherwise
    the set reaches itself and the closures of the paths outside it that it
    references: for the layer no primary uses, whose paths lie outside every
    searched closure, that asks only for closures already known.
    """
    refs = graph.refs
    known = down.bits.__getitem__ if isinstance(down, _ClosureSearch) else down
    planes: Sequence[int] | None = None  # built for the first set with many paths, kept on the graph
    out = []
    for bits, root in zip(sets, held):
        members = _members(bits)
        if root is not None:
            reach = down(root)
        elif len(members) == 1:
            reach = down(members[0])
        else:
            outside = set().union(*map(refs.__getitem__, members))
            outside.difference_update(members)
            found = list(map(known, outside))  # in C; a closure not searched yet reads 0
            if 0 in found:
                found = list(map(down, outside))
            reach = reduce(or_, found, bits)
        if planes is None and reach.bit_count() > 24:
            planes = graph.memo.value("auto-layer size planes", lambda: _planes(nar))
        out.append((tuple(members), sum(map(nar.__getitem__, members)), _weight(reach, nar, planes)))
    return out


def _facts_numpy(
    graph: ClosureGraph, nar: Sequence[int], down: Callable[[int], int], sets: list[int], held: list[int | None]
) -> list[tuple[tuple[int, ...], int, int]]:
    """:func:`_facts` for large graphs, in numpy passes over the packed member and reach bit sets."""
    import numpy as np

    n = len(nar)
    nbytes = (n + 7) // 8
    weights = np.fromiter(nar, np.float64, n)  # sums stay exact below 2**53
    m = len(sets)
    # Members: the set bits of the packed member sets, row by row.
    member_bits = np.unpackbits(_packed(sets, nbytes), axis=1, count=n, bitorder="little")
    rows, cols = np.divmod(np.flatnonzero(member_bits.view(bool)), n)
    own = np.bincount(rows, weights=weights[cols], minlength=m).astype(np.int64).tolist()
    bounds = np.searchsorted(rows, np.arange(m + 1)).tolist()
    cols_list = cols.tolist()
    members_of = [cols_list[bounds[r] : bounds[r + 1]] for r in range(m)]
    reaches = []
    for members, root in zip(members_of, held):
        if root is not None:
            reaches.append(down(root))
        elif len(members) == 1:
            reaches.append(down(members[0]))
        else:
            reaches.append(_bit_set(graph.closure_of(members), n))
    reach_bits = np.unpackbits(_packed(reaches, nbytes), axis=1, count=n, bitorder="little")
    sums = (reach_bits @ weights).astype(np.int64).tolist()
    return [(tuple(members), own_size, total) for members, own_size, total in zip(members_of, own, sums)]


def _layers(
    graph: ClosureGraph, limit: int
) -> tuple[list[tuple[int, tuple[int, ...], int, int, int | None]], list[int]]:
    """``(layer closure size, path indices, layer size, label, root)`` of every
    layer in output order (labels as bit sets of primary ordinals), and the
    primaries."""
    nar = graph.require_nar_size("auto-layer")
    n = len(nar)
    if not n:
        return [], []
    down = _closures(graph)
    groups, primaries = _split(down, _candidate_order(nar), n, limit)
    labels = list(groups)
    k = len(labels)
    roots: list[int | None] = [
        primaries[label.bit_length() - 1] if label and not label & (label - 1) else None for label in labels
    ]

    # What a layer's path set implies (its members, their narSize sum, and
    # the narSize sum over the union of their closures) depends on the graph
    # and the set alone, so it is memoised on the graph, keyed by the member
    # bit set, like the graph's closure bit sets.  Only new sets are computed.
    memo = graph.memo.cache("auto-layer layer facts")
    facts: dict[int, tuple[tuple[int, ...], int, int]] = {}
    missing = []
    for j, label in enumerate(labels):
        known = memo.get(groups[label])
        if known is None:
            missing.append(j)
        else:
            facts[groups[label]] = known
    if missing:
        sets = [groups[labels[j]] for j in missing]
        held = [
            root if root is not None and bits >> root & 1 else None
            for bits, root in zip(sets, map(roots.__getitem__, missing))
        ]
        computed = (_facts if n < _SMALL else _facts_numpy)(graph, nar, down, sets, held)
        for bits, fact in zip(sets, computed):
            facts[bits] = memo[bits] = fact
    members_of: list[tuple[int, ...]] = []
    own = []
    closure = []
    for label in labels:
        members, own_size, total = facts[groups[label]]
        members_of.append(members)
        own.append(own_size)
        closure.append(total)

    # Closure size, ties by the first path (nixpkgs leaves ties to set order).
    rank = sorted(range(k), key=[(closure[j], members_of[j][0]) for j in range(k)].__getitem__)
    return [(closure[j], members_of[j], own[j], labels[j], roots[j]) for j in rank], primaries


def auto_layer_groups(graph: ClosureGraph, limit: int) -> list[tuple[int, list[int], int, int]]:
    """``(layer closure size, path indices, label, layer size)`` of every layer,
    in output order; the label is a bit set of primary path indices.

    Example:
        >>> from layerlab.graph import ClosureGraph
        >>> g = ClosureGraph.from_records([{"path": "/s/a", "narSize": 2, "references": ["/s/b"]},
        ...                                {"path": "/s/b", "narSize": 1}])
        >>> auto_layer_groups(g, 2)
        [(1, [1], 2, 1), (3, [0], 1, 2)]
    """
    layers, primaries = _layers(graph, limit)
    out = []
    for size, members, own, label, _ in layers:
        path_label = 0
        for o, q in enumerate(primaries):
            if label >> o & 1:
                path_label |= 1 << q
        out.append((size, list(members), path_label, own))
    return out


@dataclass(frozen=True, eq=False)
class AutoLayer(Strategy):
    """dockerTools' auto-layer: largest paths become primaries, layers labelled by the primaries using them."""

    name = "auto-layer"
    summary = (
        "nixpkgs dockerTools (current default): largest paths as primaries, one layer per set of primaries using a path"
    )

    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        paths = graph.paths
        # Positional fields (paths, size, rating, reason, root): keyword
        # parsing is a measurable share of building ~100 layers.
        return [
            Layer(
                itemgetter(*members)(paths) if len(members) > 1 else (paths[members[0]],),
                own,
                size,
                "primary" if label else "rest",
                None if root is None else paths[root],
            )
            for size, members, own, label, root in _layers(graph, budget)[0]
        ]
